//! Benchmarks `disredis` against the limit of its own stack — bare
//! `redis::aio::MultiplexedConnection`s to the same master(s) — and against
//! `redis-benchmark`, in alternating rounds (issue 5).
//!
//! ```text
//! cargo run --release --example bench                    # full run; starts sentinel-conf/ itself
//! cargo run --release --example bench -- --json out.json # also write every result as JSON
//! cargo run --release --example bench -- --route         # routing microbenchmark (no servers)
//! cargo run --release --example bench -- --failover --runs 5
//! ```
//!
//! Options: `--sentinel HOST:PORT` (repeatable; loopback only; default: start a
//! topology and stop it on exit — `sentinel-conf/many.sh` for throughput,
//! `sentinel-conf/topology.sh` for `--failover`),
//! `--seconds S` (per round, default 2), `--rounds N` (default 5),
//! `--workload getset|pipeline|mget`, `--shards N[,N…]` (default 1,2; each count gets
//! masters of its own, so the default topology is `sentinel-conf/many.sh` with their sum),
//! `--conc N[,N…]`,
//! `--only disredis|bare`, `--no-redis-benchmark`, `--json FILE`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use disredis::DisredisClient;
use disredis::hashing::Rendezvous;
use redis::aio::MultiplexedConnection;

#[path = "bench/failover.rs"]
mod failover;
#[path = "bench/load.rs"]
mod load;
#[path = "bench/report.rs"]
mod report;
#[path = "bench/route.rs"]
mod route;

use load::{Side, Workload};
use report::{Row, SideStats};

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
    only: Option<String>,
    redis_benchmark: bool,
    json: Option<PathBuf>,
    route: bool,
    failover: bool,
    runs: usize,
}

