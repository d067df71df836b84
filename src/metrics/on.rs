//! The metrics themselves (feature `metrics`), reported to whatever recorder
//! the application installed.
//!
//! Per request the cost is one clock read, one read lock and one map lookup
//! (the shard keeps a histogram handle per command and server), then the
//! recorder's own update. Failures, retries and the event-like counters are
//! registered on the spot: they are rare, and a handle kept for them would
//! pin a label set (an old master's address) forever.

use std::collections::HashMap;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use ::metrics::{
    Gauge, Histogram, Label, SharedString, Unit, counter, describe_counter, describe_gauge,
    describe_histogram, gauge, histogram,
};
use parking_lot::{Mutex, RwLock};

use super::{
    CONNECTION_COUNT, CONNECTION_CREATE_TIME, FAILOVERS, Failure, OPERATION_DURATION, OUTAGE_DURATION,
    PUBSUB_DROPPED, PUBSUB_GAP_DURATION, RE_RESOLVES, RETRIES, RING_VERSION, SENTINEL_ERRORS, SHARD_DOWN,
    WRITES_HELD,
};
use crate::addr::NodeAddr;

const SYSTEM: Label = Label::from_static_parts("db.system.name", "redis");
/// The shard: its Sentinel master name.
const SHARD: &str = "disredis.shard";
/// A multiplexed connection is shared by every request at once: never idle.
const USED: Label = Label::from_static_parts("db.client.connection.state", "used");
const POOL: &str = "db.client.connection.pool.name";
const KIND: &str = "disredis.connection.kind";

/// When a request started, and the replica that answered it, if one did.
pub(crate) struct Stamp {
    at: Instant,
    replica: Option<NodeAddr>,
}

impl Stamp {
    #[inline]
    pub(crate) fn now() -> Stamp {
        Stamp { at: Instant::now(), replica: None }
    }

    /// The request was answered by the replica at `addr`: it is labelled with
    /// the replica, not the master.
    pub(crate) fn served_by(&mut self, addr: NodeAddr) {
        self.replica = Some(addr);
    }

    /// The request is done: recorded on `shard`'s metrics.
    #[inline]
    pub(crate) fn finished<'a>(
        self,
        shard: impl FnOnce() -> &'a ShardMetrics,
        command: &'static str,
        failure: impl FnOnce() -> Option<Failure>,
    ) {
        shard().request(command, self, failure);
    }

    fn seconds(&self) -> f64 {
        self.at.elapsed().as_secs_f64()
    }
}

/// The labels of a shard's requests to its current master, and the handles
/// registered under them (per command, successful requests).
struct Server {
    /// `db.system.name`, `disredis.shard`, and once connected `server.address`, `server.port`.
    labels: Vec<Label>,
    ok: HashMap<&'static str, Histogram>,
}

/// One shard's metrics. Connection counts go up and down (never `set`), so
/// several clients of the same masters in one process add up.
pub(crate) struct ShardMetrics {
    shard: SharedString,
    server: RwLock<Server>,
    /// While the shard has no master after a failure: since when, and the
    /// labels of the master it lost (the outage is recorded under them).
    down: Mutex<Option<(Instant, Vec<Label>)>>,
    /// The master connection counted as open, under its master's labels.
    master: Mutex<Option<Gauge>>,
    /// `disredis.shard.down`, counted while the shard is down.
    declared: Mutex<Option<Gauge>>,
    /// `disredis.shard.writes_held`, counted while the write fence is up.
    held: Mutex<Option<Gauge>>,
    /// Per replica and command, the handle of successful reads it answered.
    replica_ok: RwLock<HashMap<NodeAddr, HashMap<&'static str, Histogram>>>,
}

