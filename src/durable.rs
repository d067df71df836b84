//! Durability mode ([`Builder::wait_replicas`](crate::Builder::wait_replicas)):
//! a write and a `WAIT replicas timeout` sent together on one connection, and
//! how to read the acknowledgement. Pure: `execute` sends what this builds.
//!
//! - A command becomes the pipeline `[command, WAIT]`; a pipeline gets `WAIT`
//!   appended; a transaction (`MULTI`/`EXEC`) is followed by a separate `WAIT`
//!   on the same connection (it can't go inside the transaction).
//! - A write the server refused (an error reply) is answered as it is, without
//!   judging the `WAIT`.
//! - Fewer acknowledgements than required is not yet an answer: the master has
//!   applied the write, and a replica that is still attaching (right after a
//!   failover; Valkey 9.1 re-attaches later than Redis 7.0) may take it a moment
//!   later. While the shard's connection is younger than the failover deadline
//!   (a failover or the connect installed it), `execute::confirm` sends `WAIT`
//!   again on the same connection until enough replicas acknowledged or that
//!   window has passed; only then is it [`Error::NotReplicated`] (on an older
//!   connection at once: a replica missing then is down). Only on the
//!   same connection: `WAIT` counts the replicas that have *this connection's*
//!   last write, and on any other (a new master's) it would count replicas that
//!   never saw this one.

use std::time::Duration;

use redis::{Cmd, Value};

use crate::error::{Error, Result};

/// `WAIT replicas timeout-ms`, the timeout rounded up to whole milliseconds:
/// `WAIT n 0` would block until the replicas come, however long that takes.
pub(crate) fn wait_cmd(replicas: usize, timeout: Duration) -> Cmd {
    let mut wait = redis::cmd("WAIT");
    let ms = timeout.as_nanos().div_ceil(1_000_000).max(1);
    wait.arg(replicas).arg(u64::try_from(ms).unwrap_or(u64::MAX));
    wait
}

/// The timeout of the next `WAIT` when `left` of the failover deadline
/// remains: the configured `timeout`, cut to what is left; `None` when nothing
/// is left.
pub(crate) fn next_wait(timeout: Duration, left: Duration) -> Option<Duration> {
    (!left.is_zero()).then(|| timeout.min(left))
}

/// Whether a reply is the server refusing the write (then there is nothing to
/// replicate, and the `WAIT` is not judged).
pub(crate) fn refused(v: &Value) -> bool {
    matches!(v, Value::ServerError(_))
}

/// Judges a `WAIT` reply: at least `wanted` replicas acknowledged, or
/// [`Error::NotReplicated`] naming the command and shard.
pub(crate) fn check(acked: &Value, wanted: usize, command: &str, shard: &str) -> Result<()> {
    match acked {
        Value::Int(n) if *n >= wanted as i64 => Ok(()),
        Value::Int(n) => Err(not_replicated(*n, wanted, command, shard)),
        other => Err(Error::Redis(
            (redis::ErrorKind::UnexpectedReturnType, "disredis: WAIT answered", format!("{other:?}")).into(),
        )),
    }
}

/// [`Error::NotReplicated`]: `acked` of `wanted` replicas have the write.
pub(crate) fn not_replicated(acked: i64, wanted: usize, command: &str, shard: &str) -> Error {
    Error::NotReplicated { command: command.to_owned(), shard: shard.to_owned(), acked, wanted }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_command() {
        let wait = wait_cmd(2, Duration::from_millis(1500));
        assert_eq!(wait.get_packed_command(), redis::cmd("WAIT").arg(2).arg(1500).get_packed_command());
    }

    #[test]
    fn the_wait_timeout_is_never_zero() {
        let ms = |d: Duration| wait_cmd(1, d).get_packed_command();
        assert_eq!(ms(Duration::from_micros(300)), redis::cmd("WAIT").arg(1).arg(1).get_packed_command());
        assert_eq!(ms(Duration::from_micros(1500)), redis::cmd("WAIT").arg(1).arg(2).get_packed_command());
        assert_eq!(ms(Duration::ZERO), redis::cmd("WAIT").arg(1).arg(1).get_packed_command());
    }

    #[test]
    fn waiting_again_stays_within_the_deadline() {
        let (t, ms) = (Duration::from_millis(500), Duration::from_millis);
        assert_eq!(next_wait(t, ms(15_000)), Some(t));
        assert_eq!(next_wait(t, ms(120)), Some(ms(120)));
        assert_eq!(next_wait(t, Duration::ZERO), None);
    }

    #[test]
    fn acknowledgements() {
        assert!(check(&Value::Int(2), 2, "SET", "a").is_ok());
        assert!(check(&Value::Int(3), 2, "SET", "a").is_ok());
        match check(&Value::Int(1), 2, "SET", "shard-a") {
            Err(Error::NotReplicated { command, shard, acked: 1, wanted: 2 }) => {
                assert_eq!((command.as_str(), shard.as_str()), ("SET", "shard-a"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(check(&Value::Nil, 1, "SET", "a"), Err(Error::Redis(_))));
        assert!(refused(&redis::parse_redis_value(b"-ERR no\r\n").unwrap()));
        assert!(!refused(&Value::Okay));
    }
}
