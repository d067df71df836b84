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
use crate::error::{Error, Result};
use crate::retry::{Backoff, Fate, classify_error, classify_value};

/// What one routed request carries to a shard.
#[derive(Clone, Copy)]
pub(crate) enum Request<'a> {
    Cmd(&'a Cmd),
    Pipe {
        pipe: &'a Pipeline,
        offset: usize,
        count: usize,
    },
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
pub(crate) fn is_fatal(e: &Error) -> bool {
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

impl Inner {
    /// Sends `req` to `shard`, carrying it through failovers: on a failover
    /// symptom the shard is re-resolved through Sentinel and the request retried
    /// with jittered backoff until `failover_deadline` after the first failure.
    pub(crate) async fn execute(
        &self,
        idx: usize,
        command: &'static str,
        idempotent: bool,
        req: Request<'_>,
    ) -> Result<Reply> {
        let inner = self;
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
        let inner = self;
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
        let remaining = self.config.failover_deadline.saturating_sub(started.elapsed());
        match backoff.next_delay(remaining) {
            Some(d) => {
                tokio::time::sleep(d).await;
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
