//! [`DisredisClient`]: the public face. Connecting, what a caller can ask about
//! the shards, and `ConnectionLike`, which hands each command to a `WATCH`
//! session (`pinned`) or to `dispatch`. Everything below lives in the
//! [`Executor`] behind one `Arc`.

use std::sync::Arc;
use std::time::Duration;

use redis::{Cmd, Pipeline, RedisFuture, Value};
use tracing::{Instrument, info_span};

use crate::config::{Builder, Config};
use crate::dispatch;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::execute::Executor;
use crate::execute::policy::Policy;
use crate::on_shard::ShardHandle;
use crate::pinned::{self, Pinned};
use crate::plan::session_command;
use crate::request::{self, cmd_args};
use crate::sentinel::SentinelView;
use crate::topology::Topology;

/// A sharding Redis client over Sentinel-managed masters.
///
/// Cheap to clone (an `Arc` inside); every clone shares the shard connections.
/// It implements [`redis::aio::ConnectionLike`], so every
/// [`redis::AsyncCommands`] method, `redis::cmd(..).query_async` and
/// single-shard `redis::pipe()` pipelines work on it unchanged:
///
/// ```no_run
/// # async fn demo() -> disredis::Result<()> {
/// use redis::AsyncCommands;
/// let client = disredis::DisredisClient::connect(["127.0.0.1:26381", "127.0.0.1:26382"]).await?;
/// let mut con = client.clone();
/// con.set::<_, _, ()>("user:42", "ann").await?;
/// let name: String = con.get("user:42").await?;
/// assert_eq!(name, "ann");
/// println!("user:42 lives on {}", client.shard_for("user:42"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DisredisClient {
    exec: Arc<Executor>,
    /// Set while this handle holds a `WATCH` (see `pinned`).
    pinned: Option<Pinned>,
    /// This handle's own deadline and at-least-once choice (see
    /// [`DisredisClient::with_failover_deadline`]).
    policy: Policy,
}

impl std::fmt::Debug for DisredisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisredisClient")
            .field("topology", &self.topology())
            .field("sentinels", &self.sentinels())
            .finish()
    }
}

impl Builder {
    /// Validates the settings, discovers the masters through the first Sentinel
    /// that answers and connects to every shard. See [`DisredisClient::connect`].
    pub async fn connect(self) -> Result<DisredisClient> {
        DisredisClient::with_config(self.build()?).await
    }
}

