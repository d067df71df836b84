//! The task behind a [`PubSub`](super::PubSub): what is subscribed, one
//! subscription connection per master, and making the subscriptions again
//! where they belong after a failover, a switch or a ring change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::{Msg, PushInfo, PushKind, Value};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::config::NodeAddr;
use crate::connect::{Dial, Role, connect_subscriber, set_name};
use crate::error::Result;
use crate::events::Event;
use crate::execute::Executor;
use crate::ring::client_name;
use crate::topology::ShardTable;
use crate::wire::Wire;

mod ping;
mod wire;

use wire::sync;

/// How often a shard without a subscription asks Sentinel for its master.
const RETRY: Duration = Duration::from_millis(20);

/// How often every subscription connection is checked with a `PING`.
const HEALTH: Duration = Duration::from_secs(1);

/// How long one connection attempt may take while a shard has no subscription.
const CONNECT: Duration = Duration::from_millis(250);

/// Channels published by every master for its own keys.
fn everywhere(channel: &[u8]) -> bool {
    channel.starts_with(b"__keyspace@") || channel.starts_with(b"__keyevent@")
}

/// Which set a request changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Channel,
    Pattern,
    /// Shard channels (`SSUBSCRIBE`): routed like channels.
    Shard,
}

/// What a [`PubSubSink`](super::PubSubSink) asks the task for.
pub(super) enum Request {
    /// A change of the subscriptions, answered once it is made.
    Change { kind: Kind, add: bool, names: Vec<Vec<u8>>, done: oneshot::Sender<Result<()>> },
    /// `PING` (with `message` as its arguments) on every master.
    Ping { message: Vec<Vec<u8>>, done: oneshot::Sender<Result<Value>> },
}

/// Channels, patterns, shard channels: what one master's link should carry,
/// or (the manager's `want`) what the subscriber subscribed to in all.
#[derive(Default, Clone, PartialEq, Eq)]
struct Carry {
    channels: BTreeSet<Vec<u8>>,
    patterns: BTreeSet<Vec<u8>>,
    shard: BTreeSet<Vec<u8>>,
}

impl Carry {
    /// The set of `kind`.
    fn of(&mut self, kind: Kind) -> &mut BTreeSet<Vec<u8>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
}

/// One master's subscription connection and what it carries.
struct Link {
    id: u64,
    addr: NodeAddr,
    conn: Wire,
    carries: Carry,
    /// The shard's address in the client's table when the link was made: only
    /// a change from it (to an address other than the link's) is a switch —
    /// the table may still name a dead master the link already left.
    seen: Option<NodeAddr>,
    /// The ring version the link's subscriptions were made for; the link is
    /// named after it (`CLIENT SETNAME`) so the ring tool's fence waits until
    /// subscribers moved their channels too.
    version: u64,
}

pub(super) struct Manager {
    exec: Arc<Executor>,
    out: mpsc::Sender<Msg>,
    want: Carry,
    links: HashMap<String, Link>,
    /// Shards that should have a subscription and have none, since when.
    down: HashMap<String, Instant>,
    next_id: u64,
    dropped: Arc<AtomicU64>,
    reported: u64,
    lost_tx: mpsc::UnboundedSender<(String, u64)>,
    lost: mpsc::UnboundedReceiver<(String, u64)>,
}

impl Manager {
    pub(super) fn new(exec: Arc<Executor>, out: mpsc::Sender<Msg>) -> Manager {
        let (lost_tx, lost) = mpsc::unbounded_channel();
        Manager {
            exec,
            out,
            want: Carry::default(),
            links: HashMap::new(),
            down: HashMap::new(),
            next_id: 0,
            dropped: Arc::new(AtomicU64::new(0)),
            reported: 0,
            lost_tx,
            lost,
        }
    }

