//! Client-side caching (feature `cache`, DESIGN §11): the entries, which
//! reads may be cached, and the bookkeeping that keeps a cached reply from
//! outliving a change the server told us about. No I/O: the request path
//! (`execute::cached`) asks and stores, the shard connections' push sinks
//! hand over invalidations ([`ClientCache::on_push`]).
//!
//! **Entries.** One per key (a quick_cache entry, weighed in bytes, evicted
//! by CLOCK-Pro within [`CacheConfig::max_bytes`]), holding the replies of
//! the commands read on that key (`GET k`, `HGET k f`, …) with, for each, the
//! connection epoch it was read under (`Wire::cache_epoch`) and its expiry
//! (the client TTL). A reply is served only while that epoch is the shard
//! connection's current one: a connection that fails, is replaced (a
//! re-resolve, a `+switch-master`, a new ring's table) or hears a null
//! invalidation has another epoch, so everything read over it stops being
//! served at once, without walking the entries.
//!
//! **Stamps: the in-flight race.** A read answered with the old value while
//! an invalidation of its key crosses it must not be stored. Every key hashes
//! to one of [`STAMPS`] counters; an invalidation (the server's, or our own
//! write, before it is sent and again after its reply) bumps the key's
//! counter and removes the entry. A read notes the counter before it is sent
//! and stores its reply only if the counter has not moved; it checks again
//! after inserting (and removes what it inserted if it moved), so an
//! invalidation that runs between the check and the insert is not lost.
//! Pushes reach the sink before the replies read after them (`wire`), so an
//! invalidation that arrives first always moves the counter in time. Two keys
//! sharing a counter cost a missed store, never a stale entry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use redis::{PushInfo, PushKind, Value};

use crate::config::CacheConfig;

mod stats;
#[cfg(test)]
mod tests;

pub use stats::CacheStats;
use stats::Counters;

/// How many invalidation counters there are (a power of two): 32 KiB per client.
pub(crate) const STAMPS: usize = 4096;

/// Distinct commands kept per key (`HGET k f1`, `HGET k f2`, …); the oldest
/// goes when another is stored.
const PER_KEY: usize = 16;

/// Bytes counted per entry besides its key, arguments and reply: the map's
/// slot, the `Arc`s, the vectors' headers and the allocator's rounding, so
/// that the bound holds for resident memory (measured with 1M keys read:
/// docs/caching.md).
const OVERHEAD: u64 = 200;

/// Single-key reads whose reply depends only on the key's value, by their
/// canonical name (`keys::CommandInfo::name`). Not the time-dependent
/// (`TTL`, `PTTL`, `OBJECT IDLETIME`), random (`SRANDMEMBER`, `HRANDFIELD`)
/// or cursor (`SSCAN`) ones, nor blocking reads.
const CACHEABLE: &[&str] = &[
    "BITCOUNT",
    "BITFIELD_RO",
    "BITPOS",
    "EXISTS",
    "GEODIST",
    "GEOHASH",
    "GEOPOS",
    "GET",
    "GETBIT",
    "GETRANGE",
    "HEXISTS",
    "HGET",
    "HGETALL",
    "HKEYS",
    "HLEN",
    "HMGET",
    "HSTRLEN",
    "HVALS",
    "LINDEX",
    "LLEN",
    "LPOS",
    "LRANGE",
    "SCARD",
    "SISMEMBER",
    "SMEMBERS",
    "SMISMEMBER",
    "STRLEN",
    "SUBSTR",
    "TYPE",
    "XLEN",
    "XRANGE",
    "XREVRANGE",
    "ZCARD",
    "ZCOUNT",
    "ZLEXCOUNT",
    "ZMSCORE",
    "ZRANGE",
    "ZRANGEBYLEX",
    "ZRANGEBYSCORE",
    "ZRANK",
    "ZREVRANGE",
    "ZREVRANGEBYLEX",
    "ZREVRANGEBYSCORE",
    "ZREVRANK",
    "ZSCORE",
];

/// Whether the command `name` (canonical, from the command table) may be
/// cached; `EXISTS` only with one key (the caller checks the arity).
pub(crate) fn cacheable_command(name: &str) -> bool {
    CACHEABLE.binary_search(&name).is_ok()
}

