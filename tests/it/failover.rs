//! Failover on real processes: SIGKILL under a writer, READONLY from a demoted
//! master, a frozen master, single-flight re-resolve, the deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use disredis::{DisredisClient, Error};
use redis::AsyncCommands;

use crate::support::{self, Spec, Topology, generation, keys_on};

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_of_a_master_under_a_writer_loses_no_request_and_no_key() {
    let topo = Topology::start(Spec::default());
    let switch = topo.switch_master_watch();
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let victim = topo.master_names()[0].clone();
    let old = topo.master_addr(&victim);

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (mut con, stop) = (client.clone(), stop.clone());
        tokio::spawn(async move {
            let mut written = Vec::new();
            let mut errors = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("w:{n}");
                match con.set::<_, _, ()>(&key, n).await {
                    Ok(()) => written.push((key, n, Instant::now())),
                    Err(e) => errors.push(format!("{key}: {e}")),
                }
                n += 1;
            }
            (written, errors)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    topo.kill(&old);
    let killed = Instant::now();
    let new = topo.wait_for_failover(&victim, &old, Duration::from_secs(20));
    // Keep writing a little past the switch so the writer must use the new master.
    support::wait_generation(&client, &victim, 2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (written, errors) = writer.await.unwrap();

    assert!(errors.is_empty(), "errors reached the writer: {:?}", &errors[..errors.len().min(5)]);
    let first_after = written
        .iter()
        .filter(|(k, _, t)| client.shard_for(k) == victim && *t > killed)
        .map(|(_, _, t)| *t)
        .next()
        .expect("a write to the victim shard after the kill");
    let shard = client.topology().shards.into_iter().find(|s| s.name == victim).unwrap();
    assert_eq!(shard.master.as_deref(), Some(new.as_str()));
    assert!(shard.generation >= 2, "{shard:?}");

    let mut con = client.clone();
    let mut missing = Vec::new();
    for (key, n, _) in &written {
        if con.get::<_, Option<u64>>(key).await.unwrap() != Some(*n) {
            missing.push(key.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged keys missing: {:?}",
        missing.len(),
        written.len(),
        &missing[..missing.len().min(5)]
    );
    let switch_at = switch.wait(&victim, Duration::from_secs(5)).map(|(t, _)| t);
    eprintln!(
        "failover: {} writes, +switch-master {:?} after the kill, first write on {victim} acknowledged {:?} after the kill",
        written.len(),
        switch_at.map(|t| t - killed),
        first_after - killed
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn readonly_from_a_demoted_master_is_retried_on_the_promoted_one() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let victim = topo.master_names()[0].clone();
    let old = topo.master_addr(&victim);
    let replica = topo.replica_addrs(&victim)[0].clone();
    let key = keys_on(&client, &victim, "ro", 1).remove(0);
    let mut con = client.clone();
    con.set::<_, _, ()>(&key, "before").await.unwrap();

    // Demote the master behind Sentinel's back: the client's connection stays
    // open and its next write gets READONLY. Sentinel then sees a master that
    // claims to be a replica and fails over to the node now acting as master.
    let (rhost, rport) = replica.rsplit_once(':').unwrap();
    let mut r = topo.conn(&replica);
    let _: () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut r).unwrap();
    let mut m = topo.conn(&old);
    let _: () = redis::cmd("REPLICAOF").arg(rhost).arg(rport).query(&mut m).unwrap();

    con.set::<_, _, ()>(&key, "after").await.unwrap();
    let stats: String = redis::cmd("INFO").arg("errorstats").query(&mut topo.conn(&old)).unwrap();
    assert!(
        stats.contains("errorstat_READONLY:count="),
        "the demoted master never answered READONLY: {stats}"
    );
    let mut direct = topo.conn(&replica);
    let v: String = redis::Commands::get(&mut direct, &key).unwrap();
    assert_eq!(v, "after", "the write landed on the promoted node");
    let shard = client.topology().shards.into_iter().find(|s| s.name == victim).unwrap();
    assert_eq!(shard.master.as_deref(), Some(replica.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_failures_share_one_sentinel_query() {
    let topo = Topology::start(Spec::default());
    // Without the +switch-master watch, whose poll could also reconnect the shard.
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .watch_sentinels(false, Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    let victim = topo.master_names()[0].clone();
    let keys = keys_on(&client, &victim, "sf", 64);
    let resolves =
        |c: &DisredisClient| c.topology().shards.into_iter().find(|s| s.name == victim).unwrap().resolves;
    assert_eq!(resolves(&client), 0);
    assert_eq!(generation(&client, &victim), 1);

    // Drop every client connection of the master (it stays up), then send 64
    // requests at once: all of them fail on the dead connection.
    let mut m = topo.conn(&topo.master_addr(&victim));
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal").query(&mut m).unwrap();
    assert!(killed >= 1);
    let tasks: Vec<_> = keys
        .iter()
        .map(|k| {
            let (mut con, k) = (client.clone(), k.clone());
            tokio::spawn(async move { con.set::<_, _, ()>(&k, 1).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(resolves(&client), 1, "64 failures, one Sentinel query");
    assert_eq!(generation(&client, &victim), 2, "one reconnect");
}

#[tokio::test(flavor = "multi_thread")]
async fn frozen_master_reads_fail_over_and_non_idempotent_writes_are_not_repeated() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .response_timeout(Some(Duration::from_millis(200)))
        .connect()
        .await
        .unwrap();
    let victim = topo.master_names()[0].clone();
    let old = topo.master_addr(&victim);
    let keys = keys_on(&client, &victim, "frozen", 2);
    let mut con = client.clone();
    con.set::<_, _, ()>(&keys[0], "v").await.unwrap();
    con.set::<_, _, ()>(&keys[1], 10).await.unwrap();

    // Replication is asynchronous: let the replica have both keys before the freeze,
    // so the read below tests the client, not replication lag.
    let mut replica = topo.conn(&topo.replica_addrs(&victim)[0]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis::Commands::exists::<_, usize>(&mut replica, &keys).unwrap() < 2 {
        assert!(Instant::now() < deadline, "replica never got the keys");
        std::thread::sleep(Duration::from_millis(5));
    }
    topo.stop(&old);
    // INCR's fate is unknown after a timeout: not retried, a typed error.
    let err = con.incr::<_, _, i64>(&keys[1], 1).await.unwrap_err();
    assert!(err.to_string().contains("INCR") && err.to_string().contains(&victim), "{err}");
    // A read is retried until Sentinel promotes the replica.
    let v: String = con.get(&keys[0]).await.unwrap();
    assert_eq!(v, "v");
    let new = topo.wait_for_failover(&victim, &old, Duration::from_secs(20));
    assert_ne!(new, old);
    topo.cont(&old);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shard_that_cannot_fail_over_times_out_while_the_other_keeps_serving() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .failover_deadline(Duration::from_secs(2))
        // FailoverTimeout is what this test is about, not the fail-fast of a
        // shard that stays down (dead_shard:: covers that).
        .shard_down_after(None)
        .connect()
        .await
        .unwrap();
    let names = topo.master_names();
    let (victim, healthy) = (names[0].as_str(), names[1].as_str());
    let dead_key = keys_on(&client, victim, "dl", 1).remove(0);
    let live_key = keys_on(&client, healthy, "dl", 1).remove(0);
    topo.kill(&topo.replica_addrs(victim)[0]);
    topo.kill(&topo.master_addr(victim));

    let failing = {
        let mut con = client.clone();
        tokio::spawn(async move { con.set::<_, _, ()>(&dead_key, 1).await })
    };
    // Meanwhile the healthy shard answers.
    let mut con = client.clone();
    for i in 0..20 {
        con.set::<_, _, ()>(&live_key, i).await.unwrap();
    }
    let err = failing.await.unwrap().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("deadline") && text.contains(victim), "{text}");
    match Error::from(err) {
        Error::FailoverTimeout { shard, last, .. } => {
            assert_eq!(shard, victim);
            assert!(matches!(*last, Error::Redis(_) | Error::NotMaster { .. }), "{last:?}");
        }
        other => panic!("{other:?}"),
    }
}
