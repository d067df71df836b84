//! [`Event`]s: what the client saw happen to its shards and Sentinels.
//!
//! The Rust form of the seeds' `on(:failover)` callback: subscribe with
//! [`DisredisClient::events`](crate::DisredisClient::events) (a
//! `tokio::sync::broadcast` receiver; a slow receiver loses the oldest events and
//! sees `RecvError::Lagged`). Every event is also a `tracing` event at `info`
//! (or `warn` for losses), so a log shows the same story, and with the
//! `metrics` feature the ring, pub/sub and Sentinel ones are counted here (see `crate::metrics`).

use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::metrics;

/// How many events a receiver may fall behind before it loses the oldest.
const CAPACITY: usize = 256;

/// Something that happened to a shard or a Sentinel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A shard's connection now goes to a different master (failover, or the
    /// first connect when `from` is `None`). Always ROLE-checked.
    SwitchMaster {
        /// The shard (master name).
        shard: String,
        /// The previous master address, if any.
        from: Option<String>,
        /// The new master address.
        to: String,
    },
    /// A failure (or a `+switch-master` / poll answer) made the client drop a
    /// shard's connection and resolve it again through Sentinel.
    ReResolved {
        /// The shard (master name).
        shard: String,
        /// What caused it.
        cause: String,
    },
    /// The shard counts as down (see
    /// [`Builder::shard_down_after`](crate::Builder::shard_down_after)): it has
    /// had no usable master for a while and Sentinel names no promotion (or
    /// hears the master the client can't reach), so its
    /// requests fail at once with [`Error::ShardDown`](crate::Error::ShardDown)
    /// until [`Event::ShardUp`].
    ShardDown {
        /// The shard (master name).
        shard: String,
        /// The last error seen.
        cause: String,
    },
    /// A shard that was down has a ROLE-checked master again (found by the
    /// probe, the Sentinel poll or `+switch-master`); its requests are served.
    ShardUp {
        /// The shard (master name).
        shard: String,
        /// How long it had no usable master (the whole outage).
        down_for: std::time::Duration,
    },
    /// A Sentinel could not be used (connection failed, bad reply, subscription
    /// dropped).
    SentinelDown {
        /// Its address.
        addr: String,
        /// Why.
        cause: String,
    },
    /// A Sentinel answers again, or a `+switch-master` subscription on it is (re)established.
    SentinelUp {
        /// Its address.
        addr: String,
    },
    /// The client follows a newer ring record (see [`crate::Ring`]): requests
    /// are planned under it from now on, over connections named after it.
    RingChanged {
        /// The version followed before.
        from: u64,
        /// The version followed now.
        to: u64,
        /// Its members.
        members: Vec<String>,
    },
    /// A quorum of Sentinels holds the shard's master down (`+odown`): writes
    /// to it wait, unsent, until [`Event::WritesReleased`] (see
    /// [`Builder::fence_writes`](crate::Builder::fence_writes)).
    WritesHeld {
        /// The shard (master name).
        shard: String,
        /// The master held down.
        master: String,
    },
    /// Writes to the shard go out again: another master was installed,
    /// `-odown` / `-failover-abort-no-good-slave` released the one held down,
    /// or the fence outlived the failover deadline (reported when a write
    /// finds it so).
    WritesReleased {
        /// The shard (master name).
        shard: String,
        /// How long writes were held.
        held_for: std::time::Duration,
    },
    /// A [`PubSub`](crate::PubSub)'s subscriptions on a shard were made again
    /// (its master failed, changed, or the ring moved its channels) after the
    /// shard had none for `without`: messages published there in that time
    /// were not received (Redis pub/sub is at most once).
    PubSubGap {
        /// The shard (master name).
        shard: String,
        /// How long the shard had no subscription.
        without: std::time::Duration,
    },
    /// A [`PubSub`](crate::PubSub)'s consumer fell behind: its buffer
    /// ([`pubsub::BUFFER`](crate::pubsub::BUFFER) messages) was full and the
    /// newest messages were dropped.
    PubSubDropped {
        /// How many since the last report.
        dropped: u64,
    },
}

/// The sending side, shared by everything that reports events.
#[derive(Clone)]
pub(crate) struct Events(broadcast::Sender<Event>);

impl Default for Events {
    fn default() -> Self {
        Events(broadcast::channel(CAPACITY).0)
    }
}

impl Events {
    /// Publishes `event` (dropped when nobody listens), logs it and counts it
    /// (see the module docs; a shard's failovers and re-resolves are counted
    /// by the shard, labelled with the master's address).
    pub(crate) fn emit(&self, event: Event) {
        match &event {
            Event::SentinelDown { addr, cause } => {
                metrics::sentinel_error(addr);
                warn!(sentinel = %addr, cause = %cause, "event: Sentinel down")
            }
            Event::ReResolved { shard, cause } => {
                warn!(shard = %shard, cause = %cause, "event: re-resolving shard")
            }
            Event::SwitchMaster { shard, from, to } => {
                info!(shard = %shard, from = ?from, to = %to, "event: switch master")
            }
            Event::ShardDown { shard, cause } => {
                warn!(shard = %shard, cause = %cause, "event: shard down; its requests fail at once until it has a master")
            }
            Event::ShardUp { shard, down_for } => {
                info!(shard = %shard, down_for = ?down_for, "event: shard up again")
            }
            Event::SentinelUp { addr } => info!(sentinel = %addr, "event: Sentinel up"),
            Event::RingChanged { from, to, members } => {
                metrics::ring_version(*to);
                info!(from, to, members = ?members, "event: ring changed")
            }
            Event::WritesHeld { shard, master } => {
                warn!(shard = %shard, master = %master, "event: writes held; a quorum of Sentinels holds the master down")
            }
            Event::WritesReleased { shard, held_for } => {
                info!(shard = %shard, held_for = ?held_for, "event: writes released")
            }
            Event::PubSubGap { shard, without } => {
                metrics::pubsub_gap(shard, *without);
                warn!(shard = %shard, without = ?without, "event: pub/sub subscriptions made again after a gap")
            }
            Event::PubSubDropped { dropped } => {
                metrics::pubsub_dropped(*dropped);
                warn!(dropped, "event: pub/sub messages dropped")
            }
        }
        let _ = self.0.send(event);
    }

    /// A new receiver of future events.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.subscribe()
    }
}