/// The client's cache: entries, stamps and counters, shared by every clone.
pub(crate) struct ClientCache {
    entries: Cache<Box<[u8]>, Arc<Slot>, Weigh>,
    stamps: Box<[AtomicU64]>,
    ttl: Duration,
    prefixes: Vec<Vec<u8>>,
    counters: Counters,
}

/// One key's cached replies.
struct Slot {
    entries: Vec<Arc<Entry>>,
    weight: u64,
}

/// One command's reply.
struct Entry {
    /// The command's arguments but the key (`HGET f` of `HGET k f`), each
    /// as a 4-byte length and its bytes, the name as sent: one allocation.
    args: Box<[u8]>,
    value: Value,
    epoch: u64,
    until: Instant,
    weight: u64,
}

impl Entry {
    /// Whether this is the reply to `args` (the whole command, key included
    /// at 1): the name in any case, the rest byte for byte.
    fn answers(&self, args: &[&[u8]]) -> bool {
        let mut rest = &self.args[..];
        for (i, want) in args.iter().enumerate().filter(|(i, _)| *i != 1) {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else { return false };
            let len = u32::from_le_bytes(*len) as usize;
            let Some((arg, tail)) = tail.split_at_checked(len) else { return false };
            let same = if i == 0 { arg.eq_ignore_ascii_case(want) } else { arg == *want };
            if !same {
                return false;
            }
            rest = tail;
        }
        rest.is_empty()
    }
}

/// `args` but the key (at 1) in [`Entry::args`]'s form.
fn pack_args(args: &[&[u8]]) -> Box<[u8]> {
    let others = args.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, a)| a);
    let mut out = Vec::with_capacity(args.iter().map(|a| a.len() + 4).sum());
    for arg in others {
        out.extend_from_slice(&(arg.len() as u32).to_le_bytes());
        out.extend_from_slice(arg);
    }
    out.into_boxed_slice()
}

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<Box<[u8]>, Arc<Slot>> for Weigh {
    fn weight(&self, _key: &Box<[u8]>, slot: &Arc<Slot>) -> u64 {
        slot.weight
    }
}

impl ClientCache {
    /// An empty cache bounded as `config` says.
    pub(crate) fn new(config: &CacheConfig) -> ClientCache {
        // quick_cache sizes its tables from an item estimate: a typical
        // entry (a short key and a small string) weighs about 200 bytes.
        let items = (config.max_bytes / 200).clamp(16, 1 << 24) as usize;
        let entries = Cache::with(items, config.max_bytes, Weigh, Default::default(), Default::default());
        ClientCache {
            entries,
            stamps: (0..STAMPS).map(|_| AtomicU64::new(0)).collect(),
            ttl: config.ttl,
            prefixes: config.prefixes.clone(),
            counters: Counters::default(),
        }
    }

