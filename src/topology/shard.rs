//! One shard: a Sentinel master name, its current address, connection and
//! generation, and the single-flight re-resolve (see the parent module's
//! concurrency rules).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::wire::{PushSink, Wire};
use parking_lot::{Mutex, RwLock};
use tracing::info;

use super::ShardInfo;
use super::fence::Fence;
use super::health::Health;
use crate::config::{Config, NodeAddr};
use crate::connect::connect_master;
use crate::error::{Error, Result};
use crate::events::{Event, Events};
use crate::metrics::ShardMetrics;
use crate::sentinel::Sentinels;

/// One shard's mutable state.
#[derive(Default)]
struct State {
    addr: Option<NodeAddr>,
    generation: u64,
    conn: Option<Wire>,
    /// When `conn` was installed.
    installed_at: Option<Instant>,
    /// The master a `+switch-master` moved the shard away from, until the
    /// shard is installed there again (see [`Shard::supersede`]).
    superseded: Option<NodeAddr>,
}

/// One shard: a Sentinel master name and its connection.
pub(crate) struct Shard {
    pub(crate) name: String,
    state: RwLock<State>,
    gate: tokio::sync::Mutex<()>,
    /// Completed resolve attempts, to detect one that finished while we waited.
    attempts: AtomicU64,
    last_error: Mutex<Option<Error>>,
    events: Events,
    /// Woken whenever a connection is installed, so requests backing off on this
    /// shard retry at once instead of finishing their sleep.
    pub(crate) installed: tokio::sync::Notify,
    /// Replica connections for reads (`ReadFrom` other than `Master`).
    pub(crate) replicas: crate::replicas::Replicas,
    /// What every connection to this shard is named (`CLIENT SETNAME`): the
    /// ring version the client follows, for the ring tool's fence.
    pub(crate) client_name: Arc<str>,
    /// Set when the table this shard belongs to was replaced by a newer ring's:
    /// it opens no connection any more (see [`CurrentTable`]).
    retired: AtomicBool,
    /// Its requests, connections and outages (feature `metrics`; nothing without).
    pub(crate) metrics: ShardMetrics,
    /// Up, failing or down (see `health`).
    pub(crate) health: Health,
    /// Writes held while Sentinels hold the master down (see `fence`).
    pub(crate) fence: Fence,
    /// The client cache's push sink (feature `cache`): the master
    /// connections this shard opens track the keys they read.
    tracking: Option<PushSink>,
}

