//! How long a retry loop may go on and how long it pauses: [`Deadline`] (the
//! budget, counted from the first failure or from the loop's start) over
//! [`Backoff`] (the delays). Every retry loop of the crate keeps one, so
//! [`Error::FailoverTimeout`] is built here only. Pure: it reads the clock but
//! never sleeps (the caller does, perhaps woken early by a switch).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::warn;

use crate::config::Config;
use crate::error::Error;

/// One retry loop's budget: when its clock started, the delays, the last
/// failure, how many attempts failed; "the next pause, or the error".
#[derive(Debug)]
pub(crate) struct Deadline {
    budget: Duration,
    /// Set by the first failure (or at once, [`Deadline::from_now`]).
    started: Option<Instant>,
    backoff: Backoff,
    last: Option<Error>,
    attempts: u32,
}

impl Deadline {
    /// A budget counted from the first failure, with the configured backoff:
    /// a request (a blocking command may legitimately wait long before its
    /// first attempt fails).
    pub(crate) fn new(budget: Duration, config: &Config) -> Deadline {
        let backoff = Backoff::new(config.backoff_min, config.backoff_max);
        Deadline { budget, started: None, backoff, last: None, attempts: 0 }
    }

    /// A budget counted from now: a job of several steps (moving keys).
    pub(crate) fn from_now(budget: Duration, config: &Config) -> Deadline {
        Deadline { started: Some(Instant::now()), ..Deadline::new(budget, config) }
    }

    /// Records a failed attempt (the clock starts at the first one): how many
    /// have failed so far.
    pub(crate) fn failed(&mut self, error: Error) -> u32 {
        self.started.get_or_insert_with(Instant::now);
        self.last = Some(error);
        self.attempts += 1;
        self.attempts
    }

    /// Whether the clock runs (an attempt failed, or [`Deadline::from_now`]).
    pub(crate) fn started(&self) -> bool {
        self.started.is_some()
    }

    /// The last failure recorded.
    pub(crate) fn last(&self) -> Option<&Error> {
        self.last.as_ref()
    }

    /// [`Error::FailoverTimeout`] for `shard` once the budget is spent.
    pub(crate) fn check(&mut self, shard: &str) -> Result<(), Error> {
        match self.started {
            Some(since) if since.elapsed() >= self.budget => Err(self.expired(shard, since)),
            _ => Ok(()),
        }
    }

    /// The pause before the next attempt (never past the budget), or
    /// [`Error::FailoverTimeout`] for `shard` when no time is left.
    pub(crate) fn pause(&mut self, shard: &str) -> Result<Duration, Error> {
        let since = *self.started.get_or_insert_with(Instant::now);
        match self.backoff.next_delay(self.budget.saturating_sub(since.elapsed())) {
            Some(delay) => Ok(delay),
            None => Err(self.expired(shard, since)),
        }
    }

    /// The one place [`Error::FailoverTimeout`] is made.
    fn expired(&mut self, shard: &str, since: Instant) -> Error {
        let elapsed = since.elapsed();
        warn!(%shard, ?elapsed, attempts = self.attempts, "failover deadline exceeded");
        let last = self.last.take();
        Error::FailoverTimeout {
            shard: shard.to_owned(),
            elapsed,
            last: Box::new(
                last.unwrap_or_else(|| Error::Redis((redis::ErrorKind::Io, "no attempt finished").into())),
            ),
        }
    }
}

/// One loop's retry delays: exponential from `min` to `max`, each jittered to
/// between half and all of itself so many clients don't retry in lockstep.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { next: min, max }
    }

    /// The delay before the next attempt, never past `remaining` (the time left
    /// before the deadline). `None` when no time is left.
    pub(crate) fn next_delay(&mut self, remaining: Duration) -> Option<Duration> {
        if remaining.is_zero() {
            return None;
        }
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = base / 2;
        let jitter = Duration::from_nanos(random() % (half.as_nanos() as u64 + 1));
        Some((half + jitter).min(remaining))
    }
}

/// A cheap, lock-free pseudo-random number for jitter (splitmix64 over a shared
/// counter seeded from the clock). Not for anything that needs real randomness.
pub(crate) fn random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut s = STATE.load(Ordering::Relaxed);
    if s == 0 {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 | 1);
        let _ = STATE.compare_exchange(0, seed, Ordering::Relaxed, Ordering::Relaxed);
        s = seed;
    }
    let z = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed).wrapping_add(s);
    let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_max_jittered_and_respects_the_deadline() {
        let (min, max) = (Duration::from_millis(10), Duration::from_millis(100));
        let mut b = Backoff::new(min, max);
        let far = Duration::from_secs(60);
        let mut last_base = min;
        for _ in 0..20 {
            let d = b.next_delay(far).unwrap();
            assert!(d >= last_base / 2 && d <= last_base, "{d:?} for base {last_base:?}");
            last_base = (last_base * 2).min(max);
        }
        assert!(b.next_delay(Duration::from_millis(3)).unwrap() <= Duration::from_millis(3));
        assert_eq!(b.next_delay(Duration::ZERO), None);
    }

    #[test]
    fn the_clock_starts_at_the_first_failure_and_ends_in_one_error() {
        let mut c = crate::config::Builder::default().sentinels(["127.0.0.1:1"]).build().unwrap();
        (c.backoff_min, c.backoff_max) = (Duration::from_millis(10), Duration::from_millis(10));
        let io = |what| Error::Redis((redis::ErrorKind::Io, what).into());
        let mut d = Deadline::new(Duration::from_millis(30), &c);
        assert!(!d.started() && d.check("s").is_ok());
        assert_eq!((d.failed(io("first")), d.failed(io("second"))), (1, 2));
        let pause = d.pause("s").unwrap();
        assert!(d.started() && pause >= Duration::from_millis(5) && pause <= Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(31));
        let Err(Error::FailoverTimeout { shard, elapsed, last }) = d.check("s") else { panic!() };
        assert_eq!((shard.as_str(), last.to_string().contains("second")), ("s", true));
        assert!(elapsed >= Duration::from_millis(30));
        // Counted from the start, with no failure to name.
        let Err(Error::FailoverTimeout { last, .. }) = Deadline::from_now(Duration::ZERO, &c).pause("t")
        else {
            panic!()
        };
        assert!(last.to_string().contains("no attempt finished"), "{last}");
    }

    #[test]
    fn random_values_differ() {
        let a: Vec<u64> = (0..64).map(|_| random()).collect();
        let mut d = a.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), a.len());
    }
}
