//! Read-only commands on replicas ([`ReadFrom::PreferReplica`] / [`ReadFrom::Replica`]).
//!
//! Each shard keeps connections to its healthy replicas: the ones `SENTINEL
//! REPLICAS` lists without `s_down`, `o_down` or `disconnected`, addresses mapped,
//! each answering `ROLE slave`. Reads go round robin over them. The set is built
//! lazily and rebuilt when the shard's master changes (a failover turns a
//! replica into the master) and every [`REFRESH`]; a replica that fails a read is
//! dropped from the set and the read goes to the master instead.
//!
//! [`ReadFrom::PreferReplica`]: crate::ReadFrom::PreferReplica
//! [`ReadFrom::Replica`]: crate::ReadFrom::Replica

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::wire::Wire;
use parking_lot::RwLock;
use tracing::{debug, info};

use crate::config::{Config, NodeAddr};
use crate::connect::{Dial, Role, connect_node};
use crate::metrics::ShardMetrics;
use crate::sentinel::Sentinels;

/// How often a shard's replica set is rebuilt even without a failover: 10 s.
pub(crate) const REFRESH: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Set {
    /// The master generation the set was built for, and when.
    built: Option<(u64, Instant)>,
    conns: Vec<(NodeAddr, Wire)>,
}

/// One shard's replica connections.
#[derive(Default)]
pub(crate) struct Replicas {
    set: RwLock<Set>,
    gate: tokio::sync::Mutex<()>,
    next: AtomicUsize,
}

impl Replicas {
    /// A replica for the next read (round robin), rebuilding the set first when
    /// it belongs to another master generation or is older than [`REFRESH`].
    pub(crate) async fn pick(
        &self,
        shard: &str,
        generation: u64,
        sentinels: &Sentinels,
        config: &Config,
        client_name: &str,
        metrics: &ShardMetrics,
    ) -> Option<(NodeAddr, Wire)> {
        let fresh = |s: &Set| s.built.is_some_and(|(g, at)| g == generation && at.elapsed() < REFRESH);
        if !fresh(&self.set.read()) {
            let _gate = self.gate.lock().await;
            if !fresh(&self.set.read()) {
                let conns = build(shard, sentinels, config, client_name).await;
                info!(shard, replicas = conns.len(), "replica set rebuilt");
                conns.iter().for_each(|(a, _)| metrics.replica_opened(a));
                let new = Set { built: Some((generation, Instant::now())), conns };
                let old = std::mem::replace(&mut *self.set.write(), new);
                old.conns.iter().for_each(|(a, _)| metrics.replica_closed(a));
            }
        }
        let set = self.set.read();
        if set.conns.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % set.conns.len();
        Some(set.conns[i].clone())
    }

    /// Drops every replica connection (the shard's table was retired).
    pub(crate) fn clear(&self, metrics: &ShardMetrics) {
        let old = std::mem::take(&mut *self.set.write());
        old.conns.iter().for_each(|(a, _)| metrics.replica_closed(a));
    }

    /// Drops a replica that failed a read (until the next rebuild).
    pub(crate) fn remove(&self, addr: &NodeAddr, metrics: &ShardMetrics) {
        let mut set = self.set.write();
        let before = set.conns.len();
        set.conns.retain(|(a, _)| a != addr);
        if set.conns.len() < before {
            metrics.replica_closed(addr);
        }
    }
}

async fn build(
    shard: &str,
    sentinels: &Sentinels,
    config: &Config,
    client_name: &str,
) -> Vec<(NodeAddr, Wire)> {
    let addrs = match sentinels.replicas(shard).await {
        Ok(a) => a,
        Err(e) => {
            debug!(shard, error = %e, "SENTINEL REPLICAS failed; reads go to the master");
            return Vec::new();
        }
    };
    let mut conns = Vec::new();
    for addr in addrs {
        let dial = Dial { name: Some(client_name), ..Dial::new(config, Role::Replica) };
        match connect_node(shard, &addr, config, dial).await {
            Ok(c) => conns.push((addr, c)),
            Err(e) => debug!(shard, %addr, error = %e, "replica skipped"),
        }
    }
    conns
}
