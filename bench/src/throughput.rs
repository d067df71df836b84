//! The throughput rows: each workload × shard count × concurrency, the three
//! sides (disredis, bare connections, fred) in interleaved rounds.

use std::time::Duration;

use disredis::DisredisClient;
use disredis::hashing::Rendezvous;
use redis::aio::MultiplexedConnection;

use crate::load::{self, Side, Workload};
use crate::report::{self, Row, SideStats};
use crate::{Args, Fallible};

/// The sides, in the order of every row's figures.
pub const SIDES: [&str; 3] = ["disredis", "bare", "fred"];

/// Bare connections with the client's settings (1 s connect, 500 ms response timeout).
pub async fn bare(addrs: &[String]) -> Fallible<Vec<MultiplexedConnection>> {
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

pub fn masters(client: &DisredisClient) -> Fallible<Vec<String>> {
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
        Workload::GetSet => vec![1, 64, 1024],
        _ => vec![16],
    }
}

/// The master names the first Sentinel monitors, sorted.
pub fn sentinel_masters(sentinels: &[String]) -> Fallible<Vec<String>> {
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
    fred: Vec<fred::clients::Client>,
    ring: Rendezvous,
}

/// One fred client per master, each finding its master through the Sentinels
/// (fred's `ServerConfig::Sentinel`), with fred's default settings.
pub async fn fred_clients(sentinels: &[String], names: &[String]) -> Fallible<Vec<fred::clients::Client>> {
    use fred::interfaces::ClientLike;
    use fred::types::config::{Config, Server, ServerConfig};
    let hosts = sentinels
        .iter()
        .map(|s| {
            let (h, p) = s.rsplit_once(':').ok_or("sentinel address")?;
            Ok(Server::new(h, p.parse::<u16>()?))
        })
        .collect::<Fallible<Vec<_>>>()?;
    let mut clients = Vec::new();
    for name in names {
        let config = Config {
            server: ServerConfig::Sentinel { hosts: hosts.clone(), service_name: name.clone() },
            ..Config::default()
        };
        let client = fred::types::Builder::from_config(config).build()?;
        client.init().await?;
        clients.push(client);
    }
    Ok(clients)
}

pub async fn run(args: &Args, sentinels: &[String]) -> Fallible<()> {
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
        let ring = Rendezvous::new(members.clone()).ok_or("ring")?;
        let conns = bare(&masters(&client)?).await?;
        let fred = fred_clients(sentinels, &members).await?;
        load::prefill(&conns, &ring).await?;
        groups.push(Group { shards: n, client, conns, fred, ring });
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
                    Side::Disredis(group.client.clone()),
                    Side::Bare { conns: group.conns.clone(), ring: group.ring.clone() },
                    Side::Fred { clients: group.fred.clone(), ring: group.ring.clone() },
                ];
                let wanted = |i: usize| args.only.is_empty() || args.only.iter().any(|o| o == SIDES[i]);
                for (i, side) in sides.iter().enumerate() {
                    if wanted(i) {
                        load::round(side, w, conc, Duration::from_millis(300), 1).await; // warm-up
                    }
                }
                let mut stats: [SideStats; 3] = Default::default();
                let mut hists = [load::Hist::new(), load::Hist::new(), load::Hist::new()];
                let (mut ratios, mut vs_fred) = (Vec::new(), Vec::new());
                for r in 0..args.rounds {
                    // Rotate which side goes first, so drift hits all alike.
                    let mut this = [None; 3];
                    for k in 0..3 {
                        let i = (r + k) % 3;
                        if !wanted(i) {
                            continue;
                        }
                        let round = load::round(&sides[i], w, conc, dur, 1000 + r as u64).await;
                        hists[i].merge(&round.hist);
                        stats[i].cpu_us_per_op.push(round.cpu_us_per_op);
                        stats[i].rounds.push(round.ops_per_sec);
                        stats[i].errors += round.errors;
                        stats[i].first_error = stats[i].first_error.take().or(round.first_error);
                        this[i] = Some(round.ops_per_sec);
                    }
                    if let [Some(d), Some(b), _] = this {
                        ratios.push(d / b);
                    }
                    if let [Some(d), _, Some(f)] = this {
                        vs_fred.push(d / f);
                    }
                }
                if args.syscalls {
                    for (i, side) in sides.iter().enumerate() {
                        if wanted(i) {
                            stats[i].syscalls = Some(crate::syscalls::count(side, w, conc, dur).await?);
                        }
                    }
                }
                for (s, h) in stats.iter_mut().zip(&hists) {
                    s.p50_us = h.quantile_us(0.50);
                    s.p99_us = h.quantile_us(0.99);
                }
                let [disredis, bare, fred] = stats;
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
                let row =
                    Row { workload: w, shards, conc, disredis, bare, fred, ratios, vs_fred, redis_benchmark };
                eprint!("{}", report::table(std::slice::from_ref(&row)).lines().nth(1).unwrap_or(""));
                eprintln!();
                rows.push(row);
            }
        }
    }
    println!("{}", report::table(&rows));
    if args.syscalls {
        println!("{}", report::syscalls_table(&rows));
    }
    println!(
        "ops/s: requests (pipelines: commands) per second, median over rounds; d/b, d/f: disredis/bare and \
         disredis/fred per round (min/median/max).\n\
         bare: one MultiplexedConnection per master, keys routed with Rendezvous::shard_index, pipelines and \
         MGETs split by hand per master and sent concurrently;\nfred: one fred client per master (via Sentinel), \
         routed and split the same way.\n\
         cpu us/op: this process's CPU time per op, disredis/bare/fred (medians over rounds). \
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
