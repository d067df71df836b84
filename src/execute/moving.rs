//! Requests on a key that moves while the ring changes (see [`crate::change`]
//! for what is sent and docs/resharding.md for the protocol): guarded at the
//! old owner in phase `prepare`, migrated on first touch and then sent to the
//! new owner in phase `migrating`. Keys that do not move take the ordinary path.

use std::time::{Duration, Instant};

use redis::Value;
use tracing::{debug, warn};

use super::Executor;
use super::migrate::{self, Keys, Moved, Reach};
use crate::change::{self, MIGRATE_TIMEOUT, is_moved, is_moved_error};
use crate::config::NodeAddr;
use crate::error::{Error, Result};
use crate::keys;
use crate::request::{Call, Reply, Request, cmd_args};
use crate::ring::Phase;
use crate::routes::Route;
use crate::topology::{Ends, RingChange, ShardTable};

/// Commands a script may not call: sent only once their keys have moved.
const NOSCRIPT: [&str; 6] = ["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"];

/// Every key of a request, and whether a script can carry it.
fn request_keys(req: Request<'_>) -> (Vec<Vec<u8>>, bool) {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut scriptable = true;
    let mut visit = |args: &[&[u8]]| {
        if let Ok(info) = keys::visit_keys(args, |k| keys.push(k.to_vec())) {
            scriptable &= !NOSCRIPT.contains(&info.name);
        }
    };
    match req {
        Request::Cmd(cmd) => visit(&cmd_args(cmd)),
        Request::Pipe { pipe, .. } => pipe.cmd_iter().for_each(|c| visit(&cmd_args(c))),
        Request::Part(pieces) => pieces.iter().for_each(|p| visit(&cmd_args(p.cmd()))),
    }
    keys.sort();
    keys.dedup();
    (keys, scriptable)
}

impl Executor {
    /// A request whose keys move from shard `old` to shard `new` during a ring
    /// change (see [`crate::routes`]; [`Executor::run`] sends every other
    /// request to its shard): guarded at the old owner (`prepare`) or moved
    /// first (`migrating`).
    pub(super) async fn run_moving(
        &self,
        shards: &ShardTable,
        old: usize,
        new: usize,
        call: Call,
        req: Request<'_>,
    ) -> Result<Reply> {
        let Some(change) = &shards.change else { unreachable!("only a changing ring has moving routes") };
        let (keys, scriptable) = request_keys(req);
        if change.phase == Phase::Prepare {
            // A blocking command or a script can't run inside the guard: it
            // waits for the next phase, in which its keys move.
            if !call.dedicated
                && scriptable
                && let Some(reply) = self.guarded(shards, change, old, call, req, &keys).await?
            {
                return Ok(reply);
            }
            let changed = self.next_ring(shards, old).await;
            return self.replay(shards, &keys, call, req).await.unwrap_or(Err(changed));
        }
        let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        self.move_keys(shards, change, old, new, &keys).await?;
        self.execute(shards, new, call, req).await
    }

    /// The shard a request on `route` with `keys` can run on as it is (a
    /// `WATCH` session, which can't be guarded by a script): the keys' shard,
    /// or during a change the new owner once `keys` are moved there
    /// (`migrating`); in phase `prepare` it waits for the next ring and is
    /// [`Error::RingChanged`].
    pub(crate) async fn settle(&self, shards: &ShardTable, route: Route, keys: &[&[u8]]) -> Result<usize> {
        let (old, new) = match shards.ends(route) {
            Ends::Stays(idx) => return Ok(idx),
            Ends::Moves { old, new } => (old, new),
        };
        let Some(change) = &shards.change else { unreachable!("only a changing ring has moving routes") };
        if change.phase == Phase::Prepare {
            return Err(self.next_ring(shards, old).await);
        }
        self.move_keys(shards, change, old, new, keys).await?;
        Ok(new)
    }

    /// A request that did not run under `shards` (its keys moved), sent again
    /// under the newer table the client follows now — only this request, so
    /// the other parts of a split command or pipeline are not repeated.
    /// `None` when there is no newer table or its keys no longer share a route
    /// (then the caller plans the whole request again: `Error::RingChanged`).
    async fn replay(
        &self,
        shards: &ShardTable,
        keys: &[Vec<u8>],
        call: Call,
        req: Request<'_>,
    ) -> Option<Result<Reply>> {
        let next = self.table.latest();
        if next.ring.version <= shards.ring.version {
            return None;
        }
        let mut routes = keys.iter().map(|k| next.route(k));
        let route = routes.next()?;
        if routes.any(|r| r != route) {
            return None;
        }
        Some(Box::pin(self.run(&next, route, call, req)).await)
    }

