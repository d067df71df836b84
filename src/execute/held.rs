//! A write held while its shard's master is fenced (`topology::fence`: a
//! quorum of Sentinels holds it down, a failover may replace it).

use std::time::Instant;

use tracing::debug;

use super::Executor;
use super::Policy;
use crate::error::{Error, Result};
use crate::retry::Deadline;
use crate::topology::ShardTable;

impl Executor {
    /// Waits while the fence holds writes to shard `idx`'s installed master:
    /// until it is lowered (`-odown`, or no failover coming), another master
    /// is installed, or it expires. Past the request's failover deadline:
    /// [`Error::FailoverTimeout`], the write never sent; a shard declared
    /// down meanwhile fails it at once with [`Error::ShardDown`] (a dead
    /// shard fails fast, held or not).
    pub(super) async fn hold(&self, shards: &ShardTable, idx: usize) -> Result<()> {
        let shard = &shards.at(idx);
        let budget = Policy::current().deadline(&self.config);
        let end = Instant::now() + budget;
        let mut deadline = Deadline::from_now(budget, &self.config);
        let mut noted = false;
        loop {
            let (lowered, installed) = (shard.fence.lowered.notified(), shard.installed.notified());
            tokio::pin!(lowered, installed);
            lowered.as_mut().enable();
            installed.as_mut().enable();
            let now = Instant::now();
            if let Some(e) = shard.health.down_error(&shard.name, now) {
                return Err(e);
            }
            let Some(until) = shard.writes_held_until(now) else {
                return Ok(());
            };
            if !noted {
                debug!(shard = %shard.name, "write held: the master is held down by Sentinel");
                let why = "write held: a quorum of Sentinels holds the master down (+odown) and no failover ended yet";
                deadline.failed(Error::Redis((redis::ErrorKind::Io, "disredis", why.to_owned()).into()));
                noted = true;
            }
            deadline.check(&shard.name)?;
            tokio::select! {
                _ = tokio::time::sleep_until(until.min(end).into()) => {}
                _ = lowered => {}
                _ = installed => {}
            }
        }
    }
}
