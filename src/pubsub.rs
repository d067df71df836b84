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
//! Dropping the [`PubSub`] ends its subscriptions and closes its connections.

use futures_util::Stream;
use redis::{Msg, ToRedisArgs};
use tokio::sync::{mpsc, oneshot};

use crate::DisredisClient;
use crate::error::{Error, Result};

mod manager;

use manager::{Kind, Manager, Request};

/// How many received messages wait for [`PubSub::on_message`]: 10,000. Beyond
/// that the newest are dropped and reported.
pub const BUFFER: usize = 10_000;

/// A subscriber over every shard (see the module docs). From
/// [`DisredisClient::pubsub`].
pub struct PubSub {
    requests: mpsc::Sender<Request>,
    messages: mpsc::Receiver<Msg>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PubSub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for PubSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSub").field("buffered", &self.messages.len()).finish()
    }
}

impl DisredisClient {
    /// A subscriber over every shard of this client (see [`PubSub`]).
    pub async fn pubsub(&self) -> Result<PubSub> {
        let exec = self.executor_arc();
        let (messages_tx, messages) = mpsc::channel(BUFFER);
        let (requests, requests_rx) = mpsc::channel(16);
        let task = tokio::spawn(Manager::new(exec, messages_tx).run(requests_rx));
        Ok(PubSub { requests, messages, task })
    }
}

/// Each argument of `names` as bytes; none is an error naming `command`.
fn names(command: &'static str, names: impl ToRedisArgs) -> Result<Vec<Vec<u8>>> {
    let names = names.to_redis_args();
    if names.is_empty() {
        return Err(Error::BadCommand {
            command: command.into(),
            detail: "no channel or pattern given".into(),
        });
    }
    Ok(names)
}

impl PubSub {
    async fn ask(&mut self, kind: Kind, add: bool, what: Vec<Vec<u8>>) -> Result<()> {
        let (done, answer) = oneshot::channel();
        let gone = || Error::Redis((redis::ErrorKind::Client, "disredis: the subscriber task ended").into());
        self.requests.send(Request { kind, add, names: what, done }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Subscribes to `channels` (one or several), each on its channel's master.
    pub async fn subscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.ask(Kind::Channel, true, names("SUBSCRIBE", channels)?).await
    }

    /// Unsubscribes from `channels`.
    pub async fn unsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.ask(Kind::Channel, false, names("UNSUBSCRIBE", channels)?).await
    }

    /// Subscribes to channels matching `patterns`, on every master.
    pub async fn psubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        self.ask(Kind::Pattern, true, names("PSUBSCRIBE", patterns)?).await
    }

    /// Unsubscribes from `patterns`.
    pub async fn punsubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        self.ask(Kind::Pattern, false, names("PUNSUBSCRIBE", patterns)?).await
    }

    /// Subscribes to shard channels (`SSUBSCRIBE`; published with `SPUBLISH`),
    /// each on its channel's master.
    pub async fn ssubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.ask(Kind::Shard, true, names("SSUBSCRIBE", channels)?).await
    }

    /// Unsubscribes from shard channels.
    pub async fn sunsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.ask(Kind::Shard, false, names("SUNSUBSCRIBE", channels)?).await
    }

    /// The messages of every subscription, merged, in the order they arrived.
    /// Ends only when the subscriber's task ends.
    pub fn on_message(&mut self) -> impl Stream<Item = Msg> + '_ {
        futures_util::stream::poll_fn(move |cx| self.messages.poll_recv(cx))
    }
}
