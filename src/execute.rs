//! Sending one routed request to its shard, and the one retry loop that carries
//! it through a failover.
//!
//! The hot path is one `current()` read (clone of the shard's connection handle)
//! and one send. Only when the reply or error is a failover symptom (see
//! [`crate::retry`]) does the request enter [`Inner::retry`], inside a
//! `failover` tracing span: invalidate the connection it used, re-resolve the
//! shard through Sentinel (single flight), and retry with jittered backoff until
//! the failover deadline.

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{Cmd, Pipeline, RedisResult, Value};
use tracing::{Instrument, debug, info_span, warn};

use crate::client::Inner;
use crate::config::ReadFrom;
use crate::error::{Error, Result};
use crate::retry::{Backoff, Fate, classify_error, classify_value};

/// What one routed request carries to a shard.
#[derive(Clone, Copy)]
pub(crate) enum Request<'a> {
    Cmd(&'a Cmd),
    Pipe { pipe: &'a Pipeline, offset: usize, count: usize },
}

pub(crate) enum Reply {
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
            .map_or_else(|| Error::Redis((redis::ErrorKind::Client, "no failure").into()), Error::Redis)
    }
}

async fn send(
    conn: &mut MultiplexedConnection,
    req: Request<'_>,
    call: Call,
    config: &crate::config::Config,
) -> RedisResult<Reply> {
    if let (Some(extra), Some(base)) = (call.patience, config.response_timeout) {
        // Only this handle (a clone) waits longer; the shared one keeps its timeout.
        conn.set_response_timeout(base + extra);
    }
    match req {
        // The inherent methods, not the `ConnectionLike` ones: those box their
        // future, one more allocation per request.
        Request::Cmd(cmd) => conn.send_packed_command(cmd).await.map(Reply::One),
        Request::Pipe { pipe, offset, count } => {
            conn.send_packed_commands(pipe, offset, count).await.map(Reply::Many)
        }
    }
}

/// Errors that no amount of retrying fixes: give them to the caller at once.
pub(crate) fn is_fatal(e: &Error) -> bool {
    match e {
        Error::Redis(r) => matches!(
            r.kind(),
            redis::ErrorKind::AuthenticationFailed
                | redis::ErrorKind::InvalidClientConfig
                | redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm)
        ),
        Error::Config { .. } | Error::Auth { .. } => true,
        _ => false,
    }
}

/// What the retry loop needs to know about a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    /// Canonical command name (or "pipeline", "MULTI/EXEC"), for errors and spans.
    pub command: &'static str,
    /// Safe to repeat after a failure of unknown fate.
    pub idempotent: bool,
    /// Send over a connection of its own without the response timeout (blocking
    /// commands: BLPOP, XREAD BLOCK, WAIT, …).
    pub dedicated: bool,
    /// May modify data: followed by `WAIT` in durability mode.
    pub write: bool,
    /// Extra time the server may legitimately take (a `WAIT` timeout), added to
    /// the response timeout so waiting is not mistaken for a hung master.
    pub patience: Option<Duration>,
}

impl Call {
    /// A pipeline's call before any command is added: idempotent, read-only.
    pub(crate) fn pipeline(command: &'static str) -> Call {
        Call { command, idempotent: true, dedicated: false, write: false, patience: None }
    }

    /// Folds one more command in: idempotent only if all are, a write or
    /// dedicated if any is.
    pub(crate) fn add(&mut self, other: &Call) {
        self.idempotent &= other.idempotent;
        self.dedicated |= other.dedicated;
        self.write |= other.write;
    }

    /// A call for a command the key table describes.
    pub(crate) fn of(info: &crate::keys::CommandInfo) -> Call {
        Call {
            command: info.name,
            idempotent: info.idempotent,
            dedicated: info.blocking,
            write: !info.read_only,
            patience: None,
        }
    }
}

impl Inner {
    /// A dedicated, ROLE-checked connection (with the response timeout) to the
    /// shard's master, resolving the shard first if needed. For WATCH sessions:
    /// one attempt, no retry (the caller's transaction loop retries).
    pub(crate) async fn open_session(&self, idx: usize) -> Result<MultiplexedConnection> {
        let shard = &self.shards.shards[idx];
        if shard.current().is_none() {
            shard.resolve(&self.sentinels, &self.config).await?;
        }
        let (generation, _) = shard.current().ok_or_else(|| {
            Error::Redis((redis::ErrorKind::Io, "disredis: the shard has no master right now").into())
        })?;
        self.dedicated(idx, generation, self.config.response_timeout).await
    }

