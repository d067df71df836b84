//! Pub/sub over the shards on real processes: publisher and subscriber
//! always meet, patterns and keyspace notifications come from every master,
//! and a SIGKILLed master's subscriptions are made again with a gap notice.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use disredis::{DisredisClient, Event};
use futures_util::StreamExt;
use redis::AsyncCommands;

use crate::support::{Spec, Topology};

mod failover;
mod redis_shapes;

/// Receives `n` messages (or panics after `within`): (channel, payload).
pub async fn receive(sub: &mut disredis::PubSub, n: usize, within: Duration) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stream = sub.on_message();
    let deadline = tokio::time::Instant::now() + within;
    while out.len() < n {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(msg)) => {
                out.push((msg.get_channel_name().to_owned(), msg.get_payload::<String>().unwrap()))
            }
            Ok(None) => panic!("the stream ended after {} messages", out.len()),
            Err(_) => panic!("only {} of {n} messages within {within:?}", out.len()),
        }
    }
    out
}

/// How many of a `PubSub`'s subscription connections (named after the ring)
/// `name`'s master has.
fn pubsub_clients(topo: &Topology, name: &str) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut topo.conn(&topo.master_addr(name)))
        .unwrap();
    list.lines().filter(|l| l.contains(" name=disredis:ring=")).count()
}

