//! Pub/sub over the shards on real processes: publisher and subscriber
//! always meet, patterns and keyspace notifications come from every master,
//! and a SIGKILLed master's subscriptions are made again with a gap notice.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use disredis::{DisredisClient, Event};
use futures_util::StreamExt;
use redis::AsyncCommands;

use crate::support::{Spec, Topology};

/// Receives `n` messages (or panics after `within`): (channel, payload).
async fn receive(sub: &mut disredis::PubSub, n: usize, within: Duration) -> Vec<(String, String)> {
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

/// ~1,000 messages/s over 20 channels on both shards; one master SIGKILLed:
/// the other shard never stops, the failed one resumes after the failover
/// with a gap notice, nothing arrives twice, and every message published
/// after the subscriptions were made again arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscriptions_survive_a_master_sigkill() {
    let topo = Topology::start(Spec { shards: 2, replicas: 1, sentinels: 3, quorum: 2 });
    let names = topo.master_names();
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let mut events = client.events();
    let channels: Vec<String> = (0..20).map(|i| format!("feed:{i}")).collect();
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe(&channels).await.unwrap();

    let publisher = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (stop2, chans) = (stop.clone(), channels.clone());
    let publishing = tokio::spawn(async move {
        let mut p = publisher;
        let mut sent: Vec<(String, u64, Instant, bool)> = Vec::new();
        let mut seq = 0u64;
        // ~1,000 messages/s: a tick per millisecond (ticks missed while a
        // publish waits through the failover are skipped, not bunched).
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while !stop2.load(Ordering::Relaxed) {
            tick.tick().await;
            let ch = &chans[seq as usize % chans.len()];
            let at = Instant::now();
            let ok = matches!(p.publish::<_, _, i64>(ch, seq).await, Ok(n) if n >= 1);
            sent.push((ch.clone(), seq, at, ok));
            seq += 1;
        }
        sent
    });
    let mut received: Vec<(String, u64, Instant)> = Vec::new();
    let victim = &names[0];
    let old = topo.master_addr(victim);
    let switches = topo.switch_master_watch();
    let started = Instant::now();
    let mut killed: Option<Instant> = None;
    let mut gap: Option<(String, Duration, Instant)> = None;
    let mut draining: Option<Instant> = None;
    {
        let mut stream = sub.on_message();
        loop {
            let now = Instant::now();
            let until = match (killed, &gap) {
                _ if draining.is_some() => draining.unwrap() + Duration::from_millis(500),
                (None, _) => started + Duration::from_millis(500),
                (Some(_), Some((_, _, at))) => *at + Duration::from_secs(2),
                (Some(k), None) => k + Duration::from_secs(15),
            };
            if now >= until {
                if killed.is_none() {
                    topo.kill(&old);
                    killed = Some(Instant::now());
                    continue;
                }
                if draining.is_none() {
                    // Stop publishing, then drain what is still on its way.
                    stop.store(true, Ordering::Relaxed);
                    draining = Some(Instant::now());
                    continue;
                }
                break;
            }
            match tokio::time::timeout(until - now, stream.next()).await {
                Ok(Some(msg)) => received.push((
                    msg.get_channel_name().to_owned(),
                    msg.get_payload::<u64>().unwrap(),
                    Instant::now(),
                )),
                Ok(None) => panic!("stream ended"),
                Err(_) => {}
            }
            while let Ok(e) = events.try_recv() {
                if let Event::PubSubGap { shard, without } = e {
                    gap.get_or_insert((shard, without, Instant::now()));
                }
            }
        }
    }
    let killed = killed.expect("killed");
    stop.store(true, Ordering::Relaxed);
    let sent = publishing.await.unwrap();
    let (gap_shard, without, resubscribed) = gap.expect("a gap notice for the failed shard");
    assert_eq!(&gap_shard, victim);
    let mut seen = BTreeSet::new();
    for (ch, seq, _) in &received {
        assert!(seen.insert((ch.clone(), *seq)), "{ch} {seq} arrived twice");
    }
    let on_victim = |ch: &str| client.shard_for(ch) == victim;
    let other_lost: Vec<u64> = sent
        .iter()
        .filter(|(ch, seq, _, ok)| *ok && !on_victim(ch) && !seen.contains(&(ch.clone(), *seq)))
        .map(|(_, s, _, _)| *s)
        .collect();
    assert!(other_lost.is_empty(), "messages on the other shard lost: {other_lost:?}");
    let after_lost: Vec<u64> = sent
        .iter()
        .filter(|(ch, seq, at, ok)| *ok && *at > resubscribed && !seen.contains(&(ch.clone(), *seq)))
        .map(|(_, s, _, _)| *s)
        .collect();
    assert!(after_lost.is_empty(), "published after the resubscription but not received: {after_lost:?}");
    let lost_on_victim = sent
        .iter()
        .filter(|(ch, seq, _, ok)| *ok && on_victim(ch) && !seen.contains(&(ch.clone(), *seq)))
        .count();
    let first_after =
        received.iter().filter(|(ch, _, at)| on_victim(ch) && *at > killed).map(|(_, _, at)| *at).min();
    let switched = switches.wait(victim, Duration::from_secs(5)).map(|(at, _)| at.duration_since(killed));
    eprintln!(
        "pubsub failover: gap {without:?} on {victim}; {lost_on_victim} acknowledged messages lost there; {} sent, {} received; first message on the failed shard {:?} after the kill, +switch-master {switched:?} after it",
        sent.len(),
        received.len(),
        first_after.map(|t| t.duration_since(killed))
    );
    assert!(first_after.is_some(), "delivery on the failed shard resumed");
}