    /// A fresh, ROLE-checked connection to the master that `generation` is
    /// connected to: a blocking command's own (`response_timeout` `None`) or a
    /// WATCH session's.
    pub(crate) async fn dedicated(
        &self,
        idx: usize,
        generation: u64,
        response_timeout: Option<Duration>,
    ) -> Result<MultiplexedConnection> {
        let shard = &self.shards.shards[idx];
        let addr = shard.addr_of(generation).ok_or_else(|| {
            Error::Redis((redis::ErrorKind::Io, "disredis: the shard's connection changed").into())
        })?;
        crate::shard::connect_master(&shard.name, &addr, &self.config, response_timeout).await
    }

    /// Sends `req` to `shard`, carrying it through failovers: on a failover
    /// symptom the shard is re-resolved through Sentinel and the request retried
    /// with jittered backoff until `failover_deadline` after the first failure.
    pub(crate) async fn execute(&self, idx: usize, call: Call, req: Request<'_>) -> Result<Reply> {
        match self.config.wait_replicas {
            // Boxed: rare paths must not grow every request's future.
            Some((replicas, timeout)) if call.write => {
                Box::pin(self.execute_durable(idx, call, req, replicas, timeout)).await
            }
            _ => self.execute_once(idx, call, req).await,
        }
    }

    /// Durability mode: the write and a `WAIT replicas timeout` in one pipeline on
    /// the same connection (a transaction: `WAIT` right after it). Fewer
    /// acknowledgements than required → [`Error::NotReplicated`]; a write the
    /// server refused (an error reply) is returned as it is.
    async fn execute_durable(
        &self,
        idx: usize,
        call: Call,
        req: Request<'_>,
        replicas: usize,
        timeout: Duration,
    ) -> Result<Reply> {
        let mut wait = redis::cmd("WAIT");
        wait.arg(replicas).arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        let check = |acked: &Value| match acked {
            Value::Int(n) if *n >= replicas as i64 => Ok(()),
            Value::Int(n) => Err(Error::NotReplicated {
                command: call.command.to_owned(),
                shard: self.shards.shards[idx].name.clone(),
                acked: *n,
                wanted: replicas,
            }),
            other => Err(Error::Redis(
                (redis::ErrorKind::UnexpectedReturnType, "disredis: WAIT answered", format!("{other:?}"))
                    .into(),
            )),
        };
        let refused = |v: &Value| matches!(v, Value::ServerError(_));
        // WAIT may take its whole timeout: not a sign of a hung master.
        let call = Call { patience: Some(timeout), ..call };
        match req {
            Request::Pipe { pipe, .. } if pipe.is_transaction() => {
                let reply = self.execute_once(idx, call, req).await?;
                let wait_call = Call {
                    command: "WAIT",
                    idempotent: true,
                    dedicated: false,
                    write: false,
                    patience: Some(timeout),
                };
                match self.execute_once(idx, wait_call, Request::Cmd(&wait)).await? {
                    Reply::One(acked) => check(&acked)?,
                    Reply::Many(_) => {
                        return Err(Error::Redis((redis::ErrorKind::Client, "disredis: WAIT").into()));
                    }
                }
                Ok(reply)
            }
            Request::Pipe { pipe, offset, count } => {
                let mut durable = pipe.clone();
                durable.add_command(wait);
                let mut values = match self
                    .execute_once(idx, call, Request::Pipe { pipe: &durable, offset, count: count + 1 })
                    .await?
                {
                    Reply::Many(v) => v,
                    Reply::One(v) => vec![v],
                };
                let acked = values.pop().unwrap_or(Value::Nil);
                if !values.iter().all(refused) {
                    check(&acked)?;
                }
                Ok(Reply::Many(values))
            }
            Request::Cmd(cmd) => {
                let mut durable = Pipeline::new();
                durable.add_command(cmd.clone()).add_command(wait);
                let values = match self
                    .execute_once(idx, call, Request::Pipe { pipe: &durable, offset: 0, count: 2 })
                    .await?
                {
                    Reply::Many(v) => v,
                    Reply::One(v) => vec![v],
                };
                let mut values = values.into_iter();
                let (reply, acked) =
                    (values.next().unwrap_or(Value::Nil), values.next().unwrap_or(Value::Nil));
                if !refused(&reply) {
                    check(&acked)?;
                }
                Ok(Reply::One(reply))
            }
        }
    }

