//! The shard table: per master name its current address, connection and
//! generation, the single-flight re-resolve, and applying what Sentinel reports
//! ([`ShardTable::follow`]).
//!
//! Concurrency rules:
//! - the read path takes a `parking_lot::RwLock` read lock just long enough to
//!   clone the connection handle; no lock of the table is ever held across `.await`;
//! - re-resolving a shard is single flight: a per-shard async gate admits one
//!   resolver at a time, and a request that waited at the gate while another
//!   resolve finished takes that outcome instead of asking Sentinel again, so N
//!   concurrent failures cost one Sentinel query;
//! - every installed connection gets a new generation, and a failed request only
//!   invalidates the generation it used, so a late failure report from an old
//!   connection never tears down a fresh one.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::change::tombstones;
use crate::config::Config;
use crate::events::Events;
use crate::hashing::Rendezvous;
use crate::ring::{Phase, Ring, client_name};
use crate::routes::Moves;
use crate::sentinel::switch::{Heard, Sighting};
use crate::wire::PushSink;

mod bring_up;
mod fence;
mod health;
mod routing;
mod shard;
pub(crate) use bring_up::{Where, open_masters};
pub(crate) use health::CHECK_EVERY;
pub(crate) use routing::Ends;
pub(crate) use shard::Shard;

/// One ring version's shard table: every name the ring routes to (its
/// members, and during a change its target too), sorted. Its connections are
/// its own (named after its version); a newer ring gets a new table (see
/// [`CurrentTable`]).
pub(crate) struct ShardTable {
    /// The ring this table follows.
    pub(crate) ring: Ring,
    /// Seed masters the ring does not list (not routed to).
    pub(crate) unrouted: Vec<String>,
    /// Which shard owns a key under a stable ring (indices into `shards`);
    /// during a change routes come from [`RingChange::moves`] instead.
    pub(crate) placement: Rendezvous,
    /// `Some` while the ring is in phase `prepare` or `migrating`.
    pub(crate) change: Option<RingChange>,
    pub(crate) shards: Vec<Shard>,
    /// Where its tracking connections' pushes go (feature `cache`; `None`
    /// without the cache): a newer ring's table gets the same.
    pub(crate) tracking: Option<PushSink>,
}

/// What a table of a changing ring needs besides its shards.
pub(crate) struct RingChange {
    /// `prepare` or `migrating`.
    pub(crate) phase: Phase,
    /// Old and new owner per key.
    pub(crate) moves: Moves,
    /// The change's tombstone hash on each old owner (see [`crate::change`]).
    pub(crate) tombstones: String,
    /// Keys this client moved (or found moved) under this table, so a key is
    /// migrated once per client, not once per request: at most
    /// [`MOVED_MEMORY`] keys, forgotten all at once when full (forgetting
    /// costs one more round trip, never a wrong answer).
    pub(crate) moved: Mutex<HashSet<Vec<u8>>>,
}

/// How many moved keys a table remembers (see [`RingChange::moved`]).
pub(crate) const MOVED_MEMORY: usize = 65_536;

impl RingChange {
    /// Whether `key` is known to be at its new owner already.
    pub(crate) fn known_moved(&self, key: &[u8]) -> bool {
        self.moved.lock().contains(key)
    }

    /// Remembers `keys` as moved.
    pub(crate) fn remember(&self, keys: &[&[u8]]) {
        let mut moved = self.moved.lock();
        if moved.len() + keys.len() > MOVED_MEMORY {
            moved.clear();
        }
        moved.extend(keys.iter().map(|k| k.to_vec()));
    }
}

