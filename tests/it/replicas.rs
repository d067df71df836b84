//! Reads from replicas and the WAIT durability mode, on real processes.

use std::time::{Duration, Instant};

use disredis::{DisredisClient, ReadFrom};
use redis::AsyncCommands;

use crate::support::{Spec, Topology};

fn calls(topo: &Topology, addr: &str, command: &str) -> u64 {
    let stats: String = redis::cmd("INFO").arg("commandstats").query(&mut topo.conn(addr)).unwrap();
    calls_in(&stats, command)
}

fn keys_on(client: &DisredisClient, shard: &str, n: usize) -> Vec<String> {
    (0..).map(|i| format!("r{i}")).filter(|k| client.shard_for(k) == shard).take(n).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn prefer_replica_reads_from_replicas_and_falls_back_to_the_master() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .read_from(ReadFrom::PreferReplica)
        .connect()
        .await
        .unwrap();
    let mut con = client.clone();
    let keys: Vec<String> = (0..100).map(|i| format!("rk:{i}")).collect();
    for k in &keys {
        con.set::<_, _, ()>(k, k).await.unwrap();
    }
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(2000).query_async(&mut con).await.unwrap();
    assert_eq!(acked, 1);
    for k in &keys {
        let v: String = con.get(k).await.unwrap();
        assert_eq!(&v, k);
    }
    let names = topo.master_names();
    let on_replicas: u64 = names.iter().map(|n| calls(&topo, &topo.replica_addrs(n)[0], "get")).sum();
    let on_masters: u64 = names.iter().map(|n| calls(&topo, &topo.master_addr(n), "get")).sum();
    assert_eq!((on_replicas, on_masters), (100, 0), "every GET went to a replica");

    // A dead replica: reads go to the master.
    let shard = &names[0];
    topo.kill(&topo.replica_addrs(shard)[0]);
    for k in keys_on(&client, shard, 10) {
        let v: Option<String> = con.get(&k).await.unwrap();
        assert_eq!(v, None);
    }
    assert!(calls(&topo, &topo.master_addr(shard), "get") >= 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn replica_only_reads_fail_without_a_replica_and_follow_a_failover() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .read_from(ReadFrom::Replica)
        .connect()
        .await
        .unwrap();
    let names = topo.master_names();
    let mut con = client.clone();
    let a = keys_on(&client, &names[0], 1).remove(0);
    con.set::<_, _, ()>(&a, "v").await.unwrap();
    let _: i64 = redis::cmd("WAIT").arg(1).arg(2000).query_async(&mut con).await.unwrap();
    let v: String = con.get(&a).await.unwrap();
    assert_eq!(v, "v");
    // Failover: the replica becomes the master; the shard has no replica left.
    let old = topo.master_addr(&names[0]);
    topo.kill(&old);
    con.set::<_, _, ()>(&a, "w").await.unwrap();
    let err = con.get::<_, String>(&a).await.unwrap_err();
    assert!(err.to_string().contains("no healthy replica"), "{err}");
    // The other shard's replica still serves reads.
    let b = keys_on(&client, &names[1], 1).remove(0);
    let v: Option<String> = con.get(&b).await.unwrap();
    assert_eq!(v, None);
    assert!(calls(&topo, &topo.replica_addrs(&names[1])[0], "get") >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_mode_acknowledges_only_replicated_writes() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        // A WAIT timeout above the 500 ms response timeout: waiting for replicas
        // must not be mistaken for a hung master.
        .wait_replicas(1, Duration::from_millis(800))
        // A write the replicas lack is waited for again until this deadline (the
        // default 15 s would only make the dead-replica case below slow).
        .failover_deadline(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let names = topo.master_names();
    let mut con = client.clone();
    let a = keys_on(&client, &names[0], 3);
    let b = keys_on(&client, &names[1], 1).remove(0);
    // Acknowledged means on the replica already: read it there at once, no polling.
    con.set::<_, _, ()>(&a[0], "durable").await.unwrap();
    let mut replica = topo.conn(&topo.replica_addrs(&names[0])[0]);
    let v: Option<String> = redis::Commands::get(&mut replica, &a[0]).unwrap();
    assert_eq!(v.as_deref(), Some("durable"));
    // Pipelines across shards and transactions too.
    let _: () = redis::pipe().set(&a[1], 1).set(&b, 2).query_async(&mut con).await.unwrap();
    let _: () = redis::pipe().atomic().set(&a[2], 3).query_async(&mut con).await.unwrap();
    let v: Option<i64> = redis::Commands::get(&mut replica, &a[2]).unwrap();
    assert_eq!(v, Some(3));
    // Without a replica the write runs but is reported as not replicated.
    topo.kill(&topo.replica_addrs(&names[0])[0]);
    let err = con.set::<_, _, ()>(&a[0], "lonely").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("0 of 1 replicas") && text.contains(&names[0]), "{text}");
    let v: String = con.get(&a[0]).await.unwrap();
    assert_eq!(v, "lonely", "the master has it; only the acknowledgement is missing");
    // Reads are not followed by WAIT, and refused writes are not reported as unreplicated.
    let _: Option<String> = con.get(&a[1]).await.unwrap();
    let err = con.lpush::<_, _, ()>(&a[0], "x").await.unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"));
}

/// One shard with one replica and a client in durability mode (`WAIT 1`, 100 ms) with
/// `deadline` as its failover deadline.
async fn one_durable_shard(deadline: Duration) -> (Topology, DisredisClient) {
    #[allow(clippy::needless_update)]
    let topo = Topology::start(Spec { shards: 1, replicas: 1, sentinels: 1, quorum: 1, ..Spec::default() });
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .wait_replicas(1, Duration::from_millis(100))
        .failover_deadline(deadline)
        .connect()
        .await
        .unwrap();
    (topo, client)
}

/// Durability mode: a write the master applied while its replica could not acknowledge it (here
/// SIGSTOPped; after a failover, one still attaching) is waited for again on the same
/// connection, within the failover deadline, instead of answered `NotReplicated` after the first
/// `WAIT` timeout.
#[tokio::test(flavor = "multi_thread")]
async fn wait_mode_waits_again_for_a_replica_that_comes_back() {
    let (topo, client) = one_durable_shard(Duration::from_secs(20)).await;
    let (master, replica) = (topo.master_addr("shard-a"), topo.replica_addrs("shard-a").remove(0));
    let base = calls(&topo, &master, "wait");
    tokio::task::block_in_place(|| topo.stop(&replica));
    let (mut a, mut b) = (client.clone(), client.clone());
    let set = tokio::spawn(async move { a.set::<_, _, ()>("late", "v").await });
    let tx =
        tokio::spawn(async move { redis::pipe().atomic().set("late-tx", 1).query_async::<()>(&mut b).await });
    // Both writes applied on the master, and each one's WAIT timed out and was sent again
    // (2 first WAITs, then at least 2 more).
    let mut direct = topo.conn(&master);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let have: (Option<String>, Option<i64>) =
            redis::pipe().get("late").get("late-tx").query(&mut direct).unwrap();
        let waits = calls(&topo, &master, "wait") - base;
        if have == (Some("v".into()), Some(1)) && waits >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "writes {have:?}, {waits} WAITs");
        assert!(!set.is_finished() && !tx.is_finished(), "answered while the replica was stopped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::task::block_in_place(|| topo.cont(&replica));
    set.await.unwrap().expect("the write, acknowledged once the replica is back");
    tx.await.unwrap().expect("the transaction, acknowledged once the replica is back");
    let mut on_replica = topo.conn(&replica);
    let v: Option<String> = redis::Commands::get(&mut on_replica, "late").unwrap();
    assert_eq!(v.as_deref(), Some("v"), "acknowledged means on the replica");
}

/// Durability mode on a connection older than the failover deadline: a missing
/// replica is down, not attaching, so the first `WAIT`'s count is the answer (one
/// `WAIT`, then `NotReplicated`) instead of stalling the shard's shared connection
/// for the whole deadline on every write.
#[tokio::test(flavor = "multi_thread")]
async fn wait_mode_does_not_wait_again_long_after_the_last_failover() {
    let deadline = Duration::from_secs(1);
    let (topo, client) = one_durable_shard(deadline).await;
    let connected = Instant::now();
    let (master, replica) = (topo.master_addr("shard-a"), topo.replica_addrs("shard-a").remove(0));
    let mut con = client.clone();
    con.set::<_, _, ()>("before", 1).await.unwrap();
    topo.kill(&replica);
    // Not a wait for an event: the connection has to be older than the deadline.
    tokio::time::sleep(
        (connected + deadline + Duration::from_millis(100)).saturating_duration_since(Instant::now()),
    )
    .await;
    let base = calls(&topo, &master, "wait");
    let err = con.set::<_, _, ()>("after", 2).await.unwrap_err();
    assert!(err.to_string().contains("0 of 1 replicas"), "{err}");
    assert_eq!(calls(&topo, &master, "wait") - base, 1, "one WAIT, not waited again");
    let v: i64 = redis::Commands::get(&mut topo.conn(&master), "after").unwrap();
    assert_eq!(v, 2, "the master has it; only the acknowledgement is missing");
}

fn calls_in(stats: &str, command: &str) -> u64 {
    let prefix = format!("cmdstat_{command}:calls=");
    stats
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}
