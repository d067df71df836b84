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
//! Options: `--sentinel HOST:PORT` (repeatable; loopback only; default: start the
//! local topology with `sentinel-conf/topology.sh` and stop it on exit),
//! `--seconds S` (per round, default 2), `--rounds N` (default 5),
//! `--workload getset|pipeline|mget`, `--shards 1|2`, `--conc N[,N…]`,
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
            "--shards" => a.shards = vec![value()?.parse()?],
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
    if a.shards.iter().any(|s| !(1..=2).contains(s)) || a.rounds == 0 || a.runs == 0 || a.seconds <= 0.0 {
        return Err("--shards is 1 or 2; --rounds, --runs and --seconds are positive".into());
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

/// The local topology from `sentinel-conf/`, stopped on drop (also on a panic).
struct Topology {
    dir: PathBuf,
}

/// The run directory of the topology that is up, for the Ctrl-C handler.
static RUNNING: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

fn topology_sh(verb: &str, dir: &std::path::Path) -> Fallible<()> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/sentinel-conf/topology.sh");
    let out = Command::new(script).arg(verb).arg(dir).output()?;
    if !out.status.success() {
        return Err(format!("topology.sh {verb}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}

impl Topology {
    fn start() -> Fallible<Topology> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
        let dir = std::env::temp_dir().join(format!("disredis-bench.{}.{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let topology = Topology { dir };
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = Some(topology.dir.clone());
        topology_sh("start", &topology.dir)?;
        Ok(topology)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Err(e) = topology_sh("stop", &self.dir) {
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

async fn throughput(args: &Args, sentinels: &[String]) -> Fallible<()> {
    let one = DisredisClient::builder().sentinels(sentinels).masters(["shard-a"]).connect().await?;
    let two =
        DisredisClient::builder().sentinels(sentinels).masters(["shard-a", "shard-b"]).connect().await?;
    let addrs = masters(&two)?;
    let (host, port) = addrs[0].rsplit_once(':').ok_or("bad master address")?;
    let (host, port) = (host.to_owned(), port.parse::<u16>()?);
    let ring1 = Rendezvous::new(["shard-a"]).ok_or("ring")?;
    let ring2 = Rendezvous::new(two.shard_names().to_vec()).ok_or("ring")?;
    let bare1 = bare(&addrs[..1]).await?;
    let bare2 = bare(&addrs).await?;
    load::prefill(&bare2, &ring2).await?;
    println!(
        "masters: {} | {} logical cores | {} rounds x {} s per side | keys 16 B, values 64 B, keyspace {}",
        addrs.join(", "),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.rounds,
        args.seconds,
        load::KEYSPACE
    );
    let (ours, theirs) = future_sizes(&one, &bare1[0]);
    println!("boxed request future: DisredisClient {ours} bytes, MultiplexedConnection {theirs} bytes");
    let dur = Duration::from_secs_f64(args.seconds);
    let mut rows = Vec::new();
    let mut rb_cache: Vec<((Workload, usize), Option<f64>)> = Vec::new();
    for &w in &args.workloads {
        for &shards in &args.shards {
            for &conc in args.conc.as_ref().unwrap_or(&default_conc(w)) {
                let (client, conns, ring) =
                    if shards == 1 { (&one, &bare1, &ring1) } else { (&two, &bare2, &ring2) };
                let conns = if w == Workload::Pipeline { &bare1 } else { conns };
                let sides = [
                    ("disredis", Side::Disredis(client.clone())),
                    ("bare", Side::Bare { conns: conns.clone(), ring: ring.clone() }),
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
         bare is: '1 conn' one MultiplexedConnection to shard-a's master; 'conn/master' one per master, keys \
         routed with Rendezvous::shard_index\n(MGET: one MGET per master, concurrently); '1 master' the whole pipeline \
         to shard-a's master. redis-bench: redis-benchmark against shard-a's master."
    );
    let find = |w: Workload, shards: usize, conc: usize| {
        rows.iter().find(|r| r.workload == w && r.shards == shards && r.conc == conc)
    };
    if let (Some(a), Some(b)) = (find(Workload::GetSet, 2, 64), find(Workload::GetSet, 1, 64))
        && let (Some(d2), Some(b1)) = (a.disredis.median(), b.bare.median())
    {
        println!("getset, 64 tasks: disredis over 2 shards / one bare connection = {:.3}", d2 / b1);
    }
    if let Some(path) = &args.json {
        let settings = [
            ("seconds_per_round", format!("{}", args.seconds)),
            ("rounds", args.rounds.to_string()),
            ("cores", std::thread::available_parallelism().map_or(0, |n| n.get()).to_string()),
            ("masters", format!("\"{}\"", addrs.join(","))),
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
    let sentinels: Vec<String> =
        if external { args.sentinels.clone() } else { LOCAL_SENTINELS.map(String::from).to_vec() };
    let mut topology = if external { None } else { Some(Topology::start()?) };
    // Ctrl-C: stop the topology we started (if one is up) before exiting.
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            if let Some(dir) = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = topology_sh("stop", &dir);
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
