//! The load generators: GET/SET, pipelines and MGET through each side (the
//! `DisredisClient`, bare `MultiplexedConnection`s, or fred clients), and the
//! latency histogram.

use std::time::{Duration, Instant};

use disredis::DisredisClient;
use disredis::hashing::Rendezvous;
use futures_util::future::join_all;
use redis::aio::MultiplexedConnection;
use redis::{Cmd, Pipeline, Value};

/// Keys are `key:` + 12 digits below this: the same 16-byte keys as
/// `redis-benchmark -r KEYSPACE` (`key:__rand_int__`).
pub const KEYSPACE: u64 = 10_000;
/// Every SET writes 64 bytes.
pub const VALUE: [u8; 64] = [b'v'; 64];
/// Commands in one pipeline, keys in one MGET.
pub const BATCH: usize = 100;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Workload {
    GetSet,
    Pipeline,
    Mget,
}

impl Workload {
    pub const ALL: [Workload; 3] = [Workload::GetSet, Workload::Pipeline, Workload::Mget];

    pub fn name(self) -> &'static str {
        match self {
            Workload::GetSet => "getset",
            Workload::Pipeline => "pipeline",
            Workload::Mget => "mget",
        }
    }

    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == s)
    }

    /// Operations counted per request: a pipeline counts its commands (as
    /// `redis-benchmark -P` does), an MGET counts once.
    pub fn ops_per_request(self) -> u64 {
        match self {
            Workload::Pipeline => BATCH as u64,
            _ => 1,
        }
    }
}

/// One side of the comparison, cloned into every task.
#[derive(Clone)]
pub enum Side {
    Disredis(DisredisClient),
    /// One connection per shard in ring (name) order; `ring` routes each key the
    /// way disredis does, so the bare side does the same work minus the client.
    Bare {
        conns: Vec<MultiplexedConnection>,
        ring: Rendezvous,
    },
    /// fred, the Rust peer: one client per master (each finds its master
    /// through Sentinel), keys routed by the same table as the bare side,
    /// pipelines and MGETs split per master the same way.
    Fred {
        clients: Vec<fred::clients::Client>,
        ring: Rendezvous,
    },
}

/// A tiny xorshift64* generator: one per task, no shared state.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A random `key:000000001234` (16 bytes).
    pub fn key(&mut self) -> [u8; 16] {
        key(self.next() % KEYSPACE)
    }
}

