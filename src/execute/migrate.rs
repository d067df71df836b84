//! The one way keys move from one master to another, for a client's first
//! touch of a moving key (`execute::moving`) and the ring tool's mover and
//! `rebalance` (`reshard::copy`): `MULTI` · tombstones · `MIGRATE [COPY] …
//! KEYS` · `EXEC` at the source ([`change::migrate`], judged by
//! [`Migrated::of`]); after a `COPY` the caller's [`Reach::confirm`] makes the
//! copies durable at the target. Retried (the target found again in between)
//! within a [`Deadline`] counted from the start, through a failover of either
//! end. What differs between the callers is how they reach the two masters:
//! the [`Reach`] they pass.

use std::time::Duration;

use redis::{Pipeline, Value};
use tracing::warn;

use crate::change::{self, Migrate, Migrated};
use crate::config::{Config, NodeAddr};
use crate::error::{Error, Result};
use crate::retry::Deadline;

/// How one caller reaches the source and the target of a move.
pub(crate) trait Reach {
    /// The target's master as the source reaches it (resolved if need be).
    async fn target(&mut self) -> Result<NodeAddr>;
    /// Runs a transaction at the source (through its failovers): `EXEC`'s
    /// reply. An error ends the move.
    async fn at_source(&mut self, pipe: &Pipeline) -> Result<Value>;
    /// After `MIGRATE … COPY`: makes the copies durable at the target (a
    /// client also deletes them at the source). An error is tried again.
    async fn confirm(&mut self, keys: &[&[u8]]) -> Result<()>;
    /// Whether both ends hold the same value under `key` (a `BUSYKEY` on our
    /// own earlier copy is no conflict). Asked only when [`Keys::sort_busy`].
    async fn same(&mut self, _key: &[u8]) -> Result<bool> {
        Ok(false)
    }
    /// After a failed attempt: finds the target's master again.
    async fn retarget(&mut self);
}

/// What moves, from where to where, and how.
pub(crate) struct Keys<'a> {
    /// The source's and the target's master names (logs, the deadline error).
    pub(crate) names: (&'a str, &'a str),
    /// The tombstone hash to mark the keys in (phase `migrating`), if any.
    pub(crate) tombstones: Option<&'a str>,
    pub(crate) keys: &'a [&'a [u8]],
    /// `MIGRATE … COPY`, then [`Reach::confirm`]; otherwise `MIGRATE` deletes
    /// at the source at once.
    pub(crate) copy: bool,
    /// Overwrite the target's copies (`REPLACE`).
    pub(crate) replace: bool,
    /// On `BUSYKEY`, find out key by key which ones the target holds with
    /// another value (the ring tool must keep those at the source); otherwise
    /// stop and use the target's copies (a client's first touch).
    pub(crate) sort_busy: bool,
}

/// How a move ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Moved {
    /// Every key is at the target (moved, or copied and confirmed) or was not
    /// at the source, but `conflicts`: the indices of keys the target held
    /// with another value, left at the source.
    Done { conflicts: Vec<usize> },
    /// The target held a key (`BUSYKEY`) and `sort_busy` was off: its copies stand.
    TargetHad,
}

/// Moves `what` between `ends` (see the module docs) within `budget`.
pub(crate) async fn move_keys<E: Reach>(
    ends: &mut E,
    what: &Keys<'_>,
    config: &Config,
    budget: Duration,
) -> Result<Moved> {
    let mut deadline = Deadline::from_now(budget, config);
    loop {
        let target = ends.target().await?;
        let how = Migrate {
            target: &target,
            db: config.db,
            auth: &config.redis_auth,
            copy: what.copy,
            replace: what.replace,
        };
        let migrate = |keys: &[&[u8]]| change::migrate(what.tombstones, keys, &how);
        let sorted = match Migrated::of(&ends.at_source(&migrate(what.keys)).await?) {
            Migrated::Done => Ok(Vec::new()),
            Migrated::Busy if !what.sort_busy => return Ok(Moved::TargetHad),
            Migrated::Busy => busy_keys(ends, &migrate, what.keys).await?,
            Migrated::Failed(e) => Err(e),
        };
        let failed = match sorted {
            Ok(conflicts) if !what.copy => return Ok(Moved::Done { conflicts }),
            Ok(conflicts) => match ends.confirm(what.keys).await {
                Ok(()) => return Ok(Moved::Done { conflicts }),
                Err(e) => e,
            },
            Err(e) => e,
        };
        let (from, to) = what.names;
        warn!(%from, %to, error = %failed, "keys not moved yet; trying again");
        deadline.failed(failed);
        tokio::time::sleep(deadline.pause(to)?).await;
        ends.retarget().await;
    }
}

/// After a `BUSYKEY`: the keys the target holds with another value, found one
/// `MIGRATE` at a time (rare: reruns, conflicts). The inner `Err` is a key that
/// could not be moved: the whole move is tried again.
async fn busy_keys<E: Reach>(
    ends: &mut E,
    migrate: &impl Fn(&[&[u8]]) -> Pipeline,
    keys: &[&[u8]],
) -> Result<std::result::Result<Vec<usize>, Error>> {
    let mut conflicts = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        match Migrated::of(&ends.at_source(&migrate(&[key])).await?) {
            Migrated::Done => {}
            // Our own copy (the batch copied it before it failed), or the same
            // value: not a conflict.
            Migrated::Busy if ends.same(key).await? => {}
            Migrated::Busy => conflicts.push(i),
            Migrated::Failed(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(conflicts))
}
