//! [`ShardHandle`]: commands aimed at one shard by name.

use std::sync::Arc;

use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::error::{Error, Result};
use crate::execute::Executor;
use crate::execute::policy::Policy;
use crate::keys::{self, KeyError};
use crate::plan::{self, refuse_session_command, refuse_state_command};
use crate::request::{self, Call, Piece, Request, cmd_args};
use crate::topology::ShardTable;

/// Sends every command to one shard, from
/// [`DisredisClient::on_shard`](crate::DisredisClient::on_shard).
///
/// For what has no key or is about one node (`INFO`, `CONFIG GET`, `CLIENT LIST`,
/// `EVAL` with no keys, module commands). A keyed command must belong to this
/// shard, otherwise it is [`Error::CrossShard`] (it would read or write the wrong
/// master: [`Error::WrongShard`]). Failover and retries work as for the
/// client; commands the key table doesn't know are treated as not idempotent.
///
/// The handle uses the shard's shared connection, the one every request to that
/// shard travels on, so commands that change a connection's state are refused
/// before sending, with [`Error::SharedConnection`] saying what to use instead
/// (they are refused the same way through the client, in pipelines and in
/// `WATCH` sessions):
///
/// | command | instead |
/// |---|---|
/// | `SELECT` | [`Builder::db`](crate::Builder::db) or the URL's `db` |
/// | `AUTH`, `HELLO` | `Builder::username` / `password`, or the URL's user info |
/// | `RESET`, `QUIT` | drop the client, or [`DisredisClient::close`](crate::DisredisClient::close) |
/// | `CLIENT SETNAME`, `CLIENT SETINFO` | none on shared connections: they are named `disredis:ring=<version>`, what `disredis reshard`'s fence counts |
/// | `CLIENT REPLY`, `CLIENT TRACKING`, `CLIENT CACHING`, `CLIENT NO-EVICT`, `CLIENT NO-TOUCH` | a connection of your own (`redis::Client`) |
/// | `READONLY`, `READWRITE` | [`Builder::read_from`](crate::Builder::read_from) |
/// | `MONITOR`, `SYNC`, `PSYNC`, `REPLCONF` | a connection of your own to the node |
/// | `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`, `UNSUBSCRIBE`, `PUNSUBSCRIBE`, `SUNSUBSCRIBE` | [`DisredisClient::pubsub`](crate::DisredisClient::pubsub) |
///
/// Every other `CLIENT` subcommand (`LIST`, `KILL`, `INFO`, `PAUSE`, …),
/// `CONFIG`, `INFO`, `SWAPDB`, `FLUSHDB` and the like run as sent.
#[derive(Clone)]
pub struct ShardHandle {
    exec: Arc<Executor>,
    name: String,
    /// The deadline and at-least-once choice of the client handle it came from.
    policy: Policy,
}

impl std::fmt::Debug for ShardHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardHandle").field("shard", &self.name()).finish()
    }
}

impl ShardHandle {
    pub(crate) fn new(exec: Arc<Executor>, name: String, policy: Policy) -> ShardHandle {
        ShardHandle { exec, name, policy }
    }

    /// The shard's master name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current table and this shard's index in it; [`Error::UnknownShard`]
    /// once the ring no longer lists it. First, as one connection would:
    /// [`Error::Closed`], then "empty command" for a request without one.
    fn locate(&self, empty: bool) -> Result<(Arc<ShardTable>, usize)> {
        if self.exec.is_closed() {
            return Err(Error::Closed);
        }
        if empty {
            return Err(request::empty_command());
        }
        let shards = self.exec.table.latest();
        match shards.index_of(&self.name) {
            Some(idx) => Ok((shards, idx)),
            None => Err(Error::UnknownShard { name: self.name.clone(), known: shards.names() }),
        }
    }

    /// Checks the command's keys belong to this shard and describes it.
    fn call(&self, shards: &ShardTable, idx: usize, cmd: &Cmd) -> Result<Call> {
        let args = cmd_args(cmd);
        refuse_session_command(&args)?;
        refuse_state_command(&args)?;
        // During a change only keys that stay on this shard: a moving key
        // must take the guarded path.
        let own = shards.direct(idx);
        let mut foreign = None;
        let info = keys::visit_keys(&args, |k| {
            let i = shards.route(k);
            if i != own {
                foreign = Some(i);
            }
        });
        let call = match info {
            Ok(info) => Call::of(&info),
            Err(KeyError::Unknown(_)) => Call::unknown("unknown command"),
            Err(e @ KeyError::Malformed { .. }) => return Err(plan::key_error(e)),
        };
        if let Some(other) = foreign {
            return Err(Error::WrongShard {
                command: call.command.to_owned(),
                shard: self.name.clone(),
                owner: shards.labels()[other.index()].clone(),
            });
        }
        Ok(call)
    }