    /// The key of `args` if the command (`name`, canonical) may be answered
    /// from the cache: a cacheable read of one key under the configured
    /// prefixes.
    pub(crate) fn cacheable<'a>(&self, name: &str, args: &[&'a [u8]]) -> Option<&'a [u8]> {
        let key = *args.get(1)?;
        let one_key = name != "EXISTS" || args.len() == 2;
        let wanted = self.prefixes.is_empty() || self.prefixes.iter().any(|p| key.starts_with(p));
        (one_key && wanted && cacheable_command(name)).then_some(key)
    }

    /// The cached reply to `args` (whose key is `key`) read under `epoch`
    /// and not expired at `now`; counts a hit or a miss. Epoch 0 (no
    /// tracking connection) never hits.
    pub(crate) fn get(&self, key: &[u8], args: &[&[u8]], epoch: u64, now: Instant) -> Option<Value> {
        let found = match epoch {
            0 => None,
            _ => self.entries.get(key).and_then(|slot| {
                let e = slot.entries.iter().find(|e| e.answers(args))?;
                (e.epoch == epoch && e.until > now).then(|| e.value.clone())
            }),
        };
        self.counters.looked_up(found.is_some());
        found
    }

    /// The invalidation counter of `key`, to note before sending a read.
    pub(crate) fn stamp(&self, key: &[u8]) -> u64 {
        self.stamps[stamp_index(key)].load(Ordering::SeqCst)
    }

    /// Stores the reply `value` to `args` (key `key`), read under `epoch`,
    /// sent at `sent` when the key's counter was `stamp`, unless an
    /// invalidation of the key came since (see the module docs). Error
    /// replies are not stored. Returns whether it was stored.
    pub(crate) fn store(
        &self,
        key: &[u8],
        args: &[&[u8]],
        value: &Value,
        epoch: u64,
        stamp: u64,
        sent: Instant,
    ) -> bool {
        if epoch == 0 || matches!(value, Value::ServerError(_)) || self.stamp(key) != stamp {
            return false;
        }
        let entry = Entry {
            args: pack_args(args),
            weight: args.iter().map(|a| a.len() as u64 + 4).sum::<u64>() + value_size(value) + OVERHEAD,
            value: value.clone(),
            epoch,
            until: sent + self.ttl,
        };
        let now = Instant::now();
        let mut kept: Vec<Arc<Entry>> = self.entries.peek(key).map_or_else(Vec::new, |slot| {
            let keep = |e: &&Arc<Entry>| e.epoch == epoch && e.until > now && !e.answers(args);
            slot.entries.iter().filter(keep).cloned().collect()
        });
        if kept.len() >= PER_KEY {
            kept.remove(0);
        }
        kept.push(Arc::new(entry));
        let weight = key.len() as u64 + kept.iter().map(|e| e.weight).sum::<u64>();
        self.entries.insert(key.into(), Arc::new(Slot { entries: kept, weight }));
        if self.stamp(key) != stamp {
            self.entries.remove(key);
            return false;
        }
        true
    }

    /// Forgets `key` and moves its counter: an invalidation from the
    /// server, or the client's own write to it after its reply.
    pub(crate) fn evict(&self, key: &[u8]) {
        self.bump(key);
        self.entries.remove(key);
    }

    /// Moves `key`'s counter only: the client's own write to it, before it
    /// is sent. A read in flight across the write is then not stored; what
    /// is cached from before may still be served while the write is under
    /// way (it is concurrent with it) and is evicted after its reply.
    pub(crate) fn bump(&self, key: &[u8]) {
        self.stamps[stamp_index(key)].fetch_add(1, Ordering::SeqCst);
    }

    /// A push frame from a tracking connection: an invalidation evicts
    /// every key it names; a null one (`FLUSHALL`, `FLUSHDB`) or the
    /// connection's loss counts as a flush (the connection's epoch already
    /// changed, which is what stops its entries being served).
    pub(crate) fn on_push(&self, push: &PushInfo) {
        match (&push.kind, push.data.first()) {
            (PushKind::Invalidate, Some(Value::Array(keys) | Value::Set(keys))) => {
                for key in keys {
                    if let Value::BulkString(k) = key {
                        self.evict(k);
                    }
                }
                self.counters.invalidated(keys.len() as u64);
            }
            (PushKind::Invalidate, _) | (PushKind::Disconnection, _) => self.counters.flushed(),
            _ => {}
        }
    }

    /// The counters and the size now.
    pub(crate) fn stats(&self) -> CacheStats {
        self.counters.snapshot(self.entries.len() as u64, self.entries.weight())
    }
}

fn stamp_index(key: &[u8]) -> usize {
    crc32fast::hash(key) as usize & (STAMPS - 1)
}

/// About how many bytes `value` holds (its payload and each element's header).
fn value_size(value: &Value) -> u64 {
    const HEADER: u64 = std::mem::size_of::<Value>() as u64;
    HEADER
        + match value {
            Value::BulkString(b) => b.len() as u64,
            Value::SimpleString(s) => s.len() as u64,
            Value::VerbatimString { text, .. } => text.len() as u64,
            Value::BigNumber(n) => n.to_string().len() as u64,
            Value::Array(items) | Value::Set(items) => items.iter().map(value_size).sum(),
            Value::Map(pairs) => pairs.iter().map(|(k, v)| value_size(k) + value_size(v)).sum(),
            Value::Attribute { data, attributes } => {
                value_size(data) + attributes.iter().map(|(k, v)| value_size(k) + value_size(v)).sum::<u64>()
            }
            _ => 0,
        }
}
