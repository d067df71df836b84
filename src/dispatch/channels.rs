//! Pub/sub commands through the ordinary path: a channel is routed like a key
//! (hash-tag rule, rendezvous over the ring's members; during a change, its
//! owner in that phase), so `PUBLISH` reaches the master a
//! [`PubSub`](crate::PubSub) subscribed the channel on.
//!
//! | command | where | reply |
//! |---|---|---|
//! | `PUBLISH`, `SPUBLISH` | the channel's master | its receiver count |
//! | `PUBSUB NUMSUB`, `PUBSUB SHARDNUMSUB` | each channel's master | `[channel, count, …]` in your order |
//! | `PUBSUB CHANNELS`, `PUBSUB SHARDCHANNELS` | every master | the union (each channel once) |
//! | `PUBSUB NUMPAT` | every master | the largest count (a `PubSub`'s patterns are on every master) |

use futures_util::future::join_all;
use redis::{Cmd, Value};

use crate::error::{Error, Result};
use crate::execute::Executor;
use crate::request::{Call, Request, shape_error};
use crate::topology::ShardTable;

fn call(command: &'static str) -> Call {
    // Publishing twice would deliver twice: not idempotent; not data either
    // (no WAIT in durability mode).
    Call { command, idempotent: command != "PUBLISH", dedicated: false, write: false, patience: None }
}

/// Runs a pub/sub command (see the module docs); `name` is its table name, one
/// of `plan::CHANNEL_COMMANDS`.
pub(super) async fn run(
    exec: &Executor,
    shards: &ShardTable,
    cmd: &Cmd,
    args: &[&[u8]],
    name: &'static str,
) -> Result<Value> {
    match name {
        "PUBLISH" | "SPUBLISH" => {
            let [_, channel, _] = args else {
                let detail = "expected a channel and a message".to_owned();
                return Err(Error::BadCommand { command: name.to_owned(), detail });
            };
            let shard = shards.owner(channel);
            exec.execute(shards, shard, call("PUBLISH"), Request::Cmd(cmd)).await?.one()
        }
        "PUBSUB NUMSUB" | "PUBSUB SHARDNUMSUB" => {
            numsub(exec, shards, name.trim_start_matches("PUBSUB "), &args[2..]).await
        }
        _ => {
            let parts = (0..shards.shards.len()).map(|i| async move {
                exec.execute(shards, i, call("PUBSUB"), Request::Cmd(cmd)).await.and_then(|r| r.one())
            });
            let replies = join_all(parts).await.into_iter().collect::<Result<Vec<Value>>>()?;
            if name == "PUBSUB NUMPAT" {
                let counts = replies.iter().map(|v| match v {
                    Value::Int(n) => Ok(*n),
                    _ => Err(shape_error()),
                });
                return Ok(Value::Int(counts.collect::<Result<Vec<i64>>>()?.into_iter().max().unwrap_or(0)));
            }
            let mut seen = std::collections::BTreeSet::new();
            for reply in replies {
                let Value::Array(items) = reply else { return Err(shape_error()) };
                seen.extend(items.into_iter().filter_map(|v| match v {
                    Value::BulkString(b) => Some(b),
                    _ => None,
                }));
            }
            Ok(Value::Array(seen.into_iter().map(Value::BulkString).collect()))
        }
    }
}

/// `PUBSUB NUMSUB|SHARDNUMSUB channel…`: each channel asked at its master.
async fn numsub(exec: &Executor, shards: &ShardTable, sub: &str, channels: &[&[u8]]) -> Result<Value> {
    let mut groups: std::collections::BTreeMap<usize, Vec<&[u8]>> = Default::default();
    for channel in channels {
        groups.entry(shards.owner(channel)).or_default().push(channel);
    }
    let parts = groups.into_iter().map(|(shard, chans)| async move {
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg(sub).arg(&chans);
        exec.execute(shards, shard, call("PUBSUB"), Request::Cmd(&cmd)).await.and_then(|r| r.one())
    });
    let mut counts: std::collections::HashMap<Vec<u8>, Value> = Default::default();
    for reply in join_all(parts).await {
        let Value::Array(items) = reply? else { return Err(shape_error()) };
        for pair in items.chunks(2) {
            if let [Value::BulkString(ch), n] = pair {
                counts.insert(ch.clone(), n.clone());
            }
        }
    }
    let mut out = Vec::with_capacity(channels.len() * 2);
    for channel in channels {
        out.push(Value::BulkString(channel.to_vec()));
        out.push(counts.get(*channel).cloned().unwrap_or(Value::Int(0)));
    }
    Ok(Value::Array(out))
}
