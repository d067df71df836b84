//! `disredis::PubSub` in redis-rs's `aio::PubSub` shapes: the same consumer
//! code runs on both types, `split` and `into_on_message` hand out the two
//! ends, `ping` round-trips on every master, and dropping an end does what
//! the docs say.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use disredis::{Error, PubSubStream};
use futures_util::StreamExt;
use redis::AsyncCommands;

use super::pubsub_clients;
use crate::support::{Spec, Topology, client, keys_on};

/// How long any one wait here may take before the test fails.
const WITHIN: Duration = Duration::from_secs(10);

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A consumer written against redis-rs's `redis::aio::PubSub`: expanded
/// once with a redis-rs `PubSub` and once with a disredis one, so this one
/// body compiles against both types. Pings, subscribes the first channel on
/// the whole subscriber and the rest on the split-off sink, publishes each
/// channel once through `$publisher`, and returns what the stream yielded.
macro_rules! redis_rs_consumer {
    ($pubsub:expr, $publisher:expr, $channels:expr) => {
        async {
            let mut pubsub = $pubsub;
            let mut publisher = $publisher;
            let channels: &[String] = $channels;
            let pong: String = pubsub.ping().await?;
            let echo: String = pubsub.ping_message("x").await?;
            pubsub.subscribe(&channels[0]).await?;
            let (mut sink, mut stream) = pubsub.split();
            sink.subscribe(&channels[1..]).await?;
            let mut receivers = 0;
            for ch in channels {
                let n: i64 = publisher.publish(ch, format!("m:{ch}")).await?;
                receivers += n;
            }
            let mut got = BTreeSet::new();
            while got.len() < channels.len() {
                let msg = tokio::time::timeout(WITHIN, stream.next()).await?.ok_or("the stream ended")?;
                got.insert((msg.get_channel_name().to_owned(), msg.get_payload::<String>()?));
            }
            AnyResult::Ok((pong, echo, receivers, got))
        }
    };
}

/// What the consumer should have seen for `channels`.
fn expected(channels: &[String]) -> (String, String, i64, BTreeSet<(String, String)>) {
    let got = channels.iter().map(|ch| (ch.clone(), format!("m:{ch}"))).collect();
    ("PONG".into(), "x".into(), channels.len() as i64, got)
}

/// The consumer body above runs on redis-rs's own `aio::PubSub` (one
/// master, its channels there) and on disredis's (channels on both shards),
/// with the same results.
#[tokio::test(flavor = "multi_thread")]
async fn code_written_for_redis_rs_runs_with_the_type_swapped() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let client = client(&topo).await;
    let addr = topo.master_addr(&names[0]);
    let single = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let channels = keys_on(&client, &names[0], "single", 3);
    let redis_rs = redis_rs_consumer!(
        single.get_async_pubsub().await.unwrap(),
        single.get_multiplexed_async_connection().await.unwrap(),
        &channels
    )
    .await
    .unwrap();
    assert_eq!(redis_rs, expected(&channels), "redis-rs itself");

    let mut channels = keys_on(&client, &names[0], "sharded", 2);
    channels.extend(keys_on(&client, &names[1], "sharded", 2));
    let disredis =
        redis_rs_consumer!(client.pubsub().await.unwrap(), client.clone(), &channels).await.unwrap();
    assert_eq!(disredis, expected(&channels), "disredis, channels on both shards");
}

/// `split`: a clone of the sink subscribes from another task while this one
/// waits on the stream; messages of both shards come out of it.
#[tokio::test(flavor = "multi_thread")]
async fn a_cloned_sink_subscribes_while_the_stream_waits() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let client = client(&topo).await;
    let (sink, mut stream) = client.pubsub().await.unwrap().split();
    let channels: Vec<String> = names.iter().map(|n| keys_on(&client, n, "cloned", 1).remove(0)).collect();
    let (mut publisher, mut other_sink, to_subscribe) = (client.clone(), sink.clone(), channels.clone());
    let subscriber = tokio::spawn(async move {
        other_sink.subscribe(&to_subscribe).await.unwrap();
        for ch in &to_subscribe {
            let n: i64 = publisher.publish(ch, "hi").await.unwrap();
            assert_eq!(n, 1, "{ch}: published where the subscriber listens");
        }
    });
    let mut got = BTreeSet::new();
    while got.len() < channels.len() {
        let msg = tokio::time::timeout(WITHIN, stream.next()).await.unwrap().unwrap();
        got.insert(msg.get_channel_name().to_owned());
    }
    subscriber.await.unwrap();
    assert_eq!(got, channels.iter().cloned().collect());
    drop(sink);
}

