//! Keys spread over two Sentinel-managed shards, and a live failover with no
//! failed request.
//!
//! Run it through `sentinel-conf/demo.sh`, which starts the local topology; or
//! against your own: `cargo run --manifest-path demo/Cargo.toml -- HOST:PORT…`
//! (Sentinel addresses). It SIGKILLs one master, so it only runs against nodes on
//! this machine (loopback addresses).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use disredis::DisredisClient;
use redis::AsyncCommands;

const KEYS: usize = 1000;
const WRITERS: usize = 4;
type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Fallible<()> {
    let sentinels: Vec<String> = std::env::args().skip(1).collect();
    let sentinels = if sentinels.is_empty() {
        vec!["127.0.0.1:26381".to_owned(), "127.0.0.1:26382".to_owned()]
    } else {
        sentinels
    };
    let client = DisredisClient::connect(&sentinels).await?;
    println!("Connected through Sentinels {}", client.sentinels().join(", "));
    print_topology(&client);

    // 1. Spread.
    let mut con = client.clone();
    let mut per_shard: BTreeMap<&str, usize> = BTreeMap::new();
    for i in 0..KEYS {
        let key = format!("demo:{i}");
        con.set::<_, _, ()>(&key, i).await?;
        *per_shard.entry(client.shard_for(&key)).or_default() += 1;
    }
    println!("\nWrote {KEYS} keys demo:0..demo:{}; where they went:", KEYS - 1);
    for (shard, n) in &per_shard {
        println!("  {shard:<10} {n:>5} keys ({:.1}%)", 100.0 * *n as f64 / KEYS as f64);
    }
    let tagged: Vec<String> = (0..5).map(|i| format!("{{user:42}}:field{i}")).collect();
    let owners: Vec<&str> = tagged.iter().map(|k| client.shard_for(k)).collect();
    println!("  hash tag {{user:42}}: {} keys, all on {}", tagged.len(), owners[0]);

    // 2. Failover under load.
    let victim = client.shard_names()[0].clone();
    let old_addr = master_of(&client, &victim).ok_or("no master address known")?;
    let pid = master_pid(&old_addr)?;
    let switch = watch_switch_master(&client.sentinels()[0]);
    println!("\nKilling {victim}'s master {old_addr} (pid {pid}) with SIGKILL while {WRITERS} writers run…");

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let kill_at_ms = Arc::new(AtomicU64::new(u64::MAX));
    let first_ok_after_kill_ms = Arc::new(AtomicU64::new(u64::MAX));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (mut con, stop, ok) = (client.clone(), stop.clone(), ok.clone());
        let (victim, kill_at, first_ok) =
            (victim.clone(), kill_at_ms.clone(), first_ok_after_kill_ms.clone());
        let shard_of = client.clone();
        writers.push(tokio::spawn(async move {
            let (mut written, mut errors, mut longest) = (Vec::new(), Vec::new(), Duration::ZERO);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("demo:w{w}:{n}");
                let sent = start.elapsed();
                let t = Instant::now();
                match con.set::<_, _, ()>(&key, n).await {
                    Ok(()) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        let sent_ms = sent.as_millis() as u64;
                        if shard_of.shard_for(&key) == victim && sent_ms > kill_at.load(Ordering::Relaxed) {
                            first_ok.fetch_min(start.elapsed().as_millis() as u64, Ordering::Relaxed);
                        }
                        written.push((key, n));
                    }
                    Err(e) => errors.push(format!("{key}: {e}")),
                }
                longest = longest.max(t.elapsed());
                n += 1;
            }
            (written, errors, longest)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::process::Command::new("kill").args(["-9", &pid.to_string()]).status()?;
    let killed = Instant::now();
    // Writes sent from here on can only succeed on the promoted replica.
    kill_at_ms.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);

    let mut last_print = Instant::now();
    let mut switched_at = None;
    while killed.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now_addr = master_of(&client, &victim);
        if switched_at.is_none() && now_addr.as_deref().is_some_and(|a| a != old_addr) {
            switched_at = Some(killed.elapsed());
        }
        if last_print.elapsed() >= Duration::from_millis(250) {
            last_print = Instant::now();
            println!(
                "  t+{:>5.2}s  {} writes acknowledged  {victim} master: {}",
                killed.elapsed().as_secs_f64(),
                ok.load(Ordering::Relaxed),
                now_addr.as_deref().unwrap_or("(re-resolving)")
            );
        }
        if switched_at.is_some_and(|t| killed.elapsed() > t + Duration::from_secs(1)) {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);

    // 3. Read everything back.
    let (mut written, mut errors, mut longest) = (Vec::new(), Vec::new(), Duration::ZERO);
    for w in writers {
        let (wr, er, lo) = w.await?;
        written.extend(wr);
        errors.extend(er);
        longest = longest.max(lo);
    }
    let mut missing = 0;
    for (key, n) in &written {
        if con.get::<_, Option<u64>>(key).await? != Some(*n) {
            missing += 1;
        }
    }
    for i in 0..KEYS {
        if con.get::<_, Option<usize>>(format!("demo:{i}")).await? != Some(i) {
            missing += 1;
        }
    }
    let kill_ms = kill_at_ms.load(Ordering::Relaxed);
    let first_ok = first_ok_after_kill_ms.load(Ordering::Relaxed);
    println!("\n{victim}: {old_addr} -> {}", master_of(&client, &victim).unwrap_or_default());
    if let Some(t) = switch.wait(Duration::from_secs(1)) {
        println!("  Sentinel published +switch-master {:.2} s after the kill", (t - killed).as_secs_f64());
    }
    if first_ok != u64::MAX {
        println!(
            "  first write to {victim} sent after the kill was acknowledged {:.2} s after the kill",
            (first_ok - kill_ms) as f64 / 1000.0
        );
    }
    println!(
        "  longest single SET: {:.2} s (it waited for the failover instead of failing)",
        longest.as_secs_f64()
    );
    for e in errors.iter().take(5) {
        println!("  error: {e}");
    }
    println!(
        "\nSummary: {} writes acknowledged during the failover, {} errors, {} of {} keys missing on read-back",
        written.len(),
        errors.len(),
        missing,
        written.len() + KEYS
    );
    if !errors.is_empty() || missing > 0 {
        return Err("the failover was not transparent".into());
    }
    Ok(())
}

