//! One shard with neither master nor replica (no failover possible) on real
//! processes: once it counts as down its requests fail at once with
//! `Error::ShardDown` (not after the 15 s deadline: `FailoverTimeout` would
//! fail these tests) while the other shard serves; it is up again when its
//! master comes back. Also a handle's own deadline and `close()`.

use std::time::{Duration, Instant};

use redis::AsyncCommands;

use disredis::{DisredisClient, Error, Event};

use crate::support::{Spec, Topology, keys_on};

async fn set(con: &mut DisredisClient, key: &str) -> Result<(), Error> {
    con.set::<_, _, ()>(key, "v").await.map_err(Error::from)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_shard_fails_fast_and_comes_back() {
    let topo = Topology::start(Spec { shards: 2, replicas: 1, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let (healthy, dead) = (&names[0], &names[1]);
    let mut con = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let mut events = con.events();
    let a = keys_on(&con, healthy, "dead", 1).remove(0);
    let b = keys_on(&con, dead, "dead", 1).remove(0);
    set(&mut con, &b).await.unwrap();

    let master = topo.master_addr(dead);
    topo.kill(&master);
    for replica in topo.replica_addrs(dead) {
        topo.kill(&replica);
    }
    // The first request waits while the shard is failing, then sees it declared down.
    match set(&mut con, &b).await {
        Err(Error::ShardDown { shard, last, .. }) => {
            assert_eq!(&shard, dead);
            assert!(!last.to_string().is_empty());
        }
        other => panic!("expected ShardDown, got {other:?}"),
    }
    // From now on at once, without touching the healthy shard.
    for _ in 0..20 {
        assert!(matches!(set(&mut con, &b).await, Err(Error::ShardDown { .. })));
        set(&mut con, &a).await.unwrap();
    }
    // A blocking command and a WATCH session on the dead shard fail the same way.
    let blpop = con.blpop::<_, Option<(String, String)>>(&b, 0.1).await.map_err(Error::from);
    assert!(matches!(blpop, Err(Error::ShardDown { .. })), "{blpop:?}");

    topo.restart(&master);
    let deadline = Instant::now() + Duration::from_secs(30);
    while set(&mut con, &b).await.is_err() {
        assert!(Instant::now() < deadline, "the shard did not come back within 30 s of its master");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    let down = seen.iter().position(|e| matches!(e, Event::ShardDown { shard, .. } if shard == dead));
    let up = seen.iter().position(|e| matches!(e, Event::ShardUp { shard, .. } if shard == dead));
    assert!(matches!((down, up), (Some(d), Some(u)) if d < u), "{seen:?}");
    assert!(
        !seen.iter().any(|e| matches!(e, Event::ShardDown { shard, .. } if shard == healthy)),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handle_deadline_and_close() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .shard_down_after(None)
        .connect()
        .await
        .unwrap();
    let b = keys_on(&client, &names[1], "deadline", 1).remove(0);
    topo.kill(&topo.master_addr(&names[1]));
    // The handle's 300 ms, not the client's 15 s (and never ShardDown: turned off).
    let mut quick = client.with_failover_deadline(Duration::from_millis(300));
    match set(&mut quick, &b).await {
        Err(Error::FailoverTimeout { shard, elapsed, .. }) => {
            assert_eq!(shard, names[1]);
            assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
        }
        other => panic!("expected FailoverTimeout, got {other:?}"),
    }

    // close(): every handle refuses, and the client's connections leave the master.
    let a = topo.master_addr(&names[0]);
    let mut watcher = topo.conn(&a);
    let ours = |w: &mut redis::Connection| {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(w).unwrap();
        list.lines().filter(|l| l.contains("name=disredis:ring=")).count()
    };
    assert!(ours(&mut watcher) > 0);
    client.close().await;
    let mut other = client.clone();
    assert!(matches!(set(&mut other, "k").await, Err(Error::Closed)));
    assert!(matches!(set(&mut quick, "k").await, Err(Error::Closed)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while ours(&mut watcher) > 0 {
        assert!(Instant::now() < deadline, "the closed client's connections are still open after 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The measurement of docs/failover.md "A dead shard" (not a test: it prints
/// figures; `cargo test --all-features --test it dead_shard::measure -- --ignored --nocapture`).
/// 32 workers over keys spread on 2 shards; shard b's master and replica are
/// killed for 20 s, then its master restarted. Run with the fail-fast off
/// (`shard_down_after(None)`: every request waits out the deadline) and on
/// (the default), side by side.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: prints throughput during a dead shard"]
async fn measure_one_dead_shard() {
    for down_after in [None, Some(disredis::DEFAULT_SHARD_DOWN_AFTER)] {
        let m = outage(down_after).await;
        eprintln!(
            "shard_down_after {down_after:?}: shard a {:.0} ops/s before, {:.0} during the outage ({:.0} %); \
             first ShardDown {:?} after the kill; \
             shard b errors after it was declared down: {} (slowest {:.1} ms); {} requests waited out the deadline; \
             first shard-b write {:.2} s after its master restarted",
            m.before,
            m.during,
            100.0 * m.during / m.before,
            m.declared_after,
            m.fast_errors,
            m.slowest_fast_error.as_secs_f64() * 1e3,
            m.timeouts,
            m.recovery.as_secs_f64(),
        );
    }
}

struct Outage {
    before: f64,
    during: f64,
    /// From the kill to the first `ShardDown` (`None`: never declared).
    declared_after: Option<Duration>,
    fast_errors: u64,
    slowest_fast_error: Duration,
    timeouts: u64,
    recovery: Duration,
}

async fn outage(down_after: Option<Duration>) -> Outage {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

    let topo = Topology::start(Spec { shards: 2, replicas: 1, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .shard_down_after(down_after)
        .connect()
        .await
        .unwrap();
    let mut keys = keys_on(&client, &names[0], "load", 500);
    keys.extend(keys_on(&client, &names[1], "load", 500));
    let keys: Arc<Vec<(String, bool)>> = Arc::new(
        keys.into_iter().map(|k| (client.shard_for(&k) == names[1], k)).map(|(b, k)| (k, b)).collect(),
    );
    let a_ops = Arc::new(AtomicU64::new(0));
    let (fast, slowest_us, timeouts) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let declared = Arc::new(AtomicBool::new(false));
    let declared_at = Arc::new(parking_lot::Mutex::new(None::<Instant>));
    let mut workers = Vec::new();
    for w in 0..32u64 {
        let (mut con, keys, a_ops, stop) = (client.clone(), keys.clone(), a_ops.clone(), stop.clone());
        let (fast, slowest_us, timeouts) = (fast.clone(), slowest_us.clone(), timeouts.clone());
        let (declared, declared_at) = (declared.clone(), declared_at.clone());
        workers.push(tokio::spawn(async move {
            // xorshift64: every worker draws from all keys, half on each shard
            // (a fixed orbit could leave a worker on shard b alone).
            let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (w + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            while !stop.load(Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let (key, on_b) = &keys[(x % keys.len() as u64) as usize];
                let t = Instant::now();
                let known_down = declared.load(Relaxed);
                match set(&mut con, key).await {
                    Ok(()) if !on_b => {
                        a_ops.fetch_add(1, Relaxed);
                    }
                    Ok(()) => {}
                    // Fast: sent after a ShardDown was seen (the first wave
                    // waited for the threshold).
                    Err(Error::ShardDown { .. }) if known_down => {
                        fast.fetch_add(1, Relaxed);
                        slowest_us.fetch_max(t.elapsed().as_micros() as u64, Relaxed);
                    }
                    Err(Error::ShardDown { .. }) => {
                        declared.store(true, Relaxed);
                        declared_at.lock().get_or_insert_with(Instant::now);
                    }
                    Err(_) => {
                        timeouts.fetch_add(1, Relaxed);
                    }
                }
            }
        }));
    }
    let window = |secs: u64| {
        let a_ops = a_ops.clone();
        async move {
            let start = a_ops.load(Relaxed);
            tokio::time::sleep(Duration::from_secs(secs)).await;
            (a_ops.load(Relaxed) - start) as f64 / secs as f64
        }
    };
    let before = window(3).await;
    let master = topo.master_addr(&names[1]);
    let replicas = topo.replica_addrs(&names[1]);
    let killed = Instant::now();
    topo.kill(&master);
    for r in &replicas {
        topo.kill(r);
    }
    let during = window(20).await;
    let declared_after = declared_at.lock().map(|t| t.saturating_duration_since(killed));
    let (fast_errors, slowest) = (fast.load(Relaxed), Duration::from_micros(slowest_us.load(Relaxed)));
    topo.restart(&master);
    let restarted = Instant::now();
    let mut probe = client.clone();
    let b = keys.iter().find(|(_, on_b)| *on_b).unwrap().0.clone();
    while set(&mut probe, &b).await.is_err() {
        assert!(restarted.elapsed() < Duration::from_secs(60), "shard b did not come back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let recovery = restarted.elapsed();
    stop.store(true, Relaxed);
    for w in workers {
        let _ = w.await;
    }
    Outage {
        before,
        during,
        declared_after,
        fast_errors,
        slowest_fast_error: slowest,
        timeouts: timeouts.load(Relaxed),
        recovery,
    }
}

/// The blocking twin's handle deadline and `close`, on a plain thread.
#[test]
fn the_blocking_client_has_a_handle_deadline_and_close() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let client = disredis::blocking::DisredisClient::connect(topo.sentinel_addrs()).unwrap();
    let b = keys_on(&client, &names[1], "blocking", 1).remove(0);
    topo.kill(&topo.master_addr(&names[1]));
    let mut quick = client.with_failover_deadline(Duration::from_millis(300));
    match redis::Commands::set::<_, _, ()>(&mut quick, &b, "v").map_err(Error::from) {
        Err(Error::FailoverTimeout { elapsed, .. }) => {
            assert!(elapsed < Duration::from_secs(15), "{elapsed:?}")
        }
        other => panic!("expected FailoverTimeout, got {other:?}"),
    }
    client.close().unwrap();
    let mut other = client.clone();
    let closed = redis::Commands::get::<_, Option<String>>(&mut other, "k").map_err(Error::from);
    assert!(matches!(closed, Err(Error::Closed)), "{closed:?}");
}