/// `key:` followed by `n` in 12 zero-padded digits.
pub fn key(mut n: u64) -> [u8; 16] {
    let mut k = *b"key:000000000000";
    for slot in k[4..].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

/// The shard of `key` on the bare and fred sides: routed by the client's own
/// table, and (as disredis does) not hashed at all with one shard.
fn shard(ring: &Rendezvous, shards: usize, key: &[u8]) -> usize {
    if shards == 1 { 0 } else { ring.shard_index(key) }
}

/// The next GET/SET: its key and whether it is a SET (half of them).
fn getset_op(rng: &mut Rng) -> ([u8; 16], bool) {
    let k = rng.key();
    (k, rng.next() & 1 == 0)
}

fn getset_cmd(rng: &mut Rng) -> ([u8; 16], Cmd) {
    let (k, set) = getset_op(rng);
    let cmd = if set {
        let mut c = redis::cmd("SET");
        c.arg(&k[..]).arg(&VALUE[..]);
        c
    } else {
        let mut c = redis::cmd("GET");
        c.arg(&k[..]);
        c
    };
    (k, cmd)
}

impl Side {
    /// One request of `workload`.
    pub async fn request(&mut self, workload: Workload, rng: &mut Rng) -> redis::RedisResult<()> {
        match workload {
            Workload::GetSet => {
                if let Side::Fred { clients, ring } = self {
                    let (k, set) = getset_op(rng);
                    let i = shard(ring, clients.len(), &k);
                    return fred_getset(&clients[i], set, &k).await;
                }
                let (k, cmd) = getset_cmd(rng);
                match self {
                    Side::Disredis(c) => cmd.query_async::<Value>(c).await.map(drop),
                    Side::Bare { conns, ring } => {
                        let i = shard(ring, conns.len(), &k);
                        cmd.query_async::<Value>(&mut conns[i]).await.map(drop)
                    }
                    Side::Fred { .. } => unreachable!("handled above"),
                }
            }
            Workload::Pipeline => match self {
                Side::Disredis(c) => {
                    let mut pipe = Pipeline::with_capacity(BATCH);
                    for _ in 0..BATCH {
                        pipe.add_command(getset_cmd(rng).1);
                    }
                    pipe.query_async::<Value>(c).await.map(drop)
                }
                // Split by hand: each command built straight into its master's
                // pipeline (no clone), the parts sent concurrently.
                Side::Bare { conns, ring } => {
                    let mut pipes: Vec<Pipeline> =
                        conns.iter().map(|_| Pipeline::with_capacity(BATCH)).collect();
                    for _ in 0..BATCH {
                        let (k, cmd) = getset_cmd(rng);
                        let i = shard(ring, conns.len(), &k);
                        pipes[i].add_command(cmd);
                    }
                    let runs = conns.iter().zip(&pipes).filter(|(_, p)| !p.is_empty()).map(|(c, p)| {
                        let mut c = c.clone();
                        async move { p.query_async::<Value>(&mut c).await }
                    });
                    join_all(runs).await.into_iter().try_for_each(|r| r.map(drop))
                }
                Side::Fred { clients, ring } => {
                    use fred::interfaces::KeysInterface;
                    let pipes: Vec<_> = clients.iter().map(|c| c.pipeline()).collect();
                    let mut used = vec![false; clients.len()];
                    for _ in 0..BATCH {
                        let (k, set) = getset_op(rng);
                        let i = shard(ring, clients.len(), &k);
                        used[i] = true;
                        // Queued: the pipeline's own buffer holds the command.
                        let queued: Result<(), _> = if set {
                            pipes[i].set(&k[..], &VALUE[..], None, None, false).await
                        } else {
                            pipes[i].get(&k[..]).await
                        };
                        queued.map_err(fred_error)?;
                    }
                    let runs = pipes
                        .iter()
                        .zip(&used)
                        .filter(|(_, u)| **u)
                        .map(|(p, _)| p.all::<fred::types::Value>());
                    join_all(runs).await.into_iter().try_for_each(|r| r.map(drop).map_err(fred_error))
                }
            },
            Workload::Mget => match self {
                Side::Disredis(c) => {
                    let mut cmd = redis::cmd("MGET");
                    for _ in 0..BATCH {
                        cmd.arg(&rng.key()[..]);
                    }
                    cmd.query_async::<Value>(c).await.map(drop)
                }
                Side::Bare { conns, ring } => {
                    // One MGET per master with that master's keys, concurrently.
                    let mut cmds: Vec<Cmd> = (0..conns.len()).map(|_| redis::cmd("MGET")).collect();
                    let mut used = vec![false; conns.len()];
                    for _ in 0..BATCH {
                        let k = rng.key();
                        let i = shard(ring, conns.len(), &k);
                        cmds[i].arg(&k[..]);
                        used[i] = true;
                    }
                    let runs =
                        conns.iter().zip(&cmds).zip(&used).filter(|(_, u)| **u).map(|((c, cmd), _)| {
                            let mut c = c.clone();
                            async move { cmd.query_async::<Value>(&mut c).await }
                        });
                    join_all(runs).await.into_iter().try_for_each(|r| r.map(drop))
                }
                Side::Fred { clients, ring } => {
                    use fred::interfaces::KeysInterface;
                    let mut keys: Vec<Vec<fred::types::Key>> =
                        (0..clients.len()).map(|_| Vec::new()).collect();
                    for _ in 0..BATCH {
                        let k = rng.key();
                        let i = shard(ring, clients.len(), &k);
                        keys[i].push(fred::types::Key::from(&k[..]));
                    }
                    let runs = clients
                        .iter()
                        .zip(keys)
                        .filter(|(_, k)| !k.is_empty())
                        .map(|(c, k)| async move { c.mget::<fred::types::Value, _>(k).await });
                    join_all(runs).await.into_iter().try_for_each(|r| r.map(drop).map_err(fred_error))
                }
            },
        }
    }
}

/// A GET or SET through fred's own API (the way its users call it).
async fn fred_getset(client: &fred::clients::Client, set: bool, k: &[u8]) -> redis::RedisResult<()> {
    use fred::interfaces::KeysInterface;
    let done: Result<fred::types::Value, _> =
        if set { client.set(k, &VALUE[..], None, None, false).await } else { client.get(k).await };
    done.map(drop).map_err(fred_error)
}

fn fred_error(e: fred::error::Error) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, "fred", e.to_string()))
}

/// What one round of one side measured.
pub struct Round {
    pub ops_per_sec: f64,
    /// The process's CPU time (user + system, from /proc/self/stat) per op.
    pub cpu_us_per_op: f64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub hist: Hist,
}