/// `into_on_message`: the owned stream moves into a spawned task and
/// receives from both shards (a channel on each, and a pattern).
#[tokio::test(flavor = "multi_thread")]
async fn into_on_message_moves_into_a_spawned_task() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let client = client(&topo).await;
    let mut sub = client.pubsub().await.unwrap();
    let channels: Vec<String> = names.iter().map(|n| keys_on(&client, n, "owned", 1).remove(0)).collect();
    sub.subscribe(&channels).await.unwrap();
    sub.psubscribe("news.*").await.unwrap();
    let stream: PubSubStream = sub.into_on_message();
    let consumer = tokio::spawn(async move {
        let mut stream = stream;
        let mut got = BTreeSet::new();
        while got.len() < 4 {
            let msg = tokio::time::timeout(WITHIN, stream.next()).await.expect("in time").expect("open");
            got.insert(msg.get_channel_name().to_owned());
        }
        got
    });
    let news: Vec<String> = names
        .iter()
        .map(|n| (0..).map(|i| format!("news.{i}")).find(|ch| client.shard_for(ch) == n).unwrap())
        .collect();
    let mut publisher = client.clone();
    for ch in channels.iter().chain(&news) {
        let n: i64 = publisher.publish(ch, "m").await.unwrap();
        assert_eq!(n, 1, "{ch}: the subscriptions stay after into_on_message");
    }
    let got = consumer.await.unwrap();
    assert_eq!(got, channels.iter().chain(&news).cloned().collect());
}

/// `ping` and `ping_message` answer before and after subscribing; a master
/// that hangs (SIGSTOP) makes `ping` fail naming its shard; once it runs
/// again the subscription there is made again and `ping` answers.
#[tokio::test(flavor = "multi_thread")]
async fn ping_round_trips_on_every_master() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let client = client(&topo).await;
    let mut sub = client.pubsub().await.unwrap();
    let pong: String = sub.ping().await.unwrap();
    assert_eq!(pong, "PONG", "before any subscription");
    let channels: Vec<String> = names.iter().map(|n| keys_on(&client, n, "ping", 1).remove(0)).collect();
    sub.subscribe(&channels).await.unwrap();
    let pong: String = sub.ping().await.unwrap();
    assert_eq!(pong, "PONG");
    let echo: String = sub.ping_message("x").await.unwrap();
    assert_eq!(echo, "x");
    let echo: Vec<u8> = sub.ping_message(b"\xff\x00").await.unwrap();
    assert_eq!(echo, b"\xff\x00", "the message is bytes");

    let hung = topo.master_addr(&names[1]);
    topo.stop(&hung);
    let err = sub.ping::<String>().await.unwrap_err();
    topo.cont(&hung);
    match &err {
        Error::PubSubShard { shard, .. } => assert_eq!(shard, &names[1], "{}", err),
        other => panic!("not PubSubShard: {other}"),
    }
    let answered = poll_ping(&mut sub, &names[1]).await;
    assert_eq!(answered, "PONG");
    let n: i64 = client.clone().publish(&channels[1], "back").await.unwrap();
    assert_eq!(n, 1, "subscribed again on the shard that hung");
}

