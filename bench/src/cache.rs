//! `--cache`: client-side caching (docs/caching.md). Per shard count, three
//! sides in interleaved rounds — disredis with the cache, disredis without it,
//! bare connections — on two workloads: Zipf-distributed reads over 100,000
//! keys with 5 % writes (locality: what the cache is for) and uniform GET/SET
//! 50/50 over 10,000 keys (none: what it costs). Then, with the cache on: the
//! latency of hits alone, how long another client's write takes to reach a
//! cached reader, and the memory of 1M distinct keys read with a 64 MiB bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use disredis::hashing::Rendezvous;
use disredis::{CacheConfig, DisredisClient};
use futures_util::future::join_all;
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Value};

use crate::load::{Hist, Rng, VALUE, cpu_seconds};
use crate::throughput::{bare, masters, sentinel_masters};
use crate::{Args, Fallible};

/// Keys of the Zipf workload.
const ZIPF_KEYS: usize = 100_000;
/// Its exponent (YCSB's default).
const ZIPF_S: f64 = 0.99;
/// Writes per 100 requests on the Zipf workload.
const ZIPF_WRITES: u64 = 5;
/// Keys of the uniform workload.
const UNIFORM_KEYS: u64 = 10_000;

#[derive(Clone, Copy, PartialEq)]
enum Mix {
    Zipf,
    Uniform,
}

#[derive(Clone)]
enum Side {
    Client(DisredisClient),
    Bare { conns: Vec<MultiplexedConnection>, ring: Rendezvous },
}

/// Ranks by Zipf's law: a cumulative table sampled by binary search.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += 1.0 / (k as f64).powf(s);
                acc
            })
            .collect();
        cdf.iter_mut().for_each(|c| *c /= acc);
        Zipf(cdf)
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        self.0.partition_point(|c| *c < u).min(self.0.len() - 1)
    }
}

fn zkey(n: usize) -> String {
    format!("z:{n:08}")
}

fn ukey(n: u64) -> String {
    format!("u:{n:08}")
}

impl Side {
    async fn request(&mut self, mix: Mix, zipf: &Zipf, rng: &mut Rng) -> redis::RedisResult<()> {
        let (key, write) = match mix {
            Mix::Zipf => (zkey(zipf.sample(rng)), rng.next() % 100 < ZIPF_WRITES),
            Mix::Uniform => (ukey(rng.next() % UNIFORM_KEYS), rng.next() & 1 == 0),
        };
        let cmd = match write {
            true => redis::cmd("SET").arg(&key).arg(&VALUE[..]).to_owned(),
            false => redis::cmd("GET").arg(&key).to_owned(),
        };
        match self {
            Side::Client(c) => cmd.query_async::<Value>(c).await.map(drop),
            Side::Bare { conns, ring } => {
                let i = ring.shard_index(key.as_bytes());
                cmd.query_async::<Value>(&mut conns[i]).await.map(drop)
            }
        }
    }
}

/// `conc` tasks for `dur`: ops per second and the latency histogram.
async fn round(
    side: &Side,
    mix: Mix,
    zipf: &Arc<Zipf>,
    conc: usize,
    dur: Duration,
    seed: u64,
) -> (f64, Hist) {
    let deadline = Instant::now() + dur;
    let start = Instant::now();
    let tasks = (0..conc).map(|t| {
        let (mut side, zipf) = (side.clone(), zipf.clone());
        let mut rng = Rng::new(seed.wrapping_add(t as u64 * 7919));
        tokio::spawn(async move {
            let (mut hist, mut n) = (Hist::new(), 0u64);
            loop {
                let t0 = Instant::now();
                if t0 >= deadline {
                    break;
                }
                side.request(mix, &zipf, &mut rng).await.expect("request");
                hist.record(t0.elapsed());
                n += 1;
            }
            (hist, n)
        })
    });
    let (mut hist, mut n) = (Hist::new(), 0);
    for done in join_all(tasks).await {
        let (h, k) = done.expect("a load task panicked");
        hist.merge(&h);
        n += k;
    }
    (n as f64 / start.elapsed().as_secs_f64(), hist)
}

