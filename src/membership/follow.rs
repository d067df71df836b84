//! Following the ring while the client runs: a poll of the members' copies
//! every `ring_poll_interval`, and a subscription to the ring channel on every
//! member, on which a change is announced so clients follow it at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::wire::Wire;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use super::{read_all, write};
use crate::config::Config;
use crate::connect::data_client;
use crate::events::{Event, Events};
use crate::retry::Backoff;
use crate::ring::{RING_CHANNEL, Ring};
use crate::sentinel::Sentinels;
use crate::sentinel::switch::{Names, Stop, Stopped, stop_signal};
use crate::topology::{CurrentTable, ShardTable, Where};

/// The shortest time between two reads of the ring record: 100 ms.
const REREAD_GAP: Duration = Duration::from_millis(100);

/// Follows the ring: every `ring_poll_interval`, and at once when a change is
/// announced on [`RING_CHANNEL`], it reads the copies on the current members;
/// a newer stable version becomes a new table (new connections, named after
/// it) that replaces the current one, announced as [`Event::RingChanged`]. A
/// shard that had to be resolved again also makes it read at once (see
/// `CurrentTable::reread`).
/// A member without a copy (after `FUNCTION FLUSH`) or
/// with one the current ring wins over gets the current ring back.
pub(crate) struct Follower {
    pub(crate) table: Arc<CurrentTable>,
    pub(crate) sentinels: Arc<Sentinels>,
    pub(crate) config: Arc<Config>,
    pub(crate) events: Events,
    /// The seed masters (for the unrouted list of a new ring).
    pub(crate) seed: Vec<String>,
    /// The names the `+switch-master` watch follows: the members.
    pub(crate) names: Names,
    /// The last problem warned about, so a poll every second warns once per problem.
    pub(crate) warned: parking_lot::Mutex<Option<String>>,
}

impl Follower {
    /// Starts following on a task of its own, until the returned handle drops.
    pub(crate) fn start(self) -> Stop {
        let (stop, mut stopped) = stop_signal();
        let announced = self.table.reread.clone();
        tokio::spawn(async move {
            let mut listening: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
            loop {
                self.listen(&mut listening, &announced, &stopped);
                tokio::select! {
                    _ = tokio::time::sleep(self.config.ring_poll_interval) => {}
                    _ = announced.notified() => debug!("ring: reading the record now (announced, or a connection failed)"),
                    _ = stopped.changed() => break,
                }
                self.tick().await;
                // Failing requests during a failover wake the follower often:
                // read at most every REREAD_GAP.
                tokio::select! {
                    _ = tokio::time::sleep(REREAD_GAP) => {}
                    _ = stopped.changed() => break,
                }
            }
            listening.values().for_each(tokio::task::JoinHandle::abort);
        });
        stop
    }

    /// Keeps one ring-channel subscription per current member.
    fn listen(
        &self,
        listening: &mut HashMap<String, tokio::task::JoinHandle<()>>,
        announced: &Arc<Notify>,
        stopped: &Stopped,
    ) {
        let current = self.table.latest();
        listening.retain(|name, task| {
            let keep = current.index_of(name).is_some();
            if !keep {
                task.abort();
            }
            keep
        });
        for shard in &current.shards {
            if !listening.contains_key(&shard.name) {
                let task = subscribe(
                    self.table.clone(),
                    self.config.clone(),
                    shard.name.clone(),
                    announced.clone(),
                    stopped.clone(),
                );
                listening.insert(shard.name.clone(), tokio::spawn(task));
            }
        }
    }

    async fn tick(&self) {
        let current = self.table.latest();
        let mut conns: Vec<(String, Wire)> =
            current.shards.iter().filter_map(|s| s.connection().map(|(_, c)| (s.name.clone(), c))).collect();
        let copies = match read_all(&mut conns).await {
            Ok((_, copies)) => copies,
            Err(e) => {
                if self.first_time(&e.to_string()) {
                    warn!(error = %e, "ring poll: a member holds an unusable record; staying on the current ring");
                }
                return;
            }
        };
        // The current ring competes with the copies: a copy wins when it is
        // newer, or of the same version and first by the rule (a client that
        // started on its seed's version 1 because no master could be read).
        let winner = Ring::newest(copies.iter().map(|(_, r)| r).chain([&current.ring])).cloned();
        *self.warned.lock() = None;
        match winner {
            Some(next) if next != current.ring => self.adopt(&current, next).await,
            _ => self.repair(&mut conns, &copies, &current.ring).await,
        }
    }

