//! The client cache's counters (features `metrics` and `cache`), registered
//! once per client so a hit costs one atomic add in the recorder's handle.

use ::metrics::{Counter, Label, counter};

use super::{CACHE_FLUSHES, CACHE_INVALIDATIONS, CACHE_READS};

const SYSTEM: Label = Label::from_static_parts("db.system.name", "redis");

/// Handles for [`CACHE_READS`] (hit and miss), [`CACHE_INVALIDATIONS`] and [`CACHE_FLUSHES`].
pub(crate) struct CacheMetrics {
    hits: Counter,
    misses: Counter,
    invalidations: Counter,
    flushes: Counter,
}

impl Default for CacheMetrics {
    fn default() -> Self {
        let read = |result: &'static str| {
            counter!(CACHE_READS, vec![SYSTEM, Label::from_static_parts("disredis.cache.result", result)])
        };
        CacheMetrics {
            hits: read("hit"),
            misses: read("miss"),
            invalidations: counter!(CACHE_INVALIDATIONS, vec![SYSTEM]),
            flushes: counter!(CACHE_FLUSHES, vec![SYSTEM]),
        }
    }
}

impl CacheMetrics {
    pub(crate) fn looked_up(&self, hit: bool) {
        match hit {
            true => self.hits.increment(1),
            false => self.misses.increment(1),
        }
    }

    pub(crate) fn invalidated(&self, keys: u64) {
        self.invalidations.increment(keys);
    }

    pub(crate) fn flushed(&self) {
        self.flushes.increment(1);
    }
}
