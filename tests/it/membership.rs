//! The ring record on real processes: membership comes from the record on the
//! masters, not from whatever Sentinel monitors now, so clients that connect
//! before and after a master joins Sentinel place every key alike.

use std::time::{Duration, Instant};

use disredis::{DisredisClient, Error, Phase};
use redis::AsyncCommands;

use crate::support::{Spec, Topology, hourly_ring_poll, load_record, ring_changed, stable_record};

/// What one master holds as the ring record (`None`: no `disredis_ring` library).
fn record(topo: &Topology, name: &str) -> Option<String> {
    let mut con = topo.conn(&topo.initial_master_addr(name));
    redis::cmd("FCALL_RO").arg("disredis_ring").arg(0).query(&mut con).ok()
}

fn sentinel(topo: &Topology) -> redis::Connection {
    topo.conn(&topo.sentinel_addrs()[0])
}

/// The measured split, reproduced and shown fixed: client A connects while
/// Sentinel monitors shard-a and shard-b; shard-c joins Sentinel; client B
/// connects afterwards. Before the ring, B placed 965 of 3000 keys differently.
#[tokio::test(flavor = "multi_thread")]
async fn a_master_that_joins_sentinel_later_does_not_split_the_keyspace() {
    let topo = Topology::start(Spec { shards: 3, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let late = &names[2];
    let _: () = redis::cmd("SENTINEL").arg("REMOVE").arg(late).query(&mut sentinel(&topo)).unwrap();
    let a = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    assert_eq!(a.shard_names(), &names[..2]);
    assert_eq!(a.topology().ring.version, 1);
    assert!(a.topology().unrouted.is_empty());

    let late_addr = topo.initial_master_addr(late);
    let (ip, port) = late_addr.rsplit_once(':').unwrap();
    let _: () = redis::cmd("SENTINEL")
        .arg("MONITOR")
        .arg(late)
        .arg(ip)
        .arg(port)
        .arg(1)
        .query(&mut sentinel(&topo))
        .unwrap();
    let b = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let topology = b.topology();
    assert_eq!(topology.ring, a.topology().ring, "B follows the ring A created");
    assert_eq!(topology.ring.members, names[..2]);
    assert_eq!(topology.unrouted, vec![late.clone()], "Sentinel's new master is known but not routed to");
    assert_eq!(b.shard_names(), &names[..2]);

    let keys: Vec<String> = (0..3000).map(|i| format!("split:{i}")).collect();
    let differ = keys.iter().filter(|k| a.shard_for(k) != b.shard_for(k)).count();
    assert_eq!(differ, 0, "A and B place every key alike");
    let (mut ca, mut cb) = (a.clone(), b.clone());
    for k in &keys[..500] {
        ca.set::<_, _, ()>(k, "from-a").await.unwrap();
    }
    for k in &keys[500..1000] {
        cb.set::<_, _, ()>(k, "from-b").await.unwrap();
    }
    let seen_by_b: Vec<Option<String>> = cb.mget(&keys[..500]).await.unwrap();
    assert!(seen_by_b.iter().all(|v| v.as_deref() == Some("from-a")), "B reads every key A wrote");
    let seen_by_a: Vec<Option<String>> = ca.mget(&keys[500..1000]).await.unwrap();
    assert!(seen_by_a.iter().all(|v| v.as_deref() == Some("from-b")), "A reads every key B wrote");
    let on_late: i64 = redis::cmd("DBSIZE").query(&mut topo.conn(&late_addr)).unwrap();
    assert_eq!(on_late, 0, "nothing went to the master the ring does not list");
    assert_eq!(record(&topo, late), None, "a non-member gets no copy of the record");
}

/// First clients that race with different seeds (`masters` filters) agree on
/// one ring, and every member ends up with the same copy.
#[tokio::test(flavor = "multi_thread")]
async fn first_clients_racing_with_different_seeds_agree() {
    let topo = Topology::start(Spec { shards: 3, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    for _ in 0..5 {
        for name in &names {
            let _: () = redis::cmd("FUNCTION")
                .arg("FLUSH")
                .query(&mut topo.conn(&topo.initial_master_addr(name)))
                .unwrap();
        }
        let two = DisredisClient::builder().sentinels(topo.sentinel_addrs()).masters(&names[..2]).connect();
        let three = DisredisClient::builder().sentinels(topo.sentinel_addrs()).masters(&names).connect();
        let (two, three) = tokio::join!(two, three);
        let (two, three) = (two.unwrap(), three.unwrap());
        let ring = two.topology().ring;
        assert_eq!(three.topology().ring, ring, "racing first clients follow one ring");
        assert_eq!(ring.version, 1);
        assert_eq!(ring.phase, Phase::Stable);
        let copies: Vec<Option<String>> = ring.members.iter().map(|m| record(&topo, m)).collect();
        assert!(copies.iter().all(|c| c.as_deref() == Some(ring.render().as_str())), "{copies:?}");
        let late = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
        assert_eq!(late.topology().ring, ring, "a later client without a filter follows it too");
    }
}

/// The record is not a key: the application's keyspace, `DBSIZE` and
/// `FLUSHALL` are as without disredis, and the ring survives a `FLUSHALL`.
#[tokio::test(flavor = "multi_thread")]
async fn the_ring_record_is_not_in_the_keyspace() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let mut con = client.clone();
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    assert_eq!(size, 0);
    let _: () = redis::cmd("FLUSHALL").query_async(&mut con).await.unwrap();
    let expected = client.topology().ring.render();
    for name in topo.master_names() {
        assert_eq!(record(&topo, &name).as_deref(), Some(expected.as_str()), "{name} keeps its copy");
    }
}

/// Every connection a client opens to a master says which ring version it
/// follows (`CLIENT SETNAME disredis:ring=<version>`): what the ring tool's
/// fence reads from `CLIENT LIST`.
#[tokio::test(flavor = "multi_thread")]
async fn connections_name_the_ring_version_they_follow() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let mut con = client.clone();
    // A blocking command gets a connection of its own: named too.
    let _: Option<(String, String)> = con.blpop("nothing-here", 0.2).await.unwrap();
    for name in topo.master_names() {
        let list: String =
            redis::cmd("CLIENT").arg("LIST").query(&mut topo.conn(&topo.master_addr(&name))).unwrap();
        let named = list.lines().filter(|l| l.contains(" name=disredis:ring=1 ")).count();
        assert!(named >= 1, "{name}: {list}");
        assert!(!list.lines().any(|l| l.contains(" name= ") && l.contains("cmd=blpop")), "{list}");
    }
}

/// A record that does not parse is `Error::BadRing` naming the master;
/// nothing connects on a guess. A change in progress is followed.
#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_record_is_a_typed_error_naming_the_master() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    load_record(&topo, &names[1], "not a ring");
    match DisredisClient::connect(topo.sentinel_addrs()).await {
        Err(Error::BadRing { master, detail }) => {
            assert_eq!(master, names[1]);
            assert!(detail.contains("unknown format"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    load_record(
        &topo,
        &names[1],
        "disredis-ring/1\nversion: 9\nphase: migrating\nmembers: shard-a\ntarget: shard-a,shard-b\n",
    );
    // A change in progress is followed, not refused: both members and target are shards.
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let topology = client.topology();
    assert_eq!((topology.ring.version, topology.ring.phase), (9, Phase::Migrating));
    assert_eq!(client.shard_names(), names);
    assert!(topology.unrouted.is_empty(), "the target's names are routed to: {topology:?}");
}

/// How many connections on `name`'s master are named after ring `version`.
fn named(topo: &Topology, name: &str, version: u64) -> usize {
    let list: String =
        redis::cmd("CLIENT").arg("LIST").query(&mut topo.conn(&topo.initial_master_addr(name))).unwrap();
    list.lines().filter(|l| l.contains(&format!(" name=disredis:ring={version} "))).count()
}

/// A newer stable ring written on the members is followed within about a
/// second: requests go by it, over new connections named after it, and the
/// connections of the old ring close (what the ring tool's fence waits for).
#[tokio::test(flavor = "multi_thread")]
async fn a_client_follows_a_newer_ring_and_closes_the_old_connections() {
    let topo = Topology::start(Spec { shards: 3, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .masters(&names[..2])
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    let mut con = client.clone();
    con.set::<_, _, ()>("before", 1).await.unwrap();
    assert!(named(&topo, &names[0], 1) >= 1);

    let v2 = stable_record(2, &names);
    for name in &names {
        load_record(&topo, name, &v2);
    }
    assert_eq!(ring_changed(&mut events).await, (1, 2, names.clone()));
    assert_eq!(client.topology().ring.version, 2);
    assert_eq!(client.shard_names(), names);
    assert!(client.topology().unrouted.is_empty());

    // Keys go by the new ring, also to the new member.
    let on_new: Vec<String> =
        (0..).map(|i| format!("k:{i}")).filter(|k| client.shard_for(k) == names[2]).take(5).collect();
    for k in &on_new {
        con.set::<_, _, ()>(k, "v").await.unwrap();
    }
    let found: i64 = redis::cmd("EXISTS")
        .arg(&on_new)
        .query(&mut topo.conn(&topo.initial_master_addr(&names[2])))
        .unwrap();
    assert_eq!(found, 5);

    // The old ring's connections close; the new ones are named after version 2.
    let deadline = Instant::now() + Duration::from_secs(10);
    while names[..2].iter().any(|n| named(&topo, n, 1) > 0) {
        assert!(Instant::now() < deadline, "connections of ring 1 still open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for name in &names {
        assert!(named(&topo, name, 2) >= 1, "{name}");
    }
}

/// A member that loses its copy (`FUNCTION FLUSH`) gets the ring back from a
/// running client.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_copy_is_restored_by_a_running_client() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let expected = client.topology().ring.render();
    let _: () = redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query(&mut topo.conn(&topo.initial_master_addr(&names[1])))
        .unwrap();
    assert_eq!(record(&topo, &names[1]), None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while record(&topo, &names[1]).as_deref() != Some(expected.as_str()) {
        assert!(Instant::now() < deadline, "the copy was not restored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A change announced on the ring channel is followed at once, without
/// waiting for the poll (here an hour, so only the announcement can do it).
#[tokio::test(flavor = "multi_thread")]
async fn a_change_announced_on_the_ring_channel_is_followed_without_the_poll() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let client = hourly_ring_poll(&topo).connect().await.unwrap();
    let mut events = client.events();
    let mut direct = topo.conn(&topo.initial_master_addr(&names[0]));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, subscribers): (String, i64) =
            redis::cmd("PUBSUB").arg("NUMSUB").arg(disredis::RING_CHANNEL).query(&mut direct).unwrap();
        if subscribers >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the client never subscribed to the ring channel");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let v2 = stable_record(2, &names);
    for name in &names {
        load_record(&topo, name, &v2);
    }
    let _: i64 = redis::cmd("PUBLISH").arg(disredis::RING_CHANNEL).arg(2).query(&mut direct).unwrap();
    assert_eq!(ring_changed(&mut events).await.1, 2);
    assert_eq!(client.topology().ring.version, 2);
}

/// A client whose connection is ended (as the ring tool does to a straggler,
/// with `CLIENT KILL`) reads the ring before it reconnects: it follows the
/// version it missed, and the request that hit the closed connection succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_straggler_reads_the_ring_before_reconnecting() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let client = hourly_ring_poll(&topo).connect().await.unwrap();
    let mut con = client.clone();
    con.set::<_, _, ()>("k", 1).await.unwrap();
    let v2 = stable_record(2, &names);
    for name in &names {
        load_record(&topo, name, &v2);
        let mut direct = topo.conn(&topo.initial_master_addr(name));
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .arg("SKIPME")
            .arg("yes")
            .query(&mut direct)
            .unwrap();
        assert!(killed >= 1, "{name}");
    }
    // GET is idempotent: retried after the dropped connection, under the new ring.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v: Option<i64> = con.get("k").await.unwrap();
        assert_eq!(v, Some(1));
        if client.topology().ring.version == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the client never read the ring after its connections were killed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(named(&topo, &names[0], 2) + named(&topo, &names[1], 2) >= 1);
}
