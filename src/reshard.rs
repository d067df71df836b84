//! Changing the ring online: adding a master or removing one with its keys
//! moved and nothing lost — what `disredis reshard` and `disredis rebalance`
//! run. From stable version `v` a change writes `prepare` (v+1: keys stay at
//! their old owner, moving ones behind the guard), then `migrating` (v+2:
//! clients move a key on first touch, the mover moves the rest), then
//! `stable` over the new members (v+3), and deletes the tombstones; the phase
//! table, what each phase waits for and why is in docs/resharding.md.
//!
//! Each version is written on every master of the change (`FUNCTION LOAD
//! REPLACE`), then announced on the ring channel; before the next step the
//! fence reads `CLIENT LIST` on every master until no disredis connection
//! follows an older version (reporting and, if asked, ending stragglers).
//! Every step can be repeated, so [`resume`] continues from whatever phase
//! the ring is in after the tool was killed.

use std::time::Duration;

use tracing::{Instrument, info, info_span};

use crate::DisredisClient;
use crate::error::{Error, Result};
use crate::ring::{Phase, RING_CHANNEL, Ring, library_code};

mod copy;
mod fence;
mod masters;
mod mover;
mod rebalance;

pub use fence::Straggler;
use masters::{Masters, Scan};
pub use rebalance::{Conflict, OnConflict, Rebalance, rebalance};

/// How a change runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// How long a connection may follow an older version before it is
    /// reported as a straggler (default [`DEFAULT_GRACE`]).
    pub grace: Duration,
    /// End stragglers with `CLIENT KILL` after this long (default: never; the
    /// fence waits and keeps reporting them).
    pub kill_stragglers_after: Option<Duration>,
    /// Add a master that already holds keys (default: refused); a key it
    /// holds that also moves to it is a conflict, both copies kept.
    pub allow_nonempty: bool,
}

/// How long a connection may lag before it is reported: 10 s.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

impl Default for Options {
    fn default() -> Options {
        Options { grace: DEFAULT_GRACE, kill_stragglers_after: None, allow_nonempty: false }
    }
}

/// Keys scanned and moved so far, and the conflicts found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Keys the mover read on the sources (every pass).
    pub scanned: u64,
    /// Keys deleted at their old owner once their new owner had them.
    pub moved: u64,
    /// Keys found on their old owner *and* their new one (the new master held
    /// them before): `(key, new owner)`, both copies kept.
    pub conflicts: Vec<(Vec<u8>, String)>,
}

/// What a change reports as it goes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Step {
    /// A version was written on every master and announced.
    Published {
        /// The version now current.
        ring: Ring,
    },
    /// Every connection follows `version` (or newer).
    Fenced {
        /// The version waited for.
        version: u64,
        /// How long it took.
        waited: Duration,
    },
    /// Connections that still follow an older version (reported after the grace time).
    Stragglers {
        /// The version waited for.
        version: u64,
        /// How long the fence has waited.
        waited: Duration,
        /// Who.
        stragglers: Vec<Straggler>,
    },
    /// Stragglers ended with `CLIENT KILL`.
    Killed {
        /// How many connections.
        count: usize,
    },
    /// The mover moved a batch.
    Moving(Progress),
    /// Tombstone hashes deleted after the change.
    Cleaned {
        /// How many.
        hashes: u64,
    },
}

/// How a change ended.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Outcome {
    /// The stable ring it ended with.
    pub ring: Ring,
    /// What the mover did.
    pub progress: Progress,
}

fn refused(reason: String) -> Error {
    Error::Reshard { reason }
}

/// Changes the ring the client follows (which must be stable) to `members`,
/// moving the keys; see the module docs.
pub async fn start(
    client: &DisredisClient,
    members: Vec<String>,
    options: &Options,
    progress: &mut (dyn FnMut(Step) + Send),
) -> Result<Outcome> {
    let exec = client.executor();
    let mut masters = Masters::new(exec);
    let current = exec.table.latest().ring.clone();
    let mut everyone = current.names();
    everyone.extend(members.iter().cloned());
    let ring = newest(&mut masters, &everyone).await?.unwrap_or(current);
    if ring.phase != Phase::Stable {
        return Err(refused(format!(
            "a change is in progress (ring version {}, phase {}): run `reshard resume`",
            ring.version, ring.phase
        )));
    }
    let target = crate::ring::member_list(members).map_err(refused)?;
    if target == ring.members {
        return Err(refused("the new member set is the current one".into()));
    }
    for name in target.iter().filter(|n| !ring.members.contains(n)) {
        if !options.allow_nonempty && holds_keys(&mut masters, name).await? {
            return Err(refused(format!(
                "{name} holds keys already; empty it or pass --allow-nonempty (keys it holds that also move to it are conflicts)"
            )));
        }
    }
    let span = info_span!("reshard", from = ring.version, members = ?target);
    let prepare = Ring { version: ring.version + 1, phase: Phase::Prepare, members: ring.members, target };
    drive(&mut masters, prepare, options, progress).instrument(span).await
}

