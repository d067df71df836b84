//! [`PubSubSink`]: the end of a [`PubSub`](super::PubSub) that changes its
//! subscriptions and pings its connections, by asking the subscriber's task.

use redis::{FromRedisValue, ToRedisArgs, Value};
use tokio::sync::{mpsc, oneshot};

use super::manager::{Kind, Request};
use crate::error::{Error, Result};

/// The end of a split [`PubSub`](super::PubSub) that (un)subscribes and
/// pings; redis-rs's `aio::PubSubSink`. From [`PubSub::split`](super::PubSub::split).
///
/// Cheap to clone: every clone talks to the same subscriber. Dropping every
/// clone leaves the [`PubSubStream`](super::PubSubStream) receiving what was
/// subscribed; once the stream is dropped, the subscriber is gone and every
/// call here fails with an [`Error::Redis`] of kind `Client`.
#[derive(Clone, Debug)]
pub struct PubSubSink {
    pub(super) requests: mpsc::Sender<Request>,
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

/// The subscriber's task is gone: its stream was dropped (or it panicked).
fn gone() -> Error {
    Error::Redis(
        (redis::ErrorKind::Client, "disredis: the subscriber ended (its PubSubStream was dropped)").into(),
    )
}

impl PubSubSink {
    async fn ask<T>(&self, request: impl FnOnce(oneshot::Sender<Result<T>>) -> Request) -> Result<T> {
        let (done, answer) = oneshot::channel();
        self.requests.send(request(done)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    async fn change(&mut self, kind: Kind, add: bool, names: Vec<Vec<u8>>) -> Result<()> {
        self.ask(|done| Request::Change { kind, add, names, done }).await
    }

    /// Subscribes to `channels` (one or several), each on its channel's
    /// master; returns once every master confirmed.
    pub async fn subscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.change(Kind::Channel, true, names("SUBSCRIBE", channels)?).await
    }

    /// Unsubscribes from `channels`.
    pub async fn unsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.change(Kind::Channel, false, names("UNSUBSCRIBE", channels)?).await
    }

    /// Subscribes to channels matching `patterns`, on every master.
    pub async fn psubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        self.change(Kind::Pattern, true, names("PSUBSCRIBE", patterns)?).await
    }

    /// Unsubscribes from `patterns`.
    pub async fn punsubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        self.change(Kind::Pattern, false, names("PUNSUBSCRIBE", patterns)?).await
    }

    /// Subscribes to shard channels (`SSUBSCRIBE`; published with `SPUBLISH`),
    /// each on its channel's master.
    pub async fn ssubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.change(Kind::Shard, true, names("SSUBSCRIBE", channels)?).await
    }

    /// Unsubscribes from shard channels.
    pub async fn sunsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.change(Kind::Shard, false, names("SUNSUBSCRIBE", channels)?).await
    }

    /// `PING` on every master of the ring, over this subscriber's own
    /// connections, all at once: `PONG` once every master answered.
    ///
    /// A subscriber listens on several masters, so "the server answers" means
    /// all of them. A shard with subscriptions is pinged on its subscription
    /// connection (the one messages come in on); a shard with none yet on a
    /// connection opened for the ping and closed after it (so `ping` answers
    /// before the first `subscribe`, as redis-rs's does). Each master has the
    /// client's [`response_timeout`](crate::Builder::response_timeout)
    /// (default 500 ms; 1 s when it is `None`) to answer.
    ///
    /// Fails with [`Error::PubSubShard`] naming the first shard (in ring
    /// order) that did not answer, or whose subscriptions are being made again
    /// after its master failed; the subscriber keeps trying there on its own
    /// (a subscription connection that does not answer is replaced), so a
    /// later `ping` answers once the shard is back.
    pub async fn ping<T: FromRedisValue>(&mut self) -> Result<T> {
        self.ping_with(Vec::new()).await
    }

    /// `PING message` on every master of the ring (see [`ping`](Self::ping)):
    /// `message` back once every master answered.
    pub async fn ping_message<T: FromRedisValue>(&mut self, message: impl ToRedisArgs) -> Result<T> {
        self.ping_with(message.to_redis_args()).await
    }

    async fn ping_with<T: FromRedisValue>(&mut self, message: Vec<Vec<u8>>) -> Result<T> {
        let reply: Value = self.ask(|done| Request::Ping { message, done }).await?;
        redis::from_redis_value(reply).map_err(|e| Error::Redis(e.into()))
    }
}
