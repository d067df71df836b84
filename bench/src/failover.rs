//! `--failover`: SIGKILL shard-a's master while 8 writers run, and time Sentinel's
//! `+switch-master` against the first successful write sent after the kill.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use disredis::DisredisClient;
use redis::AsyncCommands;

use crate::Fallible;

const WRITERS: usize = 8;
const VICTIM: &str = "shard-a";
const NEVER: u64 = u64::MAX;

pub struct Outcome {
    pub switch_ms: Option<f64>,
    pub first_write_ms: Option<f64>,
    pub client_switch_ms: Option<f64>,
    pub longest_ms: f64,
    pub writes: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Outcome {
    /// First successful write minus `+switch-master`, in ms.
    pub fn gap_ms(&self) -> Option<f64> {
        Some(self.first_write_ms? - self.switch_ms?)
    }
}

/// The master's process id from `INFO server`; refuses anything not on loopback.
fn master_pid(addr: &str) -> Fallible<u32> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h.trim_matches(['[', ']']));
    let ip: std::net::IpAddr = host.parse().map_err(|_| format!("{addr} is not an IP address"))?;
    if !ip.is_loopback() {
        return Err(format!("{addr} is not on this machine; refusing to kill it").into());
    }
    let mut con = redis::Client::open(format!("redis://{addr}/"))?.get_connection()?;
    let info: String = redis::cmd("INFO").arg("server").query(&mut con)?;
    let pid = info.lines().find_map(|l| l.strip_prefix("process_id:")).ok_or("no process_id in INFO")?;
    Ok(pid.trim().parse()?)
}