/// `reshard add` while a subscriber listens on 100 channels and a publisher
/// publishes on them: every message published during and after the change
/// reaches the subscriber (PUBLISH always counts it), none arrives twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn channels_keep_delivering_through_a_ring_change() {
    let topo = Topology::start(Spec { shards: 3, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let seed = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .masters(&names[..2])
        .connect()
        .await
        .unwrap();
    drop(seed);
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    assert_eq!(client.topology().ring.members, names[..2]);
    let channels: Vec<String> = (0..100).map(|i| format!("ring-ch:{i}")).collect();
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe(&channels).await.unwrap();
    let publisher = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (stop2, chans) = (stop.clone(), channels.clone());
    let publishing = tokio::spawn(async move {
        let mut p = publisher;
        let mut sent = Vec::new();
        let mut seq = 0u64;
        while !stop2.load(Ordering::Relaxed) {
            let ch = &chans[seq as usize % chans.len()];
            let receivers: i64 = p.publish(ch, seq).await.unwrap();
            sent.push((ch.clone(), seq, receivers));
            seq += 1;
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        sent
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tool = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    disredis::reshard::start(&tool, names.clone(), &disredis::reshard::Options::default(), &mut |_| {})
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let sent = publishing.await.unwrap();
    let moving = channels.iter().filter(|ch| client.shard_for(ch) == names[2]).count();
    assert!(moving > 10, "{moving} channels changed owner");
    let unheard: Vec<&(String, u64, i64)> = sent.iter().filter(|(_, _, n)| *n != 1).collect();
    assert!(
        unheard.is_empty(),
        "published where the subscriber did not listen: {:?}",
        &unheard[..unheard.len().min(5)]
    );
    let got = receive(&mut sub, sent.len(), Duration::from_secs(10)).await;
    let distinct: BTreeSet<&(String, String)> = got.iter().collect();
    assert_eq!(distinct.len(), sent.len(), "each message once");
    eprintln!("{} messages through the change, {moving} of 100 channels moved", sent.len());
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

/// A planned failover (`SENTINEL FAILOVER`): the subscriptions follow
/// `+switch-master`; every message a PUBLISH counted as received arrives, and
/// at most 10 were published where nobody listened while both clients switched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_planned_failover_moves_the_subscriptions() {
    let topo = Topology::start(Spec { shards: 1, replicas: 1, sentinels: 3, quorum: 2 });
    let name = topo.master_names()[0].clone();
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let mut sub = client.pubsub().await.unwrap();
    let channels: Vec<String> = (0..10).map(|i| format!("planned:{i}")).collect();
    sub.subscribe(&channels).await.unwrap();
    let publisher = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (stop2, chans) = (stop.clone(), channels.clone());
    let publishing = tokio::spawn(async move {
        let mut p = publisher;
        let mut sent = Vec::new();
        let mut seq = 0u64;
        while !stop2.load(Ordering::Relaxed) {
            let ch = &chans[seq as usize % chans.len()];
            sent.push((ch.clone(), seq, p.publish::<_, _, i64>(ch, seq).await.unwrap_or(-1)));
            seq += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        sent
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let old = topo.master_addr(&name);
    let _: () = redis::cmd("SENTINEL")
        .arg("FAILOVER")
        .arg(&name)
        .query(&mut topo.conn(&topo.sentinel_addrs()[0]))
        .unwrap();
    let new = topo.wait_for_failover(&name, &old, Duration::from_secs(30));
    // Both clients on the new master, then a little more traffic.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.topology().shards[0].master.as_deref() != Some(new.as_str()) {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let sent = publishing.await.unwrap();
    let mut got = BTreeSet::new();
    {
        let mut stream = sub.on_message();
        while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), stream.next()).await {
            assert!(
                got.insert((msg.get_channel_name().to_owned(), msg.get_payload::<u64>().unwrap())),
                "twice"
            );
        }
    }
    let counted_lost = sent.iter().filter(|(ch, s, n)| *n >= 1 && !got.contains(&(ch.clone(), *s))).count();
    let unheard = sent.iter().filter(|(_, _, n)| *n == 0).count();
    let failed = sent.iter().filter(|(_, _, n)| *n < 0).count();
    eprintln!(
        "planned failover: {} published, {unheard} where nobody listened, {failed} failed, {counted_lost} counted but lost",
        sent.len()
    );
    assert_eq!(counted_lost, 0);
    assert!(unheard <= 10, "{unheard} messages published where nobody listened");
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
    while dropped < 2_000 {
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
