//! The blocking twin of [`crate::PubSub`]: the same subscriber (its task runs
//! on the blocking client's runtime), with calls that wait and
//! [`PubSub::get_message`] instead of a stream.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::{FromRedisValue, Msg, ToRedisArgs};

use super::{DisredisClient, Driver};
use crate::error::Result;

/// A subscriber over every shard, for blocking code (see [`crate::PubSub`]
/// for routing, failover and the buffer). From [`DisredisClient::pubsub`].
///
/// Its names follow redis-rs's blocking `redis::PubSub`, except for one:
/// redis-rs's `get_message()` waits as long as `set_read_timeout` says;
/// here the wait is the argument of [`get_message`](Self::get_message)
/// (`None`: until a message comes), since the subscriber has no one socket
/// whose timeout could be set.
pub struct PubSub {
    inner: crate::PubSub,
    driver: Arc<Driver>,
}

impl std::fmt::Debug for PubSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("blocking::PubSub").field(&self.inner).finish()
    }
}

impl DisredisClient {
    /// A subscriber over every shard; see [`crate::DisredisClient::pubsub`].
    pub fn pubsub(&self) -> Result<PubSub> {
        let inner = self.driver.block_on(self.client.pubsub())??;
        Ok(PubSub { inner, driver: self.driver.clone() })
    }
}

impl PubSub {
    /// See [`crate::PubSub::subscribe`].
    pub fn subscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.driver.block_on(self.inner.subscribe(channels))?
    }

    /// See [`crate::PubSub::unsubscribe`].
    pub fn unsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.driver.block_on(self.inner.unsubscribe(channels))?
    }

    /// See [`crate::PubSub::psubscribe`].
    pub fn psubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        self.driver.block_on(self.inner.psubscribe(patterns))?
    }

    /// See [`crate::PubSub::punsubscribe`].
    pub fn punsubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        self.driver.block_on(self.inner.punsubscribe(patterns))?
    }

    /// See [`crate::PubSub::ssubscribe`].
    pub fn ssubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.driver.block_on(self.inner.ssubscribe(channels))?
    }

    /// See [`crate::PubSub::sunsubscribe`].
    pub fn sunsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.driver.block_on(self.inner.sunsubscribe(channels))?
    }

    /// See [`crate::PubSub::ping`]: `PING` on every master, over this
    /// subscriber's own connections.
    pub fn ping<T: FromRedisValue>(&mut self) -> Result<T> {
        self.driver.block_on(self.inner.ping())?
    }

    /// See [`crate::PubSub::ping_message`].
    pub fn ping_message<T: FromRedisValue>(&mut self, message: impl ToRedisArgs) -> Result<T> {
        self.driver.block_on(self.inner.ping_message(message))?
    }

    /// The next message, waiting at most `timeout` (`None`: until one comes);
    /// `Ok(None)` when none came in time.
    pub fn get_message(&mut self, timeout: Option<Duration>) -> Result<Option<Msg>> {
        let Self { inner, driver } = self;
        driver.block_on(async move {
            let mut stream = inner.on_message();
            let next = stream.next();
            match timeout {
                Some(t) => tokio::time::timeout(t, next).await.ok().flatten(),
                None => next.await,
            }
        })
    }
}
