//! `PING` from a subscriber ([`PubSubSink::ping`](crate::pubsub::PubSubSink::ping)):
//! every master the client routes to, over the subscriber's own connections,
//! so a `PONG` says that the connections messages come in on work.

use futures_util::future::join_all;
use redis::Value;
use tracing::warn;

use super::{HEALTH, Manager};
use crate::error::{Error, Result};

impl Manager {
    /// `PING` (`message` as its arguments) on every shard's master at once:
    /// on the shard's subscription connection where it has one, else on one
    /// opened for the ping and dropped after it. The first master's reply once
    /// all answered; else [`Error::PubSubShard`] for the first shard (in the
    /// table's order) that did not, or that has no subscription connection
    /// while its subscriptions are made again. A subscription connection that
    /// does not answer is lost: the next tick makes its subscriptions again.
    pub(super) async fn ping(&mut self, message: &[Vec<u8>]) -> Result<Value> {
        let table = self.exec.table.latest();
        let wait = self.exec.config.response_timeout.unwrap_or(HEALTH);
        let ping = redis::cmd("PING").arg(message).take();
        // (shard, connection, whether it is the shard's subscription connection)
        let mut targets = Vec::new();
        for name in table.names() {
            if let Some(since) = self.down.get(&name) {
                let detail = format!(
                    "no subscription connection for {:?}: its subscriptions are being made again on the master Sentinel names",
                    since.elapsed()
                );
                return Err(Error::PubSubShard { shard: name, detail });
            }
            match self.links.get(&name) {
                Some(link) => targets.push((name, link.conn.clone(), true)),
                None => match self.connect(&table, &name).await {
                    Ok(link) => targets.push((name, link.conn, false)),
                    Err(e) => {
                        let detail = format!("could not connect for the PING: {e}");
                        return Err(Error::PubSubShard { shard: name, detail });
                    }
                },
            }
        }
        let replies = join_all(targets.iter().map(|(_, conn, _)| async {
            match tokio::time::timeout(wait, conn.send_cmd(&ping, Some(Some(wait)))).await {
                Ok(reply) => reply.and_then(Value::extract_error).map_err(|e| format!("PING failed: {e}")),
                Err(_) => Err(format!("no answer to PING within {wait:?}")),
            }
        }))
        .await;
        let (mut first, mut failed) = (None, None);
        for ((name, _, subscription), reply) in targets.into_iter().zip(replies) {
            match reply {
                Ok(value) => {
                    first.get_or_insert(value);
                }
                Err(detail) => {
                    if subscription {
                        warn!(shard = %name, %detail, "pubsub: subscription connection does not answer PING");
                        self.lose(&name);
                    }
                    failed.get_or_insert(Error::PubSubShard { shard: name, detail });
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(first.unwrap_or(Value::Nil)),
        }
    }
}
