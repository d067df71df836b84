//! Staleness measured, not assumed (docs/caching.md, "Staleness through a
//! failover, a SIGSTOP and a ring change"): a writer without the cache and
//! cached readers on the same keys while a shard's master is SIGKILLed or
//! SIGSTOPped, or a master joins the ring. A read is stale when it returns a
//! value older than one acknowledged to the writer before the read began; its
//! window is how long the newer value had been acknowledged. Figures only
//! (`--ignored`): how long a window may be depends on the machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use disredis::DisredisClient;
use disredis::reshard::{self, Options};
use parking_lot::Mutex;
use redis::AsyncCommands;

use super::cached;
use crate::reshard::load::{follows, joined_later};
use crate::support::{self, Spec, Topology};

const KEYS: usize = 16;

#[derive(Default)]
struct Log {
    /// Per key: (value, when acknowledged), in order.
    acks: Vec<Mutex<Vec<(u64, Instant)>>>,
    /// (key, value read, when the read began).
    reads: Mutex<Vec<(usize, u64, Instant)>>,
    stop: AtomicBool,
    next: AtomicU64,
}

fn key(i: usize) -> String {
    format!("stale:{i}")
}

/// Runs the writer and 8 cached readers until `event` returns and 2 s more,
/// then prints what the readers saw.
async fn measure(
    name: &str,
    writer: DisredisClient,
    reader: DisredisClient,
    event: impl Future<Output = ()>,
) {
    let log = Arc::new(Log { acks: (0..KEYS).map(|_| Mutex::default()).collect(), ..Log::default() });
    let mut w = writer.clone();
    for i in 0..KEYS {
        w.set::<_, _, ()>(key(i), 0u64).await.unwrap();
    }
    let write = {
        let (mut w, log) = (writer.clone(), log.clone());
        tokio::spawn(async move {
            while !log.stop.load(Ordering::Relaxed) {
                let n = log.next.fetch_add(1, Ordering::Relaxed) + 1;
                let i = n as usize % KEYS;
                if w.set::<_, _, ()>(key(i), n).await.is_ok() {
                    log.acks[i].lock().push((n, Instant::now()));
                }
            }
        })
    };
    let reads: Vec<_> = (0..8)
        .map(|r| {
            let (mut c, log) = (reader.clone(), log.clone());
            tokio::spawn(async move {
                let mut n = r;
                while !log.stop.load(Ordering::Relaxed) {
                    n += 1;
                    let i = n % KEYS;
                    let began = Instant::now();
                    if let Ok(v) = c.get::<_, u64>(key(i)).await {
                        log.reads.lock().push((i, v, began));
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    event.await;
    let event_took = start.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    log.stop.store(true, Ordering::Relaxed);
    write.await.unwrap();
    for r in reads {
        r.await.unwrap();
    }
    let reads = log.reads.lock();
    let mut windows: Vec<Duration> = Vec::new();
    let mut last_stale: Option<Instant> = None;
    for &(i, v, began) in reads.iter() {
        let acks = log.acks[i].lock();
        // The first value newer than `v` acknowledged before the read began.
        if let Some(&(_, acked)) = acks.iter().find(|(n, t)| *n > v && *t < began) {
            windows.push(began - acked);
            last_stale = Some(last_stale.map_or(began, |l| l.max(began)));
        }
    }
    windows.sort();
    let q = |p: f64| {
        windows.get(((windows.len() as f64 * p) as usize).min(windows.len().saturating_sub(1))).copied()
    };
    eprintln!(
        "staleness {name}: {} reads, {} stale ({:.3} %); window p50 {:?} p99 {:?} max {:?}; the event took {event_took:?}, \
         the last stale read began {:?} after it started; cache {:?}",
        reads.len(),
        windows.len(),
        100.0 * windows.len() as f64 / reads.len().max(1) as f64,
        q(0.5),
        q(0.99),
        windows.last(),
        last_stale.map(|l| l.saturating_duration_since(start)),
        reader.cache_stats().unwrap(),
    );
}

async fn failover(stop: bool) {
    let topo = Topology::start(Spec::default());
    let (writer, reader) = (support::client(&topo).await, cached(&topo).await);
    let shard = reader.shard_for(key(0)).to_owned();
    let master = topo.master_addr(&shard);
    let name = if stop { "SIGSTOP" } else { "SIGKILL" };
    measure(name, writer, reader.clone(), async {
        match stop {
            true => topo.stop(&master),
            false => topo.kill(&master),
        }
        topo.wait_for_failover(&shard, &master, Duration::from_secs(20));
        assert!(support::wait_generation(&reader, &shard, 2, Duration::from_secs(20)).await);
    })
    .await;
    if stop {
        topo.cont(&master);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "figures for docs/caching.md"]
async fn staleness_through_a_sigkill_failover() {
    failover(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "figures for docs/caching.md"]
async fn staleness_through_a_sigstop_failover() {
    failover(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "figures for docs/caching.md"]
async fn staleness_through_a_ring_change() {
    let topo = joined_later(0).await;
    let (writer, reader) = (support::client(&topo).await, cached(&topo).await);
    let names = topo.master_names();
    measure("reshard add", writer.clone(), reader.clone(), async {
        let tool = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
        reshard::start(&tool, names.clone(), &Options::default(), &mut |_| {}).await.unwrap();
        follows(&reader, 4).await;
        follows(&writer, 4).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "figures for docs/caching.md"]
async fn staleness_without_an_event() {
    let topo = Topology::start(Spec::default());
    let (writer, reader) = (support::client(&topo).await, cached(&topo).await);
    measure("steady", writer, reader, tokio::time::sleep(Duration::from_secs(2))).await;
}
