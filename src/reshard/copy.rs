//! Copying keys from one master to another so that a failover of either
//! side at any moment loses nothing, for the mover and `rebalance`:
//! `MULTI` · (`HSET` tombstones) · `MIGRATE … COPY KEYS …` · `EXEC` at the
//! source (the one way keys move, `execute::migrate`), then `PUBLISH` +
//! `WAIT` at the target (the copies are on its replicas), and only then
//! [`delete`] at the source (`UNLINK` + `WAIT`).
//! Every step can be repeated: a copy the target already holds answers
//! `BUSYKEY`, and a key already deleted `NOKEY`.

use redis::Value;
use tracing::warn;

use super::masters::Masters;
use crate::change;
use crate::config::NodeAddr;
use crate::error::{Error, Result};
use crate::execute::migrate::{Keys, Moved, Reach, move_keys};

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

/// `first` then `WAIT` for every connected replica of `name`'s master; an
/// error unless they all acknowledged. `first` moves this connection's
/// replication offset past what must be acknowledged (`PUBLISH` is propagated).
async fn confirm(masters: &mut Masters<'_>, name: &str, first: &redis::Cmd) -> Result<()> {
    let want = replicas(masters, name).await?;
    let (_, conn) = masters.reach(name).await?;
    let mut pipe = redis::pipe();
    pipe.add_command(first.clone()).cmd("WAIT").arg(want).arg(WAIT_MS);
    match conn.send_pipe(&pipe, 0, 2, None).await?.get(1) {
        Some(Value::Int(n)) if *n as usize >= want => Ok(()),
        _ => Err(Error::Redis(
            (redis::ErrorKind::Io, "disredis: the replicas did not acknowledge in time").into(),
        )),
    }
}

/// Copies `keys` from `from` to `to` and confirms them there
/// ([`move_keys`]); returns the indices of the keys `to` held already with
/// another value (`BUSYKEY`, not overwritten unless `replace`). Retried
/// through a failover of `to` until four failover deadlines have passed.
pub(crate) async fn copy(
    masters: &mut Masters<'_>,
    tombstones: Option<&str>,
    from: &str,
    to: &str,
    keys: &[&[u8]],
    replace: bool,
) -> Result<Vec<usize>> {
    let config = masters.exec.config.clone();
    let what = Keys { names: (from, to), tombstones, keys, copy: true, replace, sort_busy: true };
    match move_keys(&mut Pair { masters, from, to }, &what, &config, config.failover_deadline * 4).await? {
        Moved::Done { conflicts } => Ok(conflicts),
        Moved::TargetHad => unreachable!("the ring tool sorts busy keys"),
    }
}

/// The ring tool's ends of a copy: its own connections to `from` and `to`.
struct Pair<'m, 'a> {
    masters: &'m mut Masters<'a>,
    from: &'m str,
    to: &'m str,
}

impl Reach for Pair<'_, '_> {
    async fn target(&mut self) -> Result<NodeAddr> {
        Ok(self.masters.reach(self.to).await?.0)
    }

    async fn at_source(&mut self, pipe: &redis::Pipeline) -> Result<Value> {
        self.masters.transaction(self.from, pipe).await
    }

    async fn confirm(&mut self, keys: &[&[u8]]) -> Result<()> {
        confirm(self.masters, self.to, &change::moved_notice(keys.len())).await
    }

    /// `DUMP` alike at both ends.
    async fn same(&mut self, key: &[u8]) -> Result<bool> {
        let mut dump = redis::cmd("DUMP");
        dump.arg(key);
        let here = self.masters.query(self.from, &dump).await?;
        let there = self.masters.query(self.to, &dump).await?;
        Ok(matches!((&here, &there), (Value::BulkString(a), Value::BulkString(b)) if a == b))
    }

    async fn retarget(&mut self) {
        self.masters.forget(self.to);
    }
}

/// Deletes `keys` at `from` (`UNLINK`, then `WAIT` for its replicas): how many were there.
pub(crate) async fn delete(masters: &mut Masters<'_>, from: &str, keys: &[&[u8]]) -> Result<u64> {
    if keys.is_empty() {
        return Ok(0);
    }
    let mut unlink = redis::cmd("UNLINK");
    unlink.arg(keys);
    let deleted = change::unlinked(&masters.query(from, &unlink).await?)?;
    if let Err(e) = confirm(masters, from, &redis::cmd("PING")).await {
        warn!(%from, error = %e, "the deletions are not on every replica yet");
    }
    Ok(deleted)
}