    async fn query(&self, cmd: &Cmd) -> Result<Value> {
        let (shards, idx) = self.locate(cmd.args_iter().len() == 0)?;
        let call = self.call(&shards, idx, cmd)?;
        // Feature `cache`: a write evicts what it writes before and after
        // (a `FLUSHALL` here flushes the client's entries).
        #[cfg(feature = "cache")]
        let written = self.exec.cache_before_all(std::iter::once(cmd));
        let outcome = self.exec.execute(&shards, idx, call, Request::Cmd(cmd)).await;
        #[cfg(feature = "cache")]
        self.exec.cache_after(written);
        outcome?.one()
    }

    async fn query_pipeline(&self, pipe: &Pipeline, offset: usize, count: usize) -> Result<Vec<Value>> {
        #[cfg(feature = "cache")]
        let written = self.exec.cache_before_all(pipe.cmd_iter());
        let outcome = self.send_pipeline(pipe, offset, count).await;
        #[cfg(feature = "cache")]
        self.exec.cache_after(written);
        outcome
    }

    async fn send_pipeline(&self, pipe: &Pipeline, offset: usize, count: usize) -> Result<Vec<Value>> {
        let (shards, idx) = self.locate(pipe.is_empty() && !pipe.is_transaction())?;
        let mut refused = Vec::new();
        // `ignore_errors()` is read once, at the first refusal (it costs a
        // `Debug` of the pipeline).
        let mut in_slots = None;
        for (i, cmd) in pipe.cmd_iter().enumerate() {
            if let Err(e) = self.call(&shards, idx, cmd) {
                if !*in_slots.get_or_insert_with(|| !pipe.is_transaction() && request::ignores_errors(pipe)) {
                    return Err(e);
                }
                refused.push((i, e));
            }
        }
        if !refused.is_empty() {
            return Box::pin(self.without_refused(&shards, idx, pipe, refused)).await;
        }
        let call = Call::of_pipeline("pipeline (on_shard)", pipe);
        self.exec.execute(&shards, idx, call, Request::Pipe { pipe, offset, count }).await?.many()
    }

    /// An `ignore_errors()` pipeline with refused commands: the others are
    /// sent, each refused one fails in its own slot (as through the client).
    async fn without_refused(
        &self,
        shards: &ShardTable,
        idx: usize,
        pipe: &Pipeline,
        refused: Vec<(usize, Error)>,
    ) -> Result<Vec<Value>> {
        // The others, borrowed (packed straight from the caller's commands).
        let rest: Vec<Piece> = (pipe.cmd_iter().enumerate())
            .filter(|(i, _)| !refused.iter().any(|(r, _)| r == i))
            .map(|(_, cmd)| Piece::Caller(cmd))
            .collect();
        let mut replies = match rest.is_empty() {
            true => Vec::new().into_iter(),
            false => {
                let call = Call::of_cmds("pipeline (on_shard)", rest.iter().map(|p| p.cmd()));
                self.exec.execute(shards, idx, call, Request::Part(&rest)).await?.many()?.into_iter()
            }
        };
        let mut refused = refused.into_iter().peekable();
        let mut out = Vec::with_capacity(pipe.len());
        for i in 0..pipe.len() {
            match refused.next_if(|(r, _)| *r == i) {
                Some((_, e)) => out.push(plan::slot_error(&e)),
                None => out.push(replies.next().ok_or_else(crate::request::shape_error)?),
            }
        }
        Ok(out)
    }
}

impl redis::aio::ConnectionLike for ShardHandle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move { self.policy.scope(self.query(cmd)).await.map_err(Into::into) })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let policy = self.policy;
        Box::pin(async move {
            policy.scope(self.query_pipeline(pipeline, offset, count)).await.map_err(Into::into)
        })
    }

    fn get_db(&self) -> i64 {
        self.exec.config.db
    }
}

#[cfg(test)]
mod tests {
    /// The table in `ShardHandle`'s docs names every refused command.
    #[test]
    fn the_docs_list_every_state_command() {
        let docs = include_str!("on_shard.rs");
        for (command, _) in crate::plan::STATE_COMMANDS {
            let last = command.rsplit(' ').next().unwrap_or(command);
            assert!(
                docs.contains(&format!("`{command}`")) || docs.contains(&format!("{last}`")),
                "{command}"
            );
        }
    }
}
