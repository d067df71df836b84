//! Client-side caching (feature `cache`) on real processes: each rule of
//! `docs/caching.md` ("Guarantees") checked against a server that really
//! tracks keys and really sends invalidations. A second client without the
//! cache plays "another client"; a stale read is a read of a value older
//! than one that was acknowledged before the read began.

mod change;
mod race;
mod staleness;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use disredis::{CacheConfig, DisredisClient};
use redis::AsyncCommands;

use crate::support::{self, Spec, Topology, keys_on};

/// A client with the cache on (defaults: 64 MiB, 60 s TTL, so an entry that
/// should have gone would still be there for the whole test).
pub async fn cached(topo: &Topology) -> DisredisClient {
    DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .client_cache(CacheConfig::new())
        .connect()
        .await
        .unwrap()
}

/// Polls `read` until it gives `want` (at most 5 s); returns how long it took.
async fn until_read<T: PartialEq + std::fmt::Debug>(
    what: &str,
    want: T,
    mut read: impl AsyncFnMut() -> T,
) -> Duration {
    let start = Instant::now();
    loop {
        let got = read().await;
        if got == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{what}: still {got:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_are_served_from_the_cache_and_own_writes_are_read_back_at_once() {
    let topo = Topology::start(Spec { replicas: 0, ..Spec::default() });
    let client = cached(&topo).await;
    let mut con = client.clone();
    con.set::<_, _, ()>("user:1", "ann").await.unwrap();
    for _ in 0..10 {
        assert_eq!(con.get::<_, String>("user:1").await.unwrap(), "ann");
    }
    let s = client.cache_stats().unwrap();
    assert_eq!((s.misses, s.hits), (1, 9), "one read went to the server: {s:?}");
    assert!(s.entries == 1 && s.bytes > 0, "{s:?}");
    // Read-your-writes: every write is read back at once, through the cache,
    // for a plain SET, an INCR, a pipeline, a script and a transaction.
    for n in 0..200i64 {
        con.set::<_, _, ()>("n", n).await.unwrap();
        assert_eq!(con.get::<_, i64>("n").await.unwrap(), n);
    }
    let _: i64 = con.incr("n", 1).await.unwrap();
    assert_eq!(con.get::<_, i64>("n").await.unwrap(), 200);
    let _: () = redis::pipe().set("n", 300).ignore().query_async(&mut con).await.unwrap();
    assert_eq!(con.get::<_, i64>("n").await.unwrap(), 300);
    let _: () = redis::Script::new("redis.call('SET', KEYS[1], ARGV[1])")
        .key("n")
        .arg(400)
        .invoke_async(&mut con)
        .await
        .unwrap();
    assert_eq!(con.get::<_, i64>("n").await.unwrap(), 400);
    let _: () = redis::pipe().atomic().set("n", 500).ignore().query_async(&mut con).await.unwrap();
    assert_eq!(con.get::<_, i64>("n").await.unwrap(), 500);
    // A hash read by field and whole, then one field changed.
    let _: () = con.hset_multiple("h", &[("a", "1"), ("b", "2")]).await.unwrap();
    let all: HashMap<String, String> = con.hgetall("h").await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(con.hget::<_, _, String>("h", "a").await.unwrap(), "1");
    let _: () = con.hset("h", "a", "9").await.unwrap();
    assert_eq!(con.hget::<_, _, String>("h", "a").await.unwrap(), "9");
    let all: HashMap<String, String> = con.hgetall("h").await.unwrap();
    assert_eq!(all["a"], "9");
    // FLUSHALL through a shard handle: nothing cached from that shard is served after it.
    let shard = client.shard_for("user:1").to_owned();
    assert_eq!(con.get::<_, String>("user:1").await.unwrap(), "ann");
    let _: () = redis::cmd("FLUSHALL").query_async(&mut client.on_shard(&shard).unwrap()).await.unwrap();
    assert_eq!(con.get::<_, Option<String>>("user:1").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_clients_writes_arrive_as_invalidations_for_every_key_and_flushall() {
    let topo = Topology::start(Spec { replicas: 0, ..Spec::default() });
    let client = cached(&topo).await;
    let (mut con, mut other) = (client.clone(), support::client(&topo).await);
    let keys = ["{t}a", "{t}b", "{t}c"];
    for k in keys {
        other.set::<_, _, ()>(k, "1").await.unwrap();
        assert_eq!(con.get::<_, String>(k).await.unwrap(), "1");
        assert_eq!(con.get::<_, String>(k).await.unwrap(), "1", "a hit");
    }
    // One key, then two in one command (one invalidation each), then a DEL of two.
    other.set::<_, _, ()>("{t}a", "2").await.unwrap();
    let took = until_read("SET by another client", "2".to_owned(), async || {
        con.get::<_, String>("{t}a").await.unwrap()
    })
    .await;
    eprintln!("cache: another client's SET seen after {took:?}");
    let _: () = other.mset(&[("{t}a", "3"), ("{t}b", "3")]).await.unwrap();
    for k in ["{t}a", "{t}b"] {
        until_read("MSET", "3".to_owned(), async || con.get::<_, String>(k).await.unwrap()).await;
    }
    let _: () = other.del(&["{t}b", "{t}c"]).await.unwrap();
    for k in ["{t}b", "{t}c"] {
        until_read("DEL", None, async || con.get::<_, Option<String>>(k).await.unwrap()).await;
    }
    let s = client.cache_stats().unwrap();
    assert!(s.invalidations >= 5, "{s:?}");
    // FLUSHALL by another client on the master: a null invalidation flushes the shard.
    assert_eq!(con.get::<_, String>("{t}a").await.unwrap(), "3");
    let master = topo.master_addr(client.shard_for("{t}a"));
    let flushes = s.flushes;
    let _: () = redis::cmd("FLUSHALL").query(&mut topo.conn(&master)).unwrap();
    until_read("FLUSHALL", None, async || con.get::<_, Option<String>>("{t}a").await.unwrap()).await;
    assert!(client.cache_stats().unwrap().flushes > flushes);
    // Typed conversions read RESP3 replies as they read RESP2 ones.
    let _: () = other.zadd_multiple("z", &[(1.5, "x"), (2.5, "y")]).await.unwrap();
    let _: () = other.sadd("s", &["p", "q"]).await.unwrap();
    for _ in 0..2 {
        let z: Vec<(String, f64)> = con.zrange_withscores("z", 0, -1).await.unwrap();
        assert_eq!(z, vec![("x".to_owned(), 1.5), ("y".to_owned(), 2.5)]);
        assert_eq!(con.zscore::<_, _, f64>("z", "y").await.unwrap(), 2.5);
        let s: HashSet<String> = con.smembers("s").await.unwrap();
        assert_eq!(s.len(), 2);
        assert!(con.sismember::<_, _, bool>("s", "p").await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_connection_serves_nothing_cached_from_before() {
    let topo = Topology::start(Spec { replicas: 0, ..Spec::default() });
    let client = cached(&topo).await;
    let mut con = client.clone();
    let shard = topo.master_names()[0].clone();
    let key = keys_on(&client, &shard, "k", 1).remove(0);
    con.set::<_, _, ()>(&key, "old").await.unwrap();
    assert_eq!(con.get::<_, String>(&key).await.unwrap(), "old");
    assert_eq!(con.get::<_, String>(&key).await.unwrap(), "old");
    // The server ends our tracking connection; nobody tells us what changes next.
    let mut admin = topo.conn(&topo.master_addr(&shard));
    let flushes = client.cache_stats().unwrap().flushes;
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
    let tracking: Vec<&str> = list
        .lines()
        .filter(|l| l.split(' ').any(|f| f.strip_prefix("flags=").is_some_and(|f| f.contains('t'))))
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .collect();
    assert_eq!(tracking.len(), 1, "the client's one tracking connection: {list}");
    let _: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(tracking[0]).query(&mut admin).unwrap();
    let _: () = redis::cmd("SET").arg(&key).arg("new").query(&mut admin).unwrap();
    // The client notices the closed connection on its own (a flush), and the
    // first read after it is the new value.
    until_read("the lost connection's flush", true, async || client.cache_stats().unwrap().flushes > flushes)
        .await;
    assert_eq!(con.get::<_, String>(&key).await.unwrap(), "new");
    assert_eq!(con.get::<_, String>(&key).await.unwrap(), "new");
    // A key with a server-side expiry stops being served once the server expires it.
    con.pset_ex::<_, _, ()>(&key, "short", 200).await.unwrap();
    assert_eq!(con.get::<_, Option<String>>(&key).await.unwrap().as_deref(), Some("short"));
    let took =
        until_read("an expired key", None, async || con.get::<_, Option<String>>(&key).await.unwrap()).await;
    eprintln!("cache: a key set with PX 200 read as gone {took:?} after its first read");
}

#[test]
fn the_cache_is_refused_with_durability_mode_and_bad_bounds() {
    let base = || DisredisClient::builder().sentinels(["127.0.0.1:26379"]);
    for (builder, reason) in [
        (base().client_cache(CacheConfig::new()).wait_replicas(1, Duration::from_millis(100)), "durability"),
        (base().client_cache(CacheConfig::new().max_bytes(10)), "1 KiB"),
        (base().client_cache(CacheConfig::new().ttl(Duration::ZERO)), "greater than zero"),
    ] {
        match builder.build() {
            Err(disredis::Error::Config { field: "client_cache", reason: r, .. }) => {
                assert!(r.contains(reason), "{r}")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_blocking_client_from_a_url_caches_too() {
    let topo = Topology::start(Spec { replicas: 0, ..Spec::default() });
    let url = format!(
        "redis+sentinel://{}/?client_cache=on&client_cache_ttl=30000",
        topo.sentinel_addrs().join(",")
    );
    let mut c = disredis::blocking::DisredisClient::from_url(&url).unwrap();
    redis::Commands::set::<_, _, ()>(&mut c, "b:1", "x").unwrap();
    for _ in 0..3 {
        assert_eq!(redis::Commands::get::<_, String>(&mut c, "b:1").unwrap(), "x");
    }
    let s = c.cache_stats().unwrap();
    assert_eq!((s.misses, s.hits), (1, 2), "{s:?}");
}
