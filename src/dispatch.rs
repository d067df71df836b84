//! From a `redis::Cmd` or `redis::Pipeline` to executed parts, as functions over
//! the [`Executor`]: one shard, a split or fan-out (planned by [`crate::plan`]),
//! `SCAN`, split pipelines and transactions. Each part goes through
//! [`Executor::execute`], so a failover retries only the failing shard's part.
//!
//! A split command or pipeline that changes data and fails on some shards after
//! others ran is [`Error::PartiallyApplied`] (see [`plan::gather`]): never the
//! first part's error alone, which would read as "nothing happened".

use std::sync::Arc;

use futures_util::future::join_all;
use redis::{Cmd, Pipeline, Value};

use crate::error::{Error, Result};
use crate::execute::Executor;
use crate::plan::{self, Destination, Options, PipelinePlan, Plan, Routed, Transaction, scan};
use crate::request::{self, Call, Request, shape_error};
use crate::topology::ShardTable;

mod channels;

/// One command (`args` are its arguments, from [`crate::request::cmd_args`]).
/// The hot path (every key on one shard) is a plain [`Executor::run`]; everything rarer
/// is boxed, so the future every request allocates stays small (measured in
/// docs/performance.md).
pub(crate) async fn command(exec: &Executor, cmd: &Cmd, args: &[&[u8]]) -> Result<Value> {
    // The hot path: one plan and one send under the current table, the loop of
    // `replanned` (boxed) only after a ring change: its closure on the hot path
    // made every request's future 48 bytes larger (measured: 2,600 → 2,552).
    match command_under(exec, &exec.table.latest(), cmd, args).await {
        Err(Error::RingChanged { .. }) => {
            Box::pin(replanned(exec, |shards| async move { command_under(exec, &shards, cmd, args).await }))
                .await
        }
        other => other,
    }
}

/// How many times a request is planned again when the client adopts a newer
/// ring while it is being retried ([`Error::RingChanged`]: nothing was sent
/// under the old ring after its last safe-to-repeat failure).
const REPLANS: usize = 4;

/// Plans and runs a request (`attempt`) under the current table, and again
/// under the newer one when the client adopted a newer ring before anything
/// of it ran ([`Error::RingChanged`]), up to [`REPLANS`] times. The one place
/// a whole request is planned again; a part whose keys still share a route
/// under the newer ring is sent again by the executor alone
/// (`Executor::replay`), so the other parts are not repeated.
async fn replanned<T, F: Future<Output = Result<T>>>(
    exec: &Executor,
    mut attempt: impl FnMut(Arc<ShardTable>) -> F,
) -> Result<T> {
    for _ in 0..REPLANS {
        match attempt(exec.table.latest()).await {
            Err(Error::RingChanged { .. }) => {}
            other => return other,
        }
    }
    attempt(exec.table.latest()).await
}

/// One command, planned and run under `shards`.
async fn command_under(exec: &Executor, shards: &ShardTable, cmd: &Cmd, args: &[&[u8]]) -> Result<Value> {
    match shards.plan(args) {
        Ok(Routed::One { route, info }) => {
            // A cacheable read of a key that stays where it is (feature
            // `cache`): a hit answers here without an await; a miss is boxed.
            #[cfg(feature = "cache")]
            if let Some(cache) = exec.cache.as_deref()
                && let Some(key) = cache.cacheable(info.name, args)
                && let crate::topology::Ends::Stays(idx) = shards.ends(route)
            {
                return match exec.cache_lookup(cache, shards, idx, key, args) {
                    // A unit of the task's tokio budget, as a socket read
                    // would take: a loop of hits must not starve the runtime.
                    Ok(value) => {
                        tokio::task::coop::consume_budget().await;
                        Ok(value)
                    }
                    Err(miss) => {
                        let call = Call::of(&info);
                        Box::pin(exec.read_through(cache, shards, idx, call, cmd, key, args, miss)).await
                    }
                };
            }
            exec.run(shards, route, Call::of(&info), Request::Cmd(cmd)).await?.one()
        }
        Ok(Routed::Plan(p)) => Box::pin(run_plan(exec, shards, cmd, p)).await,
        Ok(Routed::Scan(info)) => Box::pin(scan_step(exec, shards, cmd, Call::of(&info))).await,
        Ok(Routed::Channel(info)) => Box::pin(channels::run(exec, shards, cmd, args, info.name)).await,
        Err(Error::NoKey { .. }) if plan::not_in_table(args) => {
            // Not in the static table (a module command?): ask the server. One
            // it doesn't know either gets its own error from the first shard.
            Box::pin(async {
                let (route, call) = match crate::unknown::route(exec, shards, args).await? {
                    Destination::Route(route, call) => (route, call),
                    Destination::Anywhere => (shards.direct(0), Call::read("unknown command")),
                };
                exec.run(shards, route, call, Request::Cmd(cmd)).await?.one()
            })
            .await
        }
        Err(e) => Err(e),
    }
}

/// `count` commands of a pipeline (from `offset` on, as
/// `ConnectionLike::req_packed_commands` gives them): a transaction on its one
/// shard, the caller's pipeline as it is when every command is on one shard,
/// otherwise split per shard and reassembled in order.
pub(crate) async fn pipeline(
    exec: &Executor,
    pipe: &Pipeline,
    offset: usize,
    count: usize,
) -> Result<Vec<Value>> {
    replanned(exec, |shards| async move { pipeline_under(exec, &shards, pipe, offset, count).await }).await
}

