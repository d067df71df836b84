//! [`CacheStats`]: what the client cache did, as `DisredisClient::cache_stats`
//! reports it, and the counters behind it (also reported as metrics with the
//! `metrics` feature: `docs/metrics.md`).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::CacheMetrics;

/// What the client cache did since the client connected, and its size now
/// (see `DisredisClient::cache_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Cacheable reads that went to the server (nothing cached, expired, or
    /// read under a connection that is no longer current).
    pub misses: u64,
    /// Keys the servers said changed (each evicts the key's entries).
    pub invalidations: u64,
    /// Times a shard connection's entries all stopped being served at once:
    /// a null invalidation (`FLUSHALL`, `FLUSHDB`) or the connection's end
    /// (failed, replaced by a failover or a new ring, closed).
    pub flushes: u64,
    /// Keys with entries now (some may be of a flushed connection, not yet
    /// evicted: they are never served).
    pub entries: u64,
    /// Their weight in bytes now, bounded by `CacheConfig::max_bytes`.
    pub bytes: u64,
}

/// The counters, with the metrics' handles.
#[derive(Default)]
pub(super) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
    metrics: CacheMetrics,
}

impl Counters {
    pub(super) fn looked_up(&self, hit: bool) {
        match hit {
            true => self.hits.fetch_add(1, Ordering::Relaxed),
            false => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        self.metrics.looked_up(hit);
    }

    pub(super) fn invalidated(&self, keys: u64) {
        self.invalidations.fetch_add(keys, Ordering::Relaxed);
        self.metrics.invalidated(keys);
    }

    pub(super) fn flushed(&self) {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.metrics.flushed();
    }

    pub(super) fn snapshot(&self, entries: u64, bytes: u64) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            entries,
            bytes,
        }
    }
}
