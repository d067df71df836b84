//! Talking to Sentinels: discovery, master lookup, learning more Sentinels.
//!
//! Sentinels are tried in order, each with a short timeout; the first that answers
//! moves to the front so later queries ask it first. A connection to each
//! Sentinel that answered is kept and reused (re-resolving during a failover
//! polls several times a second). Replies are parsed defensively: a Sentinel that
//! answers garbage is an [`Error::SentinelReply`] and the next Sentinel is tried.
//!
//! With `sentinel_quorum` above 1 a master's address is not the first answer but
//! the one enough Sentinels agree on ([`quorum`]): every known Sentinel is asked
//! at once.
//!
//! This layer only talks to Sentinels: it never touches the shard table. What it
//! learns about masters moving ([`switch`]: `+switch-master` and a poll) it
//! reports over a channel; `topology` applies it.

use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Value};
use tracing::{debug, info, warn};

use crate::config::{AddressMap, Auth, Config, NodeAddr};
use crate::error::{Error, Result, SentinelFailure};
use crate::events::{Event, Events};

mod lookup;
mod promotion;
pub(crate) mod quorum;
pub(crate) mod reply;
pub(crate) mod switch;
mod views;

pub(crate) use promotion::Promotion;
use promotion::{MasterSeen, ReplicaSeen, judge_promotion};
pub(crate) use reply::MasterEntry;
use reply::{entry_addr, parse_masters, parse_table};
pub use views::SentinelView;

/// The known Sentinels, in the order they are tried.
pub(crate) struct Sentinels {
    list: Mutex<Vec<NodeAddr>>,
    /// Reused connections to the Sentinels that answered last time.
    cached: Mutex<std::collections::HashMap<NodeAddr, MultiplexedConnection>>,
    auth: Auth,
    timeout: std::time::Duration,
    /// `Builder::sentinel_quorum`: how many must name a master.
    quorum: usize,
    map: Option<AddressMap>,
    events: Events,
    /// Sentinels whose last use failed (an event is sent when one comes back).
    down: Mutex<std::collections::HashSet<NodeAddr>>,
}

impl Sentinels {
    pub(crate) fn new(config: &Config, events: Events) -> Sentinels {
        Sentinels {
            list: Mutex::new(config.sentinels.clone()),
            cached: Mutex::new(Default::default()),
            auth: config.sentinel_auth.clone(),
            timeout: config.sentinel_timeout,
            quorum: config.sentinel_quorum,
            map: config.address_map.clone(),
            events,
            down: Mutex::new(Default::default()),
        }
    }

    /// An address as Sentinel reported it, rewritten by the address map.
    pub(crate) fn map(&self, addr: NodeAddr) -> NodeAddr {
        match &self.map {
            Some(m) => m.apply(&addr),
            None => addr,
        }
    }

    /// A client for the Sentinel at `addr`, with the Sentinel credentials and TLS
    /// (`Builder::sentinel_*`, never the data nodes'): every Sentinel connection
    /// (queries, `+switch-master` subscriptions) is opened from one of these.
    pub(crate) fn client(&self, addr: &NodeAddr) -> redis::RedisResult<Client> {
        Client::open(crate::connect::connection_info(addr, &self.auth, 0)?)
    }

    /// How long a Sentinel may take to connect or answer.
    pub(crate) fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    /// Reports a Sentinel as down (once per outage) or up again.
    pub(crate) fn mark(&self, addr: &NodeAddr, failure: Option<&dyn std::fmt::Display>) {
        let changed = match failure {
            Some(_) => self.down.lock().insert(addr.clone()),
            None => self.down.lock().remove(addr),
        };
        if changed {
            self.events.emit(match failure {
                Some(cause) => Event::SentinelDown { addr: addr.to_string(), cause: cause.to_string() },
                None => Event::SentinelUp { addr: addr.to_string() },
            });
        }
    }

    /// The Sentinels in the order they will be tried.
    pub(crate) fn addrs(&self) -> Vec<NodeAddr> {
        self.list.lock().clone()
    }

    /// Adds Sentinels not yet known, after the known ones.
    pub(crate) fn learn(&self, addrs: impl IntoIterator<Item = NodeAddr>) {
        let mut list = self.list.lock();
        for a in addrs {
            if !list.contains(&a) {
                info!(sentinel = %a, "learned a Sentinel");
                list.push(a);
            }
        }
    }