impl ShardMetrics {
    pub(crate) fn new(shard: &str) -> ShardMetrics {
        static DESCRIBED: Once = Once::new();
        DESCRIBED.call_once(describe);
        let shard = SharedString::from_shared(Arc::<str>::from(shard));
        ShardMetrics {
            server: RwLock::new(Server {
                labels: vec![SYSTEM, Label::new(SHARD, shard.clone())],
                ok: HashMap::new(),
            }),
            down: Mutex::new(None),
            master: Mutex::new(None),
            declared: Mutex::new(None),
            held: Mutex::new(None),
            replica_ok: RwLock::new(HashMap::new()),
            shard,
        }
    }

    /// `db.client.connection.count` of connections of `kind` to the current master.
    fn connections(&self, kind: &'static str, server: &[Label]) -> Gauge {
        let mut labels =
            vec![SYSTEM, USED, Label::new(POOL, self.shard.clone()), Label::from_static_parts(KIND, kind)];
        labels.extend(server.iter().filter(|l| l.key().starts_with("server.")).cloned());
        gauge!(CONNECTION_COUNT, labels)
    }

    /// A master connection to `addr` was installed: requests are labelled
    /// with its address from now on; an outage, if there was one, ended;
    /// `failover`: it replaced a connection to another master.
    pub(crate) fn installed(&self, addr: &NodeAddr, failover: bool) {
        let mut labels = vec![SYSTEM, Label::new(SHARD, self.shard.clone())];
        labels.extend(server(addr.host(), addr.port()));
        let open = self.connections("master", &labels);
        open.increment(1.0);
        if let Some(old) = self.master.lock().replace(open) {
            old.decrement(1.0);
        }
        if failover {
            counter!(FAILOVERS, labels.clone()).increment(1);
        }
        if let Some((since, lost)) = self.down.lock().take() {
            histogram!(OUTAGE_DURATION, lost).record(since.elapsed().as_secs_f64());
        }
        *self.server.write() = Server { labels, ok: HashMap::new() };
    }

    /// The master connection was dropped after a failure, to re-resolve the
    /// shard: an outage starts.
    pub(crate) fn invalidated(&self) {
        let labels = self.server.read().labels.clone();
        counter!(RE_RESOLVES, labels.clone()).increment(1);
        if let Some(open) = self.master.lock().take() {
            open.decrement(1.0);
        }
        self.down.lock().get_or_insert_with(|| (Instant::now(), labels));
    }

    /// The shard counts as down: `disredis.shard.down` goes up by one (it
    /// adds up over the clients of a process, like the connection counts).
    pub(crate) fn marked_down(&self) {
        let mut declared = self.declared.lock();
        if declared.is_none() {
            let g = gauge!(SHARD_DOWN, vec![SYSTEM, Label::new(SHARD, self.shard.clone())]);
            g.increment(1.0);
            *declared = Some(g);
        }
    }

    /// The write fence went up (`true`) or came down: `disredis.shard.writes_held`
    /// counts it while it is up (adding up over the clients of a process).
    pub(crate) fn writes_held(&self, held: bool) {
        let mut slot = self.held.lock();
        match (held, slot.is_some()) {
            (true, false) => {
                let g = gauge!(WRITES_HELD, vec![SYSTEM, Label::new(SHARD, self.shard.clone())]);
                g.increment(1.0);
                *slot = Some(g);
            }
            (false, true) => {
                if let Some(g) = slot.take() {
                    g.decrement(1.0);
                }
            }
            _ => {}
        }
    }

    /// The shard is up again (or left the ring): the down gauge comes off.
    pub(crate) fn marked_up(&self) {
        if let Some(g) = self.declared.lock().take() {
            g.decrement(1.0);
        }
    }

    /// The shard left the ring: its master connection is closed (the replica
    /// set is cleared by its owner), no outage.
    pub(crate) fn retired(&self) {
        self.marked_up();
        if let Some(open) = self.master.lock().take() {
            open.decrement(1.0);
        }
    }