/// Runs `conc` tasks issuing `workload` requests back to back for `dur`.
pub async fn round(side: &Side, workload: Workload, conc: usize, dur: Duration, seed: u64) -> Round {
    let mut tasks = tokio::task::JoinSet::new();
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let deadline = start + dur;
    for t in 0..conc {
        let mut side = side.clone();
        let mut rng = Rng::new(seed.wrapping_add(t as u64 * 7919));
        tasks.spawn(async move {
            let (mut hist, mut requests, mut errors, mut first_error) = (Hist::new(), 0u64, 0u64, None);
            loop {
                let t0 = Instant::now();
                if t0 >= deadline {
                    break;
                }
                match side.request(workload, &mut rng).await {
                    Ok(()) => requests += 1,
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
                hist.record(t0.elapsed());
            }
            (hist, requests, errors, first_error)
        });
    }
    let (mut hist, mut requests, mut errors, mut first_error) = (Hist::new(), 0, 0, None);
    while let Some(joined) = tasks.join_next().await {
        let (h, r, e, f) = joined.expect("a load task panicked");
        hist.merge(&h);
        requests += r;
        errors += e;
        first_error = first_error.or(f);
    }
    let secs = start.elapsed().as_secs_f64();
    let ops = (requests * workload.ops_per_request()).max(1);
    let cpu_us_per_op = (cpu_seconds() - cpu_before) * 1e6 / ops as f64;
    Round { ops_per_sec: ops as f64 / secs, cpu_us_per_op, errors, first_error, hist }
}

/// User + system CPU time of this process so far, in seconds (`/proc/self/stat`,
/// clock ticks of 10 ms: a round of seconds makes the error small).
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Writes the keyspace once (pipelined), so GETs find 64-byte values.
pub async fn prefill(conns: &[MultiplexedConnection], ring: &Rendezvous) -> redis::RedisResult<()> {
    let mut pipes: Vec<Pipeline> = conns.iter().map(|_| Pipeline::new()).collect();
    for n in 0..KEYSPACE {
        let k = key(n);
        let i = shard(ring, conns.len(), &k);
        pipes[i].set(&k[..], &VALUE[..]).ignore();
    }
    for (pipe, conn) in pipes.iter().zip(conns) {
        pipe.exec_async(&mut conn.clone()).await?;
    }
    Ok(())
}

/// Log-linear latency histogram in nanoseconds: 32 buckets per power of two
/// (about 3% resolution), exact below 32 ns.
#[derive(Clone)]
pub struct Hist {
    counts: Vec<u64>,
    total: u64,
}

const SUB: u32 = 5; // 2^5 = 32 sub-buckets per octave
const BUCKETS: usize = ((64 - SUB) as usize + 1) << SUB;

impl Hist {
    pub fn new() -> Hist {
        Hist { counts: vec![0; BUCKETS], total: 0 }
    }

    fn index(ns: u64) -> usize {
        if ns < 1 << SUB {
            return ns as usize;
        }
        let e = 63 - ns.leading_zeros(); // >= SUB
        let sub = (ns >> (e - SUB)) & ((1 << SUB) - 1);
        (((e - SUB + 1) as u64) << SUB | sub) as usize
    }

    /// The middle of bucket `i`, in nanoseconds.
    fn value(i: usize) -> f64 {
        if i < 1 << SUB {
            return i as f64;
        }
        let e = (i >> SUB) as u32 + SUB - 1;
        let sub = (i & ((1 << SUB) - 1)) as u64;
        let low = ((1u64 << SUB) + sub) << (e - SUB);
        low as f64 + ((1u64 << (e - SUB)) as f64) / 2.0
    }

    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[Hist::index(ns)] += 1;
        self.total += 1;
    }

    pub fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// The `q` quantile (0..=1) in microseconds; 0 when empty.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Hist::value(i) / 1000.0;
            }
        }
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_continuous_and_close() {
        let mut last = 0;
        for ns in [0u64, 1, 31, 32, 33, 63, 64, 65, 1000, 123_456, 10_000_000_000, u64::MAX] {
            let i = Hist::index(ns);
            assert!(i >= last && i < BUCKETS, "{ns} -> {i}");
            last = i;
            let v = Hist::value(i);
            assert!((v - ns as f64).abs() <= ns as f64 * 0.04 + 1.0, "{ns} ~ {v}");
        }
        assert_eq!(&key(1234), b"key:000000001234");
    }
}
