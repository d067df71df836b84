//! `--memory`: the client's resident memory per shard, beyond what redis-rs's
//! own connections take. Each measurement runs in a fresh process (this binary
//! with `--memory-child`), so no allocator cache from an earlier one hides or
//! adds memory: the process asks Sentinel for the masters' addresses (both sides
//! alike), reads its resident set (`VmRSS`), connects one side over N masters,
//! reads it again when idle (after 1 s), after 2 s of GET/SET from 64 tasks
//! and after 2 s more from 1,024 tasks (the queue per connection is bounded).
//! "Beyond bare" is (disredis − bare) / N: what the client adds per shard on top
//! of one bare `MultiplexedConnection` per master.

use std::time::Duration;

use disredis::DisredisClient;
use disredis::hashing::Rendezvous;

use crate::Fallible;
use crate::load::{self, Side, Workload};
use crate::throughput::{bare, sentinel_masters};

/// Shard counts measured; each gets masters of its own (a ring is per master).
const COUNTS: [usize; 3] = [2, 8, 16];
/// Masters the default topology starts for `--memory`.
pub const MASTERS: usize = 2 + 8 + 16;

/// The process's resident set in KiB (`/proc/self/status`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One side's figures: KiB at start, idle after connecting, after load.
struct Sample {
    base: u64,
    idle: u64,
    loaded: u64,
    crowded: u64,
}

pub async fn run(sentinels: &[String]) -> Fallible<()> {
    let names = sentinel_masters(sentinels)?;
    if names.len() < MASTERS {
        return Err(format!("--memory needs {MASTERS} masters, the Sentinel monitors {}", names.len()).into());
    }
    let exe = std::env::current_exe()?;
    let measure = |side: &str, first: usize, n: usize| -> Fallible<Sample> {
        let mut cmd = std::process::Command::new(&exe);
        for s in sentinels {
            cmd.args(["--sentinel", s]);
        }
        let out = cmd.args(["--memory-child", &format!("{side}:{first}:{n}")]).output()?;
        if !out.status.success() {
            return Err(format!("{side} over {n}: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Vec<u64> = text.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        match v[..] {
            [base, idle, loaded, crowded] => Ok(Sample { base, idle, loaded, crowded }),
            _ => Err(format!("{side} over {n}: unexpected output {text:?}").into()),
        }
    };
    println!(
        "resident memory (KiB) added by connecting N shards, in a fresh process each; GET/SET at 64 tasks \
         for 2 s (loaded), then at 1,024 tasks for 2 s (1,024)"
    );
    println!(
        "{:>3} {:>11} {:>15} {:>18} {:>13} {:>17} {:>20} {:>11} {:>15} {:>18}",
        "N",
        "bare idle",
        "disredis idle",
        "beyond/shard idle",
        "bare loaded",
        "disredis loaded",
        "beyond/shard loaded",
        "bare 1,024",
        "disredis 1,024",
        "beyond/shard 1,024"
    );
    let mut first = 0;
    for n in COUNTS {
        let b = measure("bare", first, n)?;
        let d = measure("disredis", first, n)?;
        first += n;
        let (bi, di) = (b.idle.saturating_sub(b.base), d.idle.saturating_sub(d.base));
        let (bl, dl) = (b.loaded.saturating_sub(b.base), d.loaded.saturating_sub(d.base));
        let (bc, dc) = (b.crowded.saturating_sub(b.base), d.crowded.saturating_sub(d.base));
        let per = |d: u64, b: u64| (d as f64 - b as f64) / n as f64;
        println!(
            "{n:>3} {bi:>11} {di:>15} {:>18.1} {bl:>13} {dl:>17} {:>20.1} {bc:>11} {dc:>15} {:>18.1}",
            per(di, bi),
            per(dl, bl),
            per(dc, bc)
        );
    }
    Ok(())
}

/// In the child process: `spec` is `SIDE:FIRST:N` (masters FIRST..FIRST+N of
/// the Sentinel's sorted list). Prints "base idle loaded crowded" in KiB.
pub async fn child(sentinels: &[String], spec: &str) -> Fallible<()> {
    let parts: Vec<&str> = spec.split(':').collect();
    let [side, first, n] = parts[..] else {
        return Err(format!("--memory-child SIDE:FIRST:N, not {spec}").into());
    };
    let (first, n): (usize, usize) = (first.parse()?, n.parse()?);
    let names = sentinel_masters(sentinels)?;
    let members = names.get(first..first + n).ok_or("not enough masters")?.to_vec();
    let addrs = master_addrs(sentinels, &members)?;
    let ring = Rendezvous::new(members.clone()).ok_or("ring")?;
    let base = rss_kib();
    let side = match side {
        "bare" => Side::Bare { conns: bare(&addrs).await?, ring },
        "disredis" => {
            Side::Disredis(DisredisClient::builder().sentinels(sentinels).masters(&members).connect().await?)
        }
        other => return Err(format!("no side {other}").into()),
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_kib();
    let round = load::round(&side, Workload::GetSet, 64, Duration::from_secs(2), 7).await;
    if round.errors > 0 {
        return Err(format!("{} errors under load: {:?}", round.errors, round.first_error).into());
    }
    let loaded = rss_kib();
    let round = load::round(&side, Workload::GetSet, 1024, Duration::from_secs(2), 8).await;
    if round.errors > 0 {
        return Err(format!("{} errors at 1,024 tasks: {:?}", round.errors, round.first_error).into());
    }
    let crowded = rss_kib();
    println!("{base} {idle} {loaded} {crowded}");
    Ok(())
}

/// The masters' addresses, asked of the first Sentinel (the same query on
/// both sides, before the first reading).
fn master_addrs(sentinels: &[String], names: &[String]) -> Fallible<Vec<String>> {
    let mut con = redis::Client::open(format!("redis://{}/", sentinels[0]))?.get_connection()?;
    names
        .iter()
        .map(|n| {
            let (h, p): (String, u16) =
                redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg(n).query(&mut con)?;
            Ok(format!("{h}:{p}"))
        })
        .collect()
}