impl ShardTable {
    /// A table over `ring`'s names, whose connections are named after its
    /// version; `None` when there are no members.
    /// `tracking`: the client cache's push sink (feature `cache`), for every
    /// connection the table's shards open.
    pub(crate) fn new(
        ring: Ring,
        unrouted: Vec<String>,
        events: &Events,
        tracking: Option<PushSink>,
    ) -> Option<ShardTable> {
        let placement = Rendezvous::new(ring.members.clone())?;
        let names = ring.names();
        let change = match ring.phase {
            Phase::Stable => None,
            phase => Some(RingChange {
                phase,
                moves: Moves::new(&names, &ring.members, &ring.target)?,
                tombstones: tombstones(match phase {
                    Phase::Prepare => ring.version + 1,
                    _ => ring.version,
                }),
                moved: Mutex::new(HashSet::new()),
            }),
        };
        let client_name: Arc<str> = client_name(ring.version).into();
        let shard = |n| Shard::new(n, events.clone(), client_name.clone(), tracking.clone());
        let shards = names.into_iter().map(shard).collect();
        Some(ShardTable { ring, unrouted, placement, change, shards, tracking })
    }

    /// The shard at index `idx` (a shard index: what a route means comes
    /// from [`ShardTable::ends`]).
    pub(crate) fn at(&self, idx: usize) -> &Shard {
        &self.shards[idx]
    }

    /// The shard named `name`, if the ring routes to it.
    pub(crate) fn shard(&self, name: &str) -> Option<&Shard> {
        self.index_of(name).map(|i| &self.shards[i])
    }

    /// The index of the shard named `name`, if the ring routes to it.
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.shards.iter().position(|s| s.name == name)
    }

    /// Every shard's name, sorted (index = shard index).
    pub(crate) fn names(&self) -> Vec<String> {
        self.shards.iter().map(|s| s.name.clone()).collect()
    }

    /// A snapshot for callers, with the ring it follows and the seed masters
    /// that ring does not list.
    pub(crate) fn snapshot(&self) -> Topology {
        Topology {
            shards: self.shards.iter().map(Shard::info).collect(),
            ring: self.ring.clone(),
            unrouted: self.unrouted.clone(),
        }
    }
}

/// The current shard table, replaced as a whole when the client adopts a newer
/// ring. Each request plans and runs under the table it loaded, over that
/// table's connections, so nothing planned under an older ring goes out on a
/// connection named after a newer one; the replaced table is *retired* (its
/// shards open no connection, see [`Shard::refuse_if_retired`]) and its
/// connections close as the requests holding them finish, which is what the
/// ring tool's fence waits for in `CLIENT LIST`.
pub(crate) struct CurrentTable {
    current: RwLock<Arc<ShardTable>>,
    /// Wakes the ring follower to read the record now: a change was announced,
    /// or a shard was resolved again after its connection failed (a client
    /// whose connection the ring tool killed for following an old version reads
    /// the ring over the new connection).
    pub(crate) reread: Arc<tokio::sync::Notify>,
}

impl CurrentTable {
    pub(crate) fn new(shards: ShardTable) -> CurrentTable {
        CurrentTable { current: RwLock::new(Arc::new(shards)), reread: Arc::new(tokio::sync::Notify::new()) }
    }

    /// The table to plan and run a request under.
    pub(crate) fn latest(&self) -> Arc<ShardTable> {
        self.current.read().clone()
    }

    /// Makes `next` current and retires the table it replaces.
    pub(crate) fn replace(&self, next: ShardTable) -> Arc<ShardTable> {
        let old = std::mem::replace(&mut *self.current.write(), Arc::new(next));
        old.shards.iter().for_each(Shard::retire);
        old
    }

    /// Retires the current table (the client is closing): its shards drop
    /// their connections and open none again.
    pub(crate) fn retire_current(&self) {
        self.latest().shards.iter().for_each(Shard::retire);
    }