fn parse_args() -> Fallible<Args> {
    let mut a = Args {
        sentinels: Vec::new(),
        seconds: 2.0,
        rounds: 5,
        workloads: Workload::ALL.to_vec(),
        shards: vec![1, 2],
        conc: None,
        only: None,
        redis_benchmark: true,
        json: None,
        route: false,
        failover: false,
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
                if v != "disredis" && v != "bare" {
                    return Err(format!("--only disredis|bare, not {v}").into());
                }
                a.only = Some(v);
            }
            "--no-redis-benchmark" => a.redis_benchmark = false,
            "--json" => a.json = Some(value()?.into()),
            "--route" => a.route = true,
            "--failover" => a.failover = true,
            "-h" | "--help" => {
                println!("{}", include_str!("bench.rs").lines().take(17).collect::<Vec<_>>().join("\n"));
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

const TOPOLOGY_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sentinel-conf/topology.sh");
const MANY_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sentinel-conf/many.sh");

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

/// Bare connections with the client's settings (1 s connect, 500 ms response timeout).
async fn bare(addrs: &[String]) -> Fallible<Vec<MultiplexedConnection>> {
    let settings = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(disredis::DEFAULT_CONNECT_TIMEOUT))
        .set_response_timeout(Some(disredis::DEFAULT_RESPONSE_TIMEOUT));
    let mut conns = Vec::new();
    for a in addrs {
        let client = redis::Client::open(format!("redis://{a}/"))?;
        conns.push(client.get_multiplexed_async_connection_with_config(&settings).await?);
    }
    Ok(conns)
}

fn masters(client: &DisredisClient) -> Fallible<Vec<String>> {
    let names = client.shard_names();
    let topo = client.topology().shards;
    let addr = |n: &String| topo.iter().find(|s| &s.name == n).and_then(|s| s.master.clone());
    names.iter().map(|n| addr(n).ok_or_else(|| format!("{n} has no master").into())).collect()
}

/// Heap bytes of one boxed request future (what `req_packed_command` allocates
/// per request): the client's and a bare connection's.
fn future_sizes(client: &DisredisClient, conn: &MultiplexedConnection) -> (usize, usize) {
    use redis::aio::ConnectionLike;
    let mut cmd = redis::cmd("GET");
    cmd.arg("k");
    let (mut c, mut m) = (client.clone(), conn.clone());
    let f = c.req_packed_command(&cmd);
    let ours = std::mem::size_of_val(&*f);
    drop(f);
    let f = m.req_packed_command(&cmd);
    (ours, std::mem::size_of_val(&*f))
}

fn default_conc(w: Workload) -> Vec<usize> {
    match w {
        Workload::GetSet => vec![1, 16, 64, 256],
        _ => vec![1, 16],
    }
}

/// The master names the first Sentinel monitors, sorted.
fn sentinel_masters(sentinels: &[String]) -> Fallible<Vec<String>> {
    let mut con = redis::Client::open(format!("redis://{}/", sentinels[0]))?.get_connection()?;
    let masters: Vec<std::collections::HashMap<String, String>> =
        redis::cmd("SENTINEL").arg("MASTERS").query(&mut con)?;
    let mut names: Vec<String> = masters.into_iter().filter_map(|m| m.get("name").cloned()).collect();
    names.sort();
    Ok(names)
}

/// One shard count's sides: the client over its masters, one bare connection
/// per master and the placement the bare side routes with.
struct Group {
    shards: usize,
    client: DisredisClient,
    conns: Vec<MultiplexedConnection>,
    ring: Rendezvous,
}

async fn throughput(args: &Args, sentinels: &[String]) -> Fallible<()> {
    // Each shard count gets masters of its own: a ring is per master, so
    // clients over overlapping master sets would share one ring.
    let names = sentinel_masters(sentinels)?;
    let needed: usize = args.shards.iter().sum();
    if names.len() < needed {
        return Err(format!(
            "--shards {:?} need {needed} masters, the Sentinel monitors {} (start sentinel-conf/many.sh start DIR {needed})",
            args.shards,
            names.len()
        )
        .into());
    }
    let mut groups = Vec::new();
    let mut next = 0;
    for &n in &args.shards {
        let members = names[next..next + n].to_vec();
        next += n;
        let client = DisredisClient::builder().sentinels(sentinels).masters(&members).connect().await?;
        if client.topology().ring.members != members {
            return Err(format!("{members:?} already hold another ring: start a fresh topology").into());
        }
        let ring = Rendezvous::new(members).ok_or("ring")?;
        let conns = bare(&masters(&client)?).await?;
        load::prefill(&conns, &ring).await?;
        groups.push(Group { shards: n, client, conns, ring });
    }
    let addrs = masters(&groups[0].client)?;
    let (host, port) = addrs[0].rsplit_once(':').ok_or("bad master address")?;
    let (host, port) = (host.to_owned(), port.parse::<u16>()?);
    println!(
        "masters: {} | {} logical cores | {} rounds x {} s per side | keys 16 B, values 64 B, keyspace {}",
        names[..needed].join(", "),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.rounds,
        args.seconds,
        load::KEYSPACE
    );
    let (ours, theirs) = future_sizes(&groups[0].client, &groups[0].conns[0]);
    println!("boxed request future: DisredisClient {ours} bytes, MultiplexedConnection {theirs} bytes");
    let dur = Duration::from_secs_f64(args.seconds);
    let mut rows = Vec::new();
    let mut rb_cache: Vec<((Workload, usize), Option<f64>)> = Vec::new();
    for &w in &args.workloads {
        for group in &groups {
            let shards = group.shards;
            for &conc in args.conc.as_ref().unwrap_or(&default_conc(w)) {
                let sides = [
                    ("disredis", Side::Disredis(group.client.clone())),
                    ("bare", Side::Bare { conns: group.conns.clone(), ring: group.ring.clone() }),
                ];
                let wanted = |name: &str| args.only.as_deref().is_none_or(|o| o == name);
                for (name, side) in &sides {
                    if wanted(name) {
                        load::round(side, w, conc, Duration::from_millis(300), 1).await; // warm-up
                    }
                }
                let mut stats = [SideStats::default(), SideStats::default()];
                let mut hists = [load::Hist::new(), load::Hist::new()];
                let mut ratios = Vec::new();
                for r in 0..args.rounds {
                    // Alternate which side goes first, so drift hits both alike.
                    let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
                    let mut this = [None, None];
                    for i in order {
                        if !wanted(sides[i].0) {
                            continue;
                        }
                        let round = load::round(&sides[i].1, w, conc, dur, 1000 + r as u64).await;
                        hists[i].merge(&round.hist);
                        stats[i].cpu_us_per_op.push(round.cpu_us_per_op);
                        stats[i].rounds.push(round.ops_per_sec);
                        stats[i].errors += round.errors;
                        stats[i].first_error = stats[i].first_error.take().or(round.first_error);
                        this[i] = Some(round.ops_per_sec);
                    }
                    if let [Some(d), Some(b)] = this {
                        ratios.push(d / b);
                    }
                }
                for (s, h) in stats.iter_mut().zip(&hists) {
                    s.p50_us = h.quantile_us(0.50);
                    s.p99_us = h.quantile_us(0.99);
                }
                let [disredis, bare] = stats;
                let redis_benchmark = if args.redis_benchmark {
                    match rb_cache.iter().find(|(k, _)| *k == (w, conc)) {
                        Some((_, v)) => *v,
                        None => {
                            let sized = bare.median().or(disredis.median()).unwrap_or(10_000.0);
                            let n = (sized * args.seconds) as u64;
                            let v = report::redis_benchmark(&host, port, w, conc, n)
                                .map_err(|e| eprintln!("{e}"))
                                .ok();
                            rb_cache.push(((w, conc), v));
                            v
                        }
                    }
                } else {
                    None
                };
                let row = Row { workload: w, shards, conc, disredis, bare, ratios, redis_benchmark };
                eprint!("{}", report::table(std::slice::from_ref(&row)).lines().nth(1).unwrap_or(""));
                eprintln!();
                rows.push(row);
            }
        }
    }
    println!("{}", report::table(&rows));
    println!(
        "ops/s: requests (pipelines: commands) per second, median over rounds; ratio: disredis/bare per round.\n\
         bare is: '1 conn' one MultiplexedConnection to the master; 'conn/master' one per master, keys \
         routed with Rendezvous::shard_index\n(MGET: one MGET per master, concurrently); 'split/master' the pipeline \
         split by hand into one per master, sent concurrently.\n\
         cpu us/op: this process's CPU time per op, disredis/bare (medians over rounds). \
         redis-bench: redis-benchmark against the first master."
    );
    if let Some(path) = &args.json {
        let settings = [
            ("seconds_per_round", format!("{}", args.seconds)),
            ("rounds", args.rounds.to_string()),
            ("cores", std::thread::available_parallelism().map_or(0, |n| n.get()).to_string()),
            ("masters", format!("\"{}\"", names[..needed].join(","))),
        ];
        std::fs::write(path, report::json(&rows, &settings))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Fallible<()> {
    let args = parse_args()?;
    if args.route {
        let results = route::run();
        route::print(&results);
        return Ok(());
    }
    let external = !args.sentinels.is_empty();
    let sentinels: Vec<String> = match (external, args.failover) {
        (true, _) => args.sentinels.clone(),
        (false, true) => LOCAL_SENTINELS.map(String::from).to_vec(),
        (false, false) => vec![MANY_SENTINEL.to_owned()],
    };
    let mut topology = match (external, args.failover) {
        (true, _) => None,
        (false, true) => Some(Topology::start()?),
        (false, false) => Some(Topology::many(args.shards.iter().sum())?),
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
    throughput(&args, &sentinels).await
}
