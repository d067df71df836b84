//! Network partitions, not process faults (issue: "Partitions, not only
//! crashes"): every link of the topology goes through a fault-injecting proxy
//! (`support::proxy`), and writers of every kind (`load`) run through the
//! client while a link is cut and after it heals. The assertions are on data:
//! acknowledged writes looked up afterwards, counters read back. Each test
//! prints a `partition:` line per kind of writer (docs/reliability.md).
//!
//! A blackhole here delays bytes until the heal (as TCP's retransmissions
//! would), it never drops them from the stream: see `support::proxy`.

use std::time::Duration;

use disredis::DisredisClient;
use tokio::task::block_in_place;

use crate::support::proxy::{Fault, Faults};
use crate::support::{Spec, Topology, generation, info_field, keys_on};

mod load;

use load::{Kind, Load, report};

/// 3 Sentinels (quorum 2) and 2 replicas: a promoted master keeps a replica
/// for `WAIT 1`, and a Sentinel majority can still vote.
fn spec() -> Spec {
    Spec { shards: 2, replicas: 2, sentinels: 3, quorum: 2 }
}

const FAILOVER_WITHIN: Duration = Duration::from_secs(20);
/// Bound on the harness's own waits for progress.
const PATIENCE: Duration = Duration::from_secs(20);
/// Acknowledged writes that show the client writing.
const SOME: u64 = 200;

/// No request may wait longer than the failover deadline, plus the durable
/// writers' `WAIT` and a response timeout: a bound on hangs, not a speed.
const LONGEST: Duration = Duration::from_secs(15 + 1 + 1 + 2);

/// No kind of writer had a request hang.
fn no_hang(outcomes: &std::collections::BTreeMap<Kind, load::Outcome>) {
    assert_eq!(disredis::DEFAULT_FAILOVER_DEADLINE, Duration::from_secs(15));
    for (kind, o) in outcomes {
        assert!(o.longest <= LONGEST, "{kind:?}: a request took {:?}", o.longest);
    }
}

/// The fast client and the durable one (`wait_replicas(1, 1 s)`), both
/// through the client links.
async fn clients(topo: &Topology) -> (DisredisClient, DisredisClient) {
    let fast = topo.proxied_builder().connect().await.unwrap();
    let durable = topo.proxied_builder().wait_replicas(1, Duration::from_secs(1)).connect().await.unwrap();
    (fast, durable)
}