impl DisredisClient {
    /// Connects with default settings to the masters of the first Sentinel in
    /// `sentinels` (`host:port`) that answers.
    pub async fn connect<I, S>(sentinels: I) -> Result<DisredisClient>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Builder::default().sentinels(sentinels).connect().await
    }

    /// A builder for every setting (auth, master filter, timeouts, deadline).
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Connects with a validated [`Config`].
    ///
    /// Discovery fails with [`Error::NoSentinel`] when no Sentinel answers,
    /// [`Error::NoMasters`] when it monitors none and [`Error::UnknownMaster`] when
    /// the builder's `masters` filter names one it does not monitor. A shard whose
    /// master can't be reached now is not an error: it is resolved again on first
    /// use (a failover may be under way).
    pub async fn with_config(config: Config) -> Result<DisredisClient> {
        let exec = Executor::connect(config).instrument(info_span!("discover")).await?;
        Ok(DisredisClient { exec: Arc::new(exec), pinned: None, policy: Policy::default() })
    }

    /// Connects with the settings of a `redis+sentinel://` URL, e.g.
    /// `redis+sentinel://user:pass@host1:26379,host2:26380/?masters=a,b&db=0`.
    /// Every parameter is described in [`crate::url`]; a bad URL is
    /// [`Error::BadUrl`], then connecting fails as [`Builder::connect`] does.
    pub async fn from_url(url: &str) -> Result<DisredisClient> {
        Builder::from_url(url)?.connect().await
    }

    /// The master name (shard) that owns `key`: see [`crate::hashing`] for the
    /// exact function. Shards are names, so a failover never moves a key.
    ///
    /// Under the ring the client follows now (see [`Topology::ring`]); while
    /// the ring changes, the old owner in phase `prepare` and the new one from
    /// phase `migrating` on.
    pub fn shard_for(&self, key: impl AsRef<[u8]>) -> &str {
        let shards = self.exec.table.latest();
        intern(&shards.at(shards.owner(key.as_ref())).name)
    }

    /// The shards' master names, sorted: the members of the ring the client
    /// follows now (while it changes, its target's names too).
    pub fn shard_names(&self) -> Vec<String> {
        self.exec.table.latest().names()
    }

    /// A snapshot of every shard (name, current master address, generation),
    /// the ring the client follows, and the masters it does not route to.
    pub fn topology(&self) -> Topology {
        self.exec.table.latest().snapshot()
    }

    /// The known Sentinels (configured and learned), in the order they are tried;
    /// the last one that answered is first.
    pub fn sentinels(&self) -> Vec<String> {
        self.exec.sentinels.addrs().iter().map(ToString::to_string).collect()
    }

    /// A handle that sends commands to the shard (master name) `name`, for
    /// commands that have no key or are about one node: `INFO`, `CONFIG`,
    /// `CLIENT`, `EVAL` without keys, module commands, … Keyed commands must
    /// belong to that shard ([`Error::CrossShard`] otherwise). Unknown names are
    /// [`Error::UnknownShard`]. Failover and retry work as for the client.
    pub fn on_shard(&self, name: &str) -> Result<ShardHandle> {
        let names = self.shard_names();
        match names.iter().any(|n| n == name) {
            true => Ok(ShardHandle::new(self.exec.clone(), name.to_owned(), self.policy)),
            false => Err(Error::UnknownShard { name: name.to_owned(), known: names }),
        }
    }

    /// Events from now on: failovers (`SwitchMaster`), re-resolves, Sentinels
    /// going down and coming back. See [`Event`].
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.exec.events.subscribe()
    }

    /// Asks every known Sentinel, each on its own, where each shard's master is
    /// (what `disredis topology` shows as "Sentinels agree"). Uses the client's
    /// Sentinel credentials, TLS and address map; moves no Sentinel to the front.
    pub async fn sentinel_views(&self) -> Vec<SentinelView> {
        self.exec.sentinels.ask_each(&self.shard_names()).await
    }

    /// Every member's copy of the ring record (see [`Ring`](crate::Ring)), read
    /// the way the client reads it: `Ok(None)` where a member has none,
    /// [`Error::BadRing`] where it holds one that can't be used. What
    /// `disredis ring` compares with the ring the client follows.
    pub async fn ring_copies(&self) -> Vec<(String, Result<Option<crate::Ring>>)> {
        let shards = self.exec.table.latest();
        crate::membership::copies(&shards, &self.exec.sentinels, &self.exec.config).await
    }

    /// A handle (a cheap clone, sharing every connection) whose requests keep
    /// retrying a failing shard for `deadline` instead of the client's
    /// [`failover_deadline`](Builder::failover_deadline): a short one for a
    /// caller that would rather fail than wait (a rate limiter, a cache read),
    /// a long one for a batch job. Clones of the handle keep it. Durability
    /// mode's `WAIT` window and the resharding paths keep the client's.
    pub fn with_failover_deadline(&self, deadline: Duration) -> DisredisClient {
        let mut handle = self.clone();
        handle.policy.deadline = Some(deadline);
        handle
    }

    /// A handle (a cheap clone) with its own choice of what happens to a
    /// non-idempotent command whose fate is unknown after a connection failed:
    /// `true` retries it (at-least-once: an `INCR` of a rate limiter may count
    /// twice), `false` returns [`Error::Ambiguous`] (at-most-once: a payment).
    /// Overrides [`retry_non_idempotent`](Builder::retry_non_idempotent) for
    /// the requests of this handle and its clones.
    pub fn with_retry_non_idempotent(&self, retry: bool) -> DisredisClient {
        let mut handle = self.clone();
        handle.policy.at_least_once = Some(retry);
        handle
    }

    /// What the client cache did and holds (feature `cache`): hits, misses,
    /// invalidations, flushes, entries and bytes (see [`CacheStats`](crate::CacheStats)).
    /// `None` when the client was built without
    /// [`Builder::client_cache`](crate::Builder::client_cache).
    #[cfg(feature = "cache")]
    pub fn cache_stats(&self) -> Option<crate::CacheStats> {
        self.exec.cache.as_ref().map(|c| c.stats())
    }

    /// Closes the client, for a graceful shutdown: stops its background tasks
    /// (the Sentinel subscriptions and poll, the ring follower, probes of down
    /// shards) and closes its shard, replica and Sentinel connections; a
    /// connection a request in flight still uses closes when that request
    /// ends. Every handle and clone is closed: later requests fail with
    /// [`Error::Closed`]. A [`PubSub`](crate::PubSub) made earlier keeps its
    /// own connections until it is dropped. Dropping the last handle does the
    /// same without `close`; this is for ending it at a chosen moment.
    pub async fn close(&self) {
        self.exec.close();
    }

    /// The shared state under this handle (for the ring tool, `crate::reshard`).
    pub(crate) fn executor(&self) -> &Executor {
        &self.exec
    }

    /// The shared state, for a task that outlives this handle (`crate::pubsub`).
    pub(crate) fn executor_arc(&self) -> Arc<Executor> {
        self.exec.clone()
    }

    /// One command: to the `WATCH` session when this handle is pinned or the
    /// command starts or ends one, otherwise routed by `dispatch`.
    pub(crate) async fn query_cmd(&mut self, cmd: &Cmd) -> Result<Value> {
        if self.exec.is_closed() {
            return Err(Error::Closed);
        }
        let args = cmd_args(cmd);
        if args.is_empty() {
            return Err(request::empty_command());
        }
        // Feature `cache`: a write's keys are evicted around it.
        #[cfg(feature = "cache")]
        let written = self.exec.cache_before(&args);
        let outcome = self.route_cmd(cmd, &args).await;
        #[cfg(feature = "cache")]
        self.exec.cache_after(written);
        outcome
    }

    /// One command, to the `WATCH` session or through `dispatch`.
    async fn route_cmd(&mut self, cmd: &Cmd, args: &[&[u8]]) -> Result<Value> {
        if self.pinned.is_some() || session_command(args).is_some() {
            return Box::pin(pinned::command(&self.exec, &mut self.pinned, cmd, args)).await;
        }
        dispatch::command(&self.exec, cmd, args).await
    }

    async fn query_pipeline(&mut self, pipe: &Pipeline, offset: usize, count: usize) -> Result<Vec<Value>> {
        if self.exec.is_closed() {
            return Err(Error::Closed);
        }
        // As one connection: a pipeline without commands is "empty command",
        // a transaction without commands the empty `EXEC` reply.
        if pipe.is_empty() && !pipe.is_transaction() {
            return Err(request::empty_command());
        }
        #[cfg(feature = "cache")]
        let written = self.exec.cache_before_all(pipe.cmd_iter());
        let outcome = self.route_pipeline(pipe, offset, count).await;
        #[cfg(feature = "cache")]
        self.exec.cache_after(written);
        outcome
    }

    /// A pipeline, to the `WATCH` session or through `dispatch`.
    async fn route_pipeline(&mut self, pipe: &Pipeline, offset: usize, count: usize) -> Result<Vec<Value>> {
        if self.pinned.is_some() {
            return Box::pin(pinned::pipeline(&self.exec, &mut self.pinned, pipe, offset, count)).await;
        }
        dispatch::pipeline(&self.exec, pipe, offset, count).await
    }
}

