//! A shard's health: up, failing (no usable master since some moment, requests
//! wait within their deadline), or down (requests fail at once with
//! [`Error::ShardDown`] while a probe looks for a master). The record and its
//! transitions only; when to declare a shard down (Sentinel's view of a
//! promotion) is the executor's call (`execute::down`), and every moment is
//! passed in, so the rules are unit-tested without a clock.
//!
//! ```text
//!   up --(connection dropped, or a resolve failed)--> failing(since)
//!   failing --(a master installed)--> up
//!   failing --(declare: no master for shard_down_after, no promotion)--> down
//!   down --(the probe, the poll or a request installs a master)--> up
//! ```

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::Error;

/// How often, at most, a failing shard's promotion is looked up in Sentinel
/// (and a down shard's probe asks for a master).
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(250);

#[derive(Default)]
struct State {
    /// Start of the current outage (the first failure with no master since).
    since: Option<Instant>,
    /// When the shard was declared down in this outage, and the last error seen.
    down: Option<Error>,
    /// When Sentinel was last asked about a promotion in this outage.
    checked: Option<Instant>,
}

/// One shard's health (see the module docs).
#[derive(Default)]
pub(crate) struct Health(Mutex<State>);

impl Health {
    /// A failure that left the shard without a usable master at `now`: starts
    /// the outage unless one is under way.
    pub(crate) fn failed(&self, now: Instant) {
        self.0.lock().since.get_or_insert(now);
    }

    /// A master was installed: the outage is over. Returns its length when the
    /// shard had been declared down (for `Event::ShardUp`).
    pub(crate) fn recovered(&self, now: Instant) -> Option<Duration> {
        let mut st = self.0.lock();
        let was_down = st.down.take().is_some();
        st.checked = None;
        let since = st.since.take()?;
        was_down.then(|| now.saturating_duration_since(since))
    }

    /// [`Error::ShardDown`] while the shard is declared down.
    pub(crate) fn down_error(&self, shard: &str, now: Instant) -> Option<Error> {
        let st = self.0.lock();
        let last = st.down.as_ref()?;
        Some(Error::ShardDown {
            shard: shard.to_owned(),
            down_for: st.since.map_or(Duration::ZERO, |s| now.saturating_duration_since(s)),
            last: Box::new(last.clone()),
        })
    }

    /// Whether the shard is declared down.
    pub(crate) fn is_down(&self) -> bool {
        self.0.lock().down.is_some()
    }

    /// The outage's length when it is time to ask Sentinel whether the shard is
    /// down: failing (not down) for at least `after`, and not asked in the last
    /// [`CHECK_EVERY`]. Marks the check as made, so concurrent requests ask once.
    pub(crate) fn due_for_check(&self, after: Duration, now: Instant) -> Option<Duration> {
        let mut st = self.0.lock();
        let outage = now.saturating_duration_since(st.since?);
        if st.down.is_some() || outage < after {
            return None;
        }
        if st.checked.is_some_and(|c| now.saturating_duration_since(c) < CHECK_EVERY) {
            return None;
        }
        st.checked = Some(now);
        Some(outage)
    }

    /// Declares the shard down with `last` as the cause, if it is still
    /// failing. Returns whether this call declared it (so one probe starts).
    pub(crate) fn declare(&self, last: Error) -> bool {
        let mut st = self.0.lock();
        if st.since.is_none() || st.down.is_some() {
            return false;
        }
        st.down = Some(last);
        true
    }

    /// Keeps the latest error of a down shard for its `ShardDown` errors.
    pub(crate) fn note(&self, last: Error) {
        if let Some(down) = self.0.lock().down.as_mut() {
            *down = last;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Error {
        Error::Redis((redis::ErrorKind::Io, "Connection refused").into())
    }

    #[test]
    fn a_shard_goes_down_only_after_the_threshold_and_up_on_a_master() {
        let h = Health::default();
        let t0 = Instant::now();
        let after = Duration::from_secs(2);
        assert_eq!(h.due_for_check(after, t0), None, "no outage, nothing to check");
        h.failed(t0);
        h.failed(t0 + Duration::from_secs(1)); // the outage keeps its start
        assert_eq!(h.due_for_check(after, t0 + Duration::from_millis(1999)), None);
        assert_eq!(h.due_for_check(after, t0 + after), Some(after));
        assert_eq!(h.due_for_check(after, t0 + after + CHECK_EVERY / 2), None, "asked once per CHECK_EVERY");
        assert!(h.down_error("b", t0 + after).is_none(), "checked is not down");
        assert!(h.declare(refused()));
        assert!(!h.declare(refused()), "declared once per outage");
        assert!(h.is_down());
        assert_eq!(h.due_for_check(after, t0 + Duration::from_secs(9)), None, "down: no more checks");
        match h.down_error("b", t0 + Duration::from_secs(5)) {
            Some(Error::ShardDown { shard, down_for, last }) => {
                assert_eq!((shard.as_str(), down_for), ("b", Duration::from_secs(5)));
                assert!(last.to_string().contains("refused"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(h.recovered(t0 + Duration::from_secs(7)), Some(Duration::from_secs(7)));
        assert!(!h.is_down() && h.down_error("b", t0).is_none());
        assert_eq!(h.due_for_check(after, t0 + Duration::from_secs(30)), None, "up again: no outage");
    }

    #[test]
    fn a_failing_shard_that_recovers_was_never_down() {
        let h = Health::default();
        let t0 = Instant::now();
        h.failed(t0);
        assert_eq!(h.recovered(t0 + Duration::from_secs(1)), None);
        assert!(!h.declare(refused()), "no outage under way: nothing to declare");
    }
}
