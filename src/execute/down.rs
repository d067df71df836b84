//! Declaring a shard down and the probe that brings it back (the states are in
//! `topology::health`). A shard that has had no usable master for
//! `shard_down_after` is down when the first Sentinel that answers names no
//! failover under way and no replica it could promote (or, with one, once a
//! whole failover deadline has passed), or hears the master itself (not
//! flagged down, answered within `shard_down_after`: a partition between this
//! client and a healthy master, which no failover will end): nothing will
//! give it a master soon, so
//! its requests fail at once ([`Error::ShardDown`]) instead of each holding a
//! caller's worker for the deadline, until the probe ([`probe`]) finds a master.

use std::sync::{Arc, Weak};
use std::time::Instant;

use tracing::{debug, info, warn};

use super::Executor;
use crate::config::Config;
use crate::error::Error;
use crate::events::Event;
use crate::sentinel::{Promotion, Sentinels};
use crate::topology::{CHECK_EVERY, CurrentTable, ShardTable};

impl Executor {
    /// After a failed attempt on shard `idx` (its last error `last`): asks
    /// Sentinel, at most once per [`CHECK_EVERY`] per shard, whether the shard
    /// is down, declares it when it is (waking the requests waiting on it) and
    /// starts its probe. Returns the [`Error::ShardDown`] once it is down.
    pub(super) async fn judge_down(
        &self,
        shards: &ShardTable,
        idx: usize,
        last: Option<&Error>,
    ) -> Option<Error> {
        let shard = &shards.at(idx);
        let now = Instant::now();
        if let Some(e) = shard.health.down_error(&shard.name, now) {
            return Some(e);
        }
        let after = self.config.shard_down_after?;
        let outage = shard.health.due_for_check(after, now)?;
        let promotion = match self.sentinels.promotion(&shard.name, after).await {
            Ok(p) => p,
            // No Sentinel answered in time: on a loaded host that is no evidence
            // against a promotion, so the shard is down only after a whole
            // deadline (as with every Sentinel dead, when none can promote).
            Err(e) => {
                debug!(shard = %shard.name, error = %e, "no Sentinel to ask about a promotion");
                Promotion::Possible
            }
        };
        let down = match promotion {
            Promotion::InProgress => false,
            Promotion::Impossible | Promotion::NotNeeded => true,
            Promotion::Possible => outage >= self.config.failover_deadline,
        };
        debug!(shard = %shard.name, ?outage, ?promotion, down, "is the shard down?");
        if !down {
            return None;
        }
        let cause = last
            .cloned()
            .unwrap_or_else(|| Error::Redis((redis::ErrorKind::Io, "disredis: no usable master").into()));
        if shard.health.declare(cause.clone()) {
            shard.metrics.marked_down();
            warn!(shard = %shard.name, ?outage, ?promotion, "shard down: its requests fail at once until it has a master");
            self.events.emit(Event::ShardDown { shard: shard.name.clone(), cause: cause.to_string() });
            shard.installed.notify_waiters();
            tokio::spawn(probe(
                Arc::downgrade(&self.table),
                self.sentinels.clone(),
                self.config.clone(),
                shard.name.clone(),
            ));
        }
        shard.health.down_error(&shard.name, Instant::now())
    }
}

/// Re-resolves the down shard `name` of the current table every
/// [`CHECK_EVERY`] until it has a master (installing it ends the outage and
/// emits `ShardUp`), it is no longer down (the poll or a `+switch-master`
/// found one), the table replaced it, or the client is gone.
async fn probe(table: Weak<CurrentTable>, sentinels: Arc<Sentinels>, config: Arc<Config>, name: String) {
    let started = Instant::now();
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        let Some(shards) = table.upgrade().map(|t| t.latest()) else { return };
        let Some(shard) = shards.shard(&name) else { return };
        if !shard.health.is_down() || shard.refuse_if_retired().is_err() {
            return;
        }
        match shard.resolve(&sentinels, &config).await {
            Ok(()) => {
                info!(shard = %name, after = ?started.elapsed(), "probe: the shard has a master again");
                return;
            }
            Err(e) => debug!(shard = %name, error = %e, "probe: still no master"),
        }
    }
}
