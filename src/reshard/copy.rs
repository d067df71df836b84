//! Copying keys from one master to another so that a failover of either
//! side at any moment loses nothing, for the mover and `rebalance`:
//! `MULTI` · (`HSET` tombstones) · `MIGRATE … COPY KEYS …` · `EXEC` at the
//! source, then `PUBLISH` + `WAIT` at the target (the copies are on its
//! replicas), and only then [`delete`] at the source (`UNLINK` + `WAIT`).
//! Every step can be repeated: a copy the target already holds answers
//! `BUSYKEY`, and a key already deleted `NOKEY`.

use std::time::Instant;

use redis::Value;
use tracing::warn;

use super::masters::Masters;
use crate::change::{self, Migrate};
use crate::error::{Error, Result};
use crate::retry::Backoff;

/// How long one `MIGRATE` may take, in milliseconds.
const MIGRATE_TIMEOUT_MS: u64 = 10_000;

/// How long to wait for replicas to acknowledge, in milliseconds.
const WAIT_MS: u64 = 2_000;

/// How many replicas `name`'s master has connected now (`ROLE`).
async fn replicas(masters: &mut Masters<'_>, name: &str) -> Result<usize> {
    match masters.query(name, &redis::cmd("ROLE")).await? {
        Value::Array(role) => Ok(match role.get(2) {
            Some(Value::Array(list)) => list.len(),
            _ => 0,
        }),
        _ => Ok(0),
    }
}

/// `first` then `WAIT` for every connected replica of `name`'s master:
/// whether they all acknowledged. `first` moves this connection's replication
/// offset past what must be acknowledged (`PUBLISH` is propagated to replicas).
async fn confirm(masters: &mut Masters<'_>, name: &str, first: &redis::Cmd) -> Result<bool> {
    let want = replicas(masters, name).await?;
    let (_, mut conn) = masters.reach(name).await?;
    let mut pipe = redis::pipe();
    pipe.add_command(first.clone()).cmd("WAIT").arg(want).arg(WAIT_MS);
    let replies = conn.send_packed_commands(&pipe, 0, 2).await?;
    Ok(matches!(replies.get(1), Some(Value::Int(n)) if *n as usize >= want))
}

/// Copies `keys` from `from` to `to` and confirms them there; returns the
/// indices of the keys `to` held already with another value (`BUSYKEY`, not
/// overwritten unless `replace`). Retried through a failover of `to` until four failover
/// deadlines have passed.
pub(crate) async fn copy(
    masters: &mut Masters<'_>,
    tombstones: Option<&str>,
    from: &str,
    to: &str,
    keys: &[&[u8]],
    replace: bool,
) -> Result<Vec<usize>> {
    let config = masters.exec.config.clone();
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    let started = Instant::now();
    loop {
        let (addr, _) = masters.reach(to).await?;
        let how = Migrate {
            target: &addr,
            db: config.db,
            timeout_ms: MIGRATE_TIMEOUT_MS,
            auth: &config.redis_auth,
            copy: true,
            replace,
        };
        let mut busy = Vec::new();
        let outcome = match change::migrated(
            &masters.transaction(from, &change::migrate(tombstones, keys, &how)).await?,
        ) {
            Err(why) if why.contains("BUSYKEY") => {
                // Which ones? One at a time (rare: reruns, conflicts).
                let mut result = Ok(());
                for (i, key) in keys.iter().enumerate() {
                    match change::migrated(
                        &masters.transaction(from, &change::migrate(tombstones, &[key], &how)).await?,
                    ) {
                        Ok(()) => {}
                        // Our own copy (the batch copied it before it failed), or
                        // the same value: not a conflict.
                        Err(why) if why.contains("BUSYKEY") && !same(masters, from, to, key).await? => {
                            busy.push(i)
                        }
                        Err(why) if why.contains("BUSYKEY") => {}
                        Err(why) => {
                            result = Err(why);
                            break;
                        }
                    }
                }
                result
            }
            other => other,
        };
        let failed = match outcome {
            Ok(()) => {
                let mut publish = redis::cmd("PUBLISH");
                publish.arg("__disredis__:moved").arg(keys.len());
                match confirm(masters, to, &publish).await {
                    Ok(true) => return Ok(busy),
                    Ok(false) => "the target's replicas did not acknowledge the copies in time".to_owned(),
                    Err(e) => e.to_string(),
                }
            }
            Err(why) => why,
        };
        masters.forget(to);
        let remaining = (config.failover_deadline * 4).saturating_sub(started.elapsed());
        let Some(delay) = backoff.next_delay(remaining) else {
            return Err(Error::FailoverTimeout {
                shard: to.to_owned(),
                elapsed: started.elapsed(),
                last: Box::new(Error::Redis(
                    (redis::ErrorKind::Io, "disredis: copying keys failed", failed).into(),
                )),
            });
        };
        warn!(%from, %to, why = %failed, "copy not confirmed; copying again");
        tokio::time::sleep(delay).await;
    }
}

/// Whether `from` and `to` hold the same value under `key` (`DUMP` alike).
async fn same(masters: &mut Masters<'_>, from: &str, to: &str, key: &[u8]) -> Result<bool> {
    let mut dump = redis::cmd("DUMP");
    dump.arg(key);
    let here = masters.query(from, &dump).await?;
    let there = masters.query(to, &dump).await?;
    Ok(matches!((&here, &there), (Value::BulkString(a), Value::BulkString(b)) if a == b))
}

/// Deletes `keys` at `from` (`UNLINK`, then `WAIT` for its replicas): how many were there.
pub(crate) async fn delete(masters: &mut Masters<'_>, from: &str, keys: &[&[u8]]) -> Result<u64> {
    if keys.is_empty() {
        return Ok(0);
    }
    let mut unlink = redis::cmd("UNLINK");
    unlink.arg(keys);
    let deleted = match masters.query(from, &unlink).await? {
        Value::Int(n) => n as u64,
        _ => 0,
    };
    if !confirm(masters, from, &redis::cmd("PING")).await.unwrap_or(false) {
        warn!(%from, "the deletions are not on every replica yet");
    }
    Ok(deleted)
}
