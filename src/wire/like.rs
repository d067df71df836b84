//! Commands and pipelines on a [`Wire`], as redis-rs's connections take them:
//! the inherent [`Wire::send_cmd`] / [`Wire::send_pipe`] (the request path's,
//! no boxed future) and `redis::aio::ConnectionLike` (for `query_async` on a
//! connection, used off the hot path).

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use super::conn::Wire;
use super::reply::{Expect, mismatch};

const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
const EXEC: &[u8] = b"*1\r\n$4\r\nEXEC\r\n";

impl Wire {
    /// One command; its reply, an error reply as `Ok(Value::ServerError)` (as
    /// redis-rs's connections return it). `timeout`: see [`Wire::request`].
    pub(crate) async fn send_cmd(&self, cmd: &Cmd, timeout: Option<Option<Duration>>) -> RedisResult<Value> {
        if cmd.is_no_response() {
            return Err(no_reply());
        }
        self.request(|b| cmd.write_packed_command(b), Expect::One, timeout).await?.one()
    }

    /// A whole pipeline (in `MULTI`/`EXEC` when atomic): `count` replies after
    /// the first `offset`, what `ConnectionLike::req_packed_commands` is
    /// given. Offsets that don't add up to the pipeline's replies are refused
    /// before anything is sent (a wrong count would hand replies to the wrong
    /// requests).
    pub(crate) async fn send_pipe(
        &self,
        pipe: &Pipeline,
        offset: usize,
        count: usize,
        timeout: Option<Option<Duration>>,
    ) -> RedisResult<Vec<Value>> {
        let transaction = pipe.is_transaction();
        let frames = pipe.len() + if transaction { 2 } else { 0 };
        if offset + count != frames {
            return Err(mismatch());
        }
        if pipe.cmd_iter().any(Cmd::is_no_response) {
            return Err(no_reply());
        }
        let pack = |b: &mut Vec<u8>| {
            if transaction {
                b.extend_from_slice(MULTI);
            }
            for c in pipe.cmd_iter() {
                c.write_packed_command(b);
            }
            if transaction {
                b.extend_from_slice(EXEC);
            }
        };
        self.request(pack, Expect::Many { skip: offset, count, transaction }, timeout).await?.many()
    }

    /// Commands as a plain pipeline, one reply each (no `MULTI`/`EXEC`):
    /// each packed straight from where it is, nothing cloned.
    pub(crate) async fn send_each<'c, I>(
        &self,
        cmds: I,
        timeout: Option<Option<Duration>>,
    ) -> RedisResult<Vec<Value>>
    where
        I: Iterator<Item = &'c Cmd> + Clone,
    {
        let mut count = 0;
        for c in cmds.clone() {
            if c.is_no_response() {
                return Err(no_reply());
            }
            count += 1;
        }
        let pack = |b: &mut Vec<u8>| cmds.for_each(|c| c.write_packed_command(b));
        self.request(pack, Expect::Many { skip: 0, count, transaction: false }, timeout).await?.many()
    }
}

/// `CLIENT REPLY OFF`/`SKIP` would leave a waiter without a reply: refused
/// (the client refuses it earlier as a state-changing command; this keeps the
/// connection in step whoever calls).
fn no_reply() -> RedisError {
    (ErrorKind::Client, "disredis: a command without a reply can't be sent on a shared connection").into()
}

impl ConnectionLike for Wire {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.send_cmd(cmd, None))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipe: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(self.send_pipe(pipe, offset, count, None))
    }

    fn get_db(&self) -> i64 {
        self.owner.shared.db
    }
}
