//! Writes held while a quorum of Sentinels holds a shard's master down
//! (`+odown`): in a split brain the master may still take the client's writes
//! while the Sentinels promote a replica, and everything it takes alone is
//! discarded when it rejoins. The fence is raised on `+odown` for the shard's
//! current master and lowered on `-odown`, on
//! `-failover-abort-no-good-slave` (no failover is coming, so nothing the
//! master takes will be discarded), when another master is installed, or when
//! it expires (`Config::failover_deadline` after it was raised: a missed
//! `-odown` must not hold writes forever). The record only; the request path
//! (`execute`) decides what waits. Every moment is passed in, so it is
//! unit-tested without a clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use crate::config::NodeAddr;

/// One shard's fence (see the module docs).
#[derive(Default)]
pub(crate) struct Fence {
    /// Raised: a cheap check for every write.
    up: AtomicBool,
    /// The master held down, and when the fence expires.
    on: Mutex<Option<(NodeAddr, Instant)>>,
    /// Woken when the fence is lowered.
    pub(crate) lowered: tokio::sync::Notify,
}

impl Fence {
    /// Holds writes to `addr` until `until` (or until lowered).
    pub(crate) fn raise(&self, addr: NodeAddr, until: Instant) {
        *self.on.lock() = Some((addr, until));
        self.up.store(true, Ordering::Release);
    }

    /// Lowers the fence if it holds `addr` (`None`: whatever it holds).
    /// Returns whether it was up.
    pub(crate) fn lower(&self, addr: Option<&NodeAddr>) -> bool {
        let mut on = self.on.lock();
        if on.as_ref().is_none_or(|(held, _)| addr.is_some_and(|a| a != held)) {
            return false;
        }
        *on = None;
        self.up.store(false, Ordering::Release);
        drop(on);
        self.lowered.notify_waiters();
        true
    }

    /// Whether the fence may be up (one atomic load: the write path's check).
    pub(crate) fn maybe_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Until when writes to the shard's master at `current` wait, if the
    /// fence holds it at `now`. An expired fence is lowered here.
    pub(crate) fn holds(&self, current: Option<&NodeAddr>, now: Instant) -> Option<Instant> {
        let (held, until) = self.on.lock().clone()?;
        if now >= until {
            self.lower(Some(&held));
            return None;
        }
        (current == Some(&held)).then_some(until)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn addr(s: &str) -> NodeAddr {
        NodeAddr::parse(s).unwrap()
    }

    #[test]
    fn holds_only_the_master_held_down_until_lowered_or_expired() {
        let (f, t0) = (Fence::default(), Instant::now());
        let (a, b) = (addr("127.0.0.1:7001"), addr("127.0.0.1:7002"));
        assert!(!f.maybe_up() && f.holds(Some(&a), t0).is_none());
        let until = t0 + Duration::from_secs(15);
        f.raise(a.clone(), until);
        assert!(f.maybe_up());
        assert_eq!(f.holds(Some(&a), t0), Some(until));
        assert_eq!(f.holds(Some(&b), t0), None, "another master (a switch) is not held");
        assert_eq!(f.holds(None, t0), None);
        assert!(!f.lower(Some(&b)), "-odown for another address lowers nothing");
        assert!(f.maybe_up());
        assert!(f.lower(Some(&a)));
        assert!(!f.maybe_up() && f.holds(Some(&a), t0).is_none());
        assert!(!f.lower(None), "lowered once");
        f.raise(a.clone(), until);
        assert_eq!(f.holds(Some(&a), until), None, "expired");
        assert!(!f.maybe_up(), "an expired fence is lowered");
        f.raise(a.clone(), until);
        assert!(f.lower(None), "a new master lowers whatever is held");
    }
}