/// Continues an interrupted change from the ring's phase; `None` when the
/// ring is stable (leftover tombstones of a change that was cut off at its
/// very end are deleted then).
pub async fn resume(
    client: &DisredisClient,
    options: &Options,
    progress: &mut (dyn FnMut(Step) + Send),
) -> Result<Option<Outcome>> {
    let exec = client.executor();
    let mut masters = Masters::new(exec);
    let current = exec.table.latest().ring.clone();
    let ring = newest(&mut masters, &current.names()).await?.unwrap_or(current);
    if ring.phase == Phase::Stable {
        // A master removed by the change that was cut off holds its tombstones.
        let mut everyone = ring.names();
        everyone.extend(exec.table.latest().unrouted.iter().cloned());
        let hashes = mover::clean(&mut masters, &everyone).await?;
        if hashes > 0 {
            progress(Step::Cleaned { hashes });
        }
        return Ok(None);
    }
    // Every master holds the version being resumed (the tool may have died
    // while writing it).
    let span = info_span!("reshard", resume = ring.version, phase = %ring.phase);
    drive(&mut masters, ring, options, progress).instrument(span).await.map(Some)
}

/// From `prepare` or `migrating` to stable, `ring` (published first) the
/// first step; every version on the masters of `ring`'s names.
async fn drive(
    masters: &mut Masters<'_>,
    mut ring: Ring,
    options: &Options,
    progress: &mut (dyn FnMut(Step) + Send),
) -> Result<Outcome> {
    let all = ring.names();
    let mut moved = Progress::default();
    loop {
        publish(masters, &all, &ring, progress).await?;
        let waited = fence::fence(masters, &all, ring.version, options, progress).await?;
        progress(Step::Fenced { version: ring.version, waited });
        match ring.phase {
            Phase::Prepare => {
                ring = Ring { version: ring.version + 1, phase: Phase::Migrating, ..ring };
            }
            Phase::Migrating => {
                mover::move_all(masters, &ring, &mut moved, progress).await?;
                ring = Ring {
                    version: ring.version + 1,
                    phase: Phase::Stable,
                    members: ring.target,
                    target: vec![],
                };
            }
            Phase::Stable => {
                let hashes = mover::clean(masters, &all).await?;
                progress(Step::Cleaned { hashes });
                info!(version = ring.version, moved = moved.moved, "ring change done");
                return Ok(Outcome { ring, progress: moved });
            }
        }
    }
}

/// Writes `ring` on every master of `names`, then announces it there.
async fn publish(
    masters: &mut Masters<'_>,
    names: &[String],
    ring: &Ring,
    progress: &mut (dyn FnMut(Step) + Send),
) -> Result<()> {
    let code = library_code(ring);
    for name in names {
        masters
            .query(name, redis::cmd("FUNCTION").arg("LOAD").arg("REPLACE").arg(&code))
            .await
            .map_err(|e| refused(format!("could not write ring version {} on {name}: {e}", ring.version)))?;
    }
    for name in names {
        masters.query(name, redis::cmd("PUBLISH").arg(RING_CHANNEL).arg(ring.version)).await?;
    }
    info!(version = ring.version, phase = %ring.phase, "ring version published");
    progress(Step::Published { ring: ring.clone() });
    Ok(())
}

/// The newest copy on `names`' masters (see [`Ring::newest`]).
async fn newest(masters: &mut Masters<'_>, names: &[String]) -> Result<Option<Ring>> {
    let mut copies = Vec::new();
    for name in names {
        let (_, mut conn) = masters.reach(name).await?;
        if let Some(ring) = crate::membership::read(name, &mut conn).await? {
            copies.push(ring);
        }
    }
    Ok(Ring::newest(&copies).cloned())
}

/// Whether `name`'s master holds a key that is not the library's own.
async fn holds_keys(masters: &mut Masters<'_>, name: &str) -> Result<bool> {
    let mut scan = Scan::new(name, None);
    while let Some(keys) = scan.next(masters).await? {
        if keys.iter().any(|k| !mover::internal(k)) {
            return Ok(true);
        }
    }
    Ok(false)
}
