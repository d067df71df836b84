//! `DisredisClient`: route each command to its shard, send it, and the one retry
//! loop that carries requests through a failover.

use std::sync::Arc;

use redis::{Cmd, Pipeline, RedisFuture, Value};
use tracing::{Instrument, info_span, warn};

use crate::config::{Builder, Config};
use crate::error::{Error, Result};
use crate::events::{Event, Events};
use crate::execute::is_fatal;
use crate::on_shard::ShardHandle;
use crate::sentinel::Sentinels;
use crate::session::Pinned;
use crate::topology::{Shards, Topology};

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
    inner: Arc<Inner>,
    /// Set while this handle holds a `WATCH` (see `session.rs`).
    pub(crate) pinned: Option<Pinned>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) sentinels: Sentinels,
    pub(crate) shards: Shards,
    /// `COMMAND INFO` answers for commands the static table doesn't know.
    pub(crate) modules: crate::modules::Modules,
    /// Where shard and Sentinel events go.
    pub(crate) events: Events,
    /// Dropped with the client: stops the `+switch-master` watch.
    _stop: crate::watch::Stop,
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
        let span = info_span!("discover");
        async move {
            let events = Events::default();
            let (stop, stopped) = crate::watch::stop_signal();
            let sentinels = Sentinels::new(&config, events.clone());
            let (sentinel, masters) = sentinels.discover().await?;
            if masters.is_empty() {
                return Err(Error::NoMasters { sentinel: sentinel.to_string() });
            }
            let known: Vec<String> = masters.iter().map(|m| m.name.clone()).collect();
            let wanted = match &config.masters {
                Some(filter) => {
                    let missing: Vec<String> =
                        filter.iter().filter(|n| !known.contains(n)).cloned().collect();
                    if !missing.is_empty() {
                        return Err(Error::UnknownMaster { sentinel: sentinel.to_string(), missing, known });
                    }
                    filter.clone()
                }
                None => known,
            };
            let shards = Shards::new(wanted.clone(), &events)
                .ok_or_else(|| Error::NoMasters { sentinel: sentinel.to_string() })?;
            let client = DisredisClient {
                pinned: None,
                inner: Arc::new(Inner {
                    config,
                    sentinels,
                    shards,
                    modules: Default::default(),
                    events,
                    _stop: stop,
                }),
            };
            let mut tasks = tokio::task::JoinSet::new();
            // Connect to every shard whose master Sentinel reported up, concurrently.
            for m in masters {
                let names = client.inner.shards.ring.names();
                let (Some(addr), Some(idx)) = (m.addr, names.iter().position(|n| *n == m.name)) else {
                    continue;
                };
                let c = client.clone();
                tasks.spawn(async move {
                    let shard = &c.inner.shards.shards[idx];
                    (shard.name.clone(), shard.connect_known(addr, &c.inner.config).await)
                });
            }
            while let Some(joined) = tasks.join_next().await {
                let Ok((name, outcome)) = joined else { continue };
                if let Err(e) = outcome {
                    if is_fatal(&e) {
                        return Err(e);
                    }
                    warn!(shard = %name, error = %e, "first connect failed; will re-resolve on first use");
                }
            }
            crate::watch::start(&client.inner, stopped);
            Ok(client)
        }
        .instrument(span)
        .await
    }

    /// The master name (shard) that owns `key`: see [`crate::hashing`] for the
    /// exact function. Shards are names, so a failover never moves a key.
    pub fn shard_for(&self, key: impl AsRef<[u8]>) -> &str {
        self.inner.shards.ring.shard_for(key.as_ref())
    }

    /// The shards' master names, sorted.
    pub fn shard_names(&self) -> &[String] {
        self.inner.shards.ring.names()
    }

    /// A snapshot of every shard: name, current master address, generation.
    pub fn topology(&self) -> Topology {
        self.inner.shards.snapshot()
    }

    /// The known Sentinels (configured and learned), in the order they are tried;
    /// the last one that answered is first.
    pub fn sentinels(&self) -> Vec<String> {
        self.inner.sentinels.addrs().iter().map(ToString::to_string).collect()
    }

    /// A handle that sends commands to the shard (master name) `name`, for
    /// commands that have no key or are about one node: `INFO`, `CONFIG`,
    /// `CLIENT`, `EVAL` without keys, module commands, … Keyed commands must
    /// belong to that shard ([`Error::CrossShard`] otherwise). Unknown names are
    /// [`Error::UnknownShard`]. Failover and retry work as for the client.
    pub fn on_shard(&self, name: &str) -> Result<ShardHandle> {
        let names = self.shard_names();
        match names.iter().position(|n| n == name) {
            Some(idx) => Ok(ShardHandle::new(self.clone(), idx)),
            None => Err(Error::UnknownShard { name: name.to_owned(), known: names.to_vec() }),
        }
    }

    /// Events from now on: failovers (`SwitchMaster`), re-resolves, Sentinels
    /// going down and coming back. See [`Event`].
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

impl redis::aio::ConnectionLike for DisredisClient {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move { self.query_cmd(cmd).await.map_err(Into::into) })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move { self.query_pipeline(pipeline, offset, count).await.map_err(Into::into) })
    }

    fn get_db(&self) -> i64 {
        self.inner.config.db
    }
}
