//! Pub/sub through failovers and ring changes: a SIGKILLed master under a
//! publisher at ~1,000 messages/s, a planned failover, and `reshard add`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use disredis::{DisredisClient, Event};
use futures_util::StreamExt;
use redis::AsyncCommands;

use super::receive;
use crate::support::{Spec, Topology};

/// One `PUBLISH` of [`publish_until`]: channel, sequence number, when it was
/// sent, and what `PUBLISH` answered (its receiver count).
struct Sent {
    channel: String,
    seq: u64,
    at: Instant,
    receivers: redis::RedisResult<i64>,
}

/// Publishes 0, 1, 2, … round-robin over `channels`, one message every
/// `every` (ticks missed while a publish waits through a failover are
/// skipped, not bunched), until `stop` is set.
fn publish_until(
    mut publisher: DisredisClient,
    channels: Vec<String>,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Sent>> {
    tokio::spawn(async move {
        let mut sent = Vec::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        for seq in 0u64.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            tick.tick().await;
            let channel = channels[seq as usize % channels.len()].clone();
            let at = Instant::now();
            let receivers = publisher.publish(&channel, seq).await;
            sent.push(Sent { channel, seq, at, receivers });
        }
        sent
    })
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
    // ~1,000 messages/s.
    let publishing = publish_until(publisher, channels.clone(), Duration::from_millis(1), stop.clone());
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
    let sent: Vec<(String, u64, Instant, bool)> = publishing
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.channel, p.seq, p.at, matches!(p.receivers, Ok(n) if n >= 1)))
        .collect();
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
    let publishing = publish_until(publisher, channels.clone(), Duration::from_micros(500), stop.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tool = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    disredis::reshard::start(&tool, names.clone(), &disredis::reshard::Options::default(), &mut |_| {})
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    // No publish may fail through the change.
    let sent: Vec<(String, u64, i64)> =
        publishing.await.unwrap().into_iter().map(|p| (p.channel, p.seq, p.receivers.unwrap())).collect();
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

/// A planned failover (`SENTINEL FAILOVER`): the subscriptions follow
/// `+switch-master`; every message a PUBLISH counted as received arrives, and
/// those published where nobody listened fall in one window per channel, while
/// the two clients switched.
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
    let publishing = publish_until(publisher, channels.clone(), Duration::from_millis(1), stop.clone());
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
    let sent: Vec<(String, u64, i64)> = publishing
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.channel, p.seq, p.receivers.unwrap_or(-1)))
        .collect();
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
    // How many went unheard depends on how far apart the two clients switched (the
    // measured figure is in docs/pubsub.md), not a bound to test. What
    // holds however slow the machine: per channel they are one run — the moment
    // one client was on the new master and the other not yet — and the channel
    // was heard again after it, to its last message.
    for channel in &channels {
        let outcomes: Vec<bool> =
            sent.iter().filter(|(ch, _, n)| ch == channel && *n >= 0).map(|(_, _, n)| *n >= 1).collect();
        let unheard_windows = outcomes.split(|heard| *heard).filter(|run| !run.is_empty()).count();
        assert!(unheard_windows <= 1, "{channel}: unheard in more than one window: {outcomes:?}");
        assert_eq!(outcomes.last(), Some(&true), "{channel}: not heard again after the switch: {outcomes:?}");
    }
}
