//! [`Builder`]: every setting of a client with its default (the validation
//! into a [`Config`](super::Config) is `validate.rs`). Pure.

use std::time::Duration;

#[cfg(feature = "tls")]
use super::TlsConfig;
use super::{
    AddressMap, Auth, DEFAULT_BACKOFF_MAX, DEFAULT_BACKOFF_MIN, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_FAILOVER_DEADLINE, DEFAULT_POLL_INTERVAL, DEFAULT_RESPONSE_TIMEOUT, DEFAULT_RING_POLL_INTERVAL,
    DEFAULT_SENTINEL_QUORUM, DEFAULT_SENTINEL_TIMEOUT, DEFAULT_SHARD_DOWN_AFTER, DEFAULT_TCP_KEEPALIVE,
    NodeAddr, ReadFrom,
};
use crate::secret::Secret;

/// Collects settings for a [`DisredisClient`](crate::DisredisClient); nothing is
/// checked until [`build`](Builder::build) or [`connect`](Builder::connect).
///
/// ```no_run
/// # async fn demo() -> disredis::Result<()> {
/// use std::time::Duration;
///
/// let client = disredis::DisredisClient::builder()
///     .sentinels(["10.0.0.1:26379", "10.0.0.2:26379", "[fd00::3]:26379"])
///     .masters(["shard-a", "shard-b"]) // default: every master Sentinel monitors
///     .password("data-node-password") // and .username(..) for ACLs
///     .sentinel_password("sentinel-password") // and .sentinel_username(..)
///     .failover_deadline(Duration::from_secs(30))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
///
/// Most settings can also come from a `redis+sentinel://` URL
/// ([`Builder::from_url`]; every parameter is in the [`url`](crate::url) module
/// docs), with the rest (TLS, [`address_map`](Builder::address_map), …) added to
/// the builder it returns.
///
/// # Settings
///
/// Every setting, with its default (the defaults are the `DEFAULT_*` constants of
/// this crate):
///
/// | setting | default | meaning |
/// |---|---|---|
/// | [`sentinels`](Builder::sentinels) | required | `host:port` or `[v6]:port`, tried in order (duplicates dropped); the one that answers moves to the front; more are learned from `SENTINEL SENTINELS` |
/// | [`masters`](Builder::masters) | every master the Sentinel monitors | the seed: where to read the ring record, and version 1's members when there is none (the ring's members decide placement); a name the Sentinel doesn't monitor is [`Error::UnknownMaster`](crate::Error::UnknownMaster) at connect |
/// | [`username`](Builder::username), [`password`](Builder::password) | none | ACL credentials for masters and replicas (never in `Debug` or logs) |
/// | [`sentinel_username`](Builder::sentinel_username), [`sentinel_password`](Builder::sentinel_password) | none | credentials for Sentinels (their own `requirepass`) |
/// | `tls`, `sentinel_tls` (feature `tls`) | plain TCP | TLS to masters and replicas, and separately to Sentinels, with a `TlsConfig` |
/// | [`db`](Builder::db) | 0 | database number on every master |
/// | [`connect_timeout`](Builder::connect_timeout) | 1 s ([`DEFAULT_CONNECT_TIMEOUT`]) | connecting to a master or replica |
/// | [`response_timeout`](Builder::response_timeout) | 500 ms ([`DEFAULT_RESPONSE_TIMEOUT`]) | per command; `None` waits forever. A timeout counts as a failure of the shard. Blocking commands (`BLPOP`, …) go over a connection without it |
/// | [`tcp_nodelay`](Builder::tcp_nodelay) | on | TCP_NODELAY on connections to masters and replicas |
/// | [`tcp_keepalive`](Builder::tcp_keepalive) | 30 s ([`DEFAULT_TCP_KEEPALIVE`]) | TCP keepalive idle time on connections to masters and replicas; `None`: off |
/// | [`sentinel_timeout`](Builder::sentinel_timeout) | 250 ms ([`DEFAULT_SENTINEL_TIMEOUT`]) | connect and reply timeout per Sentinel, so a dead one is skipped fast |
/// | [`sentinel_quorum`](Builder::sentinel_quorum) | 1 ([`DEFAULT_SENTINEL_QUORUM`]): the first Sentinel that answers | how many Sentinels must name the same master before it is used; a majority fences a Sentinel cut off from the others ([`Error::NoQuorum`](crate::Error::NoQuorum) when they don't agree) |
/// | [`failover_deadline`](Builder::failover_deadline) | 15 s ([`DEFAULT_FAILOVER_DEADLINE`]) | how long one request keeps retrying a failing shard before [`Error::FailoverTimeout`](crate::Error::FailoverTimeout) |
/// | [`shard_down_after`](Builder::shard_down_after) | 2 s ([`DEFAULT_SHARD_DOWN_AFTER`]) | how long a shard may have no usable master (with no promotion possible or under way, or with Sentinel hearing the master the client can't reach) before its requests fail at once with [`Error::ShardDown`](crate::Error::ShardDown); `None`: never, every request waits out its deadline |
/// | [`backoff(min, max)`](Builder::backoff) | 10 ms ([`DEFAULT_BACKOFF_MIN`]), 100 ms ([`DEFAULT_BACKOFF_MAX`]) | retry delays, exponential, each jittered down to between half and all of itself |
/// | [`retry_non_idempotent`](Builder::retry_non_idempotent) | `false` | also retry non-idempotent commands whose fate is unknown (at-least-once) instead of [`Error::Ambiguous`](crate::Error::Ambiguous) |
/// | [`fence_writes`](Builder::fence_writes) | on | hold writes to a master a quorum of Sentinels holds down (`+odown`) until the failover is decided, instead of writing into a possible split brain |
/// | [`wait_replicas(n, timeout)`](Builder::wait_replicas) | off | durability mode: `WAIT n timeout` after every write, [`Error::NotReplicated`](crate::Error::NotReplicated) when fewer replicas acknowledged it |
/// | [`client_cache`](Builder::client_cache) (feature `cache`) | off | client-side caching of single-key reads, kept correct by the server's invalidations ([`CacheConfig`](crate::CacheConfig), `docs/caching.md`) |
/// | [`read_from`](Builder::read_from) | [`ReadFrom::Master`] | where read-only commands go |
/// | [`address_map(f)`](Builder::address_map) | none | rewrite every address Sentinel reports (NAT, containers) |
/// | [`watch_sentinels(on, poll_interval)`](Builder::watch_sentinels) | on, every 2 s ([`DEFAULT_POLL_INTERVAL`]) | `+switch-master` subscriptions on every known Sentinel and the address poll that backs them up |
/// | [`ring_poll_interval`](Builder::ring_poll_interval) | every 1 s ([`DEFAULT_RING_POLL_INTERVAL`]) | how often the members' ring record is read to follow a change (a change announced on the ring channel is followed at once) |
///
/// [`build`](Builder::build) (and `connect`, which calls it) checks the values and
/// fails with [`Error::Config`](crate::Error::Config) naming the setting and the value (never a secret):
/// no Sentinel, an address that is not `host:port`, an empty `masters` list or a
/// master name with spaces, a negative `db`, a zero timeout, deadline, backoff or
/// poll interval, a `sentinel_quorum` or `wait_replicas` of 0, a `backoff` whose `min` exceeds
/// `max`, a cache of less than 1 KiB, a zero cache TTL or a cache with `wait_replicas`, or (feature `tls`) a certificate or key that is not valid PEM.
#[derive(Debug, Clone)]
pub struct Builder {
    pub(super) sentinels: Vec<String>,
    pub(super) masters: Option<Vec<String>>,
    pub(super) redis_auth: Auth,
    pub(super) sentinel_auth: Auth,
    pub(super) db: i64,
    pub(super) connect_timeout: Duration,
    pub(super) response_timeout: Option<Duration>,
    pub(super) tcp_nodelay: bool,
    pub(super) tcp_keepalive: Option<Duration>,
    pub(super) sentinel_timeout: Duration,
    pub(super) sentinel_quorum: usize,
    pub(super) failover_deadline: Duration,
    pub(super) shard_down_after: Option<Duration>,
    pub(super) backoff: (Duration, Duration),
    pub(super) retry_non_idempotent: bool,
    pub(super) fence_writes: bool,
    pub(super) read_from: ReadFrom,
    pub(super) wait_replicas: Option<(usize, Duration)>,
    pub(super) address_map: Option<AddressMap>,
    pub(super) watch: bool,
    pub(super) poll_interval: Duration,
    pub(super) ring_poll_interval: Duration,
    #[cfg(feature = "cache")]
    pub(super) client_cache: Option<super::CacheConfig>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            sentinels: Vec::new(),
            masters: None,
            redis_auth: Auth::default(),
            sentinel_auth: Auth::default(),
            db: 0,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: Some(DEFAULT_RESPONSE_TIMEOUT),
            tcp_nodelay: true,
            tcp_keepalive: Some(DEFAULT_TCP_KEEPALIVE),
            sentinel_timeout: DEFAULT_SENTINEL_TIMEOUT,
            sentinel_quorum: DEFAULT_SENTINEL_QUORUM,
            failover_deadline: DEFAULT_FAILOVER_DEADLINE,
            shard_down_after: Some(DEFAULT_SHARD_DOWN_AFTER),
            backoff: (DEFAULT_BACKOFF_MIN, DEFAULT_BACKOFF_MAX),
            retry_non_idempotent: false,
            fence_writes: true,
            read_from: ReadFrom::Master,
            wait_replicas: None,
            address_map: None,
            watch: true,
            poll_interval: DEFAULT_POLL_INTERVAL,
            ring_poll_interval: DEFAULT_RING_POLL_INTERVAL,
            #[cfg(feature = "cache")]
            client_cache: None,
        }
    }
}