fn print_topology(client: &DisredisClient) {
    println!("Shards:");
    for s in client.topology().shards {
        println!("  {:<10} master {}", s.name, s.master.as_deref().unwrap_or("(unresolved)"));
    }
}

fn master_of(client: &DisredisClient, shard: &str) -> Option<String> {
    client.topology().shards.into_iter().find(|s| s.name == shard)?.master
}

/// The master's process id, from `INFO server`, so the demo can SIGKILL it.
fn master_pid(addr: &str) -> Fallible<u32> {
    let host = addr.rsplit_once(':').map(|(h, _)| h.trim_matches(['[', ']'])).unwrap_or(addr);
    let ip: std::net::IpAddr = host.parse().map_err(|_| format!("{addr} is not an IP address"))?;
    if !ip.is_loopback() {
        return Err(format!("{addr} is not on this machine; refusing to kill it").into());
    }
    let mut con = redis::Client::open(format!("redis://{addr}/"))?.get_connection()?;
    let info: String = redis::cmd("INFO").arg("server").query(&mut con)?;
    let pid =
        info.lines().find_map(|l| l.strip_prefix("process_id:")).ok_or("INFO server has no process_id")?;
    Ok(pid.trim().parse()?)
}

/// Subscribes to `+switch-master` on a Sentinel in a thread; `wait` returns when
/// the first message arrived.
struct SwitchWatch(std::sync::mpsc::Receiver<Instant>);

impl SwitchWatch {
    fn wait(&self, within: Duration) -> Option<Instant> {
        self.0.recv_timeout(within).ok()
    }
}

fn watch_switch_master(sentinel: &str) -> SwitchWatch {
    let (tx, rx) = std::sync::mpsc::channel();
    let url = format!("redis://{sentinel}/");
    std::thread::spawn(move || -> Fallible<()> {
        let mut con = redis::Client::open(url)?.get_connection()?;
        let mut pubsub = con.as_pubsub();
        pubsub.subscribe("+switch-master")?;
        let _ = pubsub.get_message()?;
        let _ = tx.send(Instant::now());
        Ok(())
    });
    SwitchWatch(rx)
}