impl Shard {
    pub(super) fn new(
        name: String,
        events: Events,
        client_name: Arc<str>,
        tracking: Option<PushSink>,
    ) -> Shard {
        Shard {
            tracking,
            metrics: ShardMetrics::new(&name),
            health: Health::default(),
            fence: Fence::default(),
            retired: AtomicBool::new(false),
            client_name,
            installed: tokio::sync::Notify::new(),
            replicas: Default::default(),
            events,
            name,
            state: RwLock::new(State::default()),
            gate: tokio::sync::Mutex::new(()),
            attempts: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// The live connection and its generation, or `None` when the shard must be
    /// (re-)resolved first.
    pub(crate) fn connection(&self) -> Option<(u64, Wire)> {
        let st = self.state.read();
        st.conn.as_ref().map(|c| (st.generation, c.clone()))
    }

    /// The live connection's generation and tracking epoch (feature
    /// `cache`), read without taking a handle to the connection: a cache
    /// hit's only look at the shard.
    #[cfg(feature = "cache")]
    pub(crate) fn cache_epoch(&self) -> Option<(u64, u64)> {
        let st = self.state.read();
        st.conn.as_ref().map(|c| (st.generation, c.cache_epoch()))
    }

    /// How long ago the connection of `generation` was installed, if it is
    /// still the current one.
    pub(crate) fn age_of(&self, generation: u64) -> Option<Duration> {
        let st = self.state.read();
        (st.generation == generation && st.conn.is_some())
            .then(|| st.installed_at.map(|t| t.elapsed()))
            .flatten()
    }

    /// The master address that `generation` connected to, if it is still current.
    pub(crate) fn addr_of(&self, generation: u64) -> Option<NodeAddr> {
        let st = self.state.read();
        (st.generation == generation && st.conn.is_some()).then(|| st.addr.clone()).flatten()
    }

    /// Drops the connection of `generation` (if it is still the current one) so the
    /// next request re-resolves instead of using it.
    pub(crate) fn invalidate(&self, generation: u64, cause: &dyn std::fmt::Display) {
        let dropped = {
            let mut st = self.state.write();
            st.generation == generation && st.conn.take().is_some()
        };
        if dropped {
            self.health.failed(Instant::now());
            self.metrics.invalidated();
            self.events.emit(Event::ReResolved { shard: self.name.clone(), cause: cause.to_string() });
        }
    }

    /// Makes a ROLE-checked connection to the master at `addr` the current one.
    pub(super) fn install(&self, addr: NodeAddr, conn: Wire) {
        let from = {
            let mut st = self.state.write();
            st.generation += 1;
            info!(shard = %self.name, addr = %addr, generation = st.generation, "connected to master");
            let from = st.addr.replace(addr.clone());
            if st.superseded.as_ref() == Some(&addr) {
                st.superseded = None;
            }
            st.conn = Some(conn);
            st.installed_at = Some(Instant::now());
            from
        };
        self.metrics.installed(&addr, from.as_ref().is_some_and(|f| f != &addr));
        if let Some(down_for) = self.health.recovered(Instant::now()) {
            self.metrics.marked_up();
            self.events.emit(Event::ShardUp { shard: self.name.clone(), down_for });
        }
        self.installed.notify_waiters();
        if from.as_ref() != Some(&addr) {
            self.release(None);
            self.events.emit(Event::SwitchMaster {
                shard: self.name.clone(),
                from: from.map(|a| a.to_string()),
                to: addr.to_string(),
            });
        }
    }

    /// `+odown` (`down`) for the master at `addr`: holds writes to it if it
    /// is the installed master and `Config::fence_writes` is on (see
    /// `fence`); `-odown` or no failover coming: releases them.
    pub(crate) fn held_down(&self, addr: NodeAddr, down: bool, config: &Config) {
        if !down {
            return self.release(Some(&addr));
        }
        if config.fence_writes && self.addr().as_ref() == Some(&addr) {
            let now = Instant::now();
            let master = addr.to_string();
            if self.fence.raise(addr, now, now + config.failover_deadline) {
                self.metrics.writes_held(true);
                self.events.emit(Event::WritesHeld { shard: self.name.clone(), master });
            }
        }
    }

    /// Until when writes to this shard wait at `now` (see `fence`): an
    /// expired fence is lowered (and reported) here.
    pub(crate) fn writes_held_until(&self, now: Instant) -> Option<Instant> {
        if let Some(addr) = self.fence.expired(now) {
            self.release(Some(&addr));
        }
        self.fence.holds(self.addr().as_ref(), now)
    }

    /// Lowers the write fence if it holds `addr` (`None`: whatever it holds).
    fn release(&self, addr: Option<&NodeAddr>) {
        if let Some(held_for) = self.fence.lower(addr, Instant::now()) {
            self.metrics.writes_held(false);
            self.events.emit(Event::WritesReleased { shard: self.name.clone(), held_for });
        }
    }

    /// The address currently installed (`None` before the first connect).
    pub(crate) fn addr(&self) -> Option<NodeAddr> {
        self.state.read().addr.clone()
    }

    /// Switches to `addr` (as a `+switch-master` message or a poll named it),
    /// ROLE-checked, unless the shard is already connected there.
    pub(crate) async fn switch_to(&self, addr: NodeAddr, config: &Config) -> Result<()> {
        self.refuse_if_retired()?;
        let _gate = self.gate.lock().await;
        {
            let st = self.state.read();
            if st.conn.is_some() && st.addr.as_ref() == Some(&addr) {
                return Ok(());
            }
        }
        let conn = self.open(&addr, config).await?;
        self.install(addr, conn);
        Ok(())
    }

    /// A `ROLE`-checked connection to the master at `addr`, named after the
    /// shard's ring and tracking keys for the client cache when it is on: the
    /// shard's own connections (a switch, a re-resolve).
    async fn open(&self, addr: &NodeAddr, config: &Config) -> Result<Wire> {
        let (name, tracking) = (Some(&*self.client_name), self.tracking.as_ref());
        connect_master(&self.name, addr, config, config.response_timeout, name, tracking).await
    }

    /// A `+switch-master` moved the shard away from `left`: a failover a
    /// majority of Sentinels decided and their elected leader announced. The
    /// address poll does not take the shard back there (a Sentinel that still
    /// names it missed the failover — one cut off with the old master, which
    /// answers `ROLE` as a master still), and a re-resolve with a quorum of 1
    /// passes over a Sentinel that names it for the next
    /// (`Sentinels::master_addr_past`). Recorded when the message arrives,
    /// whether or not the shard has moved yet (a poll may have moved it
    /// first). A re-resolve or a later `+switch-master` that installs `left`
    /// again forgets it.
    pub(crate) fn supersede(&self, left: NodeAddr) {
        self.state.write().superseded = Some(left);
    }

    /// Whether a `+switch-master` moved the shard away from `addr` (and it was
    /// not installed there since).
    pub(crate) fn superseded(&self, addr: &NodeAddr) -> bool {
        self.state.read().superseded.as_ref() == Some(addr)
    }

    /// Asks Sentinel for this shard's master, connects, checks `ROLE`, installs it.
    /// Single flight (see the module docs).
    pub(crate) async fn resolve(&self, sentinels: &Sentinels, config: &Config) -> Result<()> {
        self.refuse_if_retired()?;
        let seen = self.attempts.load(Ordering::Acquire);
        let _gate = self.gate.lock().await;
        if self.state.read().conn.is_some() {
            return Ok(());
        }
        if self.attempts.load(Ordering::Acquire) != seen
            && let Some(e) = self.last_error.lock().clone()
        {
            return Err(e);
        }
        let outcome = async {
            let stale = self.state.read().superseded.clone();
            let addr = sentinels.master_addr_past(&self.name, stale.as_ref()).await?;
            let conn = self.open(&addr, config).await?;
            Ok::<_, Error>((addr, conn))
        }
        .await;
        self.attempts.fetch_add(1, Ordering::AcqRel);
        match outcome {
            Ok((addr, conn)) => {
                *self.last_error.lock() = None;
                self.install(addr, conn);
                Ok(())
            }
            Err(e) => {
                info!(shard = %self.name, error = %e, "re-resolve failed");
                self.health.failed(Instant::now());
                self.health.note(e.clone());
                *self.last_error.lock() = Some(e.clone());
                Err(e)
            }
        }
    }

    /// [`Error::RingChanged`] once this shard's table was replaced: a request
    /// planned under the old ring must not open a connection named after it.
    pub(crate) fn refuse_if_retired(&self) -> Result<()> {
        match self.retired.load(Ordering::Acquire) {
            true => Err(Error::RingChanged { shard: self.name.clone() }),
            false => Ok(()),
        }
    }

    /// Stops using this shard: no new connection, the current one and the
    /// replicas' dropped (they close when the requests holding them finish).
    pub(super) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        self.state.write().conn = None;
        self.metrics.retired();
        self.replicas.clear(&self.metrics);
    }

    /// Starts a shard of a newer ring's table where the table it replaces had
    /// it: the first connection there is not a switch, so it reports no
    /// [`Event::SwitchMaster`] (a ring change moves no master).
    pub(super) fn carry_over(&self, addr: NodeAddr) {
        self.state.write().addr.get_or_insert(addr);
    }

    pub(super) fn info(&self) -> ShardInfo {
        let st = self.state.read();
        ShardInfo {
            name: self.name.clone(),
            master: st.addr.as_ref().map(ToString::to_string),
            generation: st.generation,
            connected: st.conn.is_some(),
            resolves: self.attempts.load(Ordering::Acquire),
        }
    }
}

/// A dropped shard (its client's last clone gone, or a replaced table's last
/// request finished) stops counting its connections: the connection-count
/// gauges are shared by every client of the process, so a count left behind
/// would be read as an open connection of whichever client next reaches that
/// address. Idempotent after [`Shard::retire`].
impl Drop for Shard {
    fn drop(&mut self) {
        self.metrics.retired();
        self.replicas.clear(&self.metrics);
    }
}
