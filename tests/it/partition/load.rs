//! Writers of three kinds (and readers) through the client during a
//! partition, and what the shard holds after it: every acknowledged write
//! looked up on the master Sentinel names once the partition healed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use disredis::{DisredisClient, Error};
use redis::AsyncCommands;

use crate::support::Topology;

/// What a writer writes, and through which client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `SET` of a new key each time, fast mode.
    FastSet,
    /// The same with `wait_replicas(1, …)`.
    DurableSet,
    /// `INCR` of one counter, fast mode.
    FastIncr,
    /// The same with `wait_replicas(1, …)`.
    DurableIncr,
    /// Readers: `GET` of the first durable counter through the durable
    /// client. Their `lost` is the reads that went back below an earlier
    /// read of the same reader (a value seen and later gone).
    Read,
}

/// Tasks of each kind.
const WRITERS: [(Kind, usize); 5] =
    [(Kind::FastSet, 4), (Kind::DurableSet, 4), (Kind::FastIncr, 2), (Kind::DurableIncr, 2), (Kind::Read, 2)];

/// One writer's record.
#[derive(Debug, Default)]
struct Record {
    /// The `SET`s acknowledged (keys), or the counter.
    keys: Vec<String>,
    acked: u64,
    ambiguous: u64,
    errors: BTreeMap<String, u64>,
    longest: Duration,
    /// Reads below an earlier read (readers only).
    went_back: u64,
}

impl Record {
    /// Requests that may have been applied without being acknowledged:
    /// ambiguous ones, and `NotReplicated` (applied on the master, not
    /// confirmed on a replica).
    fn maybe(&self) -> u64 {
        self.ambiguous + self.errors.get("NotReplicated").copied().unwrap_or(0)
    }
}

/// The writers, running until [`Load::finish`].
pub struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    stalls: Arc<Stalls>,
    tasks: Vec<(Kind, tokio::task::JoinHandle<Record>)>,
}

/// What one kind of writer saw, and what the shard kept of it.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub acked: u64,
    /// Acknowledged and not there afterwards (for counters: acknowledged
    /// increments the counter lacks; for readers: reads that went back).
    pub lost: u64,
    pub ambiguous: u64,
    /// Errors by kind (`ShardDown`, `NotReplicated`, …), ambiguous ones apart.
    pub errors: BTreeMap<String, u64>,
    pub longest: Duration,
    /// The longest time no task of the kind got an answer it counts as
    /// success: the outage its callers saw, the time to recover.
    pub stall: Duration,
}

/// Per kind: when a task of it last succeeded, and the longest gap between
/// two successes (nanoseconds since the load started).
struct Stalls {
    started: Instant,
    last: [AtomicU64; 5],
    longest: [AtomicU64; 5],
}

impl Stalls {
    fn success(&self, kind: Kind) {
        let now = self.started.elapsed().as_nanos() as u64;
        let before = self.last[kind as usize].swap(now, Ordering::Relaxed);
        self.longest[kind as usize].fetch_max(now.saturating_sub(before), Ordering::Relaxed);
    }

    fn of(&self, kind: Kind) -> Duration {
        Duration::from_nanos(self.longest[kind as usize].load(Ordering::Relaxed))
    }
}

/// The error's variant name.
fn kind_of(e: &Error) -> String {
    let debug = format!("{e:?}");
    debug.split([' ', '{', '(']).next().unwrap_or("?").to_owned()
}

