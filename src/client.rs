//! `DisredisClient`: route each command to its shard, send it, and the one retry
//! loop that carries requests through a failover.

use std::sync::Arc;
use std::time::Instant;

use redis::aio::MultiplexedConnection;
use redis::{Arg, Cmd, Pipeline, RedisFuture, RedisResult, Value};
use tracing::{Instrument, debug, info_span, warn};

use crate::config::{Builder, Config};
use crate::error::{Error, Result};
use crate::keys::{self, CommandInfo, KeyError};
use crate::retry::{Backoff, Fate, classify_error, classify_value};
use crate::sentinel::Sentinels;
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
}

struct Inner {
    config: Config,
    sentinels: Sentinels,
    shards: Shards,
}

impl std::fmt::Debug for DisredisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisredisClient")
            .field("topology", &self.topology())
            .field("sentinels", &self.sentinels())
            .finish()
    }
}

/// What one routed request carries to a shard.
#[derive(Clone, Copy)]
enum Request<'a> {
    Cmd(&'a Cmd),
    Pipe {
        pipe: &'a Pipeline,
        offset: usize,
        count: usize,
    },
}

enum Reply {
    One(Value),
    Many(Vec<Value>),
}

impl Reply {
    fn fate(&self) -> Option<Fate> {
        match self {
            Reply::One(v) => classify_value(v),
            Reply::Many(vs) => vs.iter().find_map(classify_value),
        }
    }

    /// The server error that made `fate` return `Some`.
    fn failure(self) -> Error {
        let values = match self {
            Reply::One(v) => vec![v],
            Reply::Many(vs) => vs,
        };
        values
            .into_iter()
            .find(|v| classify_value(v).is_some())
            .and_then(|v| v.extract_error().err())
            .map_or_else(
                || Error::Redis((redis::ErrorKind::Client, "no failure").into()),
                Error::Redis,
            )
    }
}

async fn send(conn: &mut MultiplexedConnection, req: Request<'_>) -> RedisResult<Reply> {
    use redis::aio::ConnectionLike;
    match req {
        Request::Cmd(cmd) => conn.req_packed_command(cmd).await.map(Reply::One),
        Request::Pipe { pipe, offset, count } => conn
            .req_packed_commands(pipe, offset, count)
            .await
            .map(Reply::Many),
    }
}

