//! The [`Executor`]: the client's shared state (configuration, Sentinels, shard
//! table, learned commands, events) and the one way a routed request reaches a
//! shard — sent, judged ([`crate::retry::judge`]), and carried through a
//! failover by the retry loop.
//!
//! The hot path is one `current()` read (a clone of the shard's connection
//! handle), one send and one judgement. Only when the verdict is "retry" does
//! the request enter [`Executor::retry`], inside a `failover` tracing span:
//! invalidate the connection it used, re-resolve the shard through Sentinel
//! (single flight), and retry with jittered backoff until the failover deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::wire::Wire;
use futures_util::future::Either;
use redis::RedisResult;
use tracing::{Instrument, debug, info_span};

use crate::config::{Config, NodeAddr, ReadFrom};
use crate::connect::connect_master;
use crate::error::{Error, Result};
use crate::events::Events;
use crate::keys::learned::Learned;
use crate::metrics::{Failure, Stamp};
use crate::request::{Call, Piece, Reply, Request};
use crate::retry::{Deadline, Verdict, failure, is_fatal, judge};
use crate::routes::Route;
use crate::sentinel::Sentinels;
use crate::sentinel::switch::Stop;
use crate::topology::{CurrentTable, Ends, ShardTable};

#[cfg(feature = "cache")]
mod cached;
mod down;
mod held;
pub(crate) mod migrate;
mod moving;
pub(crate) mod policy;
mod replicated;
mod start;

use policy::Policy;

/// Everything a request needs below the public face, shared by every clone of
/// the client (behind one `Arc`).
pub(crate) struct Executor {
    pub(crate) config: Arc<Config>,
    pub(crate) sentinels: Arc<Sentinels>,
    /// The current shard table (one per ring version the client adopts).
    pub(crate) table: Arc<CurrentTable>,
    /// `COMMAND INFO` answers for commands the static table doesn't know.
    pub(crate) learned: Learned,
    /// Where shard and Sentinel events go.
    pub(crate) events: Events,
    /// Dropped with the executor or by [`Executor::close`]: stop the
    /// background tasks (the `+switch-master` watch, the ring follower).
    stops: parking_lot::Mutex<Vec<Stop>>,
    /// Set by [`Executor::close`].
    closed: std::sync::atomic::AtomicBool,
    /// The client cache (feature `cache`), when `Builder::client_cache` is set.
    #[cfg(feature = "cache")]
    pub(crate) cache: Option<Arc<crate::cache::ClientCache>>,
}

/// Sends one request over `conn`, with the inherent methods (the
/// `ConnectionLike` ones box their future, one more allocation per request).
async fn send(conn: &Wire, req: Request<'_>, call: Call, config: &Config) -> RedisResult<Reply> {
    // A request that may legitimately take longer (a `WAIT`) waits longer; the
    // others keep the connection's response timeout.
    let timeout = match (call.patience, config.response_timeout) {
        (Some(extra), Some(base)) => Some(Some(base + extra)),
        _ => None,
    };
    match req {
        Request::Cmd(cmd) => conn.send_cmd(cmd, timeout).await.map(Reply::One),
        Request::Pipe { pipe, offset, count } => {
            conn.send_pipe(pipe, offset, count, timeout).await.map(Reply::Many)
        }
        Request::Part(pieces) => {
            conn.send_each(pieces.iter().map(Piece::cmd), timeout).await.map(Reply::Many)
        }
    }
}

/// How a finished request failed, for its metrics: an error, or a single
/// command's error reply (a pipeline's replies are its commands' business).
fn failure_of(outcome: &Result<Reply>) -> Option<Failure> {
    match outcome {
        Ok(Reply::One(redis::Value::ServerError(e))) => Some(Failure::reply(Some(e.code()))),
        Ok(_) => None,
        Err(e) => Some(Failure::of(e)),
    }
}

