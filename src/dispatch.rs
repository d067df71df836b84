//! From a `redis::Cmd` or `redis::Pipeline` to executed parts: one shard, a
//! split or fan-out (see [`crate::fanout`]), `SCAN`, split pipelines and
//! transactions. Each part goes through [`Inner::execute`], so a failover retries
//! only the failing shard's part.

use futures_util::future::join_all;
use redis::{Cmd, Pipeline, Value};

use crate::client::{DisredisClient, Inner};
use crate::error::{Error, Result};
use crate::execute::{Call, Reply, Request};
use crate::fanout::{self, Merge, Plan, Routed, cmd_args, scan};
use crate::keys;

fn shape_error() -> Error {
    Error::Redis((redis::ErrorKind::Client, "disredis: reply shape does not match the request").into())
}

pub(crate) fn one(reply: Reply) -> Result<Value> {
    match reply {
        Reply::One(v) => Ok(v),
        Reply::Many(_) => Err(shape_error()),
    }
}

pub(crate) fn many(reply: Reply) -> Result<Vec<Value>> {
    match reply {
        Reply::Many(v) => Ok(v),
        Reply::One(_) => Err(shape_error()),
    }
}

/// How to call a whole pipeline: idempotent only if every command is, a write
/// (and dedicated) if any command is one (unknown commands count as writes).
pub(crate) fn pipeline_call(command: &'static str, pipe: &Pipeline) -> Call {
    let mut call = Call { command, idempotent: true, dedicated: false, write: false, patience: None };
    for c in pipe.cmd_iter() {
        match keys::visit_keys(&cmd_args(c), |_| {}) {
            Ok(info) => {
                let one = Call::of(&info);
                call.idempotent &= one.idempotent;
                call.dedicated |= one.dedicated;
                call.write |= one.write;
            }
            Err(_) => {
                call.idempotent = false;
                call.write = true;
            }
        }
    }
    call
}

impl DisredisClient {
    pub(crate) async fn query_cmd(&mut self, cmd: &Cmd) -> Result<Value> {
        let args = cmd_args(cmd);
        if self.pinned.is_some() || crate::session::is_session_command(&args) {
            return self.session_cmd(cmd, &args).await;
        }
        let inner = self.inner();
        match fanout::plan(&inner.shards.ring, &args) {
            Ok(Routed::Plan(plan)) => inner.run_plan(cmd, plan).await,
            Ok(Routed::Scan(info)) => inner.scan(cmd, Call::of(&info)).await,
            Err(Error::NoKey { .. }) if keys::visit_keys(&args, |_| {}).is_err() => {
                // Not in the static table (a module command?): ask the server.
                let (shard, call) = inner.route_unknown(&args).await?;
                one(inner.execute(shard, call, Request::Cmd(cmd)).await?)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn query_pipeline(
        &mut self,
        pipe: &Pipeline,
        offset: usize,
        count: usize,
    ) -> Result<Vec<Value>> {
        if self.pinned.is_some() {
            return self.session_pipeline(pipe, offset, count).await;
        }
        let inner = self.inner();
        let ring = &inner.shards.ring;
        if pipe.is_transaction() {
            let Some(shard) = fanout::transaction_shard(ring, pipe)? else {
                return Ok(Vec::new());
            };
            let call = Call { dedicated: false, ..pipeline_call("MULTI/EXEC", pipe) };
            return many(inner.execute(shard, call, Request::Pipe { pipe, offset, count }).await?);
        }
        let plan = fanout::plan_pipeline(ring, pipe)?;
        let call = |sub: &fanout::Sub| pipeline_call("pipeline", &sub.pipe);
        if let [sub] = plan.subs.as_slice()
            && plan.recipes.iter().all(|(_, m)| *m == Merge::One)
        {
            // One shard, nothing to merge: the caller's pipeline as it is.
            return many(inner.execute(sub.shard, call(sub), Request::Pipe { pipe, offset, count }).await?);
        }
        let runs = plan.subs.iter().map(|sub| {
            inner.execute(
                sub.shard,
                call(sub),
                Request::Pipe { pipe: &sub.pipe, offset: 0, count: sub.pipe.len() },
            )
        });
        let replies =
            join_all(runs).await.into_iter().map(|r| r.and_then(many)).collect::<Result<Vec<_>>>()?;
        fanout::assemble(plan.recipes, replies)
    }
}

impl Inner {
    /// Runs a planned command: its parts concurrently, then the merge.
    async fn run_plan(&self, cmd: &Cmd, plan: Plan) -> Result<Value> {
        let call = Call::of(&plan.info);
        if let ([part], Merge::One) = (plan.parts.as_slice(), &plan.merge) {
            return one(self
                .execute(part.shard, call, Request::Cmd(part.cmd.as_ref().unwrap_or(cmd)))
                .await?);
        }
        let runs = plan
            .parts
            .iter()
            .map(|p| self.execute(p.shard, call, Request::Cmd(p.cmd.as_ref().unwrap_or(cmd))));
        let values = join_all(runs).await.into_iter().map(|r| r.and_then(one)).collect::<Result<Vec<_>>>()?;
        fanout::merge(&plan.merge, values)
    }

    /// One step of a cross-shard `SCAN` (see [`crate::fanout::scan`]).
    async fn scan(&self, cmd: &Cmd, call: Call) -> Result<Value> {
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
        let n = self.shards.shards.len();
        let (shard, shard_cursor) = scan::decode(cursor, n)?;
        let shard_cmd = scan::shard_command(&args, shard_cursor);
        let reply = one(self.execute(shard, call, Request::Cmd(&shard_cmd)).await?)?;
        scan::rewrite_reply(reply, shard, n)
    }
}