/// 1,000 random channel names, each published once by one client and
/// received once by another; `PUBSUB NUMSUB` finds each subscriber where the
/// channel lives.
#[tokio::test(flavor = "multi_thread")]
async fn publisher_and_subscriber_in_separate_clients_always_meet() {
    let topo = Topology::start(Spec { shards: 3, replicas: 0, sentinels: 1, quorum: 1 });
    let subscriber = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let mut publisher = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let channels: Vec<String> = (0..1000u64)
        .map(|i| format!("ch:{:x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut sub = subscriber.pubsub().await.unwrap();
    sub.subscribe(&channels).await.unwrap();
    let mut per_shard: HashMap<String, usize> = HashMap::new();
    for ch in &channels {
        let receivers: i64 = publisher.publish(ch, format!("m:{ch}")).await.unwrap();
        assert_eq!(receivers, 1, "{ch}: published where the subscriber is");
        *per_shard.entry(subscriber.shard_for(ch).to_owned()).or_default() += 1;
    }
    assert_eq!(per_shard.len(), 3, "channels on every shard: {per_shard:?}");
    let got = receive(&mut sub, channels.len(), Duration::from_secs(10)).await;
    let got: BTreeSet<(String, String)> = got.into_iter().collect();
    assert_eq!(got.len(), channels.len(), "each exactly once");
    assert!(channels.iter().all(|ch| got.contains(&(ch.clone(), format!("m:{ch}")))));

    let numsub: Vec<redis::Value> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(&channels[..5])
        .arg("nobody")
        .query_async(&mut publisher)
        .await
        .unwrap();
    assert_eq!(numsub.len(), 12);
    for (i, pair) in numsub.chunks(2).enumerate() {
        let want = if i < 5 { 1 } else { 0 };
        assert_eq!(pair[1], redis::Value::Int(want), "{pair:?}");
    }
    let all: Vec<String> =
        redis::cmd("PUBSUB").arg("CHANNELS").arg("ch:*").query_async(&mut publisher).await.unwrap();
    assert_eq!(all.len(), channels.len(), "PUBSUB CHANNELS: the union over every master");
    // Shard channels: SSUBSCRIBE where SPUBLISH goes.
    let shard_channels: Vec<String> = (0..30).map(|i| format!("sch:{i}")).collect();
    sub.ssubscribe(&shard_channels).await.unwrap();
    for ch in &shard_channels {
        let receivers: i64 =
            redis::cmd("SPUBLISH").arg(ch).arg("s").query_async(&mut publisher).await.unwrap();
        assert_eq!(receivers, 1, "{ch}");
    }
    let got = receive(&mut sub, shard_channels.len(), Duration::from_secs(10)).await;
    assert_eq!(
        got.iter().map(|(c, _)| c.clone()).collect::<BTreeSet<_>>(),
        shard_channels.iter().cloned().collect()
    );
    sub.sunsubscribe(&shard_channels).await.unwrap();
    let receivers: i64 =
        redis::cmd("SPUBLISH").arg(&shard_channels[0]).arg("s").query_async(&mut publisher).await.unwrap();
    assert_eq!(receivers, 0, "unsubscribed");
    sub.unsubscribe(&channels[..10]).await.unwrap();
    let receivers: i64 = publisher.publish(&channels[0], "late").await.unwrap();
    assert_eq!(receivers, 0, "unsubscribed");
    // Channel names are bytes: one that is not UTF-8 works, and asking for
    // it as a String is a typed error, not a panic.
    let raw: &[u8] = b"bin:\xff\xfe";
    sub.subscribe(raw).await.unwrap();
    let receivers: i64 = publisher.publish(raw, "b").await.unwrap();
    assert_eq!(receivers, 1);
    let msg = {
        let mut stream = sub.on_message();
        tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap()
    };
    assert_eq!(msg.get_channel::<Vec<u8>>().unwrap(), raw);
    assert!(msg.get_channel::<String>().is_err());
    let err = sub.subscribe(Vec::<String>::new()).await.unwrap_err();
    assert!(matches!(err, disredis::Error::BadCommand { .. }), "{err}");
}

/// A pattern matches channels on every shard; keyspace notifications arrive
/// from every master; dropping the subscriber closes its connections.
#[tokio::test(flavor = "multi_thread")]
async fn patterns_and_keyspace_notifications_come_from_every_master() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    for name in &names {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("notify-keyspace-events")
            .arg("K$")
            .query(&mut topo.conn(&topo.master_addr(name)))
            .unwrap();
    }
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let before: Vec<usize> = names.iter().map(|n| pubsub_clients(&topo, n)).collect();
    let mut sub = client.pubsub().await.unwrap();
    sub.psubscribe("news.*").await.unwrap();
    sub.psubscribe("__keyspace@0__:*").await.unwrap();
    let during: Vec<usize> = names.iter().map(|n| pubsub_clients(&topo, n)).collect();
    assert!(before.iter().all(|b| *b == 0), "{before:?}");
    assert!(during.iter().all(|d| *d == 1), "one subscription connection per master: {during:?}");

    let news: Vec<String> = (0..40).map(|i| format!("news.{i}")).collect();
    let mut c = client.clone();
    let shards: BTreeSet<&str> = news.iter().map(|ch| client.shard_for(ch)).collect();
    assert_eq!(shards.len(), 2);
    for ch in &news {
        let _: i64 = c.publish(ch, "n").await.unwrap();
    }
    let keys: Vec<String> = (0..20).map(|i| format!("watched:{i}")).collect();
    for k in &keys {
        c.set::<_, _, ()>(k, 1).await.unwrap();
    }
    let got = receive(&mut sub, news.len() + keys.len(), Duration::from_secs(10)).await;
    let channels: BTreeSet<String> = got.iter().map(|(ch, _)| ch.clone()).collect();
    for ch in &news {
        assert!(channels.contains(ch), "{ch}");
    }
    for k in &keys {
        assert!(channels.contains(&format!("__keyspace@0__:{k}")), "{k}: notified from its master");
    }
    let numpat: i64 = redis::cmd("PUBSUB").arg("NUMPAT").query_async(&mut c).await.unwrap();
    assert_eq!(numpat, 2);

    drop(sub);
    let deadline = Instant::now() + Duration::from_secs(5);
    while names.iter().map(|n| pubsub_clients(&topo, n)).collect::<Vec<_>>() != before {
        assert!(Instant::now() < deadline, "the dropped subscriber's connections are still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The blocking client's subscriber: the same routing, messages by
/// `get_message` with a timeout.
#[test]
fn the_blocking_client_subscribes_too() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let mut client = disredis::blocking::DisredisClient::connect(topo.sentinel_addrs()).unwrap();
    let mut sub = client.pubsub().unwrap();
    let channels: Vec<String> = (0..20).map(|i| format!("b:{i}")).collect();
    sub.subscribe(&channels).unwrap();
    assert!(sub.get_message(Some(Duration::from_millis(50))).unwrap().is_none(), "nothing yet");
    let pong: String = sub.ping().unwrap();
    assert_eq!(pong, "PONG");
    let echo: String = sub.ping_message("hi").unwrap();
    assert_eq!(echo, "hi");
    for ch in &channels {
        let n: i64 = redis::Commands::publish(&mut client, ch, "hi").unwrap();
        assert_eq!(n, 1);
    }
    let mut got = BTreeSet::new();
    while got.len() < channels.len() {
        let msg = sub.get_message(Some(Duration::from_secs(5))).unwrap().expect("a message within 5 s");
        got.insert(msg.get_channel_name().to_owned());
    }
    assert_eq!(got, channels.iter().cloned().collect());
}

/// Publish throughput through disredis vs a bare `MultiplexedConnection` to
/// the channel's master, interleaved rounds, 16 tasks. A measurement, not a
/// check: `cargo test --release --all-features --test it measure_publish -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn measure_publish_throughput() {
    let topo = Topology::start(Spec { shards: 1, replicas: 0, sentinels: 1, quorum: 1 });
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let addr = topo.master_addr(&topo.master_names()[0]);
    let bare = redis::Client::open(format!("redis://{addr}/"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("bench").await.unwrap();
    let drain = tokio::spawn(async move {
        let mut n = 0u64;
        let mut stream = sub.on_message();
        while stream.next().await.is_some() {
            n += 1;
        }
        n
    });
    let round = |disredis: bool| {
        let (client, bare) = (client.clone(), bare.clone());
        async move {
            let started = Instant::now();
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let (mut c, mut b) = (client.clone(), bare.clone());
                    tokio::spawn(async move {
                        for i in 0..2000u64 {
                            if disredis {
                                let _: i64 = c.publish("bench", i).await.unwrap();
                            } else {
                                let _: i64 = b.publish("bench", i).await.unwrap();
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            32_000.0 / started.elapsed().as_secs_f64()
        }
    };
    let mut ratios = Vec::new();
    for _ in 0..5 {
        let (d, b) = (round(true).await, round(false).await);
        println!("publish/s: disredis {d:.0}, bare {b:.0}, ratio {:.3}", d / b);
        ratios.push(d / b);
    }
    ratios.sort_by(f64::total_cmp);
    println!("median disredis/bare publish ratio: {:.3}", ratios[2]);
    drain.abort();
}

/// A consumer that does not keep up: the buffer holds `BUFFER` messages, the
/// rest are dropped and reported — memory stays bounded.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_consumer_loses_the_newest_messages_and_is_told() {
    let topo = Topology::start(Spec { shards: 1, replicas: 0, sentinels: 1, quorum: 1 });
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let mut events = client.events();
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("flood").await.unwrap();
    let total = disredis::pubsub::BUFFER + 2_000;
    let mut p = client.clone();
    for chunk in (0..total).collect::<Vec<_>>().chunks(500) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("PUBLISH").arg("flood").arg(*i).ignore();
        }
        // Pipelines can't carry PUBLISH through the client: straight to the master.
        let mut direct = topo.conn(&topo.master_addr(&topo.master_names()[0]));
        let _: () = pipe.query(&mut direct).unwrap();
    }
    let _: i64 = p.publish("flood", "last").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut dropped = 0;
    // 2,000 beyond the buffer and "last"; the drops are reported in batches, so
    // wait for all of them (the count, not the batches, is the assertion).
    while dropped < 2_001 {
        assert!(Instant::now() < deadline, "dropped {dropped} reported");
        if let Ok(Ok(Event::PubSubDropped { dropped: n })) =
            tokio::time::timeout(Duration::from_millis(100), events.recv()).await
        {
            dropped += n;
        }
    }
    assert_eq!(dropped, 2_001, "the newest beyond the buffer");
    let got = receive(&mut sub, disredis::pubsub::BUFFER, Duration::from_secs(5)).await;
    assert_eq!(got.first().map(|(_, p)| p.as_str()), Some("0"), "the oldest are kept");
}
