//! Gathering a request's replies from the stream of frames: one frame for a
//! command; for a pipeline `count` frames after skipping `skip` (a
//! transaction's `MULTI` and `QUEUED`s). Pure; the same rules as redis-rs's
//! `MultiplexedConnection`, so a request gets the same answer over either:
//! an error reply to a command is `Ok(Value::ServerError)` (the caller's
//! `query_async` turns it into an `Err`), a pipeline's error replies stay in
//! their slots, and a transaction whose commands were refused when queued is
//! an `EXECABORT` error.

use redis::{RedisError, RedisResult, ServerError, Value};

use crate::retry::is_failover_error;

/// How many frames a request takes, and how they are returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// One command: its one frame.
    One,
    /// A pipeline: `skip` frames read and dropped, then `count` kept.
    Many {
        /// Frames before the kept ones (`MULTI` and each `QUEUED` of a transaction).
        skip: usize,
        /// Frames kept.
        count: usize,
        /// A `MULTI`/`EXEC` block: an error among the skipped frames aborts it.
        transaction: bool,
    },
}

/// What a request gets back once all its frames are in.
#[derive(Debug)]
pub(crate) enum Answer {
    /// [`Expect::One`]'s frame.
    One(Value),
    /// [`Expect::Many`]'s kept frames.
    Many(Vec<Value>),
}

impl Answer {
    /// [`Answer::One`]'s value; the other shape is a client error (a
    /// request never gets it back: [`Gather`] answers as it was asked).
    pub(crate) fn one(self) -> RedisResult<Value> {
        match self {
            Answer::One(v) => Ok(v),
            Answer::Many(_) => Err(mismatch()),
        }
    }

    /// [`Answer::Many`]'s values; see [`Answer::one`].
    pub(crate) fn many(self) -> RedisResult<Vec<Value>> {
        match self {
            Answer::Many(v) => Ok(v),
            Answer::One(_) => Err(mismatch()),
        }
    }
}

/// The replies asked for don't match the commands sent.
pub(crate) fn mismatch() -> RedisError {
    (redis::ErrorKind::Client, "disredis: the replies asked for don't match the commands sent").into()
}

/// A request's replies as they arrive.
#[derive(Debug)]
pub(crate) struct Gather {
    expect: Expect,
    seen: usize,
    kept: Vec<Value>,
    /// Errors among a transaction's skipped frames (index of the command, the error).
    refused: Vec<(usize, ServerError)>,
}

impl Gather {
    pub(crate) fn new(expect: Expect) -> Gather {
        let kept = match expect {
            Expect::One => Vec::new(),
            Expect::Many { count, .. } => Vec::with_capacity(count),
        };
        Gather { expect, seen: 0, kept, refused: Vec::new() }
    }

    /// Takes the next frame; the answer once it was the last.
    pub(crate) fn feed(&mut self, frame: Value) -> Option<RedisResult<Answer>> {
        self.seen += 1;
        match self.expect {
            Expect::One => Some(Ok(Answer::One(frame))),
            Expect::Many { skip, count, transaction } => {
                if self.seen <= skip {
                    if let (true, Value::ServerError(e)) = (transaction, frame) {
                        // - 1 for the MULTI before the first command (redis-rs's numbering).
                        self.refused.push((self.seen.saturating_sub(2), e));
                    }
                } else {
                    self.kept.push(frame);
                }
                (self.seen == skip + count).then(|| self.finish())
            }
        }
    }

    fn finish(&mut self) -> RedisResult<Answer> {
        if self.refused.is_empty() {
            return Ok(Answer::Many(std::mem::take(&mut self.kept)));
        }
        Err(aborted(std::mem::take(&mut self.refused)))
    }
}

/// The error of a transaction whose commands were refused when queued. A
/// refusal that is a failover symptom (`READONLY`, `LOADING`, `MASTERDOWN`,
/// `NOREPLICAS`: nothing ran, see `retry`) is returned as it is, so the retry
/// loop sees it. Any other is an `EXECABORT` server error (kind `ExecAbort`,
/// code `EXECABORT`, as redis-rs's) whose text lists each refused command as
/// redis-rs's does; redis-rs's own `TransactionAborted` error has no public
/// constructor, so `into_server_errors()` gives the `EXECABORT` itself.
pub(crate) fn aborted(mut refused: Vec<(usize, ServerError)>) -> RedisError {
    if let Some(i) = refused.iter().position(|(_, e)| is_failover_error(e)) {
        return refused.swap_remove(i).1.into();
    }
    let list: Vec<String> = refused.iter().map(|(i, e)| format!("(Index {i}, error: {e})")).collect();
    let detail = format!("Transaction discarded because of previous errors: [{}]", list.join(", "));
    let line = format!("-EXECABORT {}\r\n", detail.replace(['\n', '\r'], " "));
    match redis::parse_redis_value(line.as_bytes()) {
        Ok(Value::ServerError(e)) => e.into(),
        _ => RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort),
            "transaction aborted",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> Value {
        redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).unwrap()
    }

    #[test]
    fn one_frame_for_a_command_even_an_error() {
        let mut g = Gather::new(Expect::One);
        assert!(matches!(g.feed(err("ERR x")), Some(Ok(Answer::One(Value::ServerError(_))))));
    }

    #[test]
    fn a_failover_refusal_when_queued_is_returned_as_it_is() {
        let mut g = Gather::new(Expect::Many { skip: 2, count: 1, transaction: true });
        g.feed(Value::Okay);
        g.feed(err("NOREPLICAS Not enough good replicas to write."));
        match g.feed(err("EXECABORT Transaction discarded because of previous errors.")) {
            Some(Err(e)) => assert_eq!(e.code(), Some("NOREPLICAS")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pipeline_keeps_count_frames_after_skip_with_errors_in_their_slots() {
        let mut g = Gather::new(Expect::Many { skip: 0, count: 3, transaction: false });
        assert!(g.feed(Value::Okay).is_none());
        assert!(g.feed(err("ERR no")).is_none());
        match g.feed(Value::Int(1)) {
            Some(Ok(Answer::Many(v))) => {
                assert_eq!(v.len(), 3);
                assert!(matches!(v[1], Value::ServerError(_)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_transaction_skips_multi_and_queued_and_keeps_exec() {
        let mut g = Gather::new(Expect::Many { skip: 3, count: 1, transaction: true });
        for f in [Value::Okay, Value::SimpleString("QUEUED".into()), Value::SimpleString("QUEUED".into())] {
            assert!(g.feed(f).is_none());
        }
        let exec = Value::Array(vec![Value::Okay, Value::Int(2)]);
        match g.feed(exec.clone()) {
            Some(Ok(Answer::Many(v))) => assert_eq!(v, vec![exec]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_command_refused_when_queued_aborts_the_transaction() {
        let mut g = Gather::new(Expect::Many { skip: 3, count: 1, transaction: true });
        g.feed(Value::Okay);
        g.feed(Value::SimpleString("QUEUED".into()));
        g.feed(err("ERR unknown command 'NOSUCH.CMD'"));
        let e = match g.feed(err("EXECABORT Transaction discarded because of previous errors.")) {
            Some(Err(e)) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(e.kind(), redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort));
        assert_eq!(e.code(), Some("EXECABORT"));
        assert!(e.to_string().contains("(Index 1, error: ResponseError: unknown command"), "{e}");
    }
}
