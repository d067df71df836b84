//! Builder and validated configuration. Pure: no I/O.
//!
//! [`Builder`] collects raw settings; [`Builder::build`] validates them into a
//! [`Config`], naming the bad value in an [`Error::Config`](crate::Error::Config). Every default is a
//! named constant below so the docs, the code and the tests agree; the `Builder`
//! docs hold the one table of every setting with its default value (the
//! constants' own docs say why, not how much).

use std::fmt;
use std::time::Duration;

pub use crate::addr::NodeAddr;
use crate::secret::Secret;
#[cfg(feature = "tls")]
pub use crate::tls::TlsConfig;

/// Connect timeout for data nodes (masters): redis-rs's own default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// TCP keepalive idle time on connections to data nodes (see
/// [`Builder::tcp_keepalive`]): a peer that vanished without closing (a
/// powered-off host, a dropped route) is noticed on an idle connection within
/// a minute — 30 s idle, then a probe every 10 s, closed after 3 unanswered —
/// instead of Linux's default two hours and eleven minutes.
pub const DEFAULT_TCP_KEEPALIVE: Duration = Duration::from_secs(30);
/// Response timeout for ordinary commands: redis-rs's own default (a timeout
/// counts as a failure of the shard: it may be hung).
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// Connect and response timeout for Sentinel queries. Short on purpose:
/// a dead Sentinel must not delay trying the next one (Sentinel answers in well
/// under a millisecond on a healthy network).
pub const DEFAULT_SENTINEL_TIMEOUT: Duration = Duration::from_millis(250);
/// How many Sentinels must name the same master before it is used: the first
/// that answers, one query, as the Sentinel client guidelines have it.
pub const DEFAULT_SENTINEL_QUORUM: usize = 1;
/// How long one request keeps retrying a failing shard. Sentinel with
/// `down-after-milliseconds 5000` (a common production value) fails over in
/// roughly 6–7 s; the default leaves room for one aborted attempt.
pub const DEFAULT_FAILOVER_DEADLINE: Duration = Duration::from_secs(15);
/// How long a shard may have no usable master before it counts as down (see
/// [`Builder::shard_down_after`]). Long enough that a connection dropped in
/// passing or a failover (about 1–2 s once Sentinel acts) never counts; short
/// enough that a shard that can't come back soon stops holding callers' workers
/// (docs/failover.md, "A dead shard", has the measurement).
pub const DEFAULT_SHARD_DOWN_AFTER: Duration = Duration::from_secs(2);
/// First retry delay. The promoted master usually becomes visible through
/// Sentinel within ~1–2 s, so short polls find it soon after it appears instead
/// of overshooting it by a long exponential step.
pub const DEFAULT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Largest retry delay (each delay is jittered down to half of itself).
/// Bounds the time between Sentinel announcing the new master and the first
/// retry reaching it; costs at most ~10 Sentinel queries per second per failing
/// shard (single flight: shared by every request waiting on that shard).
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_millis(100);
/// How often each shard's master address is also polled from Sentinel
/// (`GET-MASTER-ADDR-BY-NAME`). Backs up the `+switch-master` subscription,
/// whose delivery Sentinel does not guarantee.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How often the members' ring record is read to follow a change (see
/// `disredis::Ring`). Backs up the ring channel (`__disredis__:ring`), on which
/// a change is announced but whose delivery is not guaranteed either; a ring
/// change waits for every client to follow it, so this bounds its pace.
pub const DEFAULT_RING_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Where read-only commands go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadFrom {
    /// Every command goes to the master (the default: reads see every write).
    #[default]
    Master,
    /// Read-only commands go to a healthy replica (round robin), to the master
    /// when the shard has none. Reads may lag behind writes.
    PreferReplica,
    /// Read-only commands go to a healthy replica only; with none the read fails
    /// with [`Error::NoReplica`](crate::Error::NoReplica) (use this to keep read load off the master).
    Replica,
}

/// Rewrites every address Sentinel reports (masters, replicas, Sentinels), for
/// Sentinels that announce addresses the client can't reach (NAT, containers).
/// Set with [`Builder::address_map`].
#[derive(Clone)]
pub struct AddressMap(std::sync::Arc<dyn Fn(&NodeAddr) -> NodeAddr + Send + Sync>);

impl AddressMap {
    /// The address to use for `addr` as Sentinel reported it.
    pub fn apply(&self, addr: &NodeAddr) -> NodeAddr {
        (self.0)(addr)
    }
}

impl fmt::Debug for AddressMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AddressMap(<fn>)")
    }
}

/// How to reach one kind of node (data nodes or Sentinels): credentials and, with
/// the `tls` feature, TLS. Kept per kind because Sentinels usually have their own
/// password (`requirepass` on the Sentinel) and often plain TCP while the data
/// nodes use TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Auth {
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// `Some`: connect with TLS (`rediss://`); `None`: plain TCP.
    #[cfg(feature = "tls")]
    pub tls: Option<TlsConfig>,
}

/// Validated configuration. Built by [`Builder::build`]; see the builder's
/// methods for what each field means and its default.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) sentinels: Vec<NodeAddr>,
    pub(crate) masters: Option<Vec<String>>,
    pub(crate) redis_auth: Auth,
    pub(crate) sentinel_auth: Auth,
    pub(crate) db: i64,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Option<Duration>,
    pub(crate) tcp_nodelay: bool,
    pub(crate) tcp_keepalive: Option<Duration>,
    pub(crate) sentinel_timeout: Duration,
    pub(crate) sentinel_quorum: usize,
    pub(crate) failover_deadline: Duration,
    pub(crate) shard_down_after: Option<Duration>,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) retry_non_idempotent: bool,
    pub(crate) fence_writes: bool,
    pub(crate) read_from: ReadFrom,
    pub(crate) wait_replicas: Option<(usize, Duration)>,
    pub(crate) address_map: Option<AddressMap>,
    pub(crate) watch: bool,
    pub(crate) poll_interval: Duration,
    pub(crate) ring_poll_interval: Duration,
    #[cfg(feature = "cache")]
    pub(crate) client_cache: Option<CacheConfig>,
}

mod builder;
#[cfg(feature = "cache")]
mod cache;
mod validate;
pub use builder::Builder;
#[cfg(feature = "cache")]
pub use cache::{CacheConfig, DEFAULT_CACHE_BYTES, DEFAULT_CACHE_TTL};

#[cfg(test)]
mod tests;
