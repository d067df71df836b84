//! What to do after a failure, and how long to wait. Pure: no I/O.
//!
//! [`classify_error`] / [`classify_value`] map one failure to a [`Fate`]: did the
//! command surely not run (safe to retry anything), or is its fate unknown (retry
//! only what is idempotent)? `None` means "not a failover symptom": the error is
//! the answer (WRONGTYPE, ERR syntax, …) and goes back to the caller unretried.
//! [`Backoff`] is one request's retry delays, bounded by its deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::{ErrorKind, RedisError, ServerError, ServerErrorKind, Value};

/// What a failure says about whether the command ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// The command surely did not run: the connection was refused, or the node
    /// refused it (`READONLY`, `LOADING`, `MASTERDOWN`). Always retried.
    NotRun,
    /// It may have run: the connection dropped or timed out after sending.
    /// Retried only when the command is idempotent (or the user opted in).
    Unknown,
}

/// Server errors that mean "this node can't serve writes/reads as a master right
/// now": the command was refused, so a retry elsewhere is safe.
fn is_failover_kind(kind: Option<ServerErrorKind>) -> bool {
    matches!(
        kind,
        Some(ServerErrorKind::ReadOnly | ServerErrorKind::BusyLoading | ServerErrorKind::MasterDown)
    )
}

/// A server error reply (inside `Ok(Value::ServerError)`, as redis-rs returns them).
pub(crate) fn classify_server_error(e: &ServerError) -> Option<Fate> {
    is_failover_kind(e.kind()).then_some(Fate::NotRun)
}

/// A reply value: only a failover-kind server error is a failure here.
pub(crate) fn classify_value(v: &Value) -> Option<Fate> {
    match v {
        Value::ServerError(e) => classify_server_error(e),
        _ => None,
    }
}

/// An `Err` from the connection.
pub(crate) fn classify_error(e: &RedisError) -> Option<Fate> {
    match e.kind() {
        ErrorKind::Server(ServerErrorKind::ExecAbort) => {
            // A transaction aborted because a queued command was refused with
            // READONLY/LOADING/MASTERDOWN did not run at all.
            let errors = e.clone().into_server_errors()?;
            errors.iter().any(|(_, se)| is_failover_kind(se.kind())).then_some(Fate::NotRun)
        }
        ErrorKind::Server(kind) => is_failover_kind(Some(kind)).then_some(Fate::NotRun),
        _ if e.is_connection_refusal() => Some(Fate::NotRun),
        _ if e.is_timeout() || e.is_connection_dropped() || e.kind() == ErrorKind::Io => Some(Fate::Unknown),
        _ => None,
    }
}

/// One request's retry delays: exponential from `min` to `max`, each jittered to
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
    use std::io;

    fn server(code: &str) -> Value {
        // Parse a real error reply so the ServerError is exactly what redis-rs builds.
        redis::parse_redis_value(format!("-{code} some detail\r\n").as_bytes()).unwrap()
    }

    #[test]
    fn failover_replies_surely_did_not_run() {
        for code in ["READONLY", "LOADING", "MASTERDOWN"] {
            assert_eq!(classify_value(&server(code)), Some(Fate::NotRun), "{code}");
        }
        for code in ["WRONGTYPE", "ERR", "NOSCRIPT", "NOPERM", "BUSY"] {
            assert_eq!(classify_value(&server(code)), None, "{code}");
        }
        assert_eq!(classify_value(&Value::Okay), None);
    }

    #[test]
    fn connection_errors() {
        let refused = RedisError::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(classify_error(&refused), Some(Fate::NotRun));
        for kind in [
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::TimedOut,
            io::ErrorKind::UnexpectedEof,
        ] {
            let e = RedisError::from(io::Error::from(kind));
            assert_eq!(classify_error(&e), Some(Fate::Unknown), "{kind:?}");
        }
        let client = RedisError::from((ErrorKind::Client, "bad"));
        assert_eq!(classify_error(&client), None);
        let readonly: RedisError = match server("READONLY") {
            Value::ServerError(e) => e.into(),
            _ => unreachable!(),
        };
        assert_eq!(classify_error(&readonly), Some(Fate::NotRun));
    }

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
    fn random_values_differ() {
        let a: Vec<u64> = (0..64).map(|_| random()).collect();
        let mut d = a.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), a.len());
    }
}