    /// Applies what Sentinel reports (`sentinel::switch`: `+switch-master` and
    /// the poll) to the current table until the channel closes: a shard whose
    /// master moved, or that has no connection, switches to the named address,
    /// ROLE-checked — except that the poll never takes a shard back to the
    /// master a `+switch-master` moved it from ([`Shard::supersede`]).
    /// Each switch runs on its own task (the shard's gate orders
    /// them), so a hung node delays only its own shard. `+odown` raises the
    /// shard's write fence (`Config::fence_writes`), `-odown` lowers it.
    pub(crate) async fn follow(self: Arc<Self>, mut heard: mpsc::Receiver<Heard>, config: Arc<Config>) {
        while let Some(news) = heard.recv().await {
            let Sighting { name, addr, announced_by, left } = match news {
                Heard::Master(sighting) => sighting,
                Heard::Down { name, addr, down } => {
                    let table = self.latest();
                    if let Some(shard) = table.index_of(&name).map(|i| &table.shards[i]) {
                        shard.held_down(addr, down, &config);
                    }
                    continue;
                }
            };
            let table = self.latest();
            let Some(idx) = table.index_of(&name) else { continue };
            let shard = &table.shards[idx];
            if let Some(left) = left.filter(|l| *l != addr) {
                shard.supersede(left);
            }
            if shard.addr().as_ref() == Some(&addr) && shard.connection().is_some() {
                continue;
            }
            if announced_by.is_none() {
                if shard.superseded(&addr) {
                    debug!(shard = %name, named = %addr, "poll: a Sentinel names the master a +switch-master left; its view is stale, not going back");
                    continue;
                }
                info!(shard = %name, to = %addr, "poll: Sentinel names another master");
            }
            let config = config.clone();
            tokio::spawn(async move {
                if let Err(e) = table.shards[idx].switch_to(addr, &config).await {
                    debug!(shard = %name, error = %e, "switch not possible yet; the poll and the retry loop will catch up");
                }
            });
        }
    }
}

/// A point-in-time view of the shards, from [`DisredisClient::topology`](crate::DisredisClient::topology).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Topology {
    /// The shards, sorted by master name: the ring's members.
    pub shards: Vec<ShardInfo>,
    /// The ring the client follows: version, phase, members.
    pub ring: Ring,
    /// Masters Sentinel monitors (within the `masters` filter, if one is set)
    /// that the ring does not list: nothing is routed to them until a
    /// `disredis reshard add` makes them members.
    pub unrouted: Vec<String>,
}

/// One shard in a [`Topology`] snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardInfo {
    /// The Sentinel master name (the shard's identity: keys hash to it).
    pub name: String,
    /// The master's address as last resolved, `host:port`; `None` before the first
    /// successful resolve.
    pub master: Option<String>,
    /// Increments each time a connection is installed (first connect, reconnect,
    /// failover).
    pub generation: u64,
    /// Whether a ROLE-checked connection is installed right now (false while the
    /// shard waits to be re-resolved).
    pub connected: bool,
    /// How many times this shard was re-resolved through Sentinel (successful or
    /// not). Concurrent failures share one resolve, so this grows by one per
    /// failure episode, not per failed request.
    pub resolves: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn ring(version: u64, members: &str) -> Ring {
        let text = format!("disredis-ring/1\nversion: {version}\nphase: stable\nmembers: {members}\n");
        Ring::parse(text.as_bytes()).unwrap()
    }

    /// A table's connections are named after its ring; a replaced table's
    /// shards open no connection any more, the current one's do.
    #[test]
    fn a_replaced_table_is_retired() {
        let events = Events::default();
        let table =
            CurrentTable::new(ShardTable::new(ring(1, "a,b"), vec!["c".into()], &events, None).unwrap());
        let first = table.latest();
        assert_eq!(&*first.shards[0].client_name, "disredis:ring=1");
        assert_eq!(first.snapshot().unrouted, vec!["c".to_owned()]);
        assert!(first.shard("b").is_some_and(|s| s.refuse_if_retired().is_ok()));

        let old = table.replace(ShardTable::new(ring(2, "a,b,c"), vec![], &events, None).unwrap());
        assert!(Arc::ptr_eq(&old, &first));
        for shard in &first.shards {
            assert!(
                matches!(shard.refuse_if_retired(), Err(Error::RingChanged { shard: s }) if s == shard.name)
            );
        }
        let now = table.latest();
        assert_eq!(now.ring.version, 2);
        assert_eq!(now.placement.names(), ["a", "b", "c"]);
        assert_eq!(&*now.shards[2].client_name, "disredis:ring=2");
        assert!(now.shards.iter().all(|s| s.refuse_if_retired().is_ok()));
        assert_eq!(now.index_of("c"), Some(2));
        assert!(now.shard("z").is_none());
    }
}
