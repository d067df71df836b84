//! A publisher and a subscriber over the shards through a live failover: the
//! subscriber's subscriptions are made again on the promoted master and a gap
//! notice says how long the shard had none.
//!
//! Run it against the local topology (`sentinel-conf/topology.sh start DIR`):
//! `cargo run --example pubsub -- 127.0.0.1:26381 127.0.0.1:26382`. It
//! SIGKILLs one master, so it only runs against nodes on this machine.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use disredis::{DisredisClient, Event};
use futures_util::StreamExt;
use redis::AsyncCommands;
use tokio::sync::broadcast::error::TryRecvError;

type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Fallible<()> {
    let mut sentinels: Vec<String> = std::env::args().skip(1).collect();
    if sentinels.is_empty() {
        sentinels = vec!["127.0.0.1:26381".into(), "127.0.0.1:26382".into()];
    }
    let subscriber = DisredisClient::connect(&sentinels).await?;
    let mut events = subscriber.events();
    let channels: Vec<String> = (0..20).map(|i| format!("feed:{i}")).collect();
    let mut sub = subscriber.pubsub().await?;
    sub.subscribe(&channels).await?;
    for name in subscriber.shard_names() {
        let n = channels.iter().filter(|c| subscriber.shard_for(c) == name).count();
        println!("{n} of {} channels live on {name}", channels.len());
    }

    let mut publisher = DisredisClient::connect(&sentinels).await?;
    let chans = channels.clone();
    let publishing = tokio::spawn(async move {
        let (mut sent, mut counted) = (0u64, 0u64);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(6) {
            // PUBLISH answers how many subscribers got the message.
            if let Ok(n) = publisher.publish::<_, _, i64>(&chans[sent as usize % chans.len()], sent).await {
                counted += (n > 0) as u64;
            }
            sent += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (sent, counted)
    });

    let victim = subscriber.shard_names()[0].clone();
    let addr = subscriber.topology().shards[0].master.clone().ok_or("no master yet")?;
    let mut received = BTreeSet::new();
    let started = Instant::now();
    let mut killed = None;
    let mut stream = sub.on_message();
    while started.elapsed() < Duration::from_secs(7) {
        if killed.is_none() && started.elapsed() > Duration::from_secs(1) {
            println!("SIGKILL {victim}'s master {addr}");
            kill(&addr)?;
            killed = Some(Instant::now());
        }
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(100), stream.next()).await {
            received.insert(msg.get_payload::<u64>()?);
        }
        // Every event that came since the last look; a lag is counted, not an end.
        loop {
            match events.try_recv() {
                Ok(Event::PubSubGap { shard, without }) => {
                    println!("gap notice: {shard} had no subscription for {:.3} s", without.as_secs_f64())
                }
                Ok(_) => {}
                Err(TryRecvError::Lagged(n)) => println!("missed {n} events"),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
    }
    let (sent, counted) = publishing.await?;
    println!("{sent} published, {counted} counted by PUBLISH as received, {} received", received.len());
    Ok(())
}

/// SIGKILLs the Redis process listening on `addr` (loopback only).
fn kill(addr: &str) -> Fallible<()> {
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    if !host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false) {
        return Err(format!("{addr} is not on this machine; refusing to kill it").into());
    }
    let mut con = redis::Client::open(format!("redis://{addr}/"))?.get_connection()?;
    let info: String = redis::cmd("INFO").arg("server").query(&mut con)?;
    let pid = info.lines().find_map(|l| l.strip_prefix("process_id:")).ok_or("no process_id")?;
    std::process::Command::new("kill").args(["-9", pid.trim()]).status()?;
    Ok(())
}
