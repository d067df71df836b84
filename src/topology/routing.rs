//! The routing questions a table answers for the layers above it: a key's
//! route, a command's, a pipeline's or a transaction's plan, which shard(s) a
//! route means. Above the executor, whether a ring change is in progress is
//! this file's business only (below, `execute/moving.rs` handles the keys that
//! move, and replica reads wait for a stable ring): under a stable ring a route is the owner's shard and the planner runs
//! over the placement (statically dispatched: the hot path); during a change
//! over the change's routes (see [`crate::routes`]).

use redis::Pipeline;

use super::ShardTable;
use crate::error::Result;
use crate::plan::{self, Destination, Options, PipelinePlan, Routed, Transaction};
use crate::ring::Phase;
use crate::routes::{Route, Routes};

/// Where a route's requests go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ends {
    /// To this shard: a stable ring, or a key that stays where it is.
    Stays(usize),
    /// A key moving from `old` to `new` (shard indices) during a change.
    Moves { old: usize, new: usize },
}

impl ShardTable {
    /// The route of `key`: its shard under a stable ring.
    pub(crate) fn route(&self, key: &[u8]) -> Route {
        match &self.change {
            None => self.placement.route(key),
            Some(c) => c.moves.route(key),
        }
    }

    /// A name per route (for errors): shard names, or `old → new` during a change.
    pub(crate) fn labels(&self) -> &[String] {
        match &self.change {
            None => self.placement.names(),
            Some(c) => c.moves.labels(),
        }
    }

    /// Which shard(s) `route` means.
    pub(crate) fn ends(&self, route: Route) -> Ends {
        match &self.change {
            None => Ends::Stays(route.index()),
            Some(c) => match c.moves.ends(route) {
                (old, new) if old == new => Ends::Stays(old),
                (old, new) => Ends::Moves { old, new },
            },
        }
    }

    /// The route of the keys of shard `idx` that stay there.
    pub(crate) fn direct(&self, idx: usize) -> Route {
        match &self.change {
            None => Route::at(idx),
            Some(c) => c.moves.direct(idx),
        }
    }

    /// The shard that owns `key` now: under a change the old owner until the
    /// keys move (`prepare`), the new one once they do (`migrating`).
    pub(crate) fn owner(&self, key: &[u8]) -> usize {
        match &self.change {
            None => self.placement.shard_index(key),
            Some(c) if c.phase == Phase::Prepare => c.moves.old_owner(key),
            Some(c) => c.moves.new_owner(key),
        }
    }

    /// The shards a publisher of `channel` may reach: its owner, and during a
    /// change both the old and the new one (publishers of either phase).
    pub(crate) fn channel_owners(&self, channel: &[u8]) -> Vec<usize> {
        match &self.change {
            None => vec![self.placement.shard_index(channel)],
            Some(c) => match (c.moves.old_owner(channel), c.moves.new_owner(channel)) {
                (old, new) if old == new => vec![old],
                (old, new) => vec![old, new],
            },
        }
    }

    /// Plans one command (see [`plan::plan`]).
    pub(crate) fn plan(&self, args: &[&[u8]]) -> Result<Routed> {
        match &self.change {
            None => plan::plan(&self.placement, args),
            Some(c) => plan::plan(&c.moves, args),
        }
    }

    /// Plans a non-atomic pipeline (see [`plan::plan_pipeline`]).
    pub(crate) fn plan_pipeline<'p>(&self, pipe: &'p Pipeline, opts: Options) -> Result<PipelinePlan<'p>> {
        match &self.change {
            None => plan::plan_pipeline(&self.placement, pipe, opts),
            Some(c) => plan::plan_pipeline(&c.moves, pipe, opts),
        }
    }

    /// The one route of a transaction (see [`plan::transaction_shard`]).
    pub(crate) fn plan_transaction(
        &self,
        pipe: &Pipeline,
        learned: &[(usize, Result<Destination>)],
    ) -> Result<Transaction> {
        match &self.change {
            None => plan::transaction_shard(&self.placement, pipe, learned),
            Some(c) => plan::transaction_shard(&c.moves, pipe, learned),
        }
    }
}
