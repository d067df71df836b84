//! Metrics through the [`metrics`](https://docs.rs/metrics/0.24) facade (feature
//! `metrics`): the application installs a recorder (Prometheus, OpenTelemetry,
//! StatsD, …) and disredis reports to it. Names and labels follow the
//! OpenTelemetry database-client conventions where they exist
//! (`db.client.operation.duration`, `db.client.connection.*`); the rest are
//! under `disredis.`. The one table of every name, label and its Prometheus
//! form is `docs/metrics.md`; the names are also the constants below.
//!
//! Install the recorder before connecting a client: each shard registers
//! its handles once and keeps them, so a request costs a map lookup rather
//! than a registration. See [`describe`] for an example.
//!
//! Without the feature every function here is empty and inlined away, and
//! the start stamp is a zero-sized type, so the request path reads no clock.

#![cfg_attr(not(feature = "metrics"), allow(dead_code))]

use std::borrow::Cow;

use crate::error::Error;

#[cfg(all(feature = "metrics", feature = "cache"))]
mod cache;
#[cfg(feature = "metrics")]
mod on;
#[cfg(all(feature = "metrics", feature = "cache"))]
pub(crate) use cache::CacheMetrics;
#[cfg(not(feature = "metrics"))]
use off as on;
#[cfg(all(not(feature = "metrics"), feature = "cache"))]
pub(crate) use off::CacheMetrics;
#[cfg(feature = "metrics")]
pub use on::describe;
pub(crate) use on::{
    Open, ShardMetrics, Stamp, connection_created, pubsub_dropped, pubsub_gap, ring_version, sentinel_error,
};

/// Histogram, seconds: one sample per request to a shard, retries and failover
/// waits included.
pub const OPERATION_DURATION: &str = "db.client.operation.duration";
/// Gauge, connections: open connections per shard and kind.
pub const CONNECTION_COUNT: &str = "db.client.connection.count";
/// Histogram, seconds: opening a connection to a master, `ROLE` check included.
pub const CONNECTION_CREATE_TIME: &str = "db.client.connection.create_time";
/// Counter: a request sent again after a failed attempt.
pub const RETRIES: &str = "disredis.retries";
/// Counter: a shard's connection dropped to resolve the master through Sentinel again.
pub const RE_RESOLVES: &str = "disredis.re_resolves";
/// Counter: a shard's connection moved to a different master (`+switch-master`,
/// the poll, or a re-resolve found another one).
pub const FAILOVERS: &str = "disredis.failovers";
/// Histogram, seconds: how long each outage lasted, from dropping a shard's
/// master connection to installing the next one.
pub const OUTAGE_DURATION: &str = "disredis.shard.outage.duration";
/// Gauge: 1 while a shard counts as down (`Error::ShardDown`), per client.
pub const SHARD_DOWN: &str = "disredis.shard.down";
/// Gauge: 1 while writes to a shard are held because a quorum of Sentinels
/// holds its master down (`Builder::fence_writes`), per client.
pub const WRITES_HELD: &str = "disredis.shard.writes_held";
/// Gauge: the ring version the client follows.
pub const RING_VERSION: &str = "disredis.ring.version";
/// Histogram, seconds: a pub/sub gap per sample, how long a shard had no subscription.
pub const PUBSUB_GAP_DURATION: &str = "disredis.pubsub.gap.duration";
/// Counter: pub/sub messages dropped because the consumer fell behind.
pub const PUBSUB_DROPPED: &str = "disredis.pubsub.dropped";
/// Counter: a Sentinel could not be used (connection failed, bad reply, subscription dropped).
pub const SENTINEL_ERRORS: &str = "disredis.sentinel.errors";
/// Counter (feature `cache`): cacheable reads, labelled `result` = `hit` or `miss`.
pub const CACHE_READS: &str = "disredis.cache.reads";
/// Counter (feature `cache`): keys the servers' invalidations named.
pub const CACHE_INVALIDATIONS: &str = "disredis.cache.invalidations";
/// Counter (feature `cache`): a shard connection's entries all dropped at once
/// (a null invalidation, or the connection ended).
pub const CACHE_FLUSHES: &str = "disredis.cache.flushes";

/// The longest `db.response.status_code` kept; a longer or odd prefix (a
/// script's own error reply) becomes `ERR`, so a label cannot grow without bound.
const MAX_CODE: usize = 24;

