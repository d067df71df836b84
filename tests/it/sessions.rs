//! `disredis::sessions::DisredisStore` on real processes: round trip, `create`
//! never overwrites, the TTL, expiry, a corrupt value, and a session that
//! survives a master failover.

use std::collections::HashMap;
use std::time::Duration;

use disredis::DisredisClient;
use disredis::sessions::DisredisStore;
use redis::{AsyncCommands, Commands};
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::Error as StoreError;

use crate::support::{Spec, Topology};

fn record(id: Id, expiry_date: OffsetDateTime) -> Record {
    let mut data = HashMap::new();
    data.insert("name".to_owned(), serde_json::json!("ann"));
    data.insert("visits".to_owned(), serde_json::json!(1));
    Record { id, data, expiry_date }
}

/// Whole seconds, so `PEXPIRETIME` can be compared exactly.
fn in_secs(s: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp() + s).unwrap()
}

/// A connection to the master that holds `key` right now.
fn master_conn(topo: &Topology, client: &DisredisClient, key: &str) -> redis::Connection {
    topo.conn(&topo.master_addr(client.shard_for(key)))
}

#[tokio::test(flavor = "multi_thread")]
async fn create_load_save_delete_round_trip() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let store = DisredisStore::new(client.clone());

    let mut r = record(Id::default(), in_secs(3600));
    store.create(&mut r).await.unwrap();
    let key = store.key(&r.id);
    assert_eq!(key, format!("session:{}", r.id));
    assert_eq!(store.load(&r.id).await.unwrap(), Some(r.clone()));

    r.data.insert("visits".to_owned(), serde_json::json!(2));
    store.save(&r).await.unwrap();
    assert_eq!(store.load(&r.id).await.unwrap(), Some(r.clone()));
    // The value is the MessagePack record, on the master the key hashes to.
    let raw: Vec<u8> = master_conn(&topo, &client, &key).get(&key).unwrap();
    assert_eq!(raw, rmp_serde::to_vec(&r).unwrap());

    store.delete(&r.id).await.unwrap();
    assert_eq!(store.load(&r.id).await.unwrap(), None);
    let exists: bool = master_conn(&topo, &client, &key).exists(&key).unwrap();
    assert!(!exists);
    // Deleting or loading a session that does not exist is not an error.
    store.delete(&r.id).await.unwrap();
    assert_eq!(store.load(&Id::default()).await.unwrap(), None);

    // A custom prefix.
    let custom = DisredisStore::new(client.clone()).with_prefix("myapp:sess");
    let mut r = record(Id::default(), in_secs(60));
    custom.create(&mut r).await.unwrap();
    let key = custom.key(&r.id);
    assert_eq!(key, format!("myapp:sess:{}", r.id));
    let exists: bool = master_conn(&topo, &client, &key).exists(&key).unwrap();
    assert!(exists);
    assert_eq!(store.load(&r.id).await.unwrap(), None, "another prefix is another namespace");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_never_overwrites_an_existing_session() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let store = DisredisStore::new(client.clone());
    let mut con = client.clone();

    // Another session already owns the id this record would use.
    let taken = Id(0x5e55_1011);
    let taken_key = store.key(&taken);
    con.set::<_, _, ()>(&taken_key, "someone else's session").await.unwrap();

    let mut r = record(taken, in_secs(3600));
    store.create(&mut r).await.unwrap();
    assert_ne!(r.id, taken, "create must draw a new id when the key exists");
    let old: String = con.get(&taken_key).await.unwrap();
    assert_eq!(old, "someone else's session", "the existing session was overwritten");
    assert_eq!(store.load(&r.id).await.unwrap(), Some(r.clone()));

    // Same for a real record under that id: it stays as it was.
    let other = record(Id(77), in_secs(3600));
    store.save(&other).await.unwrap();
    let mut mine = record(Id(77), in_secs(60));
    mine.data.insert("name".to_owned(), serde_json::json!("mallory"));
    store.create(&mut mine).await.unwrap();
    assert_ne!(mine.id, Id(77));
    assert_eq!(store.load(&Id(77)).await.unwrap(), Some(other));
    assert_eq!(store.load(&mine.id).await.unwrap(), Some(mine));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_record_expiry_is_the_redis_ttl() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let store = DisredisStore::new(client.clone());

    let expiry = in_secs(3600);
    let mut r = record(Id::default(), expiry);
    store.create(&mut r).await.unwrap();
    let key = store.key(&r.id);
    let mut master = master_conn(&topo, &client, &key);
    let at: i64 = redis::cmd("PEXPIRETIME").arg(&key).query(&mut master).unwrap();
    assert_eq!(at, expiry.unix_timestamp() * 1000);
    let pttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut master).unwrap();
    assert!((3_590_000..=3_600_000).contains(&pttl), "PTTL {pttl}");

    // save moves the TTL with the record's expiry date.
    r.expiry_date = in_secs(120);
    store.save(&r).await.unwrap();
    let pttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut master).unwrap();
    assert!((110_000..=120_000).contains(&pttl), "PTTL after save {pttl}");
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_records_are_neither_stored_nor_loaded() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let store = DisredisStore::new(client.clone());
    let mut con = client.clone();

    // Expires by itself.
    let mut r = record(Id::default(), OffsetDateTime::now_utc() + Duration::from_millis(400));
    store.create(&mut r).await.unwrap();
    assert_eq!(store.load(&r.id).await.unwrap().map(|l| l.id), Some(r.id));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(store.load(&r.id).await.unwrap(), None);
    assert!(!con.exists::<_, bool>(store.key(&r.id)).await.unwrap());

    // Saving a record that has expired deletes its session.
    let mut r = record(Id::default(), in_secs(3600));
    store.create(&mut r).await.unwrap();
    r.expiry_date = in_secs(-1);
    store.save(&r).await.unwrap();
    assert!(!con.exists::<_, bool>(store.key(&r.id)).await.unwrap());
    assert_eq!(store.load(&r.id).await.unwrap(), None);

    // Creating one stores nothing.
    let mut r = record(Id::default(), in_secs(-10));
    store.create(&mut r).await.unwrap();
    assert!(!con.exists::<_, bool>(store.key(&r.id)).await.unwrap());

    // A stored record past its expiry date (a clock ahead of Redis') is not loaded.
    let stale = record(Id::default(), in_secs(-5));
    con.set::<_, _, ()>(store.key(&stale.id), rmp_serde::to_vec(&stale).unwrap()).await.unwrap();
    assert_eq!(store.load(&stale.id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_value_is_a_decode_error_and_a_wrong_type_a_backend_error() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let store = DisredisStore::new(client.clone());
    let mut con = client.clone();

    let id = Id::default();
    con.set::<_, _, ()>(store.key(&id), "{\"not\": \"msgpack\"}").await.unwrap();
    match store.load(&id).await {
        Err(StoreError::Decode(text)) => assert!(text.contains("not a valid record"), "{text}"),
        other => panic!("expected Decode, got {other:?}"),
    }

    let id = Id::default();
    let key = store.key(&id);
    con.rpush::<_, _, ()>(&key, "x").await.unwrap();
    match store.load(&id).await {
        Err(StoreError::Backend(text)) => {
            assert!(text.contains("load on shard") && text.contains("WRONGTYPE"), "{text}");
            assert!(!text.contains(&id.to_string()), "the session id leaked into the error: {text}");
        }
        other => panic!("expected Backend, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_survives_a_failover_of_its_master() {
    // Two replicas per shard, so the promoted master has a replica to WAIT for.
    let topo = Topology::start(Spec { replicas: 2, ..Spec::default() });
    // Replication is asynchronous: without WAIT, the master could be killed before
    // its replica received the session, and the promoted replica would not have
    // it (a flaky test, and a logged-out user). With wait_replicas(1, ..) `create`
    // and `save` return only once a replica acknowledged the write.
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .wait_replicas(1, Duration::from_millis(400))
        .connect()
        .await
        .unwrap();
    let store = DisredisStore::new(client.clone());

    let mut r = record(Id::default(), in_secs(3600));
    store.create(&mut r).await.unwrap();
    let shard = client.shard_for(store.key(&r.id)).to_owned();
    let old = topo.master_addr(&shard);
    topo.kill(&old);

    // Straight after the kill: load waits for the promoted replica.
    assert_eq!(store.load(&r.id).await.unwrap(), Some(r.clone()));
    let new = topo.wait_for_failover(&shard, &old, Duration::from_secs(20));
    assert_ne!(new, old);
    // Sentinel points the other replica at the new master; WAIT needs it linked.
    wait_for_a_replica(&topo, &new);

    // Writes go to the new master and keep their TTL there.
    r.data.insert("visits".to_owned(), serde_json::json!(2));
    store.save(&r).await.unwrap();
    assert_eq!(store.load(&r.id).await.unwrap(), Some(r.clone()));
    let key = store.key(&r.id);
    let at: i64 = redis::cmd("PEXPIRETIME").arg(&key).query(&mut topo.conn(&new)).unwrap();
    assert_eq!(at, r.expiry_date.unix_timestamp() * 1000);
}

/// Polls `INFO replication` on `master` until a replica is online (10 s at most).
fn wait_for_a_replica(topo: &Topology, master: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO").arg("replication").query(&mut topo.conn(master)).unwrap();
        if info.lines().any(|l| l.starts_with("slave") && l.contains("state=online")) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no replica came online at {master}:\n{info}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
