//! The background mover of phase `migrating`: every key of a source master
//! whose owner changes is copied to its new owner, confirmed there, and only
//! then deleted at the source — so a failover of either side at any moment
//! loses nothing and a rerun repeats only work that is safe to repeat. Per
//! batch (at most [`BATCH`] keys of one source and one new owner) the steps
//! are [`copy`]'s; from the tombstones on, every client uses the new owner.
//!
//! A key the new owner already holds (`MIGRATE` answers `BUSYKEY`) was copied
//! by an earlier run or a client when it has a tombstone (then the source's
//! copy is deleted), otherwise it is a conflict: both copies stay, reported.

use std::collections::BTreeMap;

use redis::Value;
use tracing::{info, warn};

use super::copy;
use super::masters::{Masters, Scan};
use super::{Progress, Step};
use crate::change::{self, TOMBSTONE_PREFIX};
use crate::error::{Error, Result};
use crate::ring::Ring;
use crate::routes::Moves;

/// Keys per `MIGRATE`.
pub(crate) const BATCH: usize = 100;

/// Whether a key is the library's own (tombstones), never moved.
pub(crate) fn internal(key: &[u8]) -> bool {
    key.starts_with(b"__disredis__:")
}

/// Moves every key that changes owner under `ring` (phase `migrating`) until
/// a scan of every source finds none left but the conflicts.
pub(crate) async fn move_all(
    masters: &mut Masters<'_>,
    ring: &Ring,
    progress: &mut Progress,
    report: &mut (dyn FnMut(Step) + Send),
) -> Result<()> {
    let names = ring.names();
    let moves = Moves::new(&names, &ring.members, &ring.target).ok_or_else(|| Error::BadRing {
        master: names.join(","),
        detail: "no members or no target".into(),
    })?;
    let tombstones = change::tombstones(ring.version);
    // Rendezvous: when members only leave, only theirs move; otherwise any
    // member may lose keys to a new one.
    let leaving = ring.target.iter().all(|t| ring.members.contains(t));
    let sources: Vec<usize> = (0..names.len())
        .filter(|&i| ring.members.contains(&names[i]) && !(leaving && ring.target.contains(&names[i])))
        .collect();
    for pass in 1.. {
        let before = (progress.moved, progress.conflicts.len());
        let mut found = 0u64;
        for &source in &sources {
            let mut scan = Scan::new(&names[source], None);
            while let Some(keys) = scan.next(masters).await? {
                progress.scanned += keys.len() as u64;
                let mut groups: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
                for key in keys {
                    if internal(&key) || moves.old_owner(&key) != source {
                        continue;
                    }
                    let to = moves.new_owner(&key);
                    if to != source && !progress.conflicts.iter().any(|(k, _)| *k == key) {
                        groups.entry(to).or_default().push(key);
                    }
                }
                for (to, keys) in groups {
                    for batch in keys.chunks(BATCH) {
                        found += batch.len() as u64;
                        move_batch(masters, &tombstones, &names[source], &names[to], batch, progress).await?;
                        report(Step::Moving(progress.clone()));
                    }
                }
            }
        }
        info!(pass, found, moved = progress.moved, "mover: pass done");
        if found == 0 || (progress.moved, progress.conflicts.len()) == before {
            return Ok(());
        }
    }
    Ok(())
}

/// One batch (see the module docs).
async fn move_batch(
    masters: &mut Masters<'_>,
    tombstones: &str,
    from: &str,
    to: &str,
    keys: &[Vec<u8>],
    progress: &mut Progress,
) -> Result<()> {
    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let mut marked = redis::cmd("HMGET");
    marked.arg(tombstones).arg(&refs);
    // Keys with a tombstone already were copied before (an earlier run, or a
    // client moved them): a copy the new owner holds is theirs.
    let marked: Vec<bool> = match masters.query(from, &marked).await? {
        Value::Array(v) => v.iter().map(|v| !matches!(v, Value::Nil)).collect(),
        _ => vec![false; keys.len()],
    };
    let busy = copy::copy(masters, Some(tombstones), from, to, &refs, false).await?;
    let conflicts: Vec<usize> =
        busy.into_iter().filter(|&i| !marked.get(i).copied().unwrap_or(false)).collect();
    let delete: Vec<&[u8]> =
        refs.iter().enumerate().filter(|(i, _)| !conflicts.contains(i)).map(|(_, k)| *k).collect();
    progress.moved += copy::delete(masters, from, &delete).await?;
    for i in conflicts {
        warn!(%from, %to, key = %String::from_utf8_lossy(&keys[i]), "mover: the new owner holds this key already: both copies kept (conflict)");
        progress.conflicts.push((keys[i].clone(), to.to_owned()));
    }
    Ok(())
}

/// Deletes every tombstone hash on `names`' masters (after the change ended).
pub(crate) async fn clean(masters: &mut Masters<'_>, names: &[String]) -> Result<u64> {
    let mut removed = 0;
    for name in names {
        let mut scan = Scan::new(name, Some(format!("{TOMBSTONE_PREFIX}*")));
        while let Some(keys) = scan.next(masters).await? {
            if !keys.is_empty() {
                removed += change::unlinked(&masters.query(name, redis::cmd("UNLINK").arg(&keys)).await?)?;
            }
        }
    }
    Ok(removed)
}
