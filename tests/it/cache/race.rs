//! The in-flight race under load: readers through the cache and a writer
//! without it on the same hot keys. A read stored after an invalidation
//! crossed it would be served until the 60 s TTL: the readers would see a
//! value go backwards, and would never converge on the writer's last values.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::AsyncCommands;

use super::{cached, until_read};
use crate::support::{self, Spec, Topology};

const KEYS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_crossed_by_invalidations_never_go_back_and_converge() {
    let topo = Topology::start(Spec { replicas: 0, ..Spec::default() });
    let client = cached(&topo).await;
    let writer = support::client(&topo).await;
    let keys: Vec<String> = (0..KEYS).map(|i| format!("hot:{i}")).collect();
    for k in &keys {
        writer.clone().set::<_, _, ()>(k, 0u64).await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..16)
        .map(|r| {
            let (mut con, keys, stop) = (client.clone(), keys.clone(), stop.clone());
            tokio::spawn(async move {
                let mut last = [0u64; KEYS];
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let i = (reads as usize + r) % KEYS;
                    let v: u64 = con.get(&keys[i]).await.unwrap();
                    assert!(v >= last[i], "{}: read {v} after {}", keys[i], last[i]);
                    last[i] = v;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    // Each write acknowledged before the next: values only grow.
    let mut w = writer.clone();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        n += 1;
        w.set::<_, _, ()>(&keys[n as usize % KEYS], n).await.unwrap();
    }
    let finals: Vec<u64> = {
        let mut v = Vec::new();
        for k in &keys {
            v.push(w.get(k).await.unwrap());
        }
        v
    };
    stop.store(true, Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    let mut con = client.clone();
    for (k, want) in keys.iter().zip(&finals) {
        until_read(k, *want, async || con.get::<_, u64>(k).await.unwrap()).await;
    }
    let s = client.cache_stats().unwrap();
    eprintln!("cache race: {n} writes, {reads} reads, {s:?}");
    assert!(s.hits > 0 && s.invalidations > 0, "{s:?}");
}
