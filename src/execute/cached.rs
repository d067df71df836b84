//! The client cache on the request path (feature `cache`; the rules are in
//! `cache`'s docs and `docs/caching.md`): a cacheable read answered from the
//! cache or sent and stored, and the evictions a write makes before it is sent
//! and again after its reply.

use std::time::Instant;

use redis::{Cmd, Value};

use super::{Executor, failure_of};
use crate::cache::ClientCache;
use crate::error::Result;
use crate::keys::{self, KeyError};
use crate::metrics::Stamp;
use crate::request::{Call, Reply, Request};
use crate::topology::ShardTable;

/// Keyless writes that change every key of a shard's database: the client
/// flushes its own entries before sending one (the server's null
/// invalidation comes only after the reply) and again after.
const FLUSHING: &[&str] = &["FLUSHALL", "FLUSHDB", "SWAPDB"];

/// What a cacheable read noted before it was sent, for storing its reply.
pub(crate) struct Miss {
    /// The shard connection's generation and tracking epoch (`None`: no
    /// connection yet; the reply is not stored).
    seen: Option<(u64, u64)>,
    /// The key's invalidation counter.
    stamp: u64,
    sent: Instant,
}

impl Executor {
    /// A cacheable read of `key` on shard `idx`: the cached reply, or what
    /// to note for sending it ([`Executor::read_through`]). Never waits:
    /// a hit allocates nothing but the reply's copy.
    pub(crate) fn cache_lookup(
        &self,
        cache: &ClientCache,
        shards: &ShardTable,
        idx: usize,
        key: &[u8],
        args: &[&[u8]],
    ) -> std::result::Result<Value, Miss> {
        let seen = shards.at(idx).cache_epoch();
        let now = Instant::now();
        match cache.get(key, args, seen.map_or(0, |(_, epoch)| epoch), now) {
            Some(value) => Ok(value),
            // Noted after the lookup, before the send: an invalidation from
            // now on keeps the reply out of the cache.
            None => Err(Miss { seen, stamp: cache.stamp(key), sent: now }),
        }
    }

    /// Sends a cacheable read that missed (as `execute` would, to the
    /// master: the connection that tracks the key) and stores its reply if it
    /// came over the connection noted in `miss` and no invalidation of the
    /// key crossed it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn read_through(
        &self,
        cache: &ClientCache,
        shards: &ShardTable,
        idx: usize,
        call: Call,
        cmd: &Cmd,
        key: &[u8],
        args: &[&[u8]],
        miss: Miss,
    ) -> Result<Value> {
        let since = Stamp::now();
        let outcome = self.deliver(shards, idx, call, Request::Cmd(cmd)).await;
        let (reply, generation) = match outcome {
            Ok((reply, generation)) => (Ok(reply), Some(generation)),
            Err(e) => (Err(e), None),
        };
        since.finished(|| &shards.at(idx).metrics, call.command, || failure_of(&reply));
        let value = reply.and_then(Reply::one)?;
        if let Some((seen, epoch)) = miss.seen
            && generation == Some(seen)
        {
            cache.store(key, args, &value, epoch, miss.stamp, miss.sent);
        }
        Ok(value)
    }

    /// Before a command (`args`) is sent: what it may write, for
    /// [`Executor::cache_after`] after its reply (`None`: no cache, or a
    /// read). The keys' counters move now, so no read crossing the write is
    /// stored; the server's invalidations for a write of our own are not sent
    /// (`NOLOOP`), so the client reads its own writes by evicting them
    /// itself. A read-only command costs one key-table lookup. A keyless write
    /// that empties a database (`FLUSHALL`, …), or a write whose keys are
    /// unknown (a module command not learned yet), ends every shard
    /// connection's epoch instead, before and after.
    pub(crate) fn cache_before<'a>(&self, args: &[&'a [u8]]) -> Option<Written<'a>> {
        let cache = self.cache.as_deref()?;
        let mut keys: Vec<&'a [u8]> = Vec::new();
        let whole = match keys::visit_keys(args, |k| keys.push(k)) {
            Ok(info) if info.read_only => return None,
            Ok(info) => info.keyless && FLUSHING.contains(&info.name),
            Err(KeyError::Unknown(_)) => match self.learned.get(args[0]) {
                Some(spec) if spec.read_only => return None,
                Some(spec) if !spec.movable => {
                    keys = spec.keys(args);
                    false
                }
                _ => true,
            },
            Err(KeyError::Malformed { .. }) => return None,
        };
        for key in &keys {
            cache.bump(key);
        }
        let written = Written { keys, whole };
        self.flush_all(&written);
        Some(written)
    }

    /// [`Executor::cache_before`] for every command of a pipeline, the
    /// writes noted together.
    pub(crate) fn cache_before_all<'c>(&self, cmds: impl Iterator<Item = &'c Cmd>) -> Option<Written<'c>> {
        let each = cmds.filter_map(|cmd| self.cache_before(&crate::request::cmd_args(cmd)));
        each.reduce(|mut all, w| {
            all.keys.extend(w.keys);
            all.whole |= w.whole;
            all
        })
    }

    /// After the reply to what [`Executor::cache_before`] noted (whatever
    /// the outcome: a failed write may have run): evicts its keys.
    pub(crate) fn cache_after(&self, written: Option<Written<'_>>) {
        let (Some(cache), Some(written)) = (self.cache.as_deref(), written) else { return };
        for key in &written.keys {
            cache.evict(key);
        }
        self.flush_all(&written);
    }

    fn flush_all(&self, written: &Written<'_>) {
        if written.whole {
            for shard in &self.table.latest().shards {
                if let Some((_, conn)) = shard.connection() {
                    conn.renew_cache_epoch();
                }
            }
        }
    }
}

/// What a write may change, noted before it is sent.
pub(crate) struct Written<'a> {
    keys: Vec<&'a [u8]>,
    /// Every key of a database (`FLUSHALL`), or keys unknown.
    whole: bool,
}
