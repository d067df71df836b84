//! Writes held while a quorum of Sentinels holds a shard's master down
//! (`+odown`): in a split brain the master may still take the client's writes
//! while the Sentinels promote a replica, and everything it takes alone is
//! discarded when it rejoins. The fence is raised on `+odown` for the shard's
//! current master and lowered on `-odown`, on
//! `-failover-abort-no-good-slave` (no failover is coming, so nothing the
//! master takes will be discarded), when another master is installed, or when
//! it expires (`Config::failover_deadline` after it was raised: a missed
//! `-odown` must not hold writes forever; the shard lowers it when a write
//! finds it expired). The record only; the request path (`execute`) decides
//! what waits. Every moment is passed in, so it is
//! unit-tested without a clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::NodeAddr;

/// One shard's fence (see the module docs).
#[derive(Default)]
pub(crate) struct Fence {
    /// Raised: a cheap check for every write.
    up: AtomicBool,
    /// The master held down, when the fence expires, and since when it is up.
    on: Mutex<Option<(NodeAddr, Instant, Instant)>>,
    /// Woken when the fence is lowered.
    pub(crate) lowered: tokio::sync::Notify,
}

impl Fence {
    /// Holds writes to `addr` from `now` until `until` (or until lowered).
    /// Returns whether it was down (a fence already up keeps its start).
    pub(crate) fn raise(&self, addr: NodeAddr, now: Instant, until: Instant) -> bool {
        let mut on = self.on.lock();
        let since = match on.as_ref() {
            Some((held, _, since)) if *held == addr => *since,
            _ => now,
        };
        let was_down = on.is_none();
        *on = Some((addr, until, since));
        self.up.store(true, Ordering::Release);
        was_down
    }

    /// Lowers the fence at `now` if it holds `addr` (`None`: whatever it
    /// holds). Returns how long it was up, if it was.
    pub(crate) fn lower(&self, addr: Option<&NodeAddr>, now: Instant) -> Option<Duration> {
        let mut on = self.on.lock();
        if on.as_ref().is_none_or(|(held, _, _)| addr.is_some_and(|a| a != held)) {
            return None;
        }
        let since = on.take().map(|(_, _, since)| since)?;
        self.up.store(false, Ordering::Release);
        drop(on);
        self.lowered.notify_waiters();
        Some(now.saturating_duration_since(since))
    }

    /// Whether the fence may be up (one atomic load: the write path's check).
    pub(crate) fn maybe_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Until when writes to the shard's master at `current` wait, if the
    /// fence holds it at `now` (an expired one holds nothing).
    pub(crate) fn holds(&self, current: Option<&NodeAddr>, now: Instant) -> Option<Instant> {
        let on = self.on.lock();
        let (held, until, _) = on.as_ref()?;
        (now < *until && current == Some(held)).then_some(*until)
    }

    /// The master an expired fence still names at `now` (to be lowered by
    /// its owner, who reports it).
    pub(crate) fn expired(&self, now: Instant) -> Option<NodeAddr> {
        let on = self.on.lock();
        on.as_ref().filter(|(_, until, _)| now >= *until).map(|(held, _, _)| held.clone())
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
        assert!(f.raise(a.clone(), t0, until));
        assert!(!f.raise(a.clone(), t0 + Duration::from_secs(1), until), "already up");
        assert!(f.maybe_up());
        assert_eq!(f.holds(Some(&a), t0), Some(until));
        assert_eq!(f.holds(Some(&b), t0), None, "another master (a switch) is not held");
        assert_eq!(f.holds(None, t0), None);
        assert_eq!(f.lower(Some(&b), t0), None, "-odown for another address lowers nothing");
        assert!(f.maybe_up());
        let t3 = t0 + Duration::from_secs(3);
        assert_eq!(f.lower(Some(&a), t3), Some(Duration::from_secs(3)), "held since the first raise");
        assert!(!f.maybe_up() && f.holds(Some(&a), t0).is_none());
        assert_eq!(f.lower(None, t3), None, "lowered once");
        f.raise(a.clone(), t0, until);
        assert_eq!(f.holds(Some(&a), until), None, "expired");
        assert_eq!(f.expired(until), Some(a.clone()), "left for its owner to lower");
        assert_eq!(f.expired(t0), None);
        assert!(f.lower(Some(&a), until).is_some());
        f.raise(a.clone(), t0, until);
        assert!(f.lower(None, t3).is_some(), "a new master lowers whatever is held");
    }
}
