//! The cache through the changes a shard goes through: a failover after a
//! SIGKILL or a SIGSTOP of its master, and a ring change (`reshard add`).
//! After each, once the shard is usable again, a value another client wrote
//! there is what the cached client reads first: nothing from before is served.

use std::time::Duration;

use disredis::DisredisClient;
use disredis::reshard::{self, Options};
use redis::AsyncCommands;

use super::cached;
use crate::reshard::load::{follows, joined_later};
use crate::support::{self, Spec, Topology, keys_on, wait_generation};

/// Reads `keys` twice through `client` (the second from the cache).
async fn warm(client: &DisredisClient, keys: &[String], want: &str) {
    let mut con = client.clone();
    for _ in 0..2 {
        for k in keys {
            assert_eq!(con.get::<_, String>(k).await.unwrap(), want, "{k}");
        }
    }
}

/// Every key of `keys` read through `client` at once is `want`.
async fn reads_new(client: &DisredisClient, keys: &[String], want: &str, after: &str) {
    let mut con = client.clone();
    for k in keys {
        assert_eq!(con.get::<_, String>(k).await.unwrap(), want, "{k} after {after}");
    }
}

async fn failover(stop: bool) {
    let topo = Topology::start(Spec::default());
    let client = cached(&topo).await;
    let mut other = support::client(&topo).await;
    let shard = topo.master_names()[0].clone();
    let keys = keys_on(&client, &shard, "f", 20);
    for k in &keys {
        other.set::<_, _, ()>(k, "old").await.unwrap();
    }
    // On the replica before the master goes (WAIT), so the promoted one has them.
    let master = topo.master_addr(&shard);
    let _: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut topo.conn(&master)).unwrap();
    warm(&client, &keys, "old").await;
    let hits = client.cache_stats().unwrap().hits;
    assert!(hits >= keys.len() as u64);
    match stop {
        true => topo.stop(&master),
        false => topo.kill(&master),
    }
    topo.wait_for_failover(&shard, &master, Duration::from_secs(20));
    // The cached client switches (by +switch-master, its poll, or a failed read).
    assert!(wait_generation(&client, &shard, 2, Duration::from_secs(20)).await);
    for k in &keys {
        other.set::<_, _, ()>(k, "new").await.unwrap();
    }
    reads_new(&client, &keys, "new", if stop { "SIGSTOP" } else { "SIGKILL" }).await;
    warm(&client, &keys, "new").await;
    assert!(client.cache_stats().unwrap().hits > hits, "cached again on the new master");
    if stop {
        topo.cont(&master);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_after_sigkill_serves_nothing_from_the_old_master() {
    failover(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_after_sigstop_serves_nothing_from_the_frozen_master() {
    failover(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ring_change_serves_nothing_from_before_and_tracks_keys_at_their_new_owner() {
    let topo = joined_later(0).await;
    let names = topo.master_names();
    let client = cached(&topo).await;
    let mut other = support::client(&topo).await;
    let keys: Vec<String> = (0..200).map(|i| format!("r:{i}")).collect();
    for k in &keys {
        other.set::<_, _, ()>(k, "old").await.unwrap();
    }
    warm(&client, &keys, "old").await;
    let before: Vec<String> = keys.iter().map(|k| client.shard_for(k).to_owned()).collect();
    let tool = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    reshard::start(&tool, names.clone(), &Options::default(), &mut |_| {}).await.unwrap();
    follows(&client, 4).await;
    follows(&other, 4).await;
    let moved = keys.iter().zip(&before).filter(|(k, b)| client.shard_for(k) != b.as_str()).count();
    assert!(moved > 0, "some keys moved to {}", names[2]);
    for k in &keys {
        other.set::<_, _, ()>(k, "new").await.unwrap();
    }
    reads_new(&client, &keys, "new", "the ring change").await;
    // Read again (cached at the new owners), then changed there by the other
    // client: the new owner's invalidations reach the cache.
    warm(&client, &keys, "new").await;
    for k in &keys {
        other.set::<_, _, ()>(k, "newer").await.unwrap();
    }
    let mut con = client.clone();
    for k in &keys {
        super::until_read(k, "newer".to_owned(), async || con.get::<_, String>(k).await.unwrap()).await;
    }
    eprintln!("cache ring change: {moved} of {} keys moved; {:?}", keys.len(), client.cache_stats().unwrap());
}