/// Subscribes to `+switch-master` on `sentinel` in a thread; returns once the
/// subscription is confirmed. Each message for the victim sends its arrival time.
fn watch_switch(sentinel: &str, tx: mpsc::Sender<Instant>) -> Fallible<()> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let url = format!("redis://{sentinel}/");
    std::thread::spawn(move || -> redis::RedisResult<()> {
        let mut con = redis::Client::open(url)?.get_connection()?;
        let mut pubsub = con.as_pubsub();
        pubsub.subscribe("+switch-master")?;
        let _ = ready_tx.send(());
        loop {
            let msg = pubsub.get_message()?;
            let at = Instant::now();
            let payload: String = msg.get_payload().unwrap_or_default();
            if payload.split(' ').next() == Some(VICTIM) && tx.send(at).is_err() {
                return Ok(());
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| format!("could not subscribe on {sentinel}"))?;
    Ok(())
}

/// Milliseconds from `base` to the stored microsecond offset, if any.
fn ms(us: &AtomicU64, base_us: u64) -> Option<f64> {
    let v = us.load(Ordering::SeqCst);
    (v != NEVER).then(|| (v as f64 - base_us as f64) / 1000.0)
}

/// One failover under load, on a topology whose shard-a master is alive.
pub async fn run(sentinels: &[String]) -> Fallible<Outcome> {
    let client = DisredisClient::builder().sentinels(sentinels).connect().await?;
    let old = client
        .topology()
        .shards
        .into_iter()
        .find(|s| s.name == VICTIM)
        .and_then(|s| s.master)
        .ok_or("shard-a has no master")?;
    let pid = master_pid(&old)?;
    let (switch_tx, switch_rx) = mpsc::channel();
    for s in sentinels {
        watch_switch(s, switch_tx.clone())?;
    }
    drop(switch_tx);

    let base = Instant::now();
    let now_us = move || base.elapsed().as_micros() as u64;
    let stop = Arc::new(AtomicBool::new(false));
    let kill_us = Arc::new(AtomicU64::new(NEVER));
    let first_ok_us = Arc::new(AtomicU64::new(NEVER));
    let client_switch_us = Arc::new(AtomicU64::new(NEVER));
    let mut events = client.events();
    {
        let client_switch_us = client_switch_us.clone();
        tokio::spawn(async move {
            while let Ok(ev) = events.recv().await {
                if let disredis::Event::SwitchMaster { shard, from: Some(_), .. } = ev
                    && shard == VICTIM
                {
                    client_switch_us.fetch_min(now_us(), Ordering::SeqCst);
                }
            }
        });
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (mut con, stop) = (client.clone(), stop.clone());
        let (kill_us, first_ok_us) = (kill_us.clone(), first_ok_us.clone());
        writers.push(tokio::spawn(async move {
            let (mut n, mut writes, mut errors, mut first_error, mut longest) =
                (0u64, 0u64, 0u64, None, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let key = format!("fo:{w}:{n}");
                n += 1;
                let sent = now_us();
                let result = con.set::<_, _, ()>(&key, n).await;
                let done = now_us();
                longest = longest.max(done - sent);
                match result {
                    Ok(()) => {
                        writes += 1;
                        if sent > kill_us.load(Ordering::SeqCst) && con.shard_for(&key) == VICTIM {
                            first_ok_us.fetch_min(done, Ordering::SeqCst);
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{key}: {e}"));
                    }
                }
            }
            (writes, errors, first_error, longest)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status()?;
    if !status.success() {
        return Err(format!("kill -9 {pid} failed").into());
    }
    let killed = now_us();
    kill_us.store(killed, Ordering::SeqCst);

    // Wait for the switch and the first write after it, then a little longer.
    let switch_at = tokio::task::spawn_blocking(move || switch_rx.recv_timeout(Duration::from_secs(20)).ok());
    let switch_at = switch_at.await?;
    let until = Instant::now() + Duration::from_secs(10);
    while first_ok_us.load(Ordering::SeqCst) == NEVER && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut out = Outcome {
        switch_ms: switch_at.map(|t| (t - base).as_micros() as f64 / 1000.0 - killed as f64 / 1000.0),
        first_write_ms: ms(&first_ok_us, killed),
        client_switch_ms: ms(&client_switch_us, killed),
        longest_ms: 0.0,
        writes: 0,
        errors: 0,
        first_error: None,
    };
    for w in writers {
        let (writes, errors, first_error, longest) = w.await?;
        out.writes += writes;
        out.errors += errors;
        out.first_error = out.first_error.or(first_error);
        out.longest_ms = out.longest_ms.max(longest as f64 / 1000.0);
    }
    Ok(out)
}

pub fn print(outcomes: &[Outcome]) {
    let f = |v: Option<f64>| v.map_or_else(|| "-".into(), |x| format!("{x:.1}"));
    println!(
        "{:>3} {:>17} {:>19} {:>15} {:>20} {:>12} {:>8} {:>6}",
        "run",
        "kill->switch ms",
        "kill->1st write ms",
        "gap ms (<=50)",
        "kill->client event ms",
        "longest SET",
        "writes",
        "errors"
    );
    for (i, o) in outcomes.iter().enumerate() {
        println!(
            "{:>3} {:>17} {:>19} {:>15} {:>20} {:>12} {:>8} {:>6}",
            i + 1,
            f(o.switch_ms),
            f(o.first_write_ms),
            f(o.gap_ms()),
            f(o.client_switch_ms),
            format!("{:.1} ms", o.longest_ms),
            o.writes,
            o.errors
        );
        if let Some(e) = &o.first_error {
            println!("    first error: {e}");
        }
    }
    let gaps: Vec<f64> = outcomes.iter().filter_map(Outcome::gap_ms).collect();
    if let Some(med) = crate::report::median(&gaps) {
        let worst = gaps.iter().copied().fold(f64::MIN, f64::max);
        println!(
            "gap (first successful write - first +switch-master): median {med:.1} ms, worst {worst:.1} ms; \
             target <= 50 ms: {}",
            if worst <= 50.0 { "holds" } else { "does not hold" }
        );
    }
}
