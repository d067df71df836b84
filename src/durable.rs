//! Durability mode ([`Builder::wait_replicas`](crate::Builder::wait_replicas)):
//! a write and a `WAIT replicas timeout` sent together on one connection, and
//! how to read the acknowledgement. Pure: `execute` sends what this builds.
//!
//! - A command becomes the pipeline `[command, WAIT]`; a pipeline gets `WAIT`
//!   appended; a transaction (`MULTI`/`EXEC`) is followed by a separate `WAIT`
//!   on the same shard (it can't go inside the transaction).
//! - Fewer acknowledgements than required is [`Error::NotReplicated`]; a write
//!   the server refused (an error reply) is answered as it is, without judging
//!   the `WAIT`.

use std::time::Duration;

use redis::{Cmd, Pipeline, Value};

use crate::error::{Error, Result};

/// `WAIT replicas timeout-ms`.
pub(crate) fn wait_cmd(replicas: usize, timeout: Duration) -> Cmd {
    let mut wait = redis::cmd("WAIT");
    wait.arg(replicas).arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
    wait
}

/// `cmd` followed by `wait`, as one pipeline.
pub(crate) fn with_wait(cmd: &Cmd, wait: Cmd) -> Pipeline {
    let mut durable = Pipeline::new();
    durable.add_command(cmd.clone()).add_command(wait);
    durable
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
        Value::Int(n) => Err(Error::NotReplicated {
            command: command.to_owned(),
            shard: shard.to_owned(),
            acked: *n,
            wanted,
        }),
        other => Err(Error::Redis(
            (redis::ErrorKind::UnexpectedReturnType, "disredis: WAIT answered", format!("{other:?}")).into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_command_and_pipeline() {
        let wait = wait_cmd(2, Duration::from_millis(1500));
        assert_eq!(wait.get_packed_command(), redis::cmd("WAIT").arg(2).arg(1500).get_packed_command());
        let set = redis::cmd("SET").arg("k").arg("v").to_owned();
        let pipe = with_wait(&set, wait);
        assert_eq!(pipe.len(), 2);
        assert_eq!(pipe.cmd_iter().next().unwrap().get_packed_command(), set.get_packed_command());
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
