//! Benchmarks `disredis` against the limit of its own stack — bare
//! `redis::aio::MultiplexedConnection`s to the same master(s) — and against its
//! Rust peer fred, in interleaved rounds (docs/performance.md). A crate of its
//! own (`bench/`), so the test suite compiles neither it nor fred.
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml                     # full run; starts sentinel-conf/ itself
//! cargo run --release --manifest-path bench/Cargo.toml -- --json out.json  # also write every result as JSON
//! cargo run --release --manifest-path bench/Cargo.toml -- --route          # routing cost (no servers)
//! cargo run --release --manifest-path bench/Cargo.toml -- --memory         # resident memory per shard
//! cargo run --release --manifest-path bench/Cargo.toml -- --failover --runs 5
//! cargo run --release --manifest-path bench/Cargo.toml -- --cache --shards 2,8   # client-side caching
//! ```
//!
//! Options: `--sentinel HOST:PORT` (repeatable; loopback only; default: start a
//! topology and stop it on exit — `sentinel-conf/many.sh` for throughput and
//! memory, `sentinel-conf/topology.sh` for `--failover`),
//! `--seconds S` (per round, default 2), `--rounds N` (default 5),
//! `--workload getset|pipeline|mget`, `--shards N[,N…]` (default 1,2,8; each count
//! gets masters of its own, so the default topology is `sentinel-conf/many.sh` with their sum),
//! `--conc N[,N…]`, `--only disredis|bare|fred` (repeatable), `--no-redis-benchmark`, `--json FILE`,
//! `--cache` (with `--mix zipf|uniform` for one of its workloads),
//! `--syscalls` (one extra round per side under `perf stat`: syscalls per op; needs root).
//! Built with `--features metrics`, disredis reports its metrics to a Prometheus recorder (no
//! HTTP; upkeep every 5 s, as the exporter's own listener does) for the cost of metrics.

use std::path::PathBuf;
use std::process::Command;

mod cache;
mod failover;
mod load;
mod memory;
mod report;
mod route;
mod syscalls;
mod throughput;

use load::Workload;

type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const LOCAL_SENTINELS: [&str; 2] = ["127.0.0.1:26381", "127.0.0.1:26382"];
/// The Sentinel of `sentinel-conf/many.sh`.
const MANY_SENTINEL: &str = "127.0.0.1:27001";

struct Args {
    sentinels: Vec<String>,
    seconds: f64,
    rounds: usize,
    workloads: Vec<Workload>,
    shards: Vec<usize>,
    conc: Option<Vec<usize>>,
    only: Vec<String>,
    redis_benchmark: bool,
    json: Option<PathBuf>,
    route: bool,
    failover: bool,
    memory: bool,
    /// Client-side caching rows (`cache`), and `--mix zipf|uniform` to run one.
    cache: bool,
    mix: Option<String>,
    /// Count syscalls per op in one extra round per side (`syscalls`).
    syscalls: bool,
    /// `SIDE:FIRST:N`: measure one side's memory in this fresh process (`memory`).
    memory_child: Option<String>,
    runs: usize,
}

fn parse_args() -> Fallible<Args> {
    let mut a = Args {
        sentinels: Vec::new(),
        seconds: 2.0,
        rounds: 5,
        workloads: Workload::ALL.to_vec(),
        shards: vec![1, 2, 8],
        conc: None,
        only: Vec::new(),
        redis_benchmark: true,
        json: None,
        route: false,
        failover: false,
        memory: false,
        cache: false,
        mix: None,
        syscalls: false,
        memory_child: None,
        runs: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--sentinel" => a.sentinels.push(loopback(&value()?)?),
            "--seconds" => a.seconds = value()?.parse()?,
            "--rounds" => a.rounds = value()?.parse()?,
            "--runs" => a.runs = value()?.parse()?,
            "--workload" => {
                let v = value()?;
                a.workloads = vec![Workload::parse(&v).ok_or_else(|| format!("unknown workload {v}"))?];
            }
            "--shards" => a.shards = value()?.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--conc" => a.conc = Some(value()?.split(',').map(str::parse).collect::<Result<_, _>>()?),
            "--only" => {
                let v = value()?;
                if !throughput::SIDES.contains(&v.as_str()) {
                    return Err(format!("--only disredis|bare|fred, not {v}").into());
                }
                a.only.push(v);
            }
            "--no-redis-benchmark" => a.redis_benchmark = false,
            "--json" => a.json = Some(value()?.into()),
            "--route" => a.route = true,
            "--failover" => a.failover = true,
            "--memory" => a.memory = true,
            "--cache" => a.cache = true,
            "--mix" => a.mix = Some(value()?),
            "--syscalls" => a.syscalls = true,
            "--memory-child" => a.memory_child = Some(value()?),
            "-h" | "--help" => {
                println!("{}", include_str!("main.rs").lines().take(26).collect::<Vec<_>>().join("\n"));
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other} (try --help)").into()),
        }
    }
    a.shards.sort_unstable();
    a.shards.dedup();
    if a.shards.iter().any(|s| !(1..=64).contains(s)) || a.rounds == 0 || a.runs == 0 || a.seconds <= 0.0 {
        return Err("--shards are 1..64; --rounds, --runs and --seconds are positive".into());
    }
    Ok(a)
}

