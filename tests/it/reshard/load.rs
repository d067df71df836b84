//! The load and the checks of the resharding tests: writers on two clients,
//! and what must hold after a change.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use disredis::DisredisClient;
use disredis::hashing::Rendezvous;
use redis::AsyncCommands;

use crate::support::{Spec, Topology};

/// Counters the writers INCR (shared by every writer of both clients).
const COUNTERS: usize = 16;

/// Three masters; the ring (version 1) is made of the first two, the third is
/// monitored by Sentinel but not a member (as after `SENTINEL MONITOR`).
pub async fn joined_later(replicas: usize) -> Topology {
    let topo = Topology::start(Spec { shards: 3, replicas, sentinels: 1, quorum: 1 });
    let seed: Vec<String> = topo.master_names()[..2].to_vec();
    // Version 1 over the first two, written by a client limited to them.
    let c = DisredisClient::builder().sentinels(topo.sentinel_addrs()).masters(seed).connect().await.unwrap();
    assert_eq!(c.topology().ring.version, 1);
    topo
}

/// What the writers did: acknowledged INCRs per counter, acknowledged keys,
/// errors seen by callers.
#[derive(Default)]
pub struct Load {
    incrs: Vec<AtomicU64>,
    written: parking_lot::Mutex<Vec<String>>,
    pub errors: parking_lot::Mutex<Vec<String>>,
    stop: AtomicBool,
    pub ops: AtomicU64,
}

impl Load {
    pub fn new() -> Arc<Load> {
        Arc::new(Load { incrs: (0..COUNTERS).map(|_| AtomicU64::new(0)).collect(), ..Default::default() })
    }

    /// 8 writers, alternating between two clients: INCR a counter, SET a new
    /// key through one client and read it back through the other.
    pub fn start(
        self: &Arc<Self>,
        a: &DisredisClient,
        b: &DisredisClient,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..8)
            .map(|w| {
                let load = self.clone();
                let (mut mine, mut other) =
                    if w % 2 == 0 { (a.clone(), b.clone()) } else { (b.clone(), a.clone()) };
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !load.stop.load(Ordering::Relaxed) {
                        let counter = (n as usize + w) % COUNTERS;
                        match mine.incr::<_, _, i64>(format!("counter:{counter}"), 1).await {
                            Ok(_) => {
                                load.incrs[counter].fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => load.errors.lock().push(format!("INCR: {e}")),
                        }
                        let key = format!("w:{w}:{n}");
                        match mine.set::<_, _, ()>(&key, n).await {
                            Ok(()) => {
                                load.written.lock().push(key.clone());
                                match other.get::<_, Option<u64>>(&key).await {
                                    Ok(Some(v)) if v == n => {}
                                    Ok(v) => load
                                        .errors
                                        .lock()
                                        .push(format!("GET {key} through the other client: {v:?}")),
                                    Err(e) => load.errors.lock().push(format!("GET {key}: {e}")),
                                }
                            }
                            Err(e) => load.errors.lock().push(format!("SET {key}: {e}")),
                        }
                        load.ops.fetch_add(3, Ordering::Relaxed);
                        n += 1;
                    }
                })
            })
            .collect()
    }

    pub async fn stop(&self, writers: Vec<tokio::task::JoinHandle<()>>) {
        self.stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.await.unwrap();
        }
    }
}

/// Every key on every master, by master name.
fn keys_per_master(topo: &Topology) -> Vec<(String, Vec<String>)> {
    topo.master_names()
        .into_iter()
        .map(|name| {
            let mut con = topo.conn(&topo.master_addr(&name));
            let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
            (name, keys)
        })
        .collect()
}

/// After a change to `members`: every key once, on its owner; no tombstone;
/// counters equal their acknowledged INCRs; no error reached a caller.
pub fn verify(topo: &Topology, members: &[String], load: &Load, seeded: &[String]) {
    let errors = load.errors.lock();
    assert!(
        errors.is_empty(),
        "{} errors reached callers, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    drop(errors);
    check(topo, members, load, seeded, true);
}

/// [`verify`] when some requests may have failed (a master was killed):
/// every acknowledged write is there, a counter holds at least its
/// acknowledged INCRs (one that failed may still have been applied).
pub fn verify_acknowledged(topo: &Topology, members: &[String], load: &Load, seeded: &[String]) {
    let errors = load.errors.lock();
    eprintln!(
        "{} requests failed while the master was down, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(3)]
    );
    drop(errors);
    check(topo, members, load, seeded, false);
}

fn check(topo: &Topology, members: &[String], load: &Load, seeded: &[String], exact: bool) {
    let owner = Rendezvous::new(members.iter().cloned()).unwrap();
    let mut seen: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (master, keys) in keys_per_master(topo) {
        for key in keys {
            assert!(!key.starts_with("__disredis__:"), "tombstone {key} left on {master}");
            seen.entry(key).or_default().push(master.clone());
        }
    }
    for (key, on) in &seen {
        assert_eq!(on.len(), 1, "{key} is on {on:?}");
        assert_eq!(on[0], owner.shard_for(key.as_bytes()), "{key} is not on its owner");
    }
    let written = load.written.lock();
    for key in written.iter().chain(seeded) {
        assert!(seen.contains_key(key), "acknowledged key {key} is gone");
    }
    for (i, acked) in load.incrs.iter().enumerate() {
        let key = format!("counter:{i}");
        let on = &seen[&key][0];
        let value: u64 = redis::cmd("GET").arg(&key).query(&mut topo.conn(&topo.master_addr(on))).unwrap();
        let acked = acked.load(Ordering::Relaxed);
        match exact {
            true => assert_eq!(value, acked, "{key}: value vs acknowledged INCRs"),
            false => assert!(value >= acked, "{key}: {value} < {acked} acknowledged INCRs"),
        }
    }
    eprintln!("verified {} keys ({} written under load)", seen.len(), written.len());
}

pub async fn seed(client: &DisredisClient, n: usize) -> Vec<String> {
    let keys: Vec<String> = (0..n).map(|i| format!("seed:{i}")).collect();
    let mut c = client.clone();
    for chunk in keys.chunks(500) {
        let pairs: Vec<(&String, &String)> = chunk.iter().map(|k| (k, k)).collect();
        c.mset::<_, _, ()>(&pairs).await.unwrap();
    }
    keys
}

/// Polls until `client` follows `version`.
pub async fn follows(client: &DisredisClient, version: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.topology().ring.version < version {
        assert!(Instant::now() < deadline, "client still on {:?}", client.topology().ring);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
