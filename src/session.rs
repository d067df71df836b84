//! `WATCH` sessions: optimistic transactions need a connection of their own.
//!
//! A shard's shared connection carries every task's commands, so a `WATCH` sent
//! over it would be cleared by another task's `EXEC` and a transaction could
//! commit over a concurrent change — a wrong answer. Instead, `WATCH` opens a
//! dedicated, ROLE-checked connection to the keys' shard and *pins* the client
//! handle it was sent on (and the clones made from it while pinned, which is what
//! `redis::aio::transaction_async` does). While pinned, the handle sends
//! everything over that connection; its keys must stay on the watched shard
//! ([`Error::CrossShard`] otherwise). `EXEC`, `DISCARD`, `UNWATCH` or an atomic
//! pipeline end the session. Nothing in a session is retried: after a failover the
//! watch is gone, so the caller's transaction loop must start over.
//!
//! `UNWATCH` on an unpinned handle is a no-op answering OK (nothing is watched:
//! shared connections never carry `WATCH`). `MULTI`/`EXEC`/`DISCARD` as single
//! commands outside a session are refused: use `redis::pipe().atomic()`.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, Value};

use crate::client::DisredisClient;
use crate::error::{Error, Result};
use crate::fanout::{self, Routed};

/// The dedicated connection of a `WATCH` session and its shard.
#[derive(Clone)]
pub(crate) struct Pinned {
    shard: usize,
    conn: MultiplexedConnection,
}

const SESSION_COMMANDS: [&str; 5] = ["WATCH", "UNWATCH", "MULTI", "EXEC", "DISCARD"];

/// `WATCH`, `UNWATCH`, `MULTI`, `EXEC` or `DISCARD`.
pub(crate) fn is_session_command(args: &[&[u8]]) -> bool {
    session_name(args).is_some()
}

/// `WATCH` and friends inside a pipeline (or through `on_shard`) would travel on a
/// shared connection, where another task's `EXEC` clears the watch: refused.
pub(crate) fn refuse_outside_session(args: &[&[u8]]) -> Result<()> {
    match session_name(args) {
        Some(name) => Err(Error::BadCommand {
            command: name.to_owned(),
            detail: "send WATCH/UNWATCH/MULTI/EXEC/DISCARD on their own (or use redis::pipe().atomic()), \
                     not inside a pipeline or through on_shard"
                .into(),
        }),
        None => Ok(()),
    }
}

fn session_name(args: &[&[u8]]) -> Option<&'static str> {
    let name = args.first()?;
    SESSION_COMMANDS.into_iter().find(|s| name.eq_ignore_ascii_case(s.as_bytes()))
}

impl DisredisClient {
    /// The one shard owning every key of `args`; keyless or cross-shard is an error.
    fn single_shard(&self, args: &[&[u8]]) -> Result<usize> {
        match fanout::plan(&self.inner().shards.ring, args)? {
            Routed::One { shard, info } if !info.keyless => Ok(shard),
            Routed::One { info, .. } | Routed::Plan(fanout::Plan { info, .. }) => {
                Err(Error::NoKey { command: format!("{} (in a WATCH session)", info.name) })
            }
            Routed::Scan(_) => Err(Error::NoKey { command: "SCAN (in a WATCH session)".into() }),
        }
    }

    fn other_shard(&self, command: &str, a: usize, b: usize) -> Error {
        let names = self.shard_names();
        let mut shards = vec![names[a].clone(), names[b].clone()];
        shards.sort();
        Error::CrossShard { command: command.to_owned(), shards }
    }

    pub(crate) async fn session_cmd(&mut self, cmd: &Cmd, args: &[&[u8]]) -> Result<Value> {
        match session_name(args) {
            Some("WATCH") => {
                let shard = self.single_shard(args)?;
                let conn = match &self.pinned {
                    Some(p) if p.shard == shard => p.conn.clone(),
                    Some(p) => return Err(self.other_shard("WATCH", p.shard, shard)),
                    None => self.inner().open_session(shard).await?,
                };
                let mut c = conn.clone();
                let reply = c.req_packed_command(cmd).await;
                self.pinned = reply.is_ok().then_some(Pinned { shard, conn });
                Ok(reply?)
            }
            Some(name) => {
                let Some(p) = self.pinned.clone() else {
                    return match name {
                        "UNWATCH" => Ok(Value::Okay),
                        _ => Err(Error::BadCommand {
                            command: name.to_owned(),
                            detail: "send transactions as redis::pipe().atomic() (WATCH first for optimistic locking)"
                                .into(),
                        }),
                    };
                };
                let mut c = p.conn.clone();
                let reply = c.req_packed_command(cmd).await;
                if name != "MULTI" || reply.is_err() {
                    self.pinned = None;
                }
                Ok(reply?)
            }
            None => {
                let Some(p) = self.pinned.clone() else {
                    return Err(Error::NoKey { command: "session".into() });
                };
                let shard = self.single_shard(args)?;
                if shard != p.shard {
                    return Err(self.other_shard("a command in a WATCH session", p.shard, shard));
                }
                let mut c = p.conn.clone();
                let reply = c.req_packed_command(cmd).await;
                if reply.is_err() {
                    self.pinned = None;
                }
                Ok(reply?)
            }
        }
    }

    pub(crate) async fn session_pipeline(
        &mut self,
        pipe: &Pipeline,
        offset: usize,
        count: usize,
    ) -> Result<Vec<Value>> {
        let Some(p) = self.pinned.clone() else {
            return Err(Error::NoKey { command: "session".into() });
        };
        for cmd in pipe.cmd_iter() {
            let shard = self.single_shard(&fanout::cmd_args(cmd))?;
            if shard != p.shard {
                return Err(self.other_shard("a pipeline in a WATCH session", p.shard, shard));
            }
        }
        let mut c = p.conn.clone();
        let reply = c.req_packed_commands(pipe, offset, count).await;
        if pipe.is_transaction() || reply.is_err() {
            // EXEC ends the WATCH whatever its outcome.
            self.pinned = None;
        }
        Ok(reply?)
    }
}
