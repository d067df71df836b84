//! Routing commands the static key table doesn't know (module commands, newer
//! servers): `COMMAND INFO` is asked once per name and the answer cached in
//! [`Learned`](crate::keys::learned::Learned).
//!
//! - A name the server doesn't know either goes to the first shard, which
//!   answers with its own error (`ERR unknown command`), as one connection
//!   would ([`Destination::Anywhere`]). That answer is not cached: a module loaded
//!   later must not find its commands sent to the first shard regardless of
//!   their keys.
//! - A command the server knows without key positions is [`Error::NoKey`]
//!   (send it with `on_shard`).
//! - A subcommand the table doesn't know of a container it knows (Valkey's
//!   `CLIENT CAPA`, `SCRIPT SHOW`) is asked about as `container|sub`.
//! - Fixed key positions (first, last, step) route like any command.
//! - `movablekeys` commands ask `COMMAND GETKEYS` for each call (one extra round
//!   trip), since their keys depend on the arguments.
//!
//! Such commands count as not idempotent unless the server flags them `readonly`.

use redis::Value;

use crate::error::{Error, Result};
use crate::execute::Executor;
use crate::keys::{
    self,
    learned::{LearnedSpec, parse_command_info},
};
use crate::plan::Destination;
use crate::request::{Call, Request};
use crate::routes::Route;
use crate::topology::ShardTable;

/// Routes a command the static table doesn't know: its one shard and how to
/// call it, or anywhere when the server doesn't know it either.
pub(crate) async fn route(exec: &Executor, shards: &ShardTable, args: &[&[u8]]) -> Result<Destination> {
    let name = info_name(args);
    let shown = String::from_utf8_lossy(&name).replace('|', " ");
    let Some(spec) = spec(exec, shards, &name).await? else {
        return Ok(Destination::Anywhere);
    };
    let keys: Vec<Vec<u8>> = if spec.movable {
        getkeys(exec, shards, args).await?
    } else {
        spec.keys(args).into_iter().map(<[u8]>::to_vec).collect()
    };
    let mut routes: Vec<Route> = keys.iter().map(|k| shards.route(k)).collect();
    routes.sort_unstable();
    routes.dedup();
    match routes.as_slice() {
        [] => Err(Error::NoKey { command: shown }),
        [one] => {
            let call =
                if spec.read_only { Call::read("module command") } else { Call::unknown("module command") };
            Ok(Destination::Route(*one, Call { dedicated: spec.blocking, ..call }))
        }
        many => Err(Error::CrossShard {
            command: shown,
            shards: many.iter().map(|r| shards.labels()[r.index()].clone()).collect(),
        }),
    }
}

/// The name `COMMAND INFO` knows the command by: a subcommand of a container
/// the table knows is `container|sub` (`client|capa`), anything else its first
/// argument.
fn info_name(args: &[&[u8]]) -> Vec<u8> {
    match args {
        [container, sub, ..] if keys::is_container(container) => [*container, b"|", *sub].concat(),
        [name, ..] => name.to_vec(),
        [] => Vec::new(),
    }
}

/// The learned spec of `name`, asking `COMMAND INFO` (on the first shard) the
/// first time; `None` (asked again next time) when the server doesn't know it.
async fn spec(exec: &Executor, shards: &ShardTable, name: &[u8]) -> Result<Option<LearnedSpec>> {
    if let Some(spec) = exec.learned.get(name) {
        return Ok(Some(spec));
    }
    let cmd = redis::cmd("COMMAND").arg("INFO").arg(name).to_owned();
    let reply = exec.execute(shards, 0, Call::read("COMMAND INFO"), Request::Cmd(&cmd)).await?.one()?;
    let spec = match &reply {
        Value::Array(entries) => entries.first().and_then(parse_command_info),
        _ => None,
    };
    if let Some(spec) = spec {
        exec.learned.insert(name, spec);
    }
    Ok(spec)
}

/// `COMMAND GETKEYS` for a `movablekeys` command.
async fn getkeys(exec: &Executor, shards: &ShardTable, args: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
    let mut cmd = redis::cmd("COMMAND");
    cmd.arg("GETKEYS").arg(args);
    match exec.execute(shards, 0, Call::read("COMMAND GETKEYS"), Request::Cmd(&cmd)).await?.one()? {
        Value::Array(keys) => Ok(keys
            .into_iter()
            .filter_map(|k| match k {
                Value::BulkString(b) => Some(b),
                _ => None,
            })
            .collect()),
        _ => Ok(Vec::new()),
    }
}

/// What the server says about the pipeline's commands at `indexes` (not in the
/// static table), for planning the pipeline again. A routing refusal
/// (`NoKey`, `CrossShard`) is kept for its command; any other error (the
/// first shard unreachable) fails the whole pipeline.
pub(crate) async fn lookup(
    exec: &Executor,
    shards: &ShardTable,
    pipe: &redis::Pipeline,
    indexes: &[usize],
) -> Result<Vec<(usize, Result<Destination>)>> {
    let mut out = Vec::with_capacity(indexes.len());
    // Names the server doesn't know, asked once per pipeline (they are not
    // cached across requests: see the module docs).
    let mut unknown: Vec<Vec<u8>> = Vec::new();
    for (i, cmd) in pipe.cmd_iter().enumerate().filter(|(i, _)| indexes.contains(i)) {
        let args = crate::request::cmd_args(cmd);
        let name = info_name(&args).to_ascii_lowercase();
        if unknown.contains(&name) {
            out.push((i, Ok(Destination::Anywhere)));
            continue;
        }
        match route(exec, shards, &args).await {
            Err(e) if !matches!(e, Error::NoKey { .. } | Error::CrossShard { .. }) => return Err(e),
            Ok(Destination::Anywhere) => {
                unknown.push(name);
                out.push((i, Ok(Destination::Anywhere)));
            }
            answer => out.push((i, answer)),
        }
    }
    Ok(out)
}