impl Executor {
    /// Closes the client for every handle: stops the background tasks, drops
    /// the shard, replica and Sentinel connections (one still held by a request
    /// in flight closes when it finishes), and makes later requests
    /// [`Error::Closed`]. Idempotent.
    pub(crate) fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::Release);
        drop(std::mem::take(&mut *self.stops.lock()));
        self.table.retire_current();
        self.sentinels.close();
    }

    /// Whether [`Executor::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The one way a planned request reaches the shards: to `route` of
    /// `shards`. A key that stays where it is (every key under a stable ring)
    /// goes to its shard through [`Executor::execute`]; a key moving during a
    /// ring change takes [`Executor::run_moving`] (boxed, so the stable path's
    /// future stays small). Not an `async fn`: a future of its own would hold
    /// the arguments a second time (measured: 96 bytes more per request).
    pub(crate) fn run<'a>(
        &'a self,
        shards: &'a ShardTable,
        route: Route,
        call: Call,
        req: Request<'a>,
    ) -> impl Future<Output = Result<Reply>> + 'a {
        match shards.ends(route) {
            Ends::Stays(idx) => Either::Left(self.execute(shards, idx, call, req)),
            Ends::Moves { old, new } => Either::Right(Box::pin(self.run_moving(shards, old, new, call, req))),
        }
    }

    /// Sends `req` to shard `idx`, carrying it through failovers (see the
    /// module docs). In durability mode a write is followed by `WAIT`.
    pub(crate) async fn execute(
        &self,
        shards: &ShardTable,
        idx: usize,
        call: Call,
        req: Request<'_>,
    ) -> Result<Reply> {
        // Metrics once per request, however many attempts it takes (nothing
        // without the `metrics` feature: no clock read, no closure called).
        let mut since = Stamp::now();
        let outcome = match self.config.wait_replicas {
            // Boxed: rare paths must not grow every request's future.
            Some((replicas, timeout)) if call.write => {
                Box::pin(self.execute_durable(shards, idx, call, req, replicas, timeout)).await
            }
            // During a ring change reads go to the masters: a replica of a key's
            // new owner may not have the key that was just moved there.
            _ if !call.write
                && !call.dedicated
                && self.config.read_from != ReadFrom::Master
                && shards.change.is_none() =>
            {
                match Box::pin(self.read_replica(shards, idx, call, req)).await {
                    Ok(Some((reply, replica))) => {
                        since.served_by(replica);
                        Ok(reply)
                    }
                    Ok(None) => self.deliver(shards, idx, call, req).await.map(|(r, _)| r),
                    Err(e) => Err(e),
                }
            }
            _ => self.deliver(shards, idx, call, req).await.map(|(r, _)| r),
        };
        since.finished(|| &shards.at(idx).metrics, call.command, || failure_of(&outcome));
        outcome
    }

    /// One request to its shard's master, through the retry loop if the first
    /// attempt fails (a read for a replica tried one first, in `execute`); with
    /// the generation of the shared connection the reply came on (durability
    /// mode waits again on that one only).
    async fn deliver(
        &self,
        shards: &ShardTable,
        idx: usize,
        call: Call,
        req: Request<'_>,
    ) -> Result<(Reply, u64)> {
        let shard = &shards.at(idx);
        // A write to a master Sentinel holds down waits for the failover's
        // outcome (one atomic load when none is).
        if call.write && shard.fence.maybe_up() {
            Box::pin(self.hold(shards, idx)).await?;
        }
        // Hot path: a live connection and a reply that is the answer.
        let mut first = None;
        if let Some((generation, conn)) = shard.connection().filter(|_| !call.dedicated) {
            let outcome = send(&conn, req, call, &self.config).await;
            match judge(&outcome, call.idempotent, self.config.retry_non_idempotent) {
                Verdict::Done => return outcome.map(|r| (r, generation)).map_err(Error::Redis),
                verdict => first = Some((generation, outcome, verdict)),
            }
        }
        // A shard that is down answers before the retry loop's span and box
        // (the error is made after the await, so it is not held across it).
        if first.is_none() && shard.health.is_down() {
            tokio::task::coop::consume_budget().await;
            if let Some(e) = shard.health.down_error(&shard.name, Instant::now()) {
                return Err(e);
            }
        }
        let command = call.command;
        Box::pin(
            self.retry(shards, idx, call, req, first)
                .instrument(info_span!("failover", shard = %shard.name, command)),
        )
        .await
    }

    /// A read on one of the shard's replicas (`ReadFrom` other than `Master`)
    /// and the replica that answered; `None` means "use the master". Each
    /// replica that fails the read is dropped and the next one tried.
    async fn read_replica(
        &self,
        shards: &ShardTable,
        idx: usize,
        call: Call,
        req: Request<'_>,
    ) -> Result<Option<(Reply, NodeAddr)>> {
        let shard = &shards.at(idx);
        let generation = shard.connection().map_or(0, |(g, _)| g);
        while let Some((addr, conn)) = shard
            .replicas
            .pick(&shard.name, generation, &self.sentinels, &self.config, &shard.client_name, &shard.metrics)
            .await
        {
            let outcome = send(&conn, req, call, &self.config).await;
            // A replica read is only kept when it is the answer; anything else
            // (even a plain error) goes to the master instead.
            match (judge(&outcome, true, false), outcome) {
                (Verdict::Done, Ok(reply)) => return Ok(Some((reply, addr))),
                (_, outcome) => {
                    debug!(shard = %shard.name, %addr, ok = outcome.is_ok(), "replica read failed");
                    shard.replicas.remove(&addr, &shard.metrics);
                }
            }
        }
        match self.config.read_from {
            ReadFrom::Replica => Err(Error::NoReplica { shard: shard.name.clone() }),
            _ => Ok(None),
        }
    }

    /// The retry loop. `first` is the fast path's failed attempt, if it made
    /// one: its connection generation, outcome and verdict.
    async fn retry(
        &self,
        shards: &ShardTable,
        idx: usize,
        call: Call,
        req: Request<'_>,
        mut last: Option<(u64, RedisResult<Reply>, Verdict)>,
    ) -> Result<(Reply, u64)> {
        let config = &self.config;
        let shard = &shards.at(idx);
        let policy = Policy::current();
        let at_least_once = policy.at_least_once(config);
        // The fast path judged with the client's at-least-once setting.
        if let Some((_, outcome, verdict)) = last.as_mut() {
            *verdict = judge(outcome, call.idempotent, at_least_once);
        }
        // Counted from the first failure (a blocking command may legitimately
        // wait long before its first attempt fails).
        let mut deadline = Deadline::new(policy.deadline(config), config);
        loop {
            // The previous attempt's verdict.
            if let Some((generation, outcome, verdict)) = last.take() {
                if verdict == Verdict::Done {
                    return outcome.map(|r| (r, generation)).map_err(Error::Redis);
                }
                let err = failure(outcome);
                shard.invalidate(generation, &err);
                if verdict == Verdict::Ambiguous {
                    return Err(Error::Ambiguous {
                        command: call.command.to_owned(),
                        shard: shard.name.clone(),
                        cause: err,
                    });
                }
                debug!(error = %err, ?verdict, "request failed; retrying");
                if deadline.failed(Error::Redis(err)) > 1 {
                    self.pause(shards, idx, &mut deadline).await?;
                }
            }
            // A shard known to be down fails at once. It spends a unit of the
            // task's tokio budget first: an answer that never waits must not let
            // a caller's retry loop starve the runtime's other tasks (it yields
            // once the budget is used up, as a socket read would).
            if let Some(e) = shard.health.down_error(&shard.name, Instant::now()) {
                tokio::task::coop::consume_budget().await;
                return Err(e);
            }
            deadline.check(&shard.name)?;
            let failure = match shard.connection() {
                Some((generation, conn)) => {
                    // Blocking commands get a connection of their own without the
                    // response timeout (they hold it for up to their own timeout).
                    let conn = if call.dedicated {
                        self.dedicated(shards, idx, generation, None).await
                    } else {
                        Ok(conn)
                    };
                    match conn {
                        Ok(c) => {
                            if deadline.started() {
                                shard.metrics.retry(call.command);
                            }
                            let _open = call.dedicated.then(|| shard.metrics.dedicated());
                            let outcome = send(&c, req, call, config).await;
                            let verdict = judge(&outcome, call.idempotent, at_least_once);
                            last = Some((generation, outcome, verdict));
                            continue;
                        }
                        // Could not even connect: nothing was sent.
                        Err(e) => {
                            shard.invalidate(generation, &e);
                            e
                        }
                    }
                }
                None => match shard.resolve(&self.sentinels, config).await {
                    Ok(()) => {
                        // Perhaps the ring tool ended the old connection for
                        // following an old ring: read the ring over the new one.
                        self.table.reread.notify_one();
                        continue;
                    }
                    Err(e) => e,
                },
            };
            if is_fatal(&failure) {
                return Err(failure);
            }
            deadline.failed(failure);
            self.pause(shards, idx, &mut deadline).await?;
        }
    }

    /// Sleeps the next backoff delay, or fails with the deadline error, or with
    /// [`Error::ShardDown`] once the shard is down (see `down`).
    async fn pause(&self, shards: &ShardTable, idx: usize, deadline: &mut Deadline) -> Result<()> {
        if shards.at(idx).connection().is_none()
            && let Some(down) = self.judge_down(shards, idx, deadline.last()).await
        {
            return Err(down);
        }
        let delay = deadline.pause(&shards.at(idx).name)?;
        // A switch (by the watch or another request) ends the wait early.
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shards.at(idx).installed.notified() => {}
        }
        Ok(())
    }

    /// A dedicated, ROLE-checked connection (with the response timeout) to the
    /// shard's master, resolving the shard first if needed. For WATCH sessions:
    /// one attempt, no retry (the caller's transaction loop retries).
    pub(crate) async fn open_session(&self, shards: &ShardTable, idx: usize) -> Result<Wire> {
        let shard = &shards.at(idx);
        if let Some(e) = shard.health.down_error(&shard.name, Instant::now()) {
            return Err(e);
        }
        if shard.connection().is_none() {
            shard.resolve(&self.sentinels, &self.config).await?;
        }
        let (generation, _) = shard.connection().ok_or_else(|| {
            Error::Redis((redis::ErrorKind::Io, "disredis: the shard has no master right now").into())
        })?;
        self.dedicated(shards, idx, generation, self.config.response_timeout).await
    }

    /// A fresh, ROLE-checked connection to the master that `generation` is
    /// connected to: a blocking command's own (`response_timeout` `None`) or a
    /// WATCH session's.
    async fn dedicated(
        &self,
        shards: &ShardTable,
        idx: usize,
        generation: u64,
        response_timeout: Option<Duration>,
    ) -> Result<Wire> {
        let shard = &shards.at(idx);
        shard.refuse_if_retired()?;
        let addr = shard.addr_of(generation).ok_or_else(|| {
            Error::Redis((redis::ErrorKind::Io, "disredis: the shard's connection changed").into())
        })?;
        connect_master(&shard.name, &addr, &self.config, response_timeout, Some(&shard.client_name), None)
            .await
    }
}
