//! [`CacheConfig`] (feature `cache`): the settings of client-side caching and
//! [`Builder::client_cache`], which turns it on. What is cached, the
//! guarantees and the measured figures: `docs/caching.md`.

use std::time::Duration;

use super::Builder;

/// Default bound on the cache's memory: 64 MiB of keys, commands and
/// replies (each entry also counts a fixed overhead, [`CacheConfig::max_bytes`]).
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

/// Default client-side lifetime of an entry: 60 s. Invalidations keep
/// entries fresh; this bounds how long one can be served when they can't
/// arrive (a master that hangs without its connection failing, a key whose
/// server-side expiry has passed but which the server has not yet deleted).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// Client-side caching settings, for [`Builder::client_cache`]. Defaults:
/// [`DEFAULT_CACHE_BYTES`], [`DEFAULT_CACHE_TTL`], every key.
///
/// ```
/// # fn demo() -> disredis::Result<()> {
/// use std::time::Duration;
/// let cache = disredis::CacheConfig::new()
///     .max_bytes(256 << 20)
///     .ttl(Duration::from_secs(30))
///     .prefixes(["session:", "flag:"]);
/// let builder = disredis::DisredisClient::builder().sentinels(["127.0.0.1:26381"]).client_cache(cache);
/// # let _ = builder.build()?; Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    pub(crate) max_bytes: u64,
    pub(crate) ttl: Duration,
    pub(crate) prefixes: Vec<Vec<u8>>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { max_bytes: DEFAULT_CACHE_BYTES, ttl: DEFAULT_CACHE_TTL, prefixes: Vec::new() }
    }
}

impl CacheConfig {
    /// The defaults: [`DEFAULT_CACHE_BYTES`], [`DEFAULT_CACHE_TTL`], every key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bound on the memory the entries take: the key, the command's
    /// arguments and the reply of each, plus about 200 bytes of bookkeeping
    /// per entry. Least recently and least frequently used entries go first
    /// (CLOCK-Pro). Default [`DEFAULT_CACHE_BYTES`]; at least 1 KiB.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// How long an entry may be served at most, whatever the server says
    /// (see [`DEFAULT_CACHE_TTL`] for why there is one). Default
    /// [`DEFAULT_CACHE_TTL`]; greater than zero.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Cache only keys that start with one of `prefixes` (the hot ones:
    /// sessions, flags); others are read from the server as without a
    /// cache. Default: every key.
    pub fn prefixes<I, P>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.prefixes = prefixes.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }
}

impl Builder {
    /// Client-side caching (feature `cache`): single-key reads (`GET`,
    /// `HGET`, `HGETALL`, `SMEMBERS`, `ZRANGE`, … the list is in
    /// `docs/caching.md`) are answered from the client's memory after the
    /// first, kept correct by the server's invalidations (`CLIENT TRACKING`
    /// on each shard connection, which then speaks RESP3). Default: off.
    ///
    /// With it on, a `redis::Value` read directly has RESP3's shapes (a map
    /// for `HGETALL`, a double for `ZSCORE`); conversions to Rust types
    /// (`FromRedisValue`) accept both. Cached reads go to the master
    /// whatever [`read_from`](Builder::read_from) says (the master's
    /// connection is the one that is told about changes). Refused with
    /// durability mode ([`wait_replicas`](Builder::wait_replicas)): an
    /// entry could hold a write no replica has yet (one that came back
    /// `NotReplicated` to its writer), which that mode promises not to
    /// build on.
    pub fn client_cache(mut self, cache: CacheConfig) -> Self {
        self.client_cache = Some(cache);
        self
    }
}