    async fn connect(&self, addr: &NodeAddr) -> Result<MultiplexedConnection> {
        if let Some(con) = self.cached.lock().get(addr).cloned() {
            return Ok(con);
        }
        let client = self.client(addr)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let refused = |e| crate::connect::refusal(e, addr, "sentinel");
        // A refused AUTH in the handshake becomes `Error::Auth` (the cause in
        // `NoSentinel` then says "authentication failed at sentinel …"). Without a
        // password there is no AUTH: a Sentinel with `requirepass` answers the first
        // command with `NOAUTH: Authentication required.`, which [`query`] turns
        // into the same (no extra PING here: it would cost a round trip per connection).
        client.get_multiplexed_async_connection_with_config(&config).await.map_err(refused)
    }

    /// Runs `op` against the first Sentinel that answers it, moving that Sentinel to
    /// the front. `op` returning `Ok(None)` means "this Sentinel can't tell"
    /// (for example it does not know the master): the next one is asked.
    async fn ask<T, F, Fut>(&self, what: &'static str, mut op: F) -> Result<T>
    where
        F: FnMut(MultiplexedConnection, NodeAddr) -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let mut tried = Vec::new();
        for addr in self.addrs() {
            let outcome = match self.connect(&addr).await {
                Ok(con) => op(con.clone(), addr.clone()).await.map(|v| (v, con)),
                Err(e) => Err(e),
            };
            match outcome {
                Ok((Some(v), con)) => {
                    self.mark(&addr, None);
                    self.promote(&addr, con);
                    return Ok(v);
                }
                Ok((None, _)) => tried.push(SentinelFailure {
                    addr: addr.to_string(),
                    cause: format!("{what}: no answer for this name"),
                }),
                Err(e) => {
                    self.failed(&addr, what, &e);
                    tried.push(SentinelFailure { addr: addr.to_string(), cause: e.to_string() });
                }
            }
        }
        Err(Error::NoSentinel { tried })
    }

    fn promote(&self, addr: &NodeAddr, con: MultiplexedConnection) {
        let mut list = self.list.lock();
        if let Some(pos) = list.iter().position(|a| a == addr)
            && pos != 0
        {
            let a = list.remove(pos);
            info!(sentinel = %a, "moved the answering Sentinel to the front");
            list.insert(0, a);
        }
        self.cached.lock().insert(addr.clone(), con);
    }

    /// Drops every kept Sentinel connection (the client is closing).
    pub(crate) fn close(&self) {
        self.cached.lock().clear();
    }

    /// A Sentinel whose use failed: reported down, its kept connection dropped.
    fn failed(&self, addr: &NodeAddr, what: &'static str, e: &Error) {
        debug!(sentinel = %addr, error = %e, what, "Sentinel failed");
        self.mark(addr, Some(e));
        self.cached.lock().remove(addr);
    }

    /// `SENTINEL MASTERS` on the first Sentinel that answers, then
    /// `SENTINEL SENTINELS <name>` to learn the other Sentinels. Returns the
    /// answering Sentinel and its masters (sorted by name), their addresses
    /// agreed on by `sentinel_quorum` Sentinels when it is above 1.
    pub(crate) async fn discover(&self) -> Result<(NodeAddr, Vec<MasterEntry>)> {
        let (sentinel, mut masters) = self
            .ask("SENTINEL MASTERS", |mut con, addr| async move {
                let reply = query(&mut con, &addr, "SENTINEL MASTERS", None).await?;
                let mut masters = parse_masters(&addr, reply)?;
                for m in &mut masters {
                    m.addr = m.addr.take().map(|a| self.map(a));
                }
                Ok(Some((addr, masters)))
            })
            .await?;
        info!(sentinel = %sentinel, masters = masters.len(), "discovered masters");
        for m in &masters {
            match self.sentinels_of(&sentinel, &m.name).await {
                Ok(found) => self.learn(found),
                Err(e) => {
                    warn!(sentinel = %sentinel, master = %m.name, error = %e, "SENTINEL SENTINELS failed")
                }
            }
        }
        if self.quorum > 1 {
            self.agree_on(&mut masters).await?;
        }
        Ok((sentinel, masters))
    }

