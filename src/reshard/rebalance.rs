//! `rebalance`: moves every key that is not on its owner under the current
//! (stable) ring to its owner — the way from any other placement (the Python
//! disredis placed keys by Sentinel's list order) to this one. A key found on
//! a master that is not its owner while the owner holds its own copy is a
//! conflict, decided by [`OnConflict`]; nothing is deleted without that
//! decision. Keys are copied and confirmed before they are deleted (see
//! `copy`), so a failover at any moment loses nothing and a rerun continues.

use std::collections::BTreeMap;

use redis::Value;
use tracing::info;

use super::masters::{Masters, Scan};
use super::{Step, copy, mover, refused};
use crate::DisredisClient;
use crate::error::Result;
use crate::ring::Phase;

/// Keys shown as examples of conflicts.
const EXAMPLES: usize = 10;

/// What to do with a key that is on its owner and on another master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnConflict {
    /// Keep both copies and report them (the default).
    Report,
    /// Keep the owner's copy; delete the other.
    KeepOwner,
    /// Overwrite the owner's copy with the other one, then delete the other.
    KeepOther,
}

/// One key on two masters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Conflict {
    /// The key.
    pub key: Vec<u8>,
    /// The master it was found on, which is not its owner.
    pub found_on: String,
    /// Its owner, which holds a copy of its own.
    pub owner: String,
}

/// What a rebalance found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rebalance {
    /// Keys read on every member.
    pub scanned: u64,
    /// Keys not on their owner, per (found on, owner).
    pub misplaced: BTreeMap<(String, String), u64>,
    /// Keys moved to their owner (none in a dry run).
    pub moved: u64,
    /// Keys on two masters.
    pub conflicts: u64,
    /// The first conflicts found.
    pub examples: Vec<Conflict>,
    /// Conflicts decided by [`OnConflict::KeepOwner`] or [`OnConflict::KeepOther`].
    pub resolved: u64,
}

/// Scans every member and moves (or, with `dry_run`, only counts) the keys
/// that are not on their owner.
pub async fn rebalance(
    client: &DisredisClient,
    on_conflict: OnConflict,
    dry_run: bool,
    progress: &mut (dyn FnMut(Step) + Send),
) -> Result<Rebalance> {
    let exec = client.executor();
    let table = exec.table.latest();
    let ring = table.ring.clone();
    if ring.phase != Phase::Stable {
        return Err(refused(format!(
            "a change is in progress (ring version {}, phase {}): run `reshard resume` first",
            ring.version, ring.phase
        )));
    }
    let mut masters = Masters::new(exec);
    let mut out = Rebalance::default();
    for (source, name) in ring.members.iter().enumerate() {
        let mut scan = Scan::new(name, None);
        while let Some(keys) = scan.next(&mut masters).await? {
            out.scanned += keys.len() as u64;
            let mut groups: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
            for key in keys.into_iter().filter(|k| !mover::internal(k)) {
                let owner = table.placement.shard_index(&key);
                if owner != source {
                    groups.entry(owner).or_default().push(key);
                }
            }
            for (owner, keys) in groups {
                let owner_name = &ring.members[owner];
                *out.misplaced.entry((name.clone(), owner_name.clone())).or_default() += keys.len() as u64;
                for batch in keys.chunks(mover::BATCH) {
                    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
                    let busy = match dry_run {
                        true => present(&mut masters, owner_name, &refs).await?,
                        false => copy::copy(&mut masters, None, name, owner_name, &refs, false).await?,
                    };
                    for &i in &busy {
                        out.conflicts += 1;
                        if out.examples.len() < EXAMPLES {
                            out.examples.push(Conflict {
                                key: batch[i].clone(),
                                found_on: name.clone(),
                                owner: owner_name.clone(),
                            });
                        }
                    }
                    if dry_run {
                        continue;
                    }
                    let conflicting: Vec<&[u8]> = busy.iter().map(|&i| refs[i]).collect();
                    if on_conflict == OnConflict::KeepOther && !conflicting.is_empty() {
                        copy::copy(&mut masters, None, name, owner_name, &conflicting, true).await?;
                    }
                    let delete: Vec<&[u8]> = refs
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| on_conflict != OnConflict::Report || !busy.contains(i))
                        .map(|(_, k)| *k)
                        .collect();
                    let deleted = copy::delete(&mut masters, name, &delete).await?;
                    let resolved = if on_conflict == OnConflict::Report { 0 } else { busy.len() as u64 };
                    out.resolved += resolved;
                    out.moved += deleted.saturating_sub(resolved);
                    progress(Step::Moving(super::Progress {
                        scanned: out.scanned,
                        moved: out.moved,
                        conflicts: Vec::new(),
                    }));
                }
            }
        }
    }
    info!(scanned = out.scanned, moved = out.moved, conflicts = out.conflicts, dry_run, "rebalance done");
    Ok(out)
}

/// Which of `keys` `name`'s master holds (a dry run's conflicts).
async fn present(masters: &mut Masters<'_>, name: &str, keys: &[&[u8]]) -> Result<Vec<usize>> {
    let (_, conn) = masters.reach(name).await?;
    let mut pipe = redis::pipe();
    for key in keys {
        pipe.cmd("EXISTS").arg(*key);
    }
    let replies = conn.send_pipe(&pipe, 0, keys.len(), None).await?;
    Ok(replies.iter().enumerate().filter(|(_, v)| matches!(v, Value::Int(1))).map(|(i, _)| i).collect())
}
