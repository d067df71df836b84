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

use std::sync::Arc;

use crate::wire::Wire;
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, Value};

use crate::error::{Error, Result};
use crate::execute::Executor;
use crate::metrics::Open;
use crate::plan::{self, Routed};
use crate::request::cmd_args;
use crate::routes::Route;
use crate::topology::ShardTable;

/// The dedicated connection of a `WATCH` session and its shard.
#[derive(Clone)]
pub(crate) struct Pinned {
    /// The table the session was opened under: its keys are judged by it.
    shards: Arc<ShardTable>,
    /// The route of the session's keys (their shard under a stable ring, see
    /// [`crate::routes`]).
    route: Route,
    conn: Wire,
    /// Counts the connection as open (feature `metrics`) while a clone lives.
    _open: Arc<Open>,
}

/// The one route of every key of `args`; keyless or cross-shard is an error.
fn single_route(shards: &ShardTable, args: &[&[u8]]) -> Result<Route> {
    match shards.plan(args)? {
        Routed::One { route, info } if !info.keyless => Ok(route),
        Routed::One { info, .. } | Routed::Plan(plan::Plan { info, .. }) => {
            Err(Error::NoKey { command: format!("{} (in a WATCH session)", info.name) })
        }
        Routed::Scan(_) | Routed::Channel(_) => {
            Err(Error::NoKey { command: "SCAN or pub/sub (in a WATCH session)".into() })
        }
    }
}

/// Where a session on `route` runs (see `Executor::settle`).
async fn settle(exec: &Executor, shards: &ShardTable, route: Route, args: &[&[u8]]) -> Result<usize> {
    let mut keys = Vec::new();
    let _ = crate::keys::visit_keys(args, |k| keys.push(k));
    exec.settle(shards, route, &keys).await
}

fn other_shard(shards: &ShardTable, command: &str, a: Route, b: Route) -> Error {
    let names = shards.labels();
    let mut shards = vec![names[a.index()].clone(), names[b.index()].clone()];
    shards.sort();
    Error::CrossShard { command: command.to_owned(), shards }
}

/// One command on a handle that is pinned (`pinned` is `Some`) or that starts
/// or ends a session (`args` is a session command, see
/// [`plan::session_command`]). Updates `pinned`.
pub(crate) async fn command(
    exec: &Executor,
    pinned: &mut Option<Pinned>,
    cmd: &Cmd,
    args: &[&[u8]],
) -> Result<Value> {
    match plan::session_command(args) {
        Some("WATCH") => {
            let mut shards = pinned.as_ref().map_or_else(|| exec.table.latest(), |p| p.shards.clone());
            let mut route = single_route(&shards, args)?;
            // `idx` is the shard the session's connection is on.
            let (mut conn, idx) = match pinned {
                Some(p) if p.route == route => {
                    let idx = settle(exec, &shards, route, args).await?;
                    (p.conn.clone(), idx)
                }
                Some(p) => return Err(other_shard(&shards, "WATCH", p.route, route)),
                None => {
                    // A session that starts on a moving key in phase `prepare`
                    // waits for the next phase and starts under it.
                    let mut settled = settle(exec, &shards, route, args).await;
                    for _ in 0..2 {
                        if !matches!(settled, Err(Error::RingChanged { .. })) {
                            break;
                        }
                        shards = exec.table.latest();
                        route = single_route(&shards, args)?;
                        settled = settle(exec, &shards, route, args).await;
                    }
                    let idx = settled?;
                    (exec.open_session(&shards, idx).await?, idx)
                }
            };
            let reply = conn.req_packed_command(cmd).await;
            *pinned = reply.is_ok().then(|| {
                let _open = Arc::new(shards.at(idx).metrics.dedicated());
                Pinned { shards, route, conn, _open }
            });
            Ok(reply?)
        }
        Some(name) => {
            let Some(mut p) = pinned.clone() else {
                return match name {
                    "UNWATCH" => Ok(Value::Okay),
                    _ => Err(Error::BadCommand {
                        command: name.to_owned(),
                        detail:
                            "send transactions as redis::pipe().atomic() (WATCH first for optimistic locking)"
                                .into(),
                    }),
                };
            };
            let reply = p.conn.req_packed_command(cmd).await;
            if name != "MULTI" || reply.is_err() {
                *pinned = None;
            }
            Ok(reply?)
        }
        None => {
            let Some(mut p) = pinned.clone() else {
                return Err(Error::NoKey { command: "session".into() });
            };
            let route = single_route(&p.shards, args)?;
            if route != p.route {
                return Err(other_shard(&p.shards, "a command in a WATCH session", p.route, route));
            }
            settle(exec, &p.shards, route, args).await?;
            let reply = p.conn.req_packed_command(cmd).await;
            if reply.is_err() {
                *pinned = None;
            }
            Ok(reply?)
        }
    }
}

/// A pipeline on a pinned handle: every command on the watched shard, over the
/// session's connection. An atomic pipeline (`EXEC`) ends the session.
pub(crate) async fn pipeline(
    exec: &Executor,
    pinned: &mut Option<Pinned>,
    pipe: &Pipeline,
    offset: usize,
    count: usize,
) -> Result<Vec<Value>> {
    let Some(mut p) = pinned.clone() else {
        return Err(Error::NoKey { command: "session".into() });
    };
    for cmd in pipe.cmd_iter() {
        let args = cmd_args(cmd);
        let route = single_route(&p.shards, &args)?;
        if route != p.route {
            return Err(other_shard(&p.shards, "a pipeline in a WATCH session", p.route, route));
        }
        settle(exec, &p.shards, route, &args).await?;
    }
    let reply = p.conn.req_packed_commands(pipe, offset, count).await;
    if pipe.is_transaction() || reply.is_err() {
        // EXEC ends the WATCH whatever its outcome.
        *pinned = None;
    }
    Ok(reply?)
}