/// Pings until one answers (within 60 s); every failure meanwhile must be
/// `PubSubShard` naming `shard`. Returns the answer.
async fn poll_ping(sub: &mut disredis::PubSub, shard: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match sub.ping::<String>().await {
            Ok(pong) => return pong,
            Err(Error::PubSubShard { shard: s, .. }) => assert_eq!(s, shard),
            Err(other) => panic!("not PubSubShard: {other}"),
        }
        assert!(Instant::now() < deadline, "ping did not answer again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A SIGKILLed master: `ping` fails naming its shard until Sentinel promoted
/// the replica and the subscriptions were made there, then answers, and
/// messages on that shard arrive again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ping_names_the_shard_whose_master_died_until_it_is_resubscribed() {
    let topo = Topology::start(Spec { shards: 2, replicas: 1, sentinels: 3, quorum: 2 });
    let names = topo.master_names();
    let client = client(&topo).await;
    let mut sub = client.pubsub().await.unwrap();
    let channels: Vec<String> = names.iter().map(|n| keys_on(&client, n, "dies", 1).remove(0)).collect();
    sub.subscribe(&channels).await.unwrap();
    assert_eq!(sub.ping::<String>().await.unwrap(), "PONG");
    let victim = &names[0];
    let old = topo.master_addr(victim);
    topo.kill(&old);
    let deadline = Instant::now() + WITHIN;
    let err = loop {
        match sub.ping::<String>().await {
            Err(e) => break e,
            Ok(_) => assert!(Instant::now() < deadline, "ping kept answering after the kill"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    match &err {
        Error::PubSubShard { shard, .. } => assert_eq!(shard, victim, "{err}"),
        other => panic!("not PubSubShard: {other}"),
    }
    assert_eq!(poll_ping(&mut sub, victim).await, "PONG");
    assert_ne!(topo.master_addr(victim), old, "answered from the promoted replica");
    let mut publisher = client.clone();
    let deadline = Instant::now() + WITHIN;
    loop {
        // The client's own connection to the killed master may not have been
        // replaced yet: PUBLISH is not idempotent, so a send that broke on it is
        // `Ambiguous`, not retried — here, sending it again is what we want.
        match publisher.publish::<_, _, i64>(&channels[0], "after").await.map_err(Error::from) {
            Ok(1) => break,
            Ok(_) | Err(Error::Ambiguous { .. }) => {}
            Err(e) => panic!("publish after the failover: {e}"),
        }
        assert!(Instant::now() < deadline, "the publisher never met the subscriber again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut stream = sub.on_message();
    loop {
        let msg = tokio::time::timeout(WITHIN, stream.next()).await.unwrap().unwrap();
        if msg.get_channel_name() == channels[0] {
            assert_eq!(msg.get_payload::<String>().unwrap(), "after");
            break;
        }
    }
}

/// Waits until every master of `names` has `want` subscription connections.
async fn wait_clients(topo: &Topology, names: &[String], want: usize, what: &str) {
    let deadline = Instant::now() + WITHIN;
    while names.iter().any(|n| pubsub_clients(topo, n) != want) {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Dropping the stream ends the subscriber: its connections close and the
/// sink's calls fail with a typed error (as redis-rs's sink does).
#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_stream_ends_the_subscriber_and_the_sink_then_fails() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let client = client(&topo).await;
    let (mut sink, stream) = client.pubsub().await.unwrap().split();
    let channels: Vec<String> = names.iter().map(|n| keys_on(&client, n, "gone", 1).remove(0)).collect();
    sink.subscribe(&channels).await.unwrap();
    wait_clients(&topo, &names, 1, "one subscription connection per master").await;
    drop(stream);
    wait_clients(&topo, &names, 0, "the dropped stream's connections are still open").await;
    for result in [sink.subscribe("more").await, sink.ping::<()>().await] {
        match result {
            Err(Error::Redis(e)) => assert_eq!(e.kind(), redis::ErrorKind::Client, "{e}"),
            other => panic!("not a Client error: {other:?}"),
        }
    }
    let n: i64 = client.clone().publish(&channels[0], "nobody").await.unwrap();
    assert_eq!(n, 0);
}

/// Dropping the sink leaves the stream receiving, and the subscriber still
/// makes its subscriptions again when a connection is killed; dropping the
/// stream then closes everything.
#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_sink_leaves_the_stream_receiving() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let client = client(&topo).await;
    let (mut sink, mut stream) = client.pubsub().await.unwrap().split();
    let channels: Vec<String> = names.iter().map(|n| keys_on(&client, n, "kept", 1).remove(0)).collect();
    sink.subscribe(&channels).await.unwrap();
    drop(sink);
    let mut master = topo.conn(&topo.master_addr(&names[0]));
    let list: String = redis::cmd("CLIENT").arg("LIST").arg("TYPE").arg("pubsub").query(&mut master).unwrap();
    let ids: Vec<&str> = list
        .lines()
        .filter(|l| l.contains(" name=disredis:ring="))
        .filter_map(|l| l.strip_prefix("id=")?.split(' ').next())
        .collect();
    assert_eq!(ids.len(), 1, "one subscription connection on {}: {list}", names[0]);
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(ids[0]).query(&mut master).unwrap();
    assert_eq!(killed, 1);
    // Made again by the subscriber's task, which outlives its sinks.
    let mut publisher = client.clone();
    let deadline = Instant::now() + WITHIN;
    let mut seq = 0;
    while publisher.publish::<_, _, i64>(&channels[0], seq).await.unwrap() != 1 {
        assert!(Instant::now() < deadline, "{}: not subscribed again", names[0]);
        seq += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let n: i64 = publisher.publish(&channels[1], seq).await.unwrap();
    assert_eq!(n, 1, "{}", names[1]);
    let mut got = BTreeSet::new();
    while got.len() < 2 {
        let msg = tokio::time::timeout(WITHIN, stream.next()).await.unwrap().unwrap();
        if msg.get_payload::<i64>().unwrap() == seq {
            got.insert(msg.get_channel_name().to_owned());
        }
    }
    assert_eq!(got, channels.iter().cloned().collect());
    drop(stream);
    wait_clients(&topo, &names, 0, "the dropped stream's connections are still open").await;
}