    async fn sentinels_of(&self, sentinel: &NodeAddr, name: &str) -> Result<Vec<NodeAddr>> {
        let mut con = self.connect(sentinel).await?;
        let reply = query(&mut con, sentinel, "SENTINEL SENTINELS", Some(name)).await?;
        let entries = parse_table(sentinel, "SENTINEL SENTINELS", reply)?;
        entries.iter().map(|e| entry_addr(sentinel, "SENTINEL SENTINELS", e).map(|a| self.map(a))).collect()
    }

    /// The healthy replicas of `name` (`SENTINEL REPLICAS`, minus those flagged
    /// `s_down`, `o_down` or `disconnected`), addresses mapped.
    pub(crate) async fn replicas(&self, name: &str) -> Result<Vec<NodeAddr>> {
        self.ask("SENTINEL REPLICAS", |mut con, addr| async move {
            let reply = query(&mut con, &addr, "SENTINEL REPLICAS", Some(name)).await?;
            let mut healthy = Vec::new();
            for e in parse_table(&addr, "SENTINEL REPLICAS", reply)? {
                let flags = e.get("flags").map(String::as_str).unwrap_or_default();
                if flags.split(',').any(|f| matches!(f, "s_down" | "o_down" | "disconnected")) {
                    continue;
                }
                healthy.push(self.map(entry_addr(&addr, "SENTINEL REPLICAS", &e)?));
            }
            Ok(Some(healthy))
        })
        .await
    }

    /// Whether the first Sentinel that answers could give `name` a master soon
    /// (`SENTINEL MASTER` flags, `SENTINEL REPLICAS` flags): see [`Promotion`].
    pub(crate) async fn promotion(&self, name: &str, silent: std::time::Duration) -> Result<Promotion> {
        self.ask("SENTINEL MASTER", |mut con, addr| async move {
            let master = query(&mut con, &addr, "SENTINEL MASTER", Some(name)).await?;
            let replicas = query(&mut con, &addr, "SENTINEL REPLICAS", Some(name)).await?;
            let master = parse_table(&addr, "SENTINEL MASTER", Value::Array(vec![master]))?;
            let replicas = parse_table(&addr, "SENTINEL REPLICAS", replicas)?;
            let text = |e: &std::collections::HashMap<String, String>, f: &str| e.get(f).cloned();
            let number = |e: &std::collections::HashMap<String, String>, f: &str| text(e, f)?.parse().ok();
            let seen: Vec<ReplicaSeen> = replicas
                .iter()
                .map(|e| ReplicaSeen {
                    flags: text(e, "flags").unwrap_or_default(),
                    last_ok_ms: number(e, "last-ok-ping-reply"),
                    priority: number(e, "replica-priority").or_else(|| number(e, "slave-priority")),
                })
                .collect();
            let master = MasterSeen {
                flags: master.first().and_then(|e| text(e, "flags")).unwrap_or_default(),
                last_ok_ms: master.first().and_then(|e| number(e, "last-ok-ping-reply")),
                role_reported: master.first().and_then(|e| text(e, "role-reported")),
            };
            Ok(Some(judge_promotion(&master, &seen, silent)))
        })
        .await
    }
}

/// Sends `command` (`"SENTINEL <SUBCOMMAND>"`), with `name` after it when
/// given, to the Sentinel at `addr`. Its failures are judged here, once for
/// every query: a data node's `unknown command 'SENTINEL'` says the address is
/// a Redis server ([`reply::not_a_sentinel`]); `NOAUTH` (a Sentinel with
/// `requirepass` and no `sentinel_password` configured) is [`Error::Auth`]
/// naming the Sentinel settings, like a refused `AUTH` in the handshake.
async fn query(
    con: &mut MultiplexedConnection,
    addr: &NodeAddr,
    command: &'static str,
    name: Option<&str>,
) -> Result<Value> {
    let mut cmd = redis::Cmd::new();
    for word in command.split(' ') {
        cmd.arg(word);
    }
    if let Some(name) = name {
        cmd.arg(name);
    }
    cmd.query_async(con).await.map_err(|e| {
        reply::not_a_sentinel(addr, command, &e)
            .unwrap_or_else(|| crate::connect::refusal(e, addr, "sentinel"))
    })
}