    /// Serves requests and keeps the subscriptions where they belong, until
    /// the [`PubSubStream`](super::PubSubStream) is dropped (it aborts this
    /// task). Once every sink is dropped, what is subscribed stays subscribed.
    pub(super) async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let mut events = self.exec.events.subscribe();
        let mut tick = tokio::time::interval(RETRY);
        let mut health = tokio::time::interval(HEALTH);
        let mut sinks = true;
        loop {
            tokio::select! {
                request = requests.recv(), if sinks => match request {
                    None => sinks = false,
                    Some(Request::Change { kind, add, names, done }) => {
                        let set = self.want.of(kind);
                        for name in names {
                            match add {
                                true => set.insert(name),
                                false => set.remove(&name),
                            };
                        }
                        let _ = done.send(self.reconcile().await);
                    }
                    Some(Request::Ping { message, done }) => {
                        let _ = done.send(self.ping(&message).await);
                    }
                },
                Some((name, id)) = self.lost.recv() => {
                    if self.links.get(&name).is_some_and(|l| l.id == id) {
                        info!(shard = %name, "pubsub: subscription connection lost");
                        self.lose(&name);
                        let _ = self.reconcile().await;
                    }
                }
                event = events.recv() => {
                    if matches!(event, Ok(Event::RingChanged { .. } | Event::SwitchMaster { .. }) | Err(_)) {
                        let _ = self.reconcile().await;
                    }
                }
                _ = tick.tick() => {
                    if !self.down.is_empty() || self.switched() {
                        let _ = self.reconcile().await;
                    }
                    self.report_drops();
                }
                _ = health.tick() => self.check().await,
            }
        }
    }

    /// Drops `name`'s link: from now on it has no subscription.
    fn lose(&mut self, name: &str) {
        self.links.remove(name);
        self.down.entry(name.to_owned()).or_insert_with(Instant::now);
    }

    /// Whether the client's table moved a shard we subscribe on to another
    /// master (a `+switch-master` the event broadcast has not delivered yet).
    fn switched(&self) -> bool {
        let table = self.exec.table.latest();
        self.links.iter().any(|(name, link)| moved(&table, name, link))
    }

    /// `PING`s every link; one that does not answer is lost.
    async fn check(&mut self) {
        let mut dead = Vec::new();
        for (name, link) in &self.links {
            let ping = link.conn.send_cmd(&redis::cmd("PING"), Some(Some(HEALTH))).await;
            if !matches!(ping, Ok(ref v) if !matches!(v, Value::ServerError(_))) {
                dead.push(name.clone());
            }
        }
        for name in dead {
            warn!(shard = %name, "pubsub: subscription connection does not answer");
            self.lose(&name);
        }
        if !self.down.is_empty() {
            let _ = self.reconcile().await;
        }
    }

    fn report_drops(&mut self) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > self.reported {
            warn!(dropped = dropped - self.reported, "pubsub: the consumer fell behind; messages dropped");
            self.exec.events.emit(Event::PubSubDropped { dropped: dropped - self.reported });
            self.reported = dropped;
        }
    }

    /// Per shard name, what it should carry now.
    fn wanted(&self, table: &ShardTable) -> BTreeMap<String, Carry> {
        let mut wanted: BTreeMap<String, Carry> = BTreeMap::new();
        let all = table.names();
        let sets = [
            (Kind::Channel, &self.want.channels),
            (Kind::Pattern, &self.want.patterns),
            (Kind::Shard, &self.want.shard),
        ];
        for (kind, names) in sets {
            for name in names {
                // During a change publishers of either phase reach the subscriber.
                let owners = match kind == Kind::Pattern || everywhere(name) {
                    true => (0..all.len()).collect(),
                    false => table.channel_owners(name),
                };
                for shard in owners {
                    wanted.entry(all[shard].clone()).or_default().of(kind).insert(name.clone());
                }
            }
        }
        wanted
    }

    /// Makes every shard carry what it should: connects where a link is
    /// missing (or its master changed), then subscribes and unsubscribes the
    /// difference. A shard that can't be reached stays `down` and is tried
    /// again every [`RETRY`].
    async fn reconcile(&mut self) -> Result<()> {
        let table = self.exec.table.latest();
        let wanted = self.wanted(&table);
        self.links.retain(|name, _| wanted.contains_key(name));
        self.down.retain(|name, _| wanted.contains_key(name));
        for (name, link) in &self.links {
            if moved(&table, name, link) {
                // Leave first: the old master, now a replica, would deliver
                // the new master's messages a second time.
                debug!(shard = %name, "pubsub: the shard's master changed");
                self.down.entry(name.clone()).or_insert_with(Instant::now);
            }
        }
        let moved: Vec<String> = self.down.keys().filter(|n| self.links.contains_key(*n)).cloned().collect();
        for name in moved {
            if let Some(mut link) = self.links.remove(&name) {
                // Unsubscribe before dropping: messages the old master sent
                // before the confirmation are received; one published there
                // afterwards counts no receiver (PUBLISH says so) instead of
                // being counted and lost in a dropped connection.
                let _ = tokio::time::timeout(CONNECT, sync(&mut link, &Carry::default())).await;
            }
        }
        let mut result = Ok(());
        for (name, carry) in wanted {
            if !self.links.contains_key(&name) {
                match self.connect(&table, &name).await {
                    Ok(link) => {
                        self.links.insert(name.clone(), link);
                    }
                    Err(e) => {
                        debug!(shard = %name, error = %e, "pubsub: no subscription yet");
                        self.down.entry(name).or_insert_with(Instant::now);
                        continue;
                    }
                }
            }
            let link = self.links.get_mut(&name).expect("inserted above");
            if let Err(e) = sync(link, &carry).await {
                warn!(shard = %name, error = %e, "pubsub: subscribing failed");
                let id = link.id;
                let _ = self.lost_tx.send((name, id));
                result = Err(e.into());
                continue;
            }
            if link.version != table.ring.version {
                link.version = table.ring.version;
                set_name(&mut link.conn, &client_name(table.ring.version)).await;
            }
            if let Some(since) = self.down.remove(&name) {
                let without = since.elapsed();
                info!(shard = %name, ?without, "pubsub: subscriptions made again");
                self.exec.events.emit(Event::PubSubGap { shard: name, without });
            }
        }
        result
    }

    /// A new subscription connection to `name`'s master: the client's
    /// connected master at first, Sentinel's answer once the shard had none.
    async fn connect(&mut self, table: &ShardTable, name: &str) -> Result<Link> {
        let known = table.shard(name).filter(|s| s.connection().is_some()).and_then(|s| s.addr());
        let addr = match (known, self.down.contains_key(name)) {
            (Some(addr), false) => addr,
            _ => self.exec.sentinels.master_addr(name).await?,
        };
        self.next_id += 1;
        let id = self.next_id;
        let (out, dropped, lost, shard) =
            (self.out.clone(), self.dropped.clone(), self.lost_tx.clone(), name.to_owned());
        let push = move |push: PushInfo| match push.kind {
            PushKind::Disconnection => {
                let _ = lost.send((shard.clone(), id));
            }
            _ => {
                if let Some(msg) = Msg::from_push_info(push)
                    && out.try_send(msg).is_err()
                {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        };
        let (config, version) = (&self.exec.config, table.ring.version);
        let named = client_name(version);
        let dial = Dial {
            name: Some(&named),
            connect_timeout: config.connect_timeout.min(CONNECT),
            ..Dial::new(config, Role::Master)
        };
        let conn = connect_subscriber(name, &addr, config, dial, Arc::new(push)).await?;
        let seen = table.shard(name).and_then(|s| s.addr());
        Ok(Link { id, addr, conn, carries: Carry::default(), version, seen })
    }
}

/// Whether the client's table switched `name` to another master than the
/// link's since the link was made.
fn moved(table: &ShardTable, name: &str, link: &Link) -> bool {
    table.shard(name).is_some_and(|s| {
        s.connection().is_some() && s.addr().is_some_and(|a| a != link.addr && Some(&a) != link.seen.as_ref())
    })
}