/// `host:port` with a loopback IP (this tool kills and floods what it is given).
fn loopback(addr: &str) -> Fallible<String> {
    let sock: std::net::SocketAddr = addr.parse().map_err(|_| format!("{addr}: want IP:PORT"))?;
    if !sock.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address; refusing").into());
    }
    Ok(addr.to_owned())
}

/// A topology from `sentinel-conf/` (`topology.sh`, or `many.sh` with N
/// masters), stopped on drop (also on a panic).
struct Topology {
    dir: PathBuf,
    script: &'static str,
}

/// The run directory of the topology that is up, for the Ctrl-C handler.
static RUNNING: std::sync::Mutex<Option<(&'static str, PathBuf)>> = std::sync::Mutex::new(None);

const TOPOLOGY_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sentinel-conf/topology.sh");
const MANY_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sentinel-conf/many.sh");

fn script(script: &str, verb: &str, dir: &std::path::Path, extra: &[String]) -> Fallible<()> {
    let out = Command::new(script).arg(verb).arg(dir).args(extra).output()?;
    if !out.status.success() {
        return Err(format!("{script} {verb}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}

impl Topology {
    /// `sentinel-conf/topology.sh`: two shards with replicas, two Sentinels.
    fn start() -> Fallible<Topology> {
        Topology::with(TOPOLOGY_SH, &[])
    }

    /// `sentinel-conf/many.sh`: `n` masters without replicas, one Sentinel.
    fn many(n: usize) -> Fallible<Topology> {
        Topology::with(MANY_SH, &[n.to_string()])
    }

    fn with(script_path: &'static str, extra: &[String]) -> Fallible<Topology> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
        let dir = std::env::temp_dir().join(format!("disredis-bench.{}.{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let topology = Topology { dir, script: script_path };
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = Some((script_path, topology.dir.clone()));
        script(script_path, "start", &topology.dir, extra)?;
        Ok(topology)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Err(e) = script(self.script, "stop", &self.dir, &[]) {
            eprintln!("{e}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::main]
async fn main() -> Fallible<()> {
    let args = parse_args()?;
    #[cfg(feature = "metrics")]
    let metrics = recorder()?;
    if args.route {
        let results = route::run();
        route::print(&results);
        return Ok(());
    }
    if let Some(spec) = &args.memory_child {
        return memory::child(&args.sentinels, spec).await;
    }
    let external = !args.sentinels.is_empty();
    let sentinels: Vec<String> = match (external, args.failover) {
        (true, _) => args.sentinels.clone(),
        (false, true) => LOCAL_SENTINELS.map(String::from).to_vec(),
        (false, false) => vec![MANY_SENTINEL.to_owned()],
    };
    let masters = if args.memory { memory::MASTERS } else { args.shards.iter().sum() };
    let mut topology = match (external, args.failover) {
        (true, _) => None,
        (false, true) => Some(Topology::start()?),
        (false, false) => Some(Topology::many(masters)?),
    };
    // Ctrl-C: stop the topology we started (if one is up) before exiting.
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            if let Some((path, dir)) = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = script(path, "stop", &dir, &[]);
                let _ = std::fs::remove_dir_all(&dir);
            }
            std::process::exit(130);
        }
    });
    if args.failover {
        if external && args.runs > 1 {
            return Err("--runs > 1 needs the local topology (it is restarted between runs)".into());
        }
        let mut outcomes = Vec::new();
        for run in 0..args.runs {
            if run > 0 {
                drop(topology.take());
                topology = Some(Topology::start()?);
            }
            outcomes.push(failover::run(&sentinels).await?);
        }
        failover::print(&outcomes);
        return Ok(());
    }
    if args.memory {
        return memory::run(&sentinels).await;
    }
    if args.cache {
        return cache::run(&args, &sentinels).await;
    }
    throughput::run(&args, &sentinels).await?;
    #[cfg(feature = "metrics")]
    {
        let text = metrics.render();
        let requests = text.lines().filter(|l| l.starts_with("db_client_operation_duration_seconds_count"));
        let total: f64 = requests.filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok()).sum();
        eprintln!("metrics: {total} disredis requests recorded");
    }
    Ok(())
}

/// The Prometheus recorder, installed before any client connects.
#[cfg(feature = "metrics")]
fn recorder() -> Fallible<metrics_exporter_prometheus::PrometheusHandle> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_recommended_naming(true)
        .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])?
        .install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}
