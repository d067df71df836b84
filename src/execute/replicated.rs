//! Durability mode on the request path ([`crate::durable`] builds and judges
//! the `WAIT`): the write and its `WAIT` on one connection, and waiting again
//! on that connection while the master has applied the write but too few
//! replicas have acknowledged it yet.

use std::time::{Duration, Instant};

use redis::Value;
use tracing::{debug, warn};

use super::{Executor, send};
use crate::durable;
use crate::error::{Error, Result};
use crate::request::{Call, Piece, Reply, Request};
use crate::topology::ShardTable;

impl Executor {
    /// Durability mode: the write and a `WAIT` on the same connection, then
    /// [`Executor::confirm`] (see [`crate::durable`]).
    pub(super) async fn execute_durable(
        &self,
        shards: &ShardTable,
        idx: usize,
        call: Call,
        req: Request<'_>,
        replicas: usize,
        timeout: Duration,
    ) -> Result<Reply> {
        let started = Instant::now();
        let wait = durable::wait_cmd(replicas, timeout);
        // WAIT may take its whole timeout: not a sign of a hung master.
        let call = Call { patience: Some(timeout), ..call };
        // `used`: the generation of the connection the write went on, also
        // when it was retried on a new one after a failover.
        let confirm = |used, acked| self.confirm(shards, idx, call, used, acked, started);
        match req {
            Request::Pipe { pipe, .. } if pipe.is_transaction() => {
                let (reply, used) = self.deliver(shards, idx, call, req).await?;
                confirm(used, None).await?;
                Ok(reply)
            }
            _ => {
                // The commands borrowed (the caller's command or pipeline, or a
                // split pipeline's share), and the WAIT after them.
                let (mut pieces, offset, count): (Vec<Piece>, _, _) = match req {
                    Request::Cmd(cmd) => (vec![Piece::Caller(cmd)], 0, 1),
                    Request::Pipe { pipe, offset, count } => {
                        (pipe.cmd_iter().map(Piece::Caller).collect(), offset, count)
                    }
                    Request::Part(part) => {
                        (part.iter().map(|p| Piece::Caller(p.cmd())).collect(), 0, part.len())
                    }
                };
                pieces.push(Piece::Own(wait));
                let (reply, used) = self.deliver(shards, idx, call, Request::Part(&pieces)).await?;
                let mut values = reply.many()?;
                let acked = values.pop().unwrap_or(Value::Nil);
                let values: Vec<Value> = values.into_iter().skip(offset).take(count).collect();
                if !values.iter().all(durable::refused) {
                    confirm(used, Some(acked)).await?;
                }
                Ok(match req {
                    Request::Cmd(_) => Reply::One(values.into_iter().next().unwrap_or(Value::Nil)),
                    _ => Reply::Many(values),
                })
            }
        }
    }

    /// Judges the write's `acked` (the `WAIT` sent with it; `None` after a
    /// transaction, which has none) and, while too few replicas have it, sends
    /// `WAIT` again until they do or the failover deadline since `started` has
    /// passed: then it is [`Error::NotReplicated`] with the last count.
    ///
    /// Only over a connection installed less than the failover deadline ago
    /// (after a failover or at connect, when replicas may still be attaching):
    /// on an older one a missing replica is down, and waiting again would
    /// stall the shard's shared connection for every write, so the first
    /// count is the answer.
    ///
    /// Waiting again needs the connection the write went on (`WAIT` counts the
    /// replicas that have that connection's last write): the shard's current one
    /// if its generation is still `used`, the one the reply came on — also when
    /// the write was retried there after a failover, the moment the promoted
    /// master's replicas are still attaching — and not a blocking command's own.
    /// Otherwise the first count is the answer (a transaction's: none).
    async fn confirm(
        &self,
        shards: &ShardTable,
        idx: usize,
        call: Call,
        used: u64,
        acked: Option<Value>,
        started: Instant,
    ) -> Result<()> {
        let Some((wanted, timeout)) = self.config.wait_replicas else { return Ok(()) };
        let shard = &shards.at(idx);
        let mut last = match acked.as_ref().map(|v| durable::check(v, wanted, call.command, &shard.name)) {
            Some(Err(Error::NotReplicated { acked, .. })) => acked,
            Some(judged) => return judged,
            None => 0,
        };
        let conn = match shard.connection() {
            Some((generation, conn)) if generation == used && !call.dedicated => conn,
            _ => return Err(durable::not_replicated(last, wanted, call.command, &shard.name)),
        };
        let deadline = self.config.failover_deadline;
        let young = shard.age_of(used).map_or(Duration::ZERO, |age| deadline.saturating_sub(age));
        // A transaction's first `WAIT` is this one: it is always sent.
        let window = if acked.is_none() { young.max(timeout) } else { young };
        if window.is_zero() {
            return Err(durable::not_replicated(last, wanted, call.command, &shard.name));
        }
        if acked.is_some() {
            debug!(shard = %shard.name, command = call.command, acked = last, wanted,
                "write applied but not yet replicated: waiting again");
        }
        // The window ends at a point in time (the connection's age plus what
        // is left of it), and never after the deadline counted from the write.
        let until = (Instant::now() + window).min(started + deadline);
        let wait_call = Call { patience: Some(timeout), ..Call::read("WAIT") };
        while let Some(t) = durable::next_wait(timeout, until.saturating_duration_since(Instant::now())) {
            let wait = durable::wait_cmd(wanted, t);
            let outcome = send(&conn, Request::Cmd(&wait), wait_call, &self.config).await;
            let reply = match outcome.map_err(Error::Redis).and_then(Reply::one) {
                Ok(v) => v,
                Err(e) => {
                    // Applied on the master, not confirmed: the write's fate is
                    // what NotReplicated says.
                    debug!(shard = %shard.name, error = %e, "WAIT failed");
                    break;
                }
            };
            match durable::check(&reply, wanted, call.command, &shard.name) {
                Err(Error::NotReplicated { acked, .. }) => last = acked,
                judged => return judged,
            }
        }
        warn!(shard = %shard.name, command = call.command, acked = last, wanted,
            elapsed = ?started.elapsed(), "write not replicated within the failover deadline");
        Err(durable::not_replicated(last, wanted, call.command, &shard.name))
    }
}