/// Waits until the node at `old` replicates from `new` (demoted after the
/// heal and synced).
fn wait_replica_of(topo: &Topology, old: &str, new: &str) {
    let port = new.rsplit_once(':').map(|(_, p)| p).unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let info: Option<String> = topo
            .try_conn(old)
            .ok()
            .and_then(|mut c| redis::cmd("INFO").arg("replication").query(&mut c).ok());
        let linked = info.as_deref().is_some_and(|i| {
            info_field(i, "role") == Some("slave")
                && info_field(i, "master_port") == Some(port)
                && info_field(i, "master_link_status") == Some("up")
        });
        if linked {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{old} never became a replica of {new}: {info:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Split brain: the master cut off from every Sentinel and replica (both
/// directions), the client still reaching it and the Sentinels. The
/// Sentinels promote a replica; the heal demotes the old master, which drops
/// what it took alone. Fast mode loses the writes the old master took until
/// the client switched; durability mode loses none, and its counters are exact.
#[tokio::test(flavor = "multi_thread")]
async fn split_brain_durability_mode_loses_nothing() {
    let topo = Topology::start_proxied(spec());
    let (fast, durable) = clients(&topo).await;
    let shard = topo.master_names()[0].clone();
    let tag = keys_on(&fast, &shard, "split", 1).remove(0);
    let old = topo.master_addr(&shard);
    let load = Load::start(&fast, &durable, &tag);
    assert!(load.progress(SOME, PATIENCE).await, "no writes before the partition");
    topo.cluster_link(&old).set(Faults::BLACKHOLE);
    let new = block_in_place(|| topo.wait_for_failover(&shard, &old, FAILOVER_WITHIN));
    assert!(load.progress(SOME, PATIENCE).await, "no writes after the switch");
    topo.heal();
    block_in_place(|| wait_replica_of(&topo, &old, &new));
    assert!(load.progress(SOME, PATIENCE).await, "no writes after the heal");
    let outcomes = load.finish(&topo, &shard).await;
    report("split brain, client reaches both sides", &outcomes);
    assert_eq!(outcomes[&Kind::DurableSet].lost, 0, "{outcomes:?}");
    assert_eq!(outcomes[&Kind::DurableIncr].lost, 0, "{outcomes:?}");
    assert!(outcomes[&Kind::DurableSet].acked > 0 && outcomes[&Kind::FastSet].acked > 0);
    no_hang(&outcomes);
}

/// Split brain with the client on the old master's side: it reaches the
/// master but no Sentinel, so it hears of the promotion only after the heal.
/// Fast mode loses what the old master took during the whole cut; durability
/// mode still loses nothing (the old master's replicas are cut off, so no
/// write there is acknowledged).
#[tokio::test(flavor = "multi_thread")]
async fn split_brain_with_the_client_on_the_old_masters_side() {
    let topo = Topology::start_proxied(spec());
    let (fast, durable) = clients(&topo).await;
    let shard = topo.master_names()[0].clone();
    let tag = keys_on(&fast, &shard, "side", 1).remove(0);
    let old = topo.master_addr(&shard);
    let load = Load::start(&fast, &durable, &tag);
    assert!(load.progress(SOME, PATIENCE).await, "no writes before the partition");
    topo.client_to_sentinels(Faults::BLACKHOLE);
    topo.cluster_link(&old).set(Faults::BLACKHOLE);
    let new = block_in_place(|| topo.wait_for_failover(&shard, &old, FAILOVER_WITHIN));
    // The client keeps writing to the old master, unaware.
    assert!(load.progress(SOME, PATIENCE).await, "no writes during the partition");
    topo.heal();
    block_in_place(|| wait_replica_of(&topo, &old, &new));
    assert!(load.progress(SOME, PATIENCE).await, "no writes after the heal");
    let outcomes = load.finish(&topo, &shard).await;
    report("split brain, client on the old master's side", &outcomes);
    assert_eq!(outcomes[&Kind::DurableSet].lost, 0, "{outcomes:?}");
    assert_eq!(outcomes[&Kind::DurableIncr].lost, 0, "{outcomes:?}");
    assert!(outcomes[&Kind::FastSet].lost > 0, "the old master took fast writes alone: {outcomes:?}");
    no_hang(&outcomes);
}

/// The client's link to a healthy master blackholed for a while (no
/// failover: the Sentinels reach it). Nothing acknowledged is lost, counters
/// count at most once, and the client writes again after the heal.
#[tokio::test(flavor = "multi_thread")]
async fn a_blackholed_link_to_a_healthy_master_loses_nothing() {
    let topo = Topology::start_proxied(spec());
    let (fast, durable) = clients(&topo).await;
    let shard = topo.master_names()[0].clone();
    let tag = keys_on(&fast, &shard, "hole", 1).remove(0);
    let master = topo.master_addr(&shard);
    let load = Load::start(&fast, &durable, &tag);
    assert!(load.progress(SOME, PATIENCE).await, "no writes before the cut");
    topo.client_link(&master).set(Faults::BLACKHOLE);
    // The fault's length is the scenario, not a wait for something.
    tokio::time::sleep(Duration::from_secs(5)).await;
    topo.heal();
    assert!(load.progress(SOME, PATIENCE).await, "no writes after the heal");
    assert_eq!(block_in_place(|| topo.master_addr(&shard)), master, "a failover happened");
    let outcomes = load.finish(&topo, &shard).await;
    report("client <-> master blackholed, no failover", &outcomes);
    for (kind, o) in &outcomes {
        assert_eq!(o.lost, 0, "{kind:?}: {outcomes:?}");
    }
    no_hang(&outcomes);
}

/// One slow master (100 ms added each way on the client's link): slower,
/// but no errors and no needless re-resolve — the shard keeps its
/// connection (generation unchanged).
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_master_costs_time_not_errors() {
    let topo = Topology::start_proxied(spec());
    let (fast, durable) = clients(&topo).await;
    let shard = topo.master_names()[0].clone();
    let tag = keys_on(&fast, &shard, "slow", 1).remove(0);
    let master = topo.master_addr(&shard);
    let before = (generation(&fast, &shard), generation(&durable, &shard));
    let load = Load::start(&fast, &durable, &tag);
    assert!(load.progress(SOME, PATIENCE).await, "no writes before the delay");
    let slow = Fault::Delay(Duration::from_millis(100));
    topo.client_link(&master).set(Faults { to_node: slow, from_node: slow });
    assert!(load.progress(SOME, PATIENCE).await, "no writes while slow");
    topo.heal();
    let outcomes = load.finish(&topo, &shard).await;
    report("slow master, 100 ms each way", &outcomes);
    for (kind, o) in &outcomes {
        assert_eq!((o.lost, o.ambiguous, o.errors.len()), (0, 0, 0), "{kind:?}: {outcomes:?}");
    }
    assert_eq!((generation(&fast, &shard), generation(&durable, &shard)), before, "reconnected");
}