impl Builder {
    /// Sentinel addresses, `host:port` or `[v6]:port`, tried in this order. Required.
    pub fn sentinels<I, S>(mut self, addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.sentinels = addrs.into_iter().map(|s| s.as_ref().to_owned()).collect();
        self
    }

    /// The seed: which masters to read the ring record from, and the members of
    /// version 1 when no master holds one yet. Default: every master the
    /// Sentinel monitors (use this when one Sentinel set watches the masters of
    /// several applications). A name the Sentinel does not know is an
    /// [`Error::UnknownMaster`](crate::Error::UnknownMaster).
    ///
    /// Once a ring exists, its members decide where keys go, not this list, so
    /// clients with different lists never place a key differently: a seed
    /// master the ring doesn't list is not routed to (see
    /// [`Topology::unrouted`](crate::Topology::unrouted)), and a member outside
    /// the list is routed to all the same. See [`Ring`](crate::Ring).
    pub fn masters<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.masters = Some(names.into_iter().map(|s| s.as_ref().to_owned()).collect());
        self
    }

    /// ACL username for masters and replicas. Default: none.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.redis_auth.username = Some(username.into());
        self
    }

    /// Password for masters and replicas. Default: none. Never logged.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.redis_auth.password = Some(Secret::new(password));
        self
    }

    /// ACL username for Sentinels. Default: none.
    pub fn sentinel_username(mut self, username: impl Into<String>) -> Self {
        self.sentinel_auth.username = Some(username.into());
        self
    }

    /// Password for Sentinels (`requirepass` on the Sentinels). Default: none.
    pub fn sentinel_password(mut self, password: impl Into<String>) -> Self {
        self.sentinel_auth.password = Some(Secret::new(password));
        self
    }

    /// Connect to masters and replicas with TLS. Default: plain TCP. The
    /// certificate must cover the address Sentinel reports for the node (an IP
    /// unless Sentinel runs with `announce-hostnames`). Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.redis_auth.tls = Some(tls);
        self
    }

    /// Connect to Sentinels with TLS (Sentinel's `tls-port`). Default: plain TCP,
    /// independently of [`tls`](Builder::tls): Sentinels often listen on plain
    /// TCP while the data nodes use TLS. Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn sentinel_tls(mut self, tls: TlsConfig) -> Self {
        self.sentinel_auth.tls = Some(tls);
        self
    }

    /// Database number on every master. Default: 0.
    pub fn db(mut self, db: i64) -> Self {
        self.db = db;
        self
    }

    /// Connect timeout for masters. Default: [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Response timeout for commands; `None` waits forever (then a hung master is
    /// only noticed through Sentinel). Default: [`DEFAULT_RESPONSE_TIMEOUT`].
    pub fn response_timeout(mut self, t: Option<Duration>) -> Self {
        self.response_timeout = t;
        self
    }

    /// TCP_NODELAY on connections to masters and replicas. Default: on — a
    /// request is a small write that must go out at once, not wait for the
    /// acknowledgement of the one before (Nagle's algorithm). The connection
    /// already coalesces the writes of concurrent requests itself.
    pub fn tcp_nodelay(mut self, on: bool) -> Self {
        self.tcp_nodelay = on;
        self
    }

    /// TCP keepalive idle time on connections to masters and replicas; `None`
    /// turns keepalive off. After it, a probe every 10 s, and the connection is
    /// closed after 3 unanswered (Linux, macOS, FreeBSD; elsewhere the OS's
    /// defaults): an idle connection to a vanished peer is closed within the
    /// idle time + 30 s, before a request finds it dead. A request on a busy
    /// connection doesn't wait for this: the response timeout bounds it.
    /// Default: [`DEFAULT_TCP_KEEPALIVE`].
    pub fn tcp_keepalive(mut self, idle: Option<Duration>) -> Self {
        self.tcp_keepalive = idle;
        self
    }

    /// Connect and response timeout for Sentinel queries.
    /// Default: [`DEFAULT_SENTINEL_TIMEOUT`].
    pub fn sentinel_timeout(mut self, t: Duration) -> Self {
        self.sentinel_timeout = t;
        self
    }

    /// How many Sentinels must name the same master address before the client
    /// connects to it. Default: [`DEFAULT_SENTINEL_QUORUM`] (1: the first
    /// Sentinel that answers, one query per lookup).
    ///
    /// A Sentinel on the minority side of a partition keeps naming the master it
    /// knew: possibly the old master, which there still takes writes that are
    /// lost when the partition heals. With `n` above 1 every master lookup (at
    /// connect, on a re-resolve, the address poll) asks all known Sentinels at
    /// once and uses an address only when `n` name it and no other as many;
    /// else [`Error::NoQuorum`](crate::Error::NoQuorum) naming what each said, retried until the
    /// failover deadline. Use a majority of your Sentinels (2 of 3, 3 of 5), the
    /// same majority Sentinel needs to fail over. More than the Sentinels known
    /// after discovery is [`Error::Config`](crate::Error::Config) at connect. `+switch-master` is
    /// still followed as it comes (only a majority's elected leader sends it),
    /// and whatever the quorum the address poll never takes a shard back to
    /// the master a `+switch-master` moved it from (docs/failover.md).
    pub fn sentinel_quorum(mut self, n: usize) -> Self {
        self.sentinel_quorum = n;
        self
    }

    /// How long a request keeps retrying a failing shard before
    /// [`Error::FailoverTimeout`](crate::Error::FailoverTimeout). Default: [`DEFAULT_FAILOVER_DEADLINE`].
    pub fn failover_deadline(mut self, t: Duration) -> Self {
        self.failover_deadline = t;
        self
    }

    /// When a shard counts as down: once it has had no usable master for `t`
    /// and the first Sentinel that answers names no failover under way for it
    /// and no replica it could promote (a replica it flags down counts as gone
    /// only once it has not heard from it for `t`), or hears the master itself
    /// (not flagged down, answered within `t`, reporting the master role: a
    /// partition between this client and a healthy master, which no failover
    /// ends), or, when it has a replica to promote or no Sentinel answers, for
    /// a whole
    /// [`failover_deadline`](Builder::failover_deadline). From then on its
    /// requests fail at once with [`Error::ShardDown`](crate::Error::ShardDown)
    /// instead of each waiting out its deadline, so callers' workers stay free
    /// for the healthy shards; a background probe asks Sentinel every 250 ms
    /// and the shard is up again as soon as a master answers `ROLE master`
    /// ([`Event::ShardDown`](crate::Event::ShardDown) /
    /// [`Event::ShardUp`](crate::Event::ShardUp)). `None` turns it off: every
    /// request waits out its deadline, as before. Default:
    /// [`DEFAULT_SHARD_DOWN_AFTER`]. The states and a measurement:
    /// docs/failover.md, "A dead shard".
    pub fn shard_down_after(mut self, t: Option<Duration>) -> Self {
        self.shard_down_after = t;
        self
    }

    /// Retry delay bounds: delays grow exponentially from `min` to `max`, each
    /// jittered to between half and all of itself. Defaults:
    /// [`DEFAULT_BACKOFF_MIN`], [`DEFAULT_BACKOFF_MAX`].
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = (min, max);
        self
    }

    /// Also retry non-idempotent commands (INCR, LPUSH, …) whose fate is unknown
    /// because the connection failed after they were sent: at-least-once instead
    /// of [`Error::Ambiguous`](crate::Error::Ambiguous). Default: `false`.
    pub fn retry_non_idempotent(mut self, yes: bool) -> Self {
        self.retry_non_idempotent = yes;
        self
    }

    /// Holds writes (not reads) to a shard's master while a quorum of
    /// Sentinels holds it down (`+odown` on the `+switch-master`
    /// subscriptions), until a failover installs another master, `-odown`
    /// says it is up, `-failover-abort-no-good-slave` says no failover is
    /// coming, or the failover deadline passes. In a split brain the old
    /// master takes writes the client still sends it and drops them when it
    /// rejoins; held, they go to the promoted master instead (measured in
    /// docs/reliability.md). A held write waits within its own failover
    /// deadline and was never sent, so it is safe to retry whatever it is.
    /// Costs nothing while no master is down (one atomic load per write).
    /// Default: on.
    pub fn fence_writes(mut self, on: bool) -> Self {
        self.fence_writes = on;
        self
    }

    /// Where read-only commands go. Default: [`ReadFrom::Master`].
    pub fn read_from(mut self, read_from: ReadFrom) -> Self {
        self.read_from = read_from;
        self
    }

    /// Durability mode: follow every write with `WAIT replicas timeout` on the same
    /// connection. An acknowledged write then survives the loss of its master; it
    /// costs one replication round trip per write. Default: off.
    ///
    /// When fewer replicas acknowledged it within `timeout`, the master has still
    /// applied the write. If the shard's connection was installed less than the
    /// [`failover_deadline`](Builder::failover_deadline) ago (after a failover, or
    /// at connect: a promoted master's replicas re-attach a moment after the
    /// failover, Valkey 9.1 later than Redis 7.0), `WAIT` is sent again on that
    /// connection (each time for up to `timeout`) until enough replicas have it or
    /// that window has passed; then it is [`Error::NotReplicated`](crate::Error::NotReplicated). On an older
    /// connection a missing replica is down, not attaching: the first count is
    /// the answer, so a shard whose replica is gone answers each write after one
    /// `timeout` instead of stalling its shared connection (which serves nothing
    /// else while `WAIT` blocks) for the whole deadline. Also at once when the
    /// write cannot be told to have gone over the current connection (it was
    /// retried on a new one) or used a blocking command's own connection.
    pub fn wait_replicas(mut self, replicas: usize, timeout: Duration) -> Self {
        self.wait_replicas = Some((replicas, timeout));
        self
    }

    /// Rewrites every address Sentinel reports (masters, replicas, Sentinels)
    /// before it is used: for Sentinels behind NAT or in containers that announce
    /// internal addresses. Default: none.
    pub fn address_map(mut self, map: impl Fn(&NodeAddr) -> NodeAddr + Send + Sync + 'static) -> Self {
        self.address_map = Some(AddressMap(std::sync::Arc::new(map)));
        self
    }

    /// Subscribe to `+switch-master` on every known Sentinel and poll each
    /// master's address every `poll_interval`, switching a shard before a request
    /// fails. Default: on, every [`DEFAULT_POLL_INTERVAL`].
    pub fn watch_sentinels(mut self, on: bool, poll_interval: Duration) -> Self {
        self.watch = on;
        self.poll_interval = poll_interval;
        self
    }

    /// Read the ring record from the members every `interval` (besides acting
    /// at once on a change announced on the ring channel). Default: every
    /// [`DEFAULT_RING_POLL_INTERVAL`].
    pub fn ring_poll_interval(mut self, interval: Duration) -> Self {
        self.ring_poll_interval = interval;
        self
    }
}