    /// Phase `prepare`: the request runs at the old owner inside the guard
    /// script, unless one of its keys has a tombstone there (`None`: nothing ran).
    async fn guarded(
        &self,
        shards: &ShardTable,
        change: &RingChange,
        old: usize,
        call: Call,
        req: Request<'_>,
        keys: &[Vec<u8>],
    ) -> Result<Option<Reply>> {
        let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let guard = match req {
            Request::Cmd(cmd) => change::guard(&change.tombstones, &keys, [cmd_args(cmd).to_vec()], false),
            Request::Pipe { pipe, .. } => {
                change::guard(&change.tombstones, &keys, pipe.cmd_iter().map(|c| cmd_args(c).to_vec()), true)
            }
            Request::Part(pieces) => change::guard(
                &change.tombstones,
                &keys,
                pieces.iter().map(|p| cmd_args(p.cmd()).to_vec()),
                true,
            ),
        };
        let reply = match self.execute(shards, old, call, Request::Cmd(&guard)).await {
            Err(Error::Redis(e)) if is_moved_error(&e) => return Ok(None),
            other => other?.one()?,
        };
        if is_moved(&reply) {
            return Ok(None);
        }
        match (req, reply) {
            (Request::Cmd(_), v) => Ok(Some(Reply::One(v))),
            // A transaction's one reply is EXEC's array.
            (Request::Pipe { pipe, .. }, v @ Value::Array(_)) if pipe.is_transaction() => {
                Ok(Some(Reply::Many(vec![v])))
            }
            (Request::Pipe { offset, count, .. }, Value::Array(items)) => {
                Ok(Some(Reply::Many(items.into_iter().skip(offset).take(count).collect())))
            }
            (Request::Part(_), Value::Array(items)) => Ok(Some(Reply::Many(items))),
            (_, Value::ServerError(e)) => Err(Error::Redis(e.into())),
            (_, other) => Err(Error::Redis(
                (redis::ErrorKind::Parse, "disredis: the guard script answered", format!("{other:?}")).into(),
            )),
        }
    }

    /// Waits (up to the failover deadline) until the client follows a ring
    /// newer than `shards`' and returns [`Error::RingChanged`], so the request
    /// is planned again under it.
    pub(crate) async fn next_ring(&self, shards: &ShardTable, shard: usize) -> Error {
        let started = Instant::now();
        while self.table.latest().ring.version <= shards.ring.version
            && started.elapsed() < self.config.failover_deadline
        {
            self.table.reread.notify_one();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        debug!(version = shards.ring.version, waited = ?started.elapsed(), "a moving key: planning again under the next ring");
        Error::RingChanged { shard: shards.at(shard).name.clone() }
    }

    /// Phase `migrating`: moves `keys` from shard `old` to shard `new` unless
    /// this client did so already ([`RingChange::moved`]), through
    /// [`migrate::move_keys`] within the failover deadline; a key the new
    /// owner already holds (`BUSYKEY`) is left at the old owner for the
    /// operator's conflict report and the new owner's copy is used.
    pub(crate) async fn move_keys(
        &self,
        shards: &ShardTable,
        change: &RingChange,
        old: usize,
        new: usize,
        keys: &[&[u8]],
    ) -> Result<()> {
        let keys: Vec<&[u8]> = keys.iter().copied().filter(|k| !change.known_moved(k)).collect();
        if keys.is_empty() {
            return Ok(());
        }
        // Durability mode copies, confirms at the new owner, then deletes: a
        // plain MIGRATE would delete here before the new owner's replicas have
        // the keys, and a failover there would lose them.
        let (from, to) = (&shards.at(old).name, &shards.at(new).name);
        let copy = self.config.wait_replicas.is_some();
        let what = Keys {
            names: (from, to),
            tombstones: Some(&change.tombstones),
            keys: &keys,
            copy,
            replace: false,
            sort_busy: false,
        };
        let mut ends = FirstTouch { exec: self, shards, old, new };
        if migrate::move_keys(&mut ends, &what, &self.config, self.config.failover_deadline).await?
            == Moved::TargetHad
        {
            warn!(%from, %to, "a moving key is on its new owner already: using that copy (the old one is reported by `disredis reshard`)");
        }
        change.remember(&keys);
        Ok(())
    }
}

/// A client's first touch: keys move from shard `old` to shard `new` of
/// `shards` over the client's own connections (the request path's failover
/// retries at the source; durability mode's `WAIT` at both ends).
struct FirstTouch<'a> {
    exec: &'a Executor,
    shards: &'a ShardTable,
    old: usize,
    new: usize,
}

impl Reach for FirstTouch<'_> {
    async fn target(&mut self) -> Result<NodeAddr> {
        let target = &self.shards.at(self.new);
        if let Some(addr) = target.addr() {
            return Ok(addr);
        }
        target.resolve(&self.exec.sentinels, &self.exec.config).await?;
        target.addr().ok_or_else(|| Error::RingChanged { shard: target.name.clone() })
    }

    async fn at_source(&mut self, pipe: &redis::Pipeline) -> Result<Value> {
        let call = Call { patience: Some(MIGRATE_TIMEOUT), ..Call::repeatable_write("MIGRATE") };
        let req = Request::Pipe { pipe, offset: pipe.len() + 1, count: 1 };
        self.exec.execute(self.shards, self.old, call, req).await?.only()
    }

    /// [`change::moved_notice`] at the new owner (durability mode adds the
    /// `WAIT`), then the keys deleted at the old owner (and that waited for too).
    async fn confirm(&mut self, keys: &[&[u8]]) -> Result<()> {
        let notice = change::moved_notice(keys.len());
        self.exec
            .execute(self.shards, self.new, Call::repeatable_write("PUBLISH"), Request::Cmd(&notice))
            .await?;
        let mut unlink = redis::cmd("UNLINK");
        unlink.arg(keys);
        let reply =
            self.exec.execute(self.shards, self.old, Call::repeatable_write("UNLINK"), Request::Cmd(&unlink));
        change::unlinked(&reply.await?.one()?).map(|_| ())
    }

    async fn retarget(&mut self) {
        let (target, config) = (&self.shards.at(self.new), &self.exec.config);
        if let Ok(addr) = self.exec.sentinels.master_addr(&target.name).await
            && target.addr().as_ref() != Some(&addr)
        {
            let _ = target.switch_to(addr, config).await;
        }
    }
}