impl Load {
    /// Starts the writers on keys under the hash tag `tag` (all on one shard).
    pub fn start(fast: &DisredisClient, durable: &DisredisClient, tag: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let stalls = Arc::new(Stalls {
            started: Instant::now(),
            last: Default::default(),
            longest: Default::default(),
        });
        let mut tasks = Vec::new();
        for (kind, n) in WRITERS {
            for w in 0..n {
                let mut con = match kind {
                    Kind::FastSet | Kind::FastIncr => fast.clone(),
                    Kind::DurableSet | Kind::DurableIncr | Kind::Read => durable.clone(),
                };
                let (stop, count, stalls) = (stop.clone(), acked.clone(), stalls.clone());
                let prefix = match kind {
                    Kind::Read => format!("{{{tag}}}:{:?}:0", Kind::DurableIncr),
                    _ => format!("{{{tag}}}:{kind:?}:{w}"),
                };
                tasks.push((
                    kind,
                    tokio::spawn(async move {
                        let mut r = Record::default();
                        let counter = matches!(kind, Kind::FastIncr | Kind::DurableIncr);
                        if counter {
                            r.keys.push(prefix.clone());
                        }
                        let (mut seq, mut highest) = (0u64, 0u64);
                        while !stop.load(Ordering::Relaxed) {
                            seq += 1;
                            let key = format!("{prefix}:{seq}");
                            let started = Instant::now();
                            let result = if kind == Kind::Read {
                                con.get::<_, Option<u64>>(&prefix).await.map(|v| {
                                    let v = v.unwrap_or(0);
                                    r.went_back += u64::from(v < highest);
                                    highest = highest.max(v);
                                })
                            } else if counter {
                                con.incr::<_, _, i64>(&prefix, 1).await.map(drop)
                            } else {
                                con.set::<_, _, ()>(&key, seq).await
                            };
                            r.longest = r.longest.max(started.elapsed());
                            match result.map_err(Error::from) {
                                Ok(()) => {
                                    r.acked += 1;
                                    stalls.success(kind);
                                    if kind != Kind::Read {
                                        count.fetch_add(1, Ordering::Relaxed);
                                    }
                                    if !counter && kind != Kind::Read {
                                        r.keys.push(key);
                                    }
                                }
                                Err(Error::Ambiguous { .. }) => r.ambiguous += 1,
                                Err(e) => {
                                    *r.errors.entry(kind_of(&e)).or_default() += 1;
                                    // A failing shard answers at once: don't spin on it.
                                    tokio::time::sleep(Duration::from_millis(5)).await;
                                }
                            }
                        }
                        r
                    }),
                ));
            }
        }
        Load { stop, acked, stalls, tasks }
    }

    /// Acknowledged writes so far, all kinds.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Waits until `more` further writes were acknowledged (the client writes
    /// again), at most `within`; false if not.
    pub async fn progress(&self, more: u64, within: Duration) -> bool {
        let (from, deadline) = (self.acked(), Instant::now() + within);
        while self.acked() < from + more {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Stops the writers and looks every acknowledged write up on `shard`'s
    /// master as Sentinel names it now (straight, not through a proxy).
    pub async fn finish(self, topo: &Topology, shard: &str) -> BTreeMap<Kind, Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        let mut records = Vec::new();
        for (kind, task) in self.tasks {
            records.push((kind, task.await.expect("a writer panicked")));
        }
        tokio::task::block_in_place(|| {
            let master = topo.master_addr(shard);
            let mut con = topo.conn(&master);
            let mut out: BTreeMap<Kind, Outcome> = BTreeMap::new();
            for (kind, r) in records {
                let o = out.entry(kind).or_default();
                let lost = match kind {
                    Kind::Read => r.went_back,
                    Kind::FastIncr | Kind::DurableIncr => {
                        let value: Option<u64> = redis::cmd("GET").arg(&r.keys[0]).query(&mut con).unwrap();
                        let value = value.unwrap_or(0);
                        assert!(
                            value <= r.acked + r.maybe(),
                            "{kind:?} {}: {value} after {} acknowledged and {} maybe applied increments: counted twice",
                            r.keys[0],
                            r.acked,
                            r.maybe()
                        );
                        r.acked.saturating_sub(value)
                    }
                    Kind::FastSet | Kind::DurableSet => {
                        let mut present = 0u64;
                        for chunk in r.keys.chunks(500) {
                            let n: u64 = redis::cmd("EXISTS").arg(chunk).query(&mut con).unwrap();
                            present += n;
                        }
                        r.acked - present
                    }
                };
                o.acked += r.acked;
                o.lost += lost;
                o.ambiguous += r.ambiguous;
                o.longest = o.longest.max(r.longest);
                o.stall = self.stalls.of(kind);
                for (k, n) in r.errors {
                    *o.errors.entry(k).or_default() += n;
                }
            }
            out
        })
    }
}

/// One line per kind, for the run's log and docs/reliability.md.
pub fn report(scenario: &str, outcomes: &BTreeMap<Kind, Outcome>) {
    for (kind, o) in outcomes {
        if *kind == Kind::Read {
            eprintln!(
                "partition: {scenario}: Read: {} reads, {} went back below an earlier read, errors {:?}, longest request {:.2} s, longest stall {:.2} s",
                o.acked,
                o.lost,
                o.errors,
                o.longest.as_secs_f64(),
                o.stall.as_secs_f64()
            );
            continue;
        }
        eprintln!(
            "partition: {scenario}: {kind:?}: {} acknowledged, {} lost, {} ambiguous, errors {:?}, longest request {:.2} s, longest stall {:.2} s",
            o.acked,
            o.lost,
            o.ambiguous,
            o.errors,
            o.longest.as_secs_f64(),
            o.stall.as_secs_f64()
        );
    }
}
