//! The resharding figures in docs/resharding.md, measured on real processes —
//! not a check (nothing here can fail on speed), so ignored by the suite. Run:
//! `cargo test --release --all-features --test it measure_resharding -- --ignored --nocapture`
//! on an otherwise idle machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use disredis::DisredisClient;
use disredis::hashing::Rendezvous;
use disredis::reshard::{self, Options};
use redis::AsyncCommands;

use super::load::{follows, joined_later};
use crate::support::{Topology, load_record};

const KEYS: usize = 100_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn commandstat(topo: &Topology, name: &str, command: &str) -> u64 {
    let info: String =
        redis::cmd("INFO").arg("commandstats").query(&mut topo.conn(&topo.master_addr(name))).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn seed(client: &DisredisClient) {
    let mut c = client.clone();
    let value = "x".repeat(100);
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(1000) {
        let pairs: Vec<(String, &str)> = chunk.iter().map(|i| (format!("key:{i}"), value.as_str())).collect();
        c.mset::<_, _, ()>(&pairs).await.unwrap();
    }
}

/// 8 writers doing GET/SET 50/50 over the seeded keys; each latency with the
/// time it was taken.
fn writers(
    client: &DisredisClient,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<(Instant, Duration)>>> {
    (0..8)
        .map(|w| {
            let mut c = client.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut n = w as u64;
                while !stop.load(Ordering::Relaxed) {
                    n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let key = format!("key:{}", (n >> 33) as usize % KEYS);
                    let started = Instant::now();
                    if n & 1 == 0 {
                        let _: Option<String> = c.get(&key).await.unwrap();
                    } else {
                        c.set::<_, _, ()>(&key, "y").await.unwrap();
                    }
                    seen.push((started, started.elapsed()));
                }
                seen
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement, not a check: run it on its own (see the module docs)"]
async fn measure_resharding() {
    let topo = joined_later(0).await;
    let names = topo.master_names();
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    seed(&client).await;

    // Without writers: add, then remove again.
    for (label, members) in [("add", names.clone()), ("remove", names[..2].to_vec())] {
        let started = Instant::now();
        let outcome = reshard::start(&client, members, &Options::default(), &mut |_| {}).await.unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "without writers: reshard {label}: moved {} of {KEYS} keys in {secs:.2} s: {:.0} keys/s",
            outcome.progress.moved,
            outcome.progress.moved as f64 / secs
        );
    }

    // With 8 writers: 2 s before, the change, 2 s after.
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = writers(&client, stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (from, started) = (Instant::now(), Instant::now());
    let outcome = reshard::start(&client, names.clone(), &Options::default(), &mut |_| {}).await.unwrap();
    let (until, secs) = (Instant::now(), started.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    println!(
        "with 8 writers: reshard add: moved {} keys in {secs:.2} s: {:.0} keys/s",
        outcome.progress.moved,
        outcome.progress.moved as f64 / secs
    );
    for (label, keep) in [
        ("before", Box::new(|t: Instant| t < from) as Box<dyn Fn(Instant) -> bool>),
        ("during", Box::new(|t: Instant| t >= from && t < until)),
        ("after", Box::new(|t: Instant| t >= until)),
    ] {
        let mut window: Vec<Duration> = all.iter().filter(|(t, _)| keep(*t)).map(|(_, d)| *d).collect();
        window.sort();
        println!(
            "writers' latency {label}: {} ops, p50 {:?}, p99 {:?}, max {:?}",
            window.len(),
            percentile(&window, 0.5),
            percentile(&window, 0.99),
            window.last().copied().unwrap_or_default()
        );
    }

    // Round trips to the old owner per moving key: phase migrating written by
    // hand (no mover), 1,000 moving keys read twice.
    let text = |v: u64, phase: &str, target: &str| {
        format!(
            "disredis-ring/1\nversion: {v}\nphase: {phase}\nmembers: {}\ntarget: {target}\n",
            names.join(",")
        )
    };
    let remaining = names[..2].join(",");
    let v = client.topology().ring.version;
    for (version, phase) in [(v + 1, "prepare"), (v + 2, "migrating")] {
        for name in &names {
            load_record(&topo, name, &text(version, phase, &remaining));
        }
        follows(&client, version).await;
    }
    let old = Rendezvous::new(names.clone()).unwrap();
    let moving: Vec<String> = (0..KEYS)
        .map(|i| format!("key:{i}"))
        .filter(|k| old.shard_for(k.as_bytes()) == names[2])
        .take(1000)
        .collect();
    let mut c = client.clone();
    let execs = |t: &Topology| commandstat(t, &names[2], "exec");
    let before = execs(&topo);
    let first = Instant::now();
    for k in &moving {
        let _: Option<String> = c.get(k).await.unwrap();
    }
    let first = first.elapsed();
    let after_first = execs(&topo);
    let second = Instant::now();
    for k in &moving {
        let _: Option<String> = c.get(k).await.unwrap();
    }
    let second = second.elapsed();
    println!(
        "first touch of a moving key: {:.2} transactions (MULTI/HSET/MIGRATE/EXEC, one round trip) at the old owner per key, {:?} per GET; second touch: {:.2}, {:?} per GET",
        (after_first - before) as f64 / moving.len() as f64,
        first / moving.len() as u32,
        (execs(&topo) - after_first) as f64 / moving.len() as f64,
        second / moving.len() as u32
    );
}