    /// Whether `problem` differs from the last one warned about (and remembers it).
    fn first_time(&self, problem: &str) -> bool {
        self.warned.lock().replace(problem.to_owned()).as_deref() != Some(problem)
    }

    /// Gives members that lack the current ring, or hold one it wins over, a copy.
    async fn repair(&self, conns: &mut [(String, Wire)], copies: &[(String, Ring)], ring: &Ring) {
        for (name, conn) in conns.iter_mut() {
            match copies.iter().find(|(n, _)| n == name) {
                None => {
                    if write(name, conn, ring, false).await {
                        info!(master = %name, version = ring.version, "ring poll: restored the member's missing ring copy");
                    }
                }
                // Older, or of the same version and losing to the current ring.
                Some((_, r)) if r.version < ring.version || (r.version == ring.version && r != ring) => {
                    if write(name, conn, ring, true).await {
                        info!(master = %name, from = r.version, to = ring.version, "ring poll: replaced an older ring copy");
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Builds the table for `next` (`ShardTable::bring_up`: connections named
    /// after it, at the addresses the current table has, else Sentinel's)
    /// and makes it current.
    async fn adopt(&self, current: &ShardTable, next: Ring) {
        let names = next.names();
        let unrouted: Vec<String> = self.seed.iter().filter(|n| !names.contains(n)).cloned().collect();
        let (from, to, members) = (current.ring.version, next.version, next.members.clone());
        let Some(shards) = ShardTable::new(next, unrouted, &self.events, current.tracking.clone()) else {
            return;
        };
        let at = |n: &String| current.shard(n).and_then(|s| s.addr()).map_or(Where::Ask, Where::At);
        let masters = names.iter().map(|n| (n.clone(), at(n))).collect();
        if let Err(e) = shards.bring_up(masters, &self.sentinels, &self.config).await {
            warn!(version = to, error = %e, "new ring: connecting failed; its shards resolve on first use");
        }
        *self.names.write() = names.into_iter().collect();
        self.table.replace(shards);
        self.events.emit(Event::RingChanged { from, to, members });
    }
}

/// One member's ring-channel subscription, at the member's current master,
/// re-made (with backoff) when it drops or the master moves. Every message
/// wakes the follower.
async fn subscribe(
    table: Arc<CurrentTable>,
    config: Arc<Config>,
    name: String,
    announced: Arc<Notify>,
    mut stopped: Stopped,
) {
    // Jittered like every retry, so the clients of a failed-over master don't
    // all subscribe again at one moment; no deadline: it keeps trying.
    let new_backoff = || Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut backoff = new_backoff();
    loop {
        let addr = table.latest().shard(&name).and_then(|s| s.addr());
        let connect = async {
            let addr =
                addr.ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Io, "no master yet")))?;
            let mut pubsub = data_client(&addr, &config)?.get_async_pubsub().await?;
            pubsub.subscribe(RING_CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(config.connect_timeout, connect).await {
            Ok(Ok(mut pubsub)) => {
                backoff = new_backoff();
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        msg = messages.next() => match msg {
                            Some(_) => announced.notify_one(),
                            None => break,
                        },
                        _ = stopped.changed() => return,
                    }
                }
                debug!(master = %name, "ring channel subscription dropped");
            }
            Ok(Err(e)) => debug!(master = %name, error = %e, "ring channel: no subscription yet"),
            Err(_) => debug!(master = %name, "ring channel: subscribing timed out"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_delay(Duration::MAX).unwrap_or_default()) => {}
            _ = stopped.changed() => return,
        }
    }
}