impl redis::aio::ConnectionLike for DisredisClient {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        // Two boxes, so that a handle without a policy of its own boxes the
        // request's future alone (a shared one measured 2.2 times its size).
        match self.policy.overrides() {
            false => Box::pin(async move { self.query_cmd(cmd).await.map_err(Into::into) }),
            true => {
                let policy = self.policy;
                Box::pin(async move { policy.scope(self.query_cmd(cmd)).await.map_err(Into::into) })
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self.policy.overrides() {
            false => {
                Box::pin(
                    async move { self.query_pipeline(pipeline, offset, count).await.map_err(Into::into) },
                )
            }
            true => {
                let policy = self.policy;
                Box::pin(async move {
                    policy.scope(self.query_pipeline(pipeline, offset, count)).await.map_err(Into::into)
                })
            }
        }
    }

    fn get_db(&self) -> i64 {
        self.exec.config.db
    }
}

/// A `'static` copy of a master name, made once per distinct name in the
/// process: [`DisredisClient::shard_for`] returns `&str` while the ring (and so
/// the table holding the names) can be replaced under it. Master names are few,
/// so this holds a handful of short strings for the life of the process.
fn intern(name: &str) -> &'static str {
    static NAMES: parking_lot::Mutex<Vec<&'static str>> = parking_lot::Mutex::new(Vec::new());
    let mut names = NAMES.lock();
    if let Some(found) = names.iter().find(|n| **n == name) {
        return found;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.push(leaked);
    leaked
}