    /// A connection to the replica at `addr` joined the shard's replica set.
    pub(crate) fn replica_opened(&self, addr: &NodeAddr) {
        self.connections("replica", &server(addr.host(), addr.port())).increment(1.0);
    }

    /// The connection to the replica at `addr` left the shard's replica set.
    pub(crate) fn replica_closed(&self, addr: &NodeAddr) {
        self.connections("replica", &server(addr.host(), addr.port())).decrement(1.0);
    }

    /// A request to this shard finished: `failure` says how it failed, if it did.
    fn request(&self, command: &'static str, since: Stamp, failure: impl FnOnce() -> Option<Failure>) {
        let seconds = since.seconds();
        if let Some(replica) = &since.replica {
            return self.replica_request(replica, command, seconds, failure());
        }
        let Some(failure) = failure() else {
            if let Some(h) = self.server.read().ok.get(command) {
                return h.record(seconds);
            }
            let mut server = self.server.write();
            let Server { labels, ok } = &mut *server;
            let h = ok
                .entry(command)
                .or_insert_with(|| histogram!(OPERATION_DURATION, with_command(labels, command)));
            return h.record(seconds);
        };
        let labels = with_failure(with_command(&self.server.read().labels, command), failure);
        histogram!(OPERATION_DURATION, labels).record(seconds);
    }

    /// A read answered by the replica at `addr`, labelled with it.
    fn replica_request(
        &self,
        addr: &NodeAddr,
        command: &'static str,
        seconds: f64,
        failure: Option<Failure>,
    ) {
        let labels = || {
            let mut labels = vec![SYSTEM, Label::new(SHARD, self.shard.clone())];
            labels.extend(server(addr.host(), addr.port()));
            with_command(&labels, command)
        };
        let Some(failure) = failure else {
            if let Some(h) = self.replica_ok.read().get(addr).and_then(|by_command| by_command.get(command)) {
                return h.record(seconds);
            }
            let mut cache = self.replica_ok.write();
            let by_command = cache.entry(addr.clone()).or_default();
            let h = by_command.entry(command).or_insert_with(|| histogram!(OPERATION_DURATION, labels()));
            return h.record(seconds);
        };
        histogram!(OPERATION_DURATION, with_failure(labels(), failure)).record(seconds);
    }

    /// A request is sent again after a failed attempt (to the master it goes to now).
    pub(crate) fn retry(&self, command: &'static str) {
        counter!(RETRIES, with_command(&self.server.read().labels, command)).increment(1);
    }

    /// A dedicated connection (a blocking command's, a `WATCH` session's) to
    /// the current master, counted until the guard drops.
    pub(crate) fn dedicated(&self) -> Open {
        let open = self.connections("dedicated", &self.server.read().labels);
        open.increment(1.0);
        Open(open)
    }
}

/// `server.address` and `server.port` of a node.
fn server(host: &str, port: u16) -> [Label; 2] {
    [Label::new("server.address", host.to_owned()), Label::new("server.port", port.to_string())]
}

/// `labels` and those of `failure`.
fn with_failure(mut labels: Vec<Label>, failure: Failure) -> Vec<Label> {
    labels.push(Label::new("error.type", failure.error_type));
    if let Some(code) = failure.status_code {
        labels.push(Label::new("db.response.status_code", code));
    }
    labels
}

fn with_command(labels: &[Label], command: &'static str) -> Vec<Label> {
    let mut all = Vec::with_capacity(labels.len() + 3);
    all.extend_from_slice(labels);
    all.push(Label::from_static_parts("db.operation.name", command));
    all
}

