//! Pub/sub over the shards: [`PubSub`], a subscriber in the shape of
//! `redis::aio::PubSub`, that keeps its subscriptions through failovers and
//! ring changes (see docs/pubsub.md).
//!
//! - A channel is routed like a key (hash-tag rule, rendezvous over the
//!   ring's members): `SUBSCRIBE` goes to the master `PUBLISH` goes to, so a
//!   publisher and a subscriber always meet. While the ring changes, a channel
//!   whose owner changes is subscribed on the old and the new owner (a message
//!   is published once, on one of them: nothing arrives twice).
//! - Patterns (`PSUBSCRIBE`) and keyspace/keyevent channels
//!   (`__keyspace@<db>__:…`, `__keyevent@<db>__:…`) can match messages of any
//!   master: they are subscribed on every master and merged into one stream.
//! - Each master's subscriptions ride one RESP3 connection of their own. When
//!   it drops (the master died) or its master changes (`+switch-master`, a
//!   ring change), the subscriptions are made again on the master Sentinel
//!   names now — Sentinel is asked every 20 ms until one answers `ROLE master`
//!   — and [`Event::PubSubGap`](crate::Event::PubSubGap) reports the shard and
//!   how long it had no subscription: Redis pub/sub is at most once, so
//!   messages published there in that time are lost, and now you know.
//! - Messages wait in a bounded buffer ([`BUFFER`] messages). A consumer that
//!   falls behind loses the newest ones, counted and reported as
//!   [`Event::PubSubDropped`](crate::Event::PubSubDropped): memory never grows
//!   without bound.
//!
//! One background task per subscriber does all of this. [`PubSub::split`]
//! gives its two ends, as redis-rs does, and says which of them owns the task.

use redis::{FromRedisValue, Msg, ToRedisArgs};
use tokio::sync::mpsc;

use crate::DisredisClient;
use crate::error::Result;

mod manager;
mod sink;
mod stream;

use manager::Manager;
pub use sink::PubSubSink;
pub use stream::PubSubStream;

/// How many received messages wait for [`PubSub::on_message`]: 10,000 (see the module docs).
pub const BUFFER: usize = 10_000;

/// A subscriber over every shard (see the module docs). From
/// [`DisredisClient::pubsub`].
///
/// It has the methods of redis-rs 1.8's `redis::aio::PubSub`, so code written
/// against one connection compiles with only the type swapped: `subscribe`,
/// `unsubscribe`, `psubscribe`, `punsubscribe`, `ping`, `ping_message`,
/// `on_message`, `into_on_message` and `split` (into [`PubSubSink`] and
/// [`PubSubStream`]), plus `ssubscribe`/`sunsubscribe`. The errors are
/// [`disredis::Error`](crate::Error) instead of `RedisError`.
///
/// What is not here, and why (redis-rs 1.8's `aio::PubSub` has no other
/// method; its `PubSubSink` has the same (un)subscribe and ping methods as
/// [`PubSubSink`]):
///
/// | redis-rs | disredis |
/// |---|---|
/// | `PubSub::new(connection_info, stream)` | A subscriber over the shards needs a connection to every master, and Sentinel to find each master again after a failover, not one stream you opened: use [`DisredisClient::pubsub`]. |
/// | `redis::Client::get_async_pubsub()` | [`DisredisClient::pubsub`]. |
/// | `AsyncConnectionConfig::set_push_sender` (redis-rs's advice for RESP3 instead of `PubSub`) | Every subscription connection here is RESP3 with its push handler set already; the pushes come out of [`on_message`](Self::on_message). |
///
/// Shard channels (`SSUBSCRIBE`) have no method on redis-rs's `aio::PubSub`
/// (only on cluster connections); here they are [`ssubscribe`](Self::ssubscribe)
/// and [`sunsubscribe`](Self::sunsubscribe).
pub struct PubSub {
    sink: PubSubSink,
    stream: PubSubStream,
}

impl std::fmt::Debug for PubSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSub").field("buffered", &self.stream.messages.len()).finish()
    }
}

impl DisredisClient {
    /// A subscriber over every shard of this client (see [`PubSub`]). It
    /// connects to a master when the first subscription (or
    /// [`ping`](PubSub::ping)) needs one there.
    pub async fn pubsub(&self) -> Result<PubSub> {
        let exec = self.executor_arc();
        let (messages_tx, messages) = mpsc::channel(BUFFER);
        let (requests, requests_rx) = mpsc::channel(16);
        let task = tokio::spawn(Manager::new(exec, messages_tx).run(requests_rx));
        Ok(PubSub { sink: PubSubSink { requests }, stream: PubSubStream { messages, task } })
    }
}

impl PubSub {
    /// Subscribes to `channels` (one or several), each on its channel's master.
    pub async fn subscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.sink.subscribe(channels).await
    }

    /// Unsubscribes from `channels`.
    pub async fn unsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.sink.unsubscribe(channels).await
    }

    /// Subscribes to channels matching `patterns`, on every master.
    pub async fn psubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        self.sink.psubscribe(patterns).await
    }

    /// Unsubscribes from `patterns`.
    pub async fn punsubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        self.sink.punsubscribe(patterns).await
    }

    /// Subscribes to shard channels (`SSUBSCRIBE`; published with `SPUBLISH`),
    /// each on its channel's master.
    pub async fn ssubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.sink.ssubscribe(channels).await
    }

    /// Unsubscribes from shard channels.
    pub async fn sunsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.sink.sunsubscribe(channels).await
    }

    /// `PING` on every master of the ring, over this subscriber's own
    /// connections: `PONG` once every one answered (see [`PubSubSink::ping`]
    /// for what a failure says).
    pub async fn ping<T: FromRedisValue>(&mut self) -> Result<T> {
        self.sink.ping().await
    }

    /// `PING message` on every master of the ring: `message` back once every
    /// one answered (see [`PubSubSink::ping`]).
    pub async fn ping_message<T: FromRedisValue>(&mut self, message: impl ToRedisArgs) -> Result<T> {
        self.sink.ping_message(message).await
    }

    /// The messages of every subscription, merged, in the order they arrived.
    /// Ends only when the subscriber's task ends.
    pub fn on_message(&mut self) -> impl futures_util::Stream<Item = Msg> + '_ {
        &mut self.stream
    }

    /// The messages as an owned stream (`Send + 'static`, for a spawned task
    /// or a struct field). The subscriptions made so far stay; to change them
    /// later, [`split`](Self::split) instead.
    pub fn into_on_message(self) -> PubSubStream {
        self.stream
    }

    /// The two ends, to change the subscriptions while another task waits for
    /// messages: the [`PubSubSink`] (cheap to clone) and the [`PubSubStream`].
    /// The stream owns the subscriber: dropping it ends the subscriptions,
    /// closes their connections, and makes the sink's calls fail. Dropping the
    /// sink leaves the stream receiving what was subscribed.
    pub fn split(self) -> (PubSubSink, PubSubStream) {
        (self.sink, self.stream)
    }
}