    /// One request through the retry loop; reads first try a replica when
    /// `read_from` asks for it.
    async fn execute_once(&self, idx: usize, call: Call, req: Request<'_>) -> Result<Reply> {
        if !call.write
            && !call.dedicated
            && self.config.read_from != ReadFrom::Master
            && let Some(reply) = Box::pin(self.read_replica(idx, call, req)).await?
        {
            return Ok(reply);
        }
        let shard = &self.shards.shards[idx];
        // Hot path: a live connection and a reply that is not a failover symptom.
        let mut failed_gen = None;
        let mut last = None;
        if let Some((generation, mut conn)) = shard.current().filter(|_| !call.dedicated) {
            match send(&mut conn, req, call, &self.config).await {
                Ok(reply) if reply.fate().is_none() => return Ok(reply),
                Err(e) if classify_error(&e).is_none() => return Err(Error::Redis(e)),
                outcome => {
                    failed_gen = Some(generation);
                    last = Some(outcome);
                }
            }
        }
        let command = call.command;
        Box::pin(
            self.retry(idx, call, req, failed_gen, last)
                .instrument(info_span!("failover", shard = %shard.name, command)),
        )
        .await
    }

    /// A read on one of the shard's replicas (`ReadFrom` other than `Master`):
    /// `None` means "use the master". Each replica that fails the read is
    /// dropped and the next one tried.
    async fn read_replica(&self, idx: usize, call: Call, req: Request<'_>) -> Result<Option<Reply>> {
        let shard = &self.shards.shards[idx];
        let generation = shard.current().map_or(0, |(g, _)| g);
        while let Some((addr, mut conn)) =
            shard.replicas.pick(&shard.name, generation, &self.sentinels, &self.config).await
        {
            match send(&mut conn, req, call, &self.config).await {
                Ok(reply) if reply.fate().is_none() => return Ok(Some(reply)),
                outcome => {
                    debug!(shard = %shard.name, %addr, ok = outcome.is_ok(), "replica read failed");
                    shard.replicas.remove(&addr);
                }
            }
        }
        match self.config.read_from {
            ReadFrom::Replica => Err(Error::NoReplica { shard: shard.name.clone() }),
            _ => Ok(None),
        }
    }

    async fn retry(
        &self,
        idx: usize,
        call: Call,
        req: Request<'_>,
        mut failed_gen: Option<u64>,
        mut outcome: Option<RedisResult<Reply>>,
    ) -> Result<Reply> {
        let inner = self;
        let config = &inner.config;
        let shard = &inner.shards.shards[idx];
        // The deadline counts from the first failure (a blocking command may
        // legitimately wait long before its first attempt fails).
        let mut started = failed_gen.map(|_| Instant::now());
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
                shard.invalidate(generation, &err);
                if fate == Fate::Unknown && !call.idempotent && !config.retry_non_idempotent {
                    let Error::Redis(cause) = err else { return Err(err) };
                    return Err(Error::Ambiguous {
                        command: call.command.to_owned(),
                        shard: shard.name.clone(),
                        cause,
                    });
                }
                debug!(error = %err, ?fate, attempts, "request failed; retrying");
                last_error = Some(err);
                attempts += 1;
                let since = *started.get_or_insert_with(Instant::now);
                if attempts > 1 {
                    self.pause(idx, &mut backoff, since, &mut last_error).await?;
                }
            }
            if let Some(since) = started {
                let elapsed = since.elapsed();
                if elapsed >= config.failover_deadline {
                    return Err(self.timeout(idx, elapsed, last_error));
                }
            }
            let failure = match shard.current() {
                Some((generation, conn)) => {
                    // Blocking commands get a connection of their own without the
                    // response timeout (they hold it for up to their own timeout).
                    let conn =
                        if call.dedicated { self.dedicated(idx, generation, None).await } else { Ok(conn) };
                    match conn {
                        Ok(mut c) => {
                            failed_gen = Some(generation);
                            outcome = Some(send(&mut c, req, call, config).await);
                            continue;
                        }
                        // Could not even connect: nothing was sent.
                        Err(e) => {
                            shard.invalidate(generation, &e);
                            e
                        }
                    }
                }
                None => match shard.resolve(&inner.sentinels, config).await {
                    Ok(()) => continue,
                    Err(e) => e,
                },
            };
            if is_fatal(&failure) {
                return Err(failure);
            }
            last_error = Some(failure);
            let since = *started.get_or_insert_with(Instant::now);
            self.pause(idx, &mut backoff, since, &mut last_error).await?;
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
        let remaining = self.config.failover_deadline.saturating_sub(started.elapsed());
        match backoff.next_delay(remaining) {
            Some(d) => {
                // A switch (by the watch or another request) ends the wait early.
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = self.shards.shards[idx].installed.notified() => {}
                }
                Ok(())
            }
            None => Err(self.timeout(idx, started.elapsed(), last.take())),
        }
    }

    fn timeout(&self, idx: usize, elapsed: Duration, last: Option<Error>) -> Error {
        let name = self.shards.shards[idx].name.clone();
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