/// How a request failed, as labels: `error.type` and, for a Redis error reply,
/// `db.response.status_code` (its prefix: `WRONGTYPE`, `READONLY`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) error_type: Cow<'static, str>,
    pub(crate) status_code: Option<Cow<'static, str>>,
}

impl Failure {
    /// An error reply from the server (a `Value::ServerError`, or a `RedisError` with a code).
    pub(crate) fn reply(code: Option<&str>) -> Failure {
        let code: Cow<'static, str> = match code {
            Some(c) if !c.is_empty() && c.len() <= MAX_CODE && c.bytes().all(|b| b.is_ascii_uppercase()) => {
                Cow::Owned(c.to_owned())
            }
            _ => Cow::Borrowed("ERR"),
        };
        Failure { error_type: code.clone(), status_code: Some(code) }
    }

    /// Any error the client returns: a server reply's code, `timeout`, `io`, or
    /// the [`Error`] variant's name (`FailoverTimeout`, `CrossShard`, …).
    pub(crate) fn of(err: &Error) -> Failure {
        let client = |name| Failure { error_type: Cow::Borrowed(name), status_code: None };
        let Error::Redis(e) = err else { return client(err.name()) };
        match e.code() {
            _ if e.is_timeout() => client("timeout"),
            _ if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() => client("io"),
            Some(code) => Failure::reply(Some(code)),
            None => client("redis"),
        }
    }
}

/// Without the feature: the same items, empty.
#[cfg(not(feature = "metrics"))]
mod off {
    use std::time::Duration;

    use super::Failure;
    use crate::addr::NodeAddr;

    /// When a request started: nothing at all without the feature.
    pub(crate) struct Stamp;

    impl Stamp {
        #[inline(always)]
        pub(crate) fn now() -> Stamp {
            Stamp
        }

        /// The request was answered by the replica at `addr`.
        #[inline(always)]
        pub(crate) fn served_by(&mut self, _addr: NodeAddr) {}

        /// The request is done: neither closure is called (no shard lookup either).
        #[inline(always)]
        pub(crate) fn finished<'a>(
            self,
            _shard: impl FnOnce() -> &'a ShardMetrics,
            _command: &'static str,
            _failure: impl FnOnce() -> Option<Failure>,
        ) {
        }
    }

    /// One shard's metrics: nothing without the feature.
    pub(crate) struct ShardMetrics;

    impl ShardMetrics {
        #[inline(always)]
        pub(crate) fn new(_shard: &str) -> ShardMetrics {
            ShardMetrics
        }
        #[inline(always)]
        pub(crate) fn installed(&self, _addr: &NodeAddr, _failover: bool) {}
        #[inline(always)]
        pub(crate) fn invalidated(&self) {}
        #[inline(always)]
        pub(crate) fn marked_down(&self) {}
        #[inline(always)]
        pub(crate) fn marked_up(&self) {}
        #[inline(always)]
        pub(crate) fn writes_held(&self, _held: bool) {}
        #[inline(always)]
        pub(crate) fn retired(&self) {}
        #[inline(always)]
        pub(crate) fn replica_opened(&self, _addr: &NodeAddr) {}
        #[inline(always)]
        pub(crate) fn replica_closed(&self, _addr: &NodeAddr) {}
        #[inline(always)]
        pub(crate) fn retry(&self, _command: &'static str) {}
        #[inline(always)]
        pub(crate) fn dedicated(&self) -> Open {
            Open
        }
    }

    /// A dedicated connection counted while it lives: nothing without the feature.
    pub(crate) struct Open;

    /// The client cache's counters: nothing without the feature.
    #[cfg(feature = "cache")]
    #[derive(Default)]
    pub(crate) struct CacheMetrics;

    #[cfg(feature = "cache")]
    impl CacheMetrics {
        #[inline(always)]
        pub(crate) fn looked_up(&self, _hit: bool) {}
        #[inline(always)]
        pub(crate) fn invalidated(&self, _keys: u64) {}
        #[inline(always)]
        pub(crate) fn flushed(&self) {}
    }

    #[inline(always)]
    pub(crate) fn connection_created(_shard: &str, _addr: &NodeAddr, _since: Stamp) {}
    #[inline(always)]
    pub(crate) fn ring_version(_version: u64) {}
    #[inline(always)]
    pub(crate) fn pubsub_gap(_shard: &str, _without: Duration) {}
    #[inline(always)]
    pub(crate) fn pubsub_dropped(_dropped: u64) {}
    #[inline(always)]
    pub(crate) fn sentinel_error(_addr: &str) {}
}

#[cfg(test)]
mod tests;
