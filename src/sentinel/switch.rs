//! Hearing about failovers early: `+switch-master` on every known Sentinel,
//! backed by a periodic poll of each master's address; and `+odown`/`-odown`
//! (and `-failover-abort-no-good-slave`), so the client can hold writes to a
//! master a quorum of Sentinels holds down until the failover is decided.
//!
//! Requests already survive a failover through the retry loop; this makes the
//! switch happen as soon as Sentinel announces it, usually before any request
//! fails. Pub/sub delivery is not guaranteed (a Sentinel may die, a message may
//! be missed during a reconnect), so every `poll_interval` each
//! master's address is also asked with `GET-MASTER-ADDR-BY-NAME`.
//! Subscriptions are made on every known Sentinel, including ones learned
//! later, and re-made when their connection drops.
//!
//! This module knows only Sentinels and master names: each finding is sent as a
//! [`Sighting`] (addresses already mapped) over a channel, and only for the
//! names it was given. Applying it (the `ROLE` check, installing the
//! connection) is the shard table's job (`topology`).
//!
//! The tasks stop when the [`Stop`] handle is dropped (with the client); the
//! channel closes then.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use parking_lot::RwLock;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info};

use super::Sentinels;
use crate::config::NodeAddr;

/// Dropping it (with the client) stops the tasks.
pub(crate) struct Stop(#[allow(dead_code)] watch::Sender<()>);

/// A receiver that completes when the [`Stop`] is dropped.
pub(crate) type Stopped = watch::Receiver<()>;

/// A stop handle and the receiver its tasks select on.
pub(crate) fn stop_signal() -> (Stop, Stopped) {
    let (stop, stopped) = watch::channel(());
    (Stop(stop), stopped)
}

/// The master names to follow, shared with whoever changes them (the ring
/// follower, when the client adopts a ring with other members).
pub(crate) type Names = Arc<RwLock<HashSet<String>>>;

/// How many sightings may wait for the shard table before senders wait.
const CAPACITY: usize = 256;

/// What a Sentinel said about a master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Heard {
    /// Where the master is (a `+switch-master`, or the poll's answer).
    Master(Sighting),
    /// `+odown` (`down: true`): a quorum of Sentinels holds the master at
    /// `addr` down, a failover may replace it; `-odown` or
    /// `-failover-abort-no-good-slave` (`down: false`): it is up again, or no
    /// failover is coming.
    Down { name: String, addr: NodeAddr, down: bool },
}

/// The channels every subscription listens on.
const CHANNELS: [&str; 4] = ["+switch-master", "+odown", "-odown", "-failover-abort-no-good-slave"];

/// A Sentinel says master `name` is at `addr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sighting {
    /// The master name.
    pub name: String,
    /// Its address, after the address map.
    pub addr: NodeAddr,
    /// A `+switch-master` message (from this Sentinel), or `None` for the poll.
    pub announced_by: Option<NodeAddr>,
    /// The master a `+switch-master` names as the old one, after the address
    /// map (`None` for the poll).
    pub left: Option<NodeAddr>,
}

/// Starts the poll loop (which also starts one subscription per known
/// Sentinel) for the master `names`. Sightings arrive on the receiver until the
/// returned [`Stop`] is dropped.
pub(crate) fn watch(
    sentinels: Arc<Sentinels>,
    names: Names,
    poll_interval: Duration,
) -> (Stop, mpsc::Receiver<Heard>) {
    let (stop, stopped) = stop_signal();
    let (tx, rx) = mpsc::channel(CAPACITY);
    tokio::spawn(supervise(sentinels, names, poll_interval, tx, stopped));
    (stop, rx)
}

/// `+odown`, `-odown` and `-failover-abort-no-good-slave` about a master:
/// `master <name> <ip> <port>` (then `#quorum n/m` for `+odown`); the name and
/// the address. Other instances (`slave …`, `sentinel …`) are not masters.
pub(crate) fn parse_down(payload: &str) -> Option<(&str, &str, &str)> {
    let mut parts = payload.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("master"), Some(name), Some(ip), Some(port)) => Some((name, ip, port)),
        _ => None,
    }
}

/// An address in a Sentinel message: ip and port, unparsed.
type Named<'a> = (&'a str, &'a str);

