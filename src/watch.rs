//! Proactive switching: `+switch-master` on every known Sentinel, backed by a
//! periodic poll of each master's address.
//!
//! Requests already survive a failover through the retry loop; the watch makes
//! the switch happen as soon as Sentinel announces it, usually before any request
//! fails, and wakes requests that are backing off on that shard. Pub/sub delivery
//! is not guaranteed (a Sentinel may die, a message may be missed during a
//! reconnect), so every `poll_interval` (2 s by default) each shard's address is
//! also asked with `GET-MASTER-ADDR-BY-NAME`. Subscriptions are made on every
//! known Sentinel, including ones learned later, and re-made when their
//! connection drops. Only this client's master names are acted on, and every
//! switch is ROLE-checked.
//!
//! The tasks hold the client only weakly and stop when it is dropped.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::Client;
use tokio::sync::watch;
use tracing::{debug, info};

use crate::client::Inner;
use crate::config::NodeAddr;

/// Dropping it (with the client) stops the watch tasks.
pub(crate) struct Stop(#[allow(dead_code)] watch::Sender<()>);

/// A receiver that completes when the client is dropped.
type Stopped = watch::Receiver<()>;

/// Creates the stop signal for a client's watch tasks.
pub(crate) fn stop_signal() -> (Stop, Stopped) {
    let (tx, rx) = watch::channel(());
    (Stop(tx), rx)
}

/// Starts the poll loop, which also starts one subscription per known Sentinel.
pub(crate) fn start(inner: &Arc<Inner>, stopped: Stopped) {
    if !inner.config.watch {
        return;
    }
    tokio::spawn(supervise(Arc::downgrade(inner), stopped));
}

/// `+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>`: the name and
/// the new address.
pub(crate) fn parse_switch(payload: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = payload.split(' ').collect();
    match parts.as_slice() {
        [name, _, _, ip, port] => Some((name, ip, port)),
        _ => None,
    }
}

async fn supervise(weak: Weak<Inner>, mut stopped: Stopped) {
    let mut subscribed: HashSet<NodeAddr> = HashSet::new();
    loop {
        let interval = {
            let Some(inner) = weak.upgrade() else { return };
            for addr in inner.sentinels.addrs() {
                if subscribed.insert(addr.clone()) {
                    tokio::spawn(subscribe(weak.clone(), addr, stopped.clone()));
                }
            }
            poll(&inner).await;
            inner.config.poll_interval
        };
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Asks Sentinel for every shard's master and switches the shards that moved.
async fn poll(inner: &Inner) {
    for shard in &inner.shards.shards {
        let Ok(addr) = inner.sentinels.master_addr(&shard.name).await else { continue };
        if shard.addr().as_ref() != Some(&addr) || shard.current().is_none() {
            info!(shard = %shard.name, to = %addr, "poll: Sentinel names another master");
            if let Err(e) = shard.switch_to(addr, &inner.config).await {
                debug!(shard = %shard.name, error = %e, "poll: switch not possible yet");
            }
        }
    }
}

/// One Sentinel's `+switch-master` subscription, re-made when it drops.
async fn subscribe(weak: Weak<Inner>, addr: NodeAddr, mut stopped: Stopped) {
    let mut retry = Duration::from_millis(100);
    loop {
        let pubsub = {
            let Some(inner) = weak.upgrade() else { return };
            let timeout = inner.config.sentinel_timeout;
            let connect = async {
                let info = crate::shard::connection_info(&addr, inner.sentinels.auth(), 0)?;
                let mut p = Client::open(info)?.get_async_pubsub().await?;
                p.subscribe("+switch-master").await?;
                Ok::<_, redis::RedisError>(p)
            };
            match tokio::time::timeout(timeout, connect).await {
                Ok(Ok(p)) => {
                    inner.sentinels.mark(&addr, None);
                    retry = Duration::from_millis(100);
                    Some(p)
                }
                Ok(Err(e)) => {
                    inner.sentinels.mark(&addr, Some(&format!("+switch-master subscription: {e}")));
                    None
                }
                Err(_) => {
                    inner.sentinels.mark(&addr, Some(&"+switch-master subscription: timed out"));
                    None
                }
            }
        };
        if let Some(mut pubsub) = pubsub {
            let mut messages = pubsub.on_message();
            loop {
                tokio::select! {
                    msg = messages.next() => match msg {
                        Some(msg) => {
                            let Some(inner) = weak.upgrade() else { return };
                            let payload: String = msg.get_payload().unwrap_or_default();
                            switch(&inner, &addr, &payload).await;
                        }
                        None => break,
                    },
                    _ = stopped.changed() => return,
                }
            }
            let Some(inner) = weak.upgrade() else { return };
            inner.sentinels.mark(&addr, Some(&"+switch-master subscription dropped"));
        }
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = stopped.changed() => return,
        }
        retry = (retry * 2).min(Duration::from_secs(5));
    }
}

async fn switch(inner: &Inner, sentinel: &NodeAddr, payload: &str) {
    let Some((name, ip, port)) = parse_switch(payload) else {
        debug!(%sentinel, payload, "ignoring a malformed +switch-master");
        return;
    };
    let Some(shard) = inner.shards.shards.iter().find(|s| s.name == name) else { return };
    let Ok(addr) = NodeAddr::from_parts(ip, port) else { return };
    let addr = inner.sentinels.map(addr);
    info!(%sentinel, shard = %name, to = %addr, "+switch-master");
    if let Err(e) = shard.switch_to(addr, &inner.config).await {
        debug!(shard = %name, error = %e, "+switch-master: switch failed; the poll and the retry loop will catch up");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_master_payloads() {
        assert_eq!(
            parse_switch("shard-a 127.0.0.1 7001 127.0.0.1 7011"),
            Some(("shard-a", "127.0.0.1", "7011"))
        );
        assert_eq!(parse_switch("shard-a 127.0.0.1 7001"), None);
        assert_eq!(parse_switch(""), None);
    }
}