/// Errors that no amount of retrying fixes: give them to the caller at once.
fn is_fatal(e: &Error) -> bool {
    match e {
        Error::Redis(r) => matches!(
            r.kind(),
            redis::ErrorKind::AuthenticationFailed
                | redis::ErrorKind::InvalidClientConfig
                | redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm)
        ),
        Error::Config { .. } => true,
        _ => false,
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
            let sentinels = Sentinels::new(&config);
            let (sentinel, masters) = sentinels.discover().await?;
            if masters.is_empty() {
                return Err(Error::NoMasters {
                    sentinel: sentinel.to_string(),
                });
            }
            let known: Vec<String> = masters.iter().map(|m| m.name.clone()).collect();
            let wanted = match &config.masters {
                Some(filter) => {
                    let missing: Vec<String> =
                        filter.iter().filter(|n| !known.contains(n)).cloned().collect();
                    if !missing.is_empty() {
                        return Err(Error::UnknownMaster {
                            sentinel: sentinel.to_string(),
                            missing,
                            known,
                        });
                    }
                    filter.clone()
                }
                None => known,
            };
            let shards = Shards::new(wanted.clone()).ok_or_else(|| Error::NoMasters {
                sentinel: sentinel.to_string(),
            })?;
            let client = DisredisClient {
                inner: Arc::new(Inner {
                    config,
                    sentinels,
                    shards,
                }),
            };
            let mut tasks = tokio::task::JoinSet::new();
            for (i, m) in masters
                .into_iter()
                .enumerate()
                .filter(|(_, m)| wanted.contains(&m.name))
            {
                let Some(addr) = m.addr else { continue };
                let c = client.clone();
                let idx = c
                    .inner
                    .shards
                    .ring
                    .names()
                    .iter()
                    .position(|n| *n == m.name)
                    .unwrap_or(i);
                tasks.spawn(async move {
                    let shard = &c.inner.shards.shards[idx];
                    (
                        shard.name.clone(),
                        shard.connect_known(addr, &c.inner.config).await,
                    )
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
        self.inner
            .sentinels
            .addrs()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Finds the one shard that owns every key of `args` (the command and its
    /// arguments). Keys on several shards are [`Error::CrossShard`], a command with
    /// no key [`Error::NoKey`]: never route by the first key alone.
    fn route(&self, args: &[&[u8]]) -> Result<(usize, CommandInfo)> {
        let ring = &self.inner.shards.ring;
        let mut first: Option<usize> = None;
        let mut spans = false;
        let info = keys::visit_keys(args, |key| {
            let i = ring.shard_index(key);
            match first {
                None => first = Some(i),
                Some(f) if f != i => spans = true,
                Some(_) => {}
            }
        })
        .map_err(|e| match e {
            KeyError::Unknown(command) => Error::NoKey { command },
            KeyError::Malformed { command, detail } => Error::BadCommand {
                command: command.to_owned(),
                detail,
            },
        })?;
        if spans {
            let mut shards: Vec<String> = Vec::new();
            let _ = keys::visit_keys(args, |key| {
                let name = ring.shard_for(key);
                if !shards.iter().any(|s| s == name) {
                    shards.push(name.to_owned());
                }
            });
            shards.sort();
            return Err(Error::CrossShard {
                command: info.name.to_owned(),
                shards,
            });
        }
        match first {
            Some(i) => Ok((i, info)),
            None => Err(Error::NoKey {
                command: info.name.to_owned(),
            }),
        }
    }

    async fn query_cmd(&self, cmd: &Cmd) -> Result<Value> {
        let args = cmd_args(cmd);
        let (shard, info) = self.route(&args)?;
        match self
            .execute(shard, info.name, info.idempotent, Request::Cmd(cmd))
            .await?
        {
            Reply::One(v) => Ok(v),
            Reply::Many(_) => unreachable_reply(),
        }
    }

    async fn query_pipeline(&self, pipe: &Pipeline, offset: usize, count: usize) -> Result<Vec<Value>> {
        let label = if pipe.is_transaction() {
            "MULTI/EXEC"
        } else {
            "pipeline"
        };
        let mut shard: Option<usize> = None;
        let mut idempotent = true;
        for cmd in pipe.cmd_iter() {
            let (i, info) = self.route(&cmd_args(cmd))?;
            idempotent &= info.idempotent;
            if let Some(s) = shard.filter(|&s| s != i) {
                let names = self.shard_names();
                let mut shards = vec![names[s].clone(), names[i].clone()];
                shards.sort();
                return Err(Error::CrossShard {
                    command: label.to_owned(),
                    shards,
                });
            }
            shard = Some(i);
        }
        let Some(shard) = shard else { return Ok(Vec::new()) };
        match self
            .execute(shard, label, idempotent, Request::Pipe { pipe, offset, count })
            .await?
        {
            Reply::Many(v) => Ok(v),
            Reply::One(_) => unreachable_reply(),
        }
    }

    /// Sends `req` to `shard`, carrying it through failovers: on a failover
    /// symptom the shard is re-resolved through Sentinel and the request retried
    /// with jittered backoff until `failover_deadline` after the first failure.
    async fn execute(
        &self,
        idx: usize,
        command: &'static str,
        idempotent: bool,
        req: Request<'_>,
    ) -> Result<Reply> {
        let inner = &*self.inner;
        let shard = &inner.shards.shards[idx];
        // Hot path: a live connection and a reply that is not a failover symptom.
        let mut failed_gen = None;
        let mut last = None;
        if let Some((generation, mut conn)) = shard.current() {
            match send(&mut conn, req).await {
                Ok(reply) if reply.fate().is_none() => return Ok(reply),
                Err(e) if classify_error(&e).is_none() => return Err(Error::Redis(e)),
                outcome => {
                    failed_gen = Some(generation);
                    last = Some(outcome);
                }
            }
        }
        self.retry(idx, command, idempotent, req, failed_gen, last)
            .instrument(info_span!("failover", shard = %shard.name, command))
            .await
    }

    async fn retry(
        &self,
        idx: usize,
        command: &'static str,
        idempotent: bool,
        req: Request<'_>,
        mut failed_gen: Option<u64>,
        mut outcome: Option<RedisResult<Reply>>,
    ) -> Result<Reply> {
        let inner = &*self.inner;
        let config = &inner.config;
        let shard = &inner.shards.shards[idx];
        let started = Instant::now();
        let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
        let mut last_error: Option<Error> = None;
        let mut attempts = 0u32;
        loop {
            // Judge the previous attempt.
            if let (Some(generation), Some(result)) = (failed_gen.take(), outcome.take()) {
                let (fate, err) = match result {
                    Ok(reply) => match reply.fate() {
                        None => return Ok(reply),
                        Some(f) => (f, reply.failure()),
                    },
                    Err(e) => match classify_error(&e) {
                        None => return Err(Error::Redis(e)),
                        Some(f) => (f, Error::Redis(e)),
                    },
                };
                shard.invalidate(generation);
                if fate == Fate::Unknown && !idempotent && !config.retry_non_idempotent {
                    let Error::Redis(cause) = err else { return Err(err) };
                    return Err(Error::Ambiguous {
                        command: command.to_owned(),
                        shard: shard.name.clone(),
                        cause,
                    });
                }
                debug!(error = %err, ?fate, attempts, "request failed; retrying");
                last_error = Some(err);
                attempts += 1;
                if attempts > 1 {
                    self.pause(idx, &mut backoff, started, &mut last_error).await?;
                }
            }
            let elapsed = started.elapsed();
            if elapsed >= config.failover_deadline {
                return Err(self.timeout(idx, elapsed, last_error));
            }
            match shard.current() {
                Some((generation, mut conn)) => {
                    failed_gen = Some(generation);
                    outcome = Some(send(&mut conn, req).await);
                }
                None => {
                    if let Err(e) = shard.resolve(&inner.sentinels, config).await {
                        if is_fatal(&e) {
                            return Err(e);
                        }
                        last_error = Some(e);
                        self.pause(idx, &mut backoff, started, &mut last_error).await?;
                    }
                }
            }
        }
    }

    /// Sleeps the next backoff delay, or fails with the deadline error.
    async fn pause(
        &self,
        idx: usize,
        backoff: &mut Backoff,
        started: Instant,
        last: &mut Option<Error>,
    ) -> Result<()> {
        let remaining = self
            .inner
            .config
            .failover_deadline
            .saturating_sub(started.elapsed());
        match backoff.next_delay(remaining) {
            Some(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            None => Err(self.timeout(idx, started.elapsed(), last.take())),
        }
    }

    fn timeout(&self, idx: usize, elapsed: std::time::Duration, last: Option<Error>) -> Error {
        let name = self.inner.shards.shards[idx].name.clone();
        warn!(shard = %name, ?elapsed, "failover deadline exceeded");
        Error::FailoverTimeout {
            shard: name,
            elapsed,
            last: Box::new(
                last.unwrap_or_else(|| Error::Redis((redis::ErrorKind::Io, "no attempt finished").into())),
            ),
        }
    }
}

fn unreachable_reply<T>() -> Result<T> {
    Err(Error::Redis(
        (
            redis::ErrorKind::Client,
            "disredis: reply shape does not match the request",
        )
            .into(),
    ))
}

/// The command name and arguments as byte slices. A scan cursor (`Arg::Cursor`,
/// only used by redis-rs's scan iterators) is never a key; it is shown as `0`.
fn cmd_args(cmd: &Cmd) -> Vec<&[u8]> {
    cmd.args_iter()
        .map(|a| match a {
            Arg::Simple(b) => b,
            _ => &b"0"[..],
        })
        .collect()
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
        Box::pin(async move {
            self.query_pipeline(pipeline, offset, count)
                .await
                .map_err(Into::into)
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.config.db
    }
}