/// `+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>`: the name,
/// the old address and the new one.
pub(crate) fn parse_switch(payload: &str) -> Option<(&str, Named<'_>, Named<'_>)> {
    let parts: Vec<&str> = payload.split(' ').collect();
    match parts.as_slice() {
        [name, old_ip, old_port, ip, port] => Some((name, (old_ip, old_port), (ip, port))),
        _ => None,
    }
}

async fn supervise(
    sentinels: Arc<Sentinels>,
    names: Names,
    interval: Duration,
    tx: mpsc::Sender<Heard>,
    mut stopped: Stopped,
) {
    let mut subscribed: HashSet<NodeAddr> = HashSet::new();
    loop {
        let mut sorted: Vec<String> = names.read().iter().cloned().collect();
        sorted.sort();
        for addr in sentinels.addrs() {
            if subscribed.insert(addr.clone()) {
                let task = subscribe(sentinels.clone(), names.clone(), addr, tx.clone(), stopped.clone());
                tokio::spawn(task);
            }
        }
        // Ask Sentinel for every master's address; the shard table ignores the
        // ones that did not move.
        for name in &sorted {
            let Ok(addr) = sentinels.master_addr(name).await else { continue };
            let sighting = Sighting { name: name.clone(), addr, announced_by: None, left: None };
            if tx.send(Heard::Master(sighting)).await.is_err() {
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// One Sentinel's `+switch-master` subscription, re-made when it drops.
async fn subscribe(
    sentinels: Arc<Sentinels>,
    names: Names,
    addr: NodeAddr,
    tx: mpsc::Sender<Heard>,
    mut stopped: Stopped,
) {
    let mut retry = Duration::from_millis(100);
    loop {
        let connect = async {
            let mut p = sentinels.client(&addr)?.get_async_pubsub().await?;
            p.subscribe(&CHANNELS[..]).await?;
            Ok::<_, redis::RedisError>(p)
        };
        match tokio::time::timeout(sentinels.timeout(), connect).await {
            Ok(Ok(mut pubsub)) => {
                sentinels.mark(&addr, None);
                retry = Duration::from_millis(100);
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        msg = messages.next() => match msg {
                            Some(msg) => {
                                let payload: String = msg.get_payload().unwrap_or_default();
                                let channel = msg.get_channel_name();
                                let found = heard(&sentinels, &names.read(), &addr, channel, &payload);
                                let Some(heard) = found else { continue };
                                if tx.send(heard).await.is_err() {
                                    return;
                                }
                            }
                            None => break,
                        },
                        _ = stopped.changed() => return,
                    }
                }
                sentinels.mark(&addr, Some(&"+switch-master subscription dropped"));
            }
            Ok(Err(e)) => sentinels.mark(&addr, Some(&format!("+switch-master subscription: {e}"))),
            Err(_) => sentinels.mark(&addr, Some(&"+switch-master subscription: timed out")),
        }
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = stopped.changed() => return,
        }
        retry = (retry * 2).min(Duration::from_secs(5));
    }
}

/// What a message on `channel` says, if it is about one of `names`.
fn heard(
    sentinels: &Sentinels,
    names: &HashSet<String>,
    sentinel: &NodeAddr,
    channel: &str,
    payload: &str,
) -> Option<Heard> {
    if channel == "+switch-master" {
        return sighting(sentinels, names, sentinel, payload).map(Heard::Master);
    }
    let (name, ip, port) = parse_down(payload)?;
    if !names.contains(name) {
        return None;
    }
    let addr = named(sentinels, (ip, port))?;
    let down = channel == "+odown";
    info!(%sentinel, shard = %name, master = %addr, event = channel, "Sentinel: master {}", if down { "objectively down" } else { "no longer down, or no failover coming" });
    Some(Heard::Down { name: name.to_owned(), addr, down })
}

/// An address a Sentinel message names, parsed and through the address map.
fn named(sentinels: &Sentinels, (ip, port): Named<'_>) -> Option<NodeAddr> {
    NodeAddr::from_parts(ip, port).ok().map(|a| sentinels.map(a))
}

/// The sighting in a `+switch-master` payload, if it names one of `names`.
fn sighting(
    sentinels: &Sentinels,
    names: &HashSet<String>,
    sentinel: &NodeAddr,
    payload: &str,
) -> Option<Sighting> {
    let Some((name, old, new)) = parse_switch(payload) else {
        debug!(%sentinel, payload, "ignoring a malformed +switch-master");
        return None;
    };
    if !names.contains(name) {
        return None;
    }
    let Some(addr) = named(sentinels, new) else {
        debug!(%sentinel, payload, "ignoring a +switch-master with a bad address");
        return None;
    };
    let left = named(sentinels, old);
    info!(%sentinel, shard = %name, to = %addr, "+switch-master");
    Some(Sighting { name: name.to_owned(), addr, announced_by: Some(sentinel.clone()), left })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_master_payloads() {
        assert_eq!(
            parse_switch("shard-a 127.0.0.1 7001 127.0.0.1 7011"),
            Some(("shard-a", ("127.0.0.1", "7001"), ("127.0.0.1", "7011")))
        );
        assert_eq!(parse_switch("shard-a 127.0.0.1 7001"), None);
        assert_eq!(parse_switch(""), None);
    }

    /// Only the names it was given, addresses through the address map.
    #[test]
    fn sightings_of_known_names_mapped() {
        let config = crate::Builder::default()
            .sentinels(["127.0.0.1:26379"])
            .address_map(|a: &NodeAddr| NodeAddr::from_parts("10.9.9.9", &a.port().to_string()).unwrap())
            .build()
            .unwrap();
        let sentinels = Sentinels::new(&config, crate::events::Events::default());
        let names: HashSet<String> = ["shard-a".to_owned()].into();
        let from = NodeAddr::parse("127.0.0.1:26379").unwrap();
        let seen = sighting(&sentinels, &names, &from, "shard-a 127.0.0.1 7001 127.0.0.1 7011").unwrap();
        assert_eq!(seen.name, "shard-a");
        assert_eq!(seen.addr.to_string(), "10.9.9.9:7011");
        assert_eq!(seen.announced_by, Some(from.clone()));
        // The master it left, mapped too: the poll won't go back there.
        assert_eq!(seen.left.map(|a| a.to_string()).as_deref(), Some("10.9.9.9:7001"));
        assert_eq!(sighting(&sentinels, &names, &from, "shard-z 127.0.0.1 1 127.0.0.1 2"), None);
        assert_eq!(sighting(&sentinels, &names, &from, "shard-a 1 2 127.0.0.1 notaport"), None);
        assert_eq!(sighting(&sentinels, &names, &from, "garbage"), None);
        let odown = "master shard-a 127.0.0.1 7001 #quorum 2/2";
        assert_eq!(
            heard(&sentinels, &names, &from, "+odown", odown),
            Some(Heard::Down {
                name: "shard-a".into(),
                addr: NodeAddr::parse("10.9.9.9:7001").unwrap(),
                down: true
            })
        );
        let over = "master shard-a 127.0.0.1 7001";
        for channel in ["-odown", "-failover-abort-no-good-slave"] {
            assert!(matches!(
                heard(&sentinels, &names, &from, channel, over),
                Some(Heard::Down { down: false, .. })
            ));
        }
        assert_eq!(
            heard(&sentinels, &names, &from, "+odown", "master shard-z 127.0.0.1 7001 #quorum 2/2"),
            None
        );
        assert_eq!(
            heard(
                &sentinels,
                &names,
                &from,
                "+odown",
                "slave 127.0.0.1:7002 127.0.0.1 7002 @ shard-a 127.0.0.1 7001"
            ),
            None
        );
    }

    #[test]
    fn down_payloads() {
        assert_eq!(
            parse_down("master shard-a 127.0.0.1 7001 #quorum 2/2"),
            Some(("shard-a", "127.0.0.1", "7001"))
        );
        assert_eq!(parse_down("master shard-a 127.0.0.1 7001"), Some(("shard-a", "127.0.0.1", "7001")));
        assert_eq!(parse_down("sentinel 127.0.0.1:26379 127.0.0.1 26379 @ shard-a 127.0.0.1 7001"), None);
        assert_eq!(parse_down("master shard-a"), None);
        assert_eq!(parse_down(""), None);
    }
}