/// Writes both workloads' keys (pipelined, per master).
async fn prefill(conns: &[MultiplexedConnection], ring: &Rendezvous) -> redis::RedisResult<()> {
    let mut pipes: Vec<redis::Pipeline> = conns.iter().map(|_| redis::pipe()).collect();
    let keys = (0..ZIPF_KEYS).map(zkey).chain((0..UNIFORM_KEYS).map(ukey));
    for k in keys {
        pipes[ring.shard_index(k.as_bytes())].set(&k, &VALUE[..]).ignore();
    }
    for (pipe, conn) in pipes.iter().zip(conns) {
        pipe.exec_async(&mut conn.clone()).await?;
    }
    Ok(())
}

pub async fn run(args: &Args, sentinels: &[String]) -> Fallible<()> {
    let names = sentinel_masters(sentinels)?;
    let zipf = Arc::new(Zipf::new(ZIPF_KEYS, ZIPF_S));
    let conc = args.conc.clone().unwrap_or_else(|| vec![64]);
    let dur = Duration::from_secs_f64(args.seconds);
    println!(
        "cache: {} rounds x {} s per side | Zipf s={ZIPF_S} over {ZIPF_KEYS} keys, {ZIPF_WRITES} % SET | uniform \
         GET/SET 50/50 over {UNIFORM_KEYS} keys | values 64 B",
        args.rounds, args.seconds
    );
    println!(
        "| mix | shards | conc | cached ops/s | uncached ops/s | bare ops/s | cached/bare | cached/uncached | hit rate | cached p50/p99 us |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut next = 0;
    let mut first: Option<DisredisClient> = None;
    for &n in &args.shards {
        let members =
            names.get(next..next + n).ok_or("not enough masters (start many.sh with their sum)")?.to_vec();
        next += n;
        let builder = DisredisClient::builder().sentinels(sentinels).masters(&members);
        let plain = builder.clone().connect().await?;
        let cached = builder.client_cache(CacheConfig::new()).connect().await?;
        let ring = Rendezvous::new(members.clone()).ok_or("ring")?;
        let conns = bare(&masters(&plain)?).await?;
        prefill(&conns, &ring).await?;
        let sides = [Side::Client(cached.clone()), Side::Client(plain), Side::Bare { conns, ring }];
        let mixes = [Mix::Zipf, Mix::Uniform].into_iter().filter(|m| match args.mix.as_deref() {
            Some("zipf") => *m == Mix::Zipf,
            Some("uniform") => *m == Mix::Uniform,
            _ => true,
        });
        for mix in mixes {
            for &c in &conc {
                for side in &sides {
                    round(side, mix, &zipf, c, Duration::from_millis(300), 1).await;
                }
                let mut ops = [Vec::new(), Vec::new(), Vec::new()];
                let (mut vs_bare, mut vs_plain) = (Vec::new(), Vec::new());
                let mut hist = Hist::new();
                let before = cached.cache_stats().unwrap_or_default();
                for r in 0..args.rounds {
                    let mut this = [0.0; 3];
                    for k in 0..3 {
                        let i = (r + k) % 3;
                        let (o, h) = round(&sides[i], mix, &zipf, c, dur, 1000 + r as u64).await;
                        if i == 0 {
                            hist.merge(&h);
                        }
                        this[i] = o;
                        ops[i].push(o);
                    }
                    vs_bare.push(this[0] / this[2]);
                    vs_plain.push(this[0] / this[1]);
                }
                let after = cached.cache_stats().unwrap_or_default();
                let (hits, misses) = (after.hits - before.hits, after.misses - before.misses);
                let [a, b, d] = &ops;
                let median = |v: &[f64]| crate::report::median(v).unwrap_or(0.0);
                println!(
                    "| {} | {n} | {c} | {:.0} | {:.0} | {:.0} | {:.2}x | {:.2}x | {:.1} % | {:.1} / {:.1} |",
                    if mix == Mix::Zipf { "zipf 95/5" } else { "uniform 50/50" },
                    median(a),
                    median(b),
                    median(d),
                    median(&vs_bare),
                    median(&vs_plain),
                    100.0 * hits as f64 / (hits + misses).max(1) as f64,
                    hist.quantile_us(0.5),
                    hist.quantile_us(0.99),
                );
            }
        }
        first.get_or_insert(cached);
    }
    let cached = first.ok_or("no shard count")?;
    hits_alone(&cached).await?;
    staleness(&cached, sentinels, &args.shards, &names).await?;
    memory(sentinels, &names[..args.shards[0]]).await
}

/// 64 tasks reading 1,000 keys already cached, nothing written: every read a
/// hit (checked), its latency.
async fn hits_alone(client: &DisredisClient) -> Fallible<()> {
    let mut con = client.clone();
    for k in 0..1000 {
        let _: Value = con.get(zkey(k)).await?;
    }
    let before = client.cache_stats().unwrap_or_default();
    let tasks = (0..64).map(|t| {
        let mut con = client.clone();
        tokio::spawn(async move {
            let mut hist = Hist::new();
            for i in 0..20_000 {
                let t0 = Instant::now();
                let _: Value = con.get(zkey((i * 7 + t) % 1000)).await.expect("get");
                hist.record(t0.elapsed());
            }
            hist
        })
    });
    let mut hist = Hist::new();
    for h in join_all(tasks).await {
        hist.merge(&h?);
    }
    let after = client.cache_stats().unwrap_or_default();
    println!(
        "\nhits alone (64 tasks, 1,280,000 GETs of cached keys): {} hits, {} misses; p50 {:.2} us, p99 {:.2} us, p99.9 {:.2} us",
        after.hits - before.hits,
        after.misses - before.misses,
        hist.quantile_us(0.5),
        hist.quantile_us(0.99),
        hist.quantile_us(0.999)
    );
    Ok(())
}

/// Another client (no cache) writes a cached key; the cached reader polls
/// until it reads the new value: the window, per write.
async fn staleness(
    cached: &DisredisClient,
    sentinels: &[String],
    shards: &[usize],
    names: &[String],
) -> Fallible<()> {
    let members = names[..shards[0]].to_vec();
    let mut writer = DisredisClient::builder().sentinels(sentinels).masters(&members).connect().await?;
    let mut reader = cached.clone();
    let mut hist = Hist::new();
    let (mut stale_reads, writes) = (0u64, 2000);
    for n in 0..writes {
        let key = zkey(n % 100);
        let _: Value = reader.get(&key).await?; // cached now
        let value = format!("w{n}");
        writer.set::<_, _, ()>(&key, &value).await?;
        let acked = Instant::now();
        loop {
            let got: String = reader.get(&key).await?;
            if got == value {
                break;
            }
            stale_reads += 1;
            assert!(acked.elapsed() < Duration::from_secs(5), "{key} never updated");
        }
        hist.record(acked.elapsed());
    }
    println!(
        "staleness ({writes} writes by another client, each then read by the cached client until seen): \
         {stale_reads} reads of the old value; window p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        hist.quantile_us(0.5),
        hist.quantile_us(0.99),
        hist.quantile_us(1.0)
    );
    Ok(())
}

/// Resident memory of this process before and after a fresh cached client
/// reads 1M distinct keys (prefilled here) with the default 64 MiB bound.
async fn memory(sentinels: &[String], members: &[String]) -> Fallible<()> {
    const N: usize = 1_000_000;
    let client = DisredisClient::builder()
        .sentinels(sentinels)
        .masters(members)
        .client_cache(CacheConfig::new())
        .connect()
        .await?;
    let ring = Rendezvous::new(members.to_vec()).ok_or("ring")?;
    let conns = bare(&masters(&client)?).await?;
    for chunk in (0..N).collect::<Vec<_>>().chunks(10_000) {
        let mut pipes: Vec<redis::Pipeline> = conns.iter().map(|_| redis::pipe()).collect();
        for &i in chunk {
            let k = format!("m:{i:08}");
            pipes[ring.shard_index(k.as_bytes())].set(&k, &VALUE[..]).ignore();
        }
        for (pipe, conn) in pipes.iter().zip(&conns) {
            pipe.exec_async(&mut conn.clone()).await?;
        }
    }
    let rss = || crate::memory::rss_kib() * 1024;
    let (before, cpu) = (rss(), cpu_seconds());
    let tasks = (0..64).map(|t| {
        let mut con = client.clone();
        tokio::spawn(async move {
            for i in (t..N).step_by(64) {
                let _: Value = con.get(format!("m:{i:08}")).await.expect("get");
            }
        })
    });
    join_all(tasks).await;
    let s = client.cache_stats().unwrap_or_default();
    println!(
        "memory: 1M distinct keys read (64 B values) with max_bytes 64 MiB: {} entries, {:.1} MiB counted; \
         resident memory grew {:.1} MiB ({:.1} s CPU)",
        s.entries,
        s.bytes as f64 / (1 << 20) as f64,
        rss().saturating_sub(before) as f64 / (1 << 20) as f64,
        cpu_seconds() - cpu
    );
    Ok(())
}