/// Counts one dedicated connection while it lives.
pub(crate) struct Open(Gauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// A master connection of `shard` to `addr` opened (and `ROLE`-checked) since `since`.
pub(crate) fn connection_created(shard: &str, addr: &NodeAddr, since: Stamp) {
    let mut labels = vec![SYSTEM, Label::new(POOL, shard.to_owned())];
    labels.extend(server(addr.host(), addr.port()));
    histogram!(CONNECTION_CREATE_TIME, labels).record(since.seconds());
}

/// The client follows ring `version`.
pub(crate) fn ring_version(version: u64) {
    gauge!(RING_VERSION, vec![SYSTEM]).set(version as f64);
}

/// `shard` had no pub/sub subscription for `without`.
pub(crate) fn pubsub_gap(shard: &str, without: Duration) {
    histogram!(PUBSUB_GAP_DURATION, vec![SYSTEM, Label::new(SHARD, shard.to_owned())])
        .record(without.as_secs_f64());
}

/// `dropped` pub/sub messages were dropped for a slow consumer.
pub(crate) fn pubsub_dropped(dropped: u64) {
    counter!(PUBSUB_DROPPED, vec![SYSTEM]).increment(dropped);
}

/// The Sentinel at `addr` could not be used.
pub(crate) fn sentinel_error(addr: &str) {
    let mut labels = vec![SYSTEM];
    match addr.rsplit_once(':').map(|(host, port)| (host.trim_matches(['[', ']']), port.parse())) {
        Some((host, Ok(port))) => labels.extend(server(host, port)),
        _ => labels.push(Label::new("server.address", addr.to_owned())),
    }
    counter!(SENTINEL_ERRORS, labels).increment(1);
}

/// Describes every metric (unit and help text) to the installed recorder.
///
/// disredis calls it itself when it registers its first shard; call it again
/// if the recorder is installed only after a client connected (then also the
/// handles registered before went to no recorder: install the recorder first).
///
/// ```
/// let recorder = metrics_util::debugging::DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// metrics::set_global_recorder(recorder).expect("the first recorder of this process");
/// disredis::metrics::describe();
/// // … `DisredisClient::connect(…)` and requests; then, e.g. in a test:
/// for (key, unit, _help, value) in snapshotter.snapshot().into_vec() {
///     let _ = (key.key().name(), unit, value);
/// }
/// ```
pub fn describe() {
    const DURATIONS: [(&str, &str); 4] = [
        (OPERATION_DURATION, "Duration of requests to a shard, retries and failover waits included."),
        (CONNECTION_CREATE_TIME, "Time to open a connection to a shard's master, ROLE check included."),
        (OUTAGE_DURATION, "How long each period without a master connection lasted."),
        (PUBSUB_GAP_DURATION, "Pub/sub gaps: how long a shard had no subscription."),
    ];
    const COUNTERS: [(&str, &str); 8] = [
        (super::CACHE_READS, "Cacheable reads (feature cache), by result: hit or miss."),
        (super::CACHE_INVALIDATIONS, "Keys the servers' invalidations named (feature cache)."),
        (super::CACHE_FLUSHES, "Times a shard connection's cached entries were all dropped (feature cache)."),
        (RETRIES, "Requests sent again after a failed attempt."),
        (RE_RESOLVES, "Times a shard's connection was dropped to ask Sentinel for its master again."),
        (FAILOVERS, "Times a shard's connection moved to a different master."),
        (PUBSUB_DROPPED, "Pub/sub messages dropped because the consumer fell behind."),
        (SENTINEL_ERRORS, "Times a Sentinel could not be used."),
    ];
    const GAUGES: [(&str, &str); 4] = [
        (SHARD_DOWN, "1 while a shard counts as down and its requests fail at once."),
        (WRITES_HELD, "1 while writes to a shard are held: a quorum of Sentinels holds its master down."),
        (CONNECTION_COUNT, "Open connections per shard and kind (master, replica, dedicated)."),
        (RING_VERSION, "The ring version the client follows."),
    ];
    for (name, help) in DURATIONS {
        describe_histogram!(name, Unit::Seconds, help);
    }
    for (name, help) in COUNTERS {
        describe_counter!(name, help);
    }
    for (name, help) in GAUGES {
        describe_gauge!(name, help);
    }
}
