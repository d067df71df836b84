//! Sentinel discovery and the typed errors for bad input, on real processes.

use std::time::Duration;

use disredis::{DisredisClient, Error};

use crate::support::{Spec, Topology};

/// A loopback port with nothing listening (bound, then released).
fn dead_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn discovers_masters_when_the_first_sentinel_is_down() {
    let topo = Topology::start(Spec::default());
    let live = topo.sentinel_addrs();
    let dead = dead_addr();
    let client = DisredisClient::connect([dead.clone(), live[0].clone()]).await.unwrap();

    assert_eq!(client.shard_names(), topo.master_names().as_slice());
    let sentinels = client.sentinels();
    assert_eq!(sentinels[0], live[0], "the Sentinel that answered moves to the front");
    assert!(sentinels.contains(&dead), "the dead one is kept for later: {sentinels:?}");
    for s in &live[1..] {
        assert!(sentinels.contains(s), "Sentinel {s} learned from SENTINEL SENTINELS: {sentinels:?}");
    }
    for shard in client.topology().shards {
        assert!(shard.connected, "{shard:?}");
        assert_eq!(shard.master.as_deref(), Some(topo.master_addr(&shard.name).as_str()));
        assert_eq!(shard.generation, 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn master_filter_limits_the_shards() {
    let topo = Topology::start(Spec::default());
    let names = topo.master_names();
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .masters([&names[1]])
        .connect()
        .await
        .unwrap();
    assert_eq!(client.shard_names(), &names[1..]);
    for i in 0..100 {
        assert_eq!(client.shard_for(format!("k{i}")), names[1]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_master_name_is_a_typed_error() {
    let topo = Topology::start(Spec::default());
    let err = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .masters(["shard-a", "no-such-master"])
        .connect()
        .await
        .unwrap_err();
    match err {
        Error::UnknownMaster { missing, known, .. } => {
            assert_eq!(missing, vec!["no-such-master".to_owned()]);
            assert_eq!(known, topo.master_names());
        }
        other => panic!("expected UnknownMaster, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_reachable_sentinel_lists_every_address() {
    let (a, b) = (dead_addr(), dead_addr());
    let started = std::time::Instant::now();
    let err = DisredisClient::connect([a.clone(), b.clone()]).await.unwrap_err();
    let Error::NoSentinel { tried } = &err else { panic!("expected NoSentinel, got {err:?}") };
    let addrs: Vec<&str> = tried.iter().map(|t| t.addr.as_str()).collect();
    assert_eq!(addrs, [a.as_str(), b.as_str()]);
    assert!(tried.iter().all(|t| !t.cause.is_empty()));
    let text = err.to_string();
    assert!(text.contains(&a) && text.contains(&b), "{text}");
    // Not a hang: bounded by the Sentinel timeouts (generous margin).
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn malformed_addresses_are_config_errors_naming_the_value() {
    for bad in ["localhost", "127.0.0.1:0", "127.0.0.1:99999", "::1:26379", "[::1", ""] {
        match DisredisClient::connect([bad]).await {
            Err(Error::Config { field, value, .. }) => {
                assert_eq!(field, "sentinels");
                assert_eq!(value, bad);
            }
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
    let none: [&str; 0] = [];
    assert!(matches!(DisredisClient::connect(none).await, Err(Error::Config { field: "sentinels", .. })));
}

#[tokio::test(flavor = "multi_thread")]
async fn ipv6_sentinel_address_is_accepted_and_tried() {
    // Nothing listens on [::1] here; the point is that the bracketed form parses
    // and is reported back in the same form.
    let port = dead_addr().rsplit_once(':').unwrap().1.to_owned();
    let addr = format!("[::1]:{port}");
    match DisredisClient::connect([addr.clone()]).await {
        Err(Error::NoSentinel { tried }) => assert_eq!(tried[0].addr, addr),
        other => panic!("expected NoSentinel, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sentinel_that_monitors_nothing_is_a_typed_error() {
    let topo = Topology::start(Spec { shards: 1, replicas: 0, sentinels: 1, quorum: 1 });
    let addr = topo.sentinel_addrs()[0].clone();
    // Tell the Sentinel to stop monitoring its only master.
    let mut s = topo.conn(&addr);
    let _: () = redis::cmd("SENTINEL").arg("REMOVE").arg(&topo.master_names()[0]).query(&mut s).unwrap();
    match DisredisClient::connect([addr.clone()]).await {
        Err(Error::NoMasters { sentinel }) => assert_eq!(sentinel, addr),
        other => panic!("expected NoMasters, got {other:?}"),
    }
}

/// A data node given as the Sentinel address: the cause says it is a Redis
/// server, not a Sentinel; listed before a real Sentinel it is only skipped.
#[tokio::test(flavor = "multi_thread")]
async fn a_redis_server_given_as_the_sentinel_is_named_as_such() {
    let topo = Topology::start(Spec { shards: 1, replicas: 1, sentinels: 1, quorum: 1 });
    let name = &topo.master_names()[0];
    for node in [topo.master_addr(name), topo.replica_addrs(name)[0].clone()] {
        let err = DisredisClient::connect([node.clone()]).await.unwrap_err();
        let Error::NoSentinel { tried } = &err else { panic!("expected NoSentinel, got {err:?}") };
        assert_eq!(tried.len(), 1, "{err}");
        assert_eq!(tried[0].addr, node);
        let text = err.to_string();
        assert!(text.contains("is a Redis server, not a Sentinel"), "{text}");
        assert!(text.contains("unknown command"), "what the node said is kept: {text}");
        let r: redis::RedisError = err.clone().into();
        assert!(matches!(Error::from(r), Error::NoSentinel { .. }));

        let client = DisredisClient::connect([node.clone(), topo.sentinel_addrs()[0].clone()]).await.unwrap();
        assert_eq!(client.shard_names(), topo.master_names().as_slice());
        assert_eq!(client.sentinels()[0], topo.sentinel_addrs()[0], "the real Sentinel moved to the front");
    }
}