/// A pipeline, planned and run under `shards`.
async fn pipeline_under(
    exec: &Executor,
    shards: &ShardTable,
    pipe: &Pipeline,
    offset: usize,
    count: usize,
) -> Result<Vec<Value>> {
    if pipe.is_transaction() {
        return Box::pin(transaction(exec, shards, pipe, offset, count)).await;
    }
    let planned = match plan_split(shards, pipe, &[])? {
        // Commands the static table doesn't know: ask the server, plan again.
        PipelinePlan::Lookup(indexes) => {
            let learned = Box::pin(crate::unknown::lookup(exec, shards, pipe, &indexes)).await?;
            plan_split(shards, pipe, &learned)?
        }
        planned => planned,
    };
    match planned {
        // One shard, nothing to merge: the caller's pipeline as it is.
        PipelinePlan::One { route, call } => {
            exec.run(shards, route, call, Request::Pipe { pipe, offset, count }).await?.many()
        }
        PipelinePlan::Split { subs, replies } => Box::pin(run_split(exec, shards, subs, replies)).await,
        PipelinePlan::Lookup(_) => unreachable!("every command not in the table was asked about"),
    }
}

/// Plans a non-atomic pipeline; when a command was refused and the pipeline
/// has `ignore_errors()`, plans it again with that command failing in its
/// slot. The flag is read only then (it costs a `Debug` of the pipeline).
fn plan_split<'p>(
    shards: &ShardTable,
    pipe: &'p Pipeline,
    learned: &[(usize, Result<Destination>)],
) -> Result<PipelinePlan<'p>> {
    match shards.plan_pipeline(pipe, Options { in_slots: false, learned }) {
        Err(e) if refusal(&e) && request::ignores_errors(pipe) => {
            shards.plan_pipeline(pipe, Options { in_slots: true, learned })
        }
        other => other,
    }
}

/// Whether planning refused a command for where it would go (what an
/// `ignore_errors()` pipeline answers in the command's slot instead).
fn refusal(e: &Error) -> bool {
    matches!(
        e,
        Error::NoKey { .. }
            | Error::CrossShard { .. }
            | Error::SharedConnection { .. }
            | Error::BadCommand { .. }
    )
}

/// A split pipeline's sub-pipelines, concurrently, and its replies put back
/// in the caller's order.
async fn run_split(
    exec: &Executor,
    shards: &ShardTable,
    subs: Vec<plan::Sub<'_>>,
    replies: plan::Replies,
) -> Result<Vec<Value>> {
    let runs = subs.iter().map(|sub| async move {
        let req = Request::Part(&sub.pieces);
        let outcome = exec.run(shards, sub.route, sub.call, req).await.and_then(|r| r.many());
        (sub.route, sub.call.write, outcome)
    });
    replies.assemble(plan::gather("pipeline", shards.labels(), join_all(runs).await)?)
}

/// A transaction (MULTI/EXEC) on its one shard. Empty, it answers as `EXEC`
/// of nothing does: an empty array.
async fn transaction(
    exec: &Executor,
    shards: &ShardTable,
    pipe: &Pipeline,
    offset: usize,
    count: usize,
) -> Result<Vec<Value>> {
    let planned = match shards.plan_transaction(pipe, &[])? {
        Transaction::Lookup(indexes) => {
            let learned = crate::unknown::lookup(exec, shards, pipe, &indexes).await?;
            shards.plan_transaction(pipe, &learned)?
        }
        planned => planned,
    };
    match planned {
        Transaction::On(route, call) => {
            exec.run(shards, route, call, Request::Pipe { pipe, offset, count }).await?.many()
        }
        Transaction::Empty => Ok(vec![Value::Array(Vec::new())]),
        Transaction::Lookup(_) => unreachable!("every command not in the table was asked about"),
    }
}

/// Runs a planned command: its parts concurrently, then the merge.
async fn run_plan(exec: &Executor, shards: &ShardTable, cmd: &Cmd, plan: Plan) -> Result<Value> {
    let call = Call::of(&plan.info);
    let runs = plan.parts.iter().map(|p| async move {
        let outcome = exec.run(shards, p.route, call, Request::Cmd(p.cmd.as_ref().unwrap_or(cmd))).await;
        (p.route, call.write, outcome.and_then(|r| r.one()))
    });
    let values = plan::gather(plan.info.name, shards.labels(), join_all(runs).await)?;
    plan::merge(&plan.merge, values)
}

/// One step of a cross-shard `SCAN` (see [`crate::plan::scan`]).
async fn scan_step(exec: &Executor, shards: &ShardTable, cmd: &Cmd, call: Call) -> Result<Value> {
    // redis-rs's scan iterators keep the cursor private; it is visible only
    // in the packed command.
    let packed = redis::parse_redis_value(&cmd.get_packed_command())?;
    let Value::Array(items) = packed else {
        return Err(shape_error());
    };
    let args: Vec<Vec<u8>> = items
        .into_iter()
        .map(|v| match v {
            Value::BulkString(b) => Ok(b),
            _ => Err(shape_error()),
        })
        .collect::<Result<_>>()?;
    let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let cursor = args
        .get(1)
        .ok_or_else(|| Error::BadCommand { command: "SCAN".into(), detail: "missing cursor".into() })?;
    let n = shards.shards.len();
    let Some((shard, shard_cursor)) = scan::decode(cursor, n)? else {
        return Ok(Value::Array(vec![Value::BulkString(b"0".to_vec()), Value::Array(Vec::new())]));
    };
    let shard_cmd = scan::shard_command(&args, shard_cursor);
    let reply = exec.execute(shards, shard, call, Request::Cmd(&shard_cmd)).await?.one()?;
    scan::rewrite_reply(reply, shard, n)
}
