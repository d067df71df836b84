//! A local Redis + Sentinel topology (real `redis-server` / `redis-sentinel` processes on
//! 127.0.0.1) for integration tests.
//!
//! Every number and setting here comes from `/work/shared/research/sentinel-timings.md`
//! (measured on Redis/Sentinel 7.0.15):
//!
//! * `down-after-milliseconds 500`, `failover-timeout 2000` plus the runtime-only
//!   `SENTINEL DEBUG ping-period 300 ask-period 100 publish-period 100 info-period 1000`
//!   ("fast profile"): `+switch-master` about 1.1 s after SIGKILL of a master, a restarted old
//!   master is demoted in about 1.1 s, no aborted failovers and no spurious events.
//!   `failover-timeout` must stay well above 1000 ms and `ping-period` must stay >= 250 ms,
//!   otherwise failovers abort.
//! * Sentinel needs a writable config file and rewrites it, so every sentinel gets a fresh file
//!   in its own directory for every topology.
//! * Ports are chosen below 32768 (the ephemeral range starts there) by bind-testing, and every
//!   started server is checked to be *our* child (`INFO server` `process_id`), because another
//!   test binary may grab a port between the bind test and the server start. A server that
//!   fails with "Address already in use" makes the whole start retry with new ports.
//!
//! * With 2 sentinels and equal `down-after`, both could reach ODOWN in the same millisecond,
//!   each vote for itself (`-failover-abort-not-elected`), and the retry came after
//!   2 x failover-timeout (5-6 s instead of ~1 s; seen 3 times in ~110 failovers under load).
//!   Sentinel k therefore gets `down-after` 500 + 100·k ms. Give `wait_for_failover` 10 s or
//!   more all the same, and never assert a failover time.
//! * Ready means: every replica linked, every sentinel sees every master, replica and sentinel
//!   (`CKQUORUM` OK), and every master streams to its replicas (a write + `WAIT`); see `boot`.
//!
//! Use it as `mod support;` from a test file. All children are SIGKILLed (and reaped) when the
//! [`Topology`] is dropped, also when the test panics; in that case the process logs are printed
//! to stderr.
#![allow(dead_code)]

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HOST: &str = "127.0.0.1";
/// Step of every polling loop (no fixed sleeps anywhere).
const POLL: Duration = Duration::from_millis(10);
/// Connect, read and write timeout of the connections the harness hands out.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// The same for polling probes: a probe that hangs (a port taken by a foreign process that does
/// not answer) must not delay noticing that our child has exited.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Candidate ports. Below 32768 so they never collide with ephemeral (outgoing) ports.
const PORT_LOW: u16 = 20000;
const PORT_HIGH: u16 = 32000;
/// How often `Topology::start` picks new ports when a server reports "Address already in use".
const START_ATTEMPTS: usize = 3;
/// Deadline for one server to answer after its start.
const NODE_UP: Duration = Duration::from_secs(10);
/// Deadline for replicas to link and for all sentinels to see everything.
const TOPOLOGY_READY: Duration = Duration::from_secs(30);
/// Lines of each log file shown by `dump_logs`.
const LOG_TAIL_LINES: usize = 300;

const DOWN_AFTER_MS: u32 = 500;
/// Sentinel k (from 0) uses `DOWN_AFTER_MS + k * DOWN_AFTER_STAGGER_MS`. With equal values
/// both Sentinels sometimes reach ODOWN in the same millisecond, each votes for itself
/// (`-failover-abort-not-elected`) and the retry comes ~5 s later (seen 3 times in ~110
/// failovers under parallel load); staggering lets one of them start the election first.
const DOWN_AFTER_STAGGER_MS: u32 = 100;
/// Must be well above 1000 ms: Sentinel polls the promoted replica's INFO every 1000 ms
/// (hard-coded) during a failover; with 500 ms every failover aborted at least once.
const FAILOVER_TIMEOUT_MS: u32 = 2000;
/// Runtime-only Sentinel timers (not stored in the config; resent after every sentinel start).
const FAST_PROFILE: [&str; 9] = [
    "DEBUG",
    "ping-period",
    "300",
    "ask-period",
    "100",
    "publish-period",
    "100",
    "info-period",
    "1000",
];

/// Ports handed out to topologies of this process. Several tests of one binary run in parallel
/// threads; bind-testing alone would let two of them pick the same free port.
static PORTS_IN_USE: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static TOPOLOGY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Shape of a topology.
#[derive(Clone, Debug)]
pub struct Spec {
    pub shards: usize,
    pub replicas: usize,
    pub sentinels: usize,
    pub quorum: usize,
}

impl Default for Spec {
    /// 2 shards with 1 replica each, 2 sentinels, quorum 1. Note: with 2 sentinels a failover
    /// needs *both* sentinels alive (majority 2 of 2); use 3 sentinels / quorum 2 for tests that
    /// kill a sentinel too.
    fn default() -> Self {
        Spec {
            shards: 2,
            replicas: 1,
            sentinels: 2,
            quorum: 1,
        }
    }
}

/// Panics with a clear message when `redis-server` or `redis-sentinel` is not on PATH.
/// Tests never skip: a machine without Redis is a test failure.
pub fn require_redis() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = ["redis-server", "redis-sentinel"]
        .into_iter()
        .filter(|bin| !std::env::split_paths(&path).any(|dir| dir.join(bin).is_file()))
        .collect();
    assert!(
        missing.is_empty(),
        "redis-server not found: run sentinel-conf/test.sh, which installs it (missing on PATH: {})",
        missing.join(", ")
    );
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Data,
    Sentinel,
}

struct Node {
    label: String,
    kind: Kind,
    port: u16,
    dir: PathBuf,
    conf: PathBuf,
    /// The config as first written; a data node is restarted with exactly this (Redis rewrites
    /// the file when Sentinel reconfigures the node).
    original_conf: String,
    child: Option<Child>,
    /// PID of the current (or last) process.
    pid: u32,
    stopped: bool,
}

impl Node {
    fn addr(&self) -> String {
        format!("{HOST}:{}", self.port)
    }

    fn state(&self) -> &'static str {
        match (&self.child, self.stopped) {
            (None, _) => "dead",
            (Some(_), true) => "stopped",
            (Some(_), false) => "running",
        }
    }

    fn log_files(&self) -> Vec<PathBuf> {
        let log = match self.kind {
            Kind::Data => "redis.log",
            Kind::Sentinel => "sentinel.log",
        };
        ["stdout.log", "stderr.log", log]
            .iter()
            .map(|f| self.dir.join(f))
            .collect()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let program = match self.kind {
            Kind::Data => "redis-server",
            Kind::Sentinel => "redis-sentinel",
        };
        let out = |name: &str| {
            File::options()
                .create(true)
                .append(true)
                .open(self.dir.join(name))
                .map_err(|e| format!("{}: cannot open {name}: {e}", self.label))
        };
        let child = Command::new(program)
            .arg(&self.conf)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out("stdout.log")?)
            .stderr(out("stderr.log")?)
            .spawn()
            .map_err(|e| format!("{}: cannot spawn {program}: {e}", self.label))?;
        self.pid = child.id();
        self.child = Some(child);
        self.stopped = false;
        Ok(())
    }

    /// SIGKILL (works on stopped processes too) and reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stopped = false;
    }

    /// `Some(message)` if the process was expected to run but has exited.
    fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => {
                self.child = None;
                Some(format!("{} ({}) exited: {status}", self.label, self.addr()))
            }
            Err(e) => Some(format!("{}: try_wait failed: {e}", self.label)),
        }
    }

    fn log_says_port_in_use(&self) -> bool {
        self.log_files()
            .iter()
            .any(|f| fs::read_to_string(f).is_ok_and(|text| text.contains("Address already in use")))
    }
}

struct Shard {
    name: String,
    master_port: u16,
    replica_ports: Vec<u16>,
}

enum BootError {
    /// A server could not bind its port: pick new ports and try again.
    PortInUse(String),
    Failed(String),
}

/// A running topology. Owns every child process and a temp dir; `Drop` kills everything
/// (SIGKILL + wait), removes the dir and releases the ports.
pub struct Topology {
    spec: Spec,
    dir: PathBuf,
    shards: Vec<Shard>,
    sentinel_ports: Vec<u16>,
    ports: Vec<u16>,
    nodes: Mutex<Vec<Node>>,
    /// Set once the logs went into a panic message, so `Drop` does not print them twice.
    logs_reported: AtomicBool,
}

impl Topology {
    /// Starts masters, replicas (waits for `master_link_status:up`) and sentinels (sends the
    /// fast `SENTINEL DEBUG` profile), then waits until every sentinel reports every master
    /// with `CKQUORUM` OK, all replicas and all other sentinels. Panics with all logs on failure.
    pub fn start(spec: Spec) -> Topology {
        require_redis();
        assert!(
            (1..=26).contains(&spec.shards),
            "Spec.shards must be 1..=26: {spec:?}"
        );
        assert!(spec.sentinels >= 1, "Spec.sentinels must be >= 1: {spec:?}");
        assert!(
            (1..=spec.sentinels).contains(&spec.quorum),
            "Spec.quorum must be 1..=sentinels: {spec:?}"
        );
        let mut earlier = String::new();
        let started = Instant::now();
        for attempt in 1..=START_ATTEMPTS {
            let topology = Topology::create(&spec);
            match topology.boot() {
                Ok(()) => {
                    eprintln!(
                        "support: topology ready in {:.3} s (sentinels {})",
                        started.elapsed().as_secs_f64(),
                        topology.sentinel_addrs().join(" ")
                    );
                    return topology;
                }
                Err(BootError::PortInUse(msg)) => {
                    eprintln!(
                        "support: attempt {attempt}/{START_ATTEMPTS}: port taken ({msg}), retrying with new ports"
                    );
                    earlier.push_str(&format!(
                        "\n--- attempt {attempt}: {msg}\n{}",
                        topology.dump_logs()
                    ));
                }
                Err(BootError::Failed(msg)) => topology.fail(&format!("topology start failed: {msg}")),
            }
        }
        panic!("topology start failed: ports were taken by other processes {START_ATTEMPTS} times{earlier}");
    }

    /// Master names, sorted: "shard-a", "shard-b", ...
    pub fn master_names(&self) -> Vec<String> {
        self.shards.iter().map(|s| s.name.clone()).collect()
    }

    /// All sentinels as started: `["127.0.0.1:P", ...]`.
    pub fn sentinel_addrs(&self) -> Vec<String> {
        self.sentinel_ports.iter().map(|p| addr(*p)).collect()
    }

    /// The current master of `name` as the first live Sentinel reports it
    /// (`SENTINEL GET-MASTER-ADDR-BY-NAME`).
    pub fn master_addr(&self, name: &str) -> String {
        self.shard(name);
        let mut errors = Vec::new();
        for port in self.live_sentinels() {
            match self.connect(port).and_then(|mut c| get_master_addr(&mut c, name)) {
                Ok(Some(a)) => return a,
                Ok(None) => errors.push(format!("{}: unknown master", addr(port))),
                Err(e) => errors.push(format!("{}: {e}", addr(port))),
            }
        }
        self.fail(&format!(
            "master_addr({name}): no live sentinel answered: {errors:?}"
        ))
    }

    pub fn initial_master_addr(&self, name: &str) -> String {
        addr(self.shard(name).master_port)
    }

    /// Replicas of `name` as started.
    pub fn replica_addrs(&self, name: &str) -> Vec<String> {
        self.shard(name).replica_ports.iter().map(|p| addr(*p)).collect()
    }

    /// A sync connection with 2 s connect/read/write timeouts. Panics (with logs) on failure;
    /// see [`Topology::try_conn`] for polling.
    pub fn conn(&self, addr: &str) -> redis::Connection {
        let port = self.port_of(addr);
        self.connect(port)
            .unwrap_or_else(|e| self.fail(&format!("conn({addr}): {e}")))
    }

    pub fn try_conn(&self, addr: &str) -> redis::RedisResult<redis::Connection> {
        self.connect(self.port_of(addr))
    }

    /// SIGKILL the process listening on `addr` (data node or sentinel) and wait for it to exit.
    pub fn kill(&self, addr: &str) {
        let port = self.port_of(addr);
        let err = {
            let mut nodes = self.lock();
            let node = nodes
                .iter_mut()
                .find(|n| n.port == port)
                .expect("port_of checked");
            if node.child.is_some() {
                node.kill();
                None
            } else {
                Some(format!("kill({addr}): {} is not running", node.label))
            }
        };
        if let Some(msg) = err {
            self.fail(&msg);
        }
    }

    /// SIGSTOP the process on `addr` (a hang instead of a crash); returns once it is stopped.
    pub fn stop(&self, addr: &str) {
        self.signal(addr, "-STOP", true);
    }

    /// SIGCONT a process stopped with [`Topology::stop`]; returns once it runs again.
    pub fn cont(&self, addr: &str) {
        self.signal(addr, "-CONT", false);
    }

    /// Starts a killed node again on the same port. A data node gets its config file as
    /// originally written (an old master comes back as a master with empty data, and Sentinel
    /// demotes it). A sentinel gets its own rewritten config file (it holds the sentinel's
    /// `myid`, epochs and known peers; the original would make it a new, unknown sentinel whose
    /// old identity still counts as a voter), and the fast `SENTINEL DEBUG` profile again.
    /// Returns once the node answers.
    pub fn restart(&self, addr: &str) {
        let port = self.port_of(addr);
        let result = (|| {
            {
                let mut nodes = self.lock();
                let node = nodes
                    .iter_mut()
                    .find(|n| n.port == port)
                    .expect("port_of checked");
                if node.child.is_some() {
                    return Err(format!(
                        "restart({addr}): {} is still running; kill it first",
                        node.label
                    ));
                }
                if node.kind == Kind::Data {
                    fs::write(&node.conf, &node.original_conf)
                        .map_err(|e| format!("restart({addr}): cannot rewrite config: {e}"))?;
                }
                node.spawn()?;
            }
            let deadline = Instant::now() + NODE_UP;
            self.wait_node_up(port, deadline).map_err(|e| match e {
                BootError::PortInUse(m) | BootError::Failed(m) => format!("restart({addr}): {m}"),
            })?;
            if self.sentinel_ports.contains(&port) {
                self.send_fast_profile(port)
                    .map_err(|e| format!("restart({addr}): SENTINEL DEBUG failed: {e}"))?;
            }
            Ok(())
        })();
        if let Err(msg) = result {
            self.fail(&msg);
        }
    }

    /// Polls every live Sentinel (10 ms steps) until all of them report a master of `name`
    /// other than `old`, agree on it, and that node answers with `role:master`. Returns the new
    /// master's address; panics with all logs on timeout.
    pub fn wait_for_failover(&self, name: &str, old: &str, within: Duration) -> String {
        self.shard(name);
        let deadline = Instant::now() + within;
        let mut conns: HashMap<u16, redis::Connection> = HashMap::new();
        loop {
            let live = self.live_sentinels();
            let mut seen: Vec<(u16, Result<Option<String>, String>)> = Vec::new();
            for port in &live {
                seen.push((
                    *port,
                    self.cached_query(&mut conns, *port, |c| get_master_addr(c, name)),
                ));
            }
            let addrs: HashSet<&String> = seen
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok().and_then(|a| a.as_ref()))
                .collect();
            let all_answered = !live.is_empty() && seen.iter().all(|(_, r)| matches!(r, Ok(Some(_))));
            let mut last = format!("live sentinels report {seen:?}");
            if all_answered && addrs.len() == 1 {
                let new = (*addrs.iter().next().expect("len 1")).clone();
                if new != old {
                    match self
                        .probe_addr(&new)
                        .and_then(|mut c| info(&mut c, "replication"))
                    {
                        Ok(info) if info_field(&info, "role") == Some("master") => return new,
                        Ok(info) => {
                            last.push_str(&format!("; {new} has role {:?}", info_field(&info, "role")))
                        }
                        Err(e) => last.push_str(&format!("; {new}: {e}")),
                    }
                }
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "wait_for_failover({name}, old {old}): no failover within {within:?}: {last}"
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// Subscribes to `+switch-master` on the first live Sentinel in a background thread and
    /// records every message with the time it arrived. Returns once the subscription is active.
    /// The thread ends when that sentinel dies (at the latest when the topology is dropped).
    pub fn switch_master_watch(&self) -> SwitchWatch {
        let port = *self
            .live_sentinels()
            .first()
            .unwrap_or_else(|| self.fail("switch_master_watch: no live sentinel"));
        let events: Events = Arc::default();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let conn = self.connect(port);
        let shared = Arc::clone(&events);
        thread::Builder::new()
            .name(format!("switch-watch-{port}"))
            .spawn(move || {
                let mut conn = match conn {
                    Ok(c) => c,
                    Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
                };
                let mut pubsub = conn.as_pubsub();
                let subscribed = pubsub
                    .subscribe("+switch-master")
                    .and_then(|()| pubsub.set_read_timeout(None));
                if let Err(e) = subscribed {
                    return drop(ready_tx.send(Err(e.to_string())));
                }
                let _ = ready_tx.send(Ok(()));
                while let Ok(msg) = pubsub.get_message() {
                    let at = Instant::now();
                    let payload = msg
                        .get_payload::<String>()
                        .unwrap_or_else(|e| format!("<unreadable payload: {e}>"));
                    let (list, cv) = &*shared;
                    list.lock().unwrap_or_else(|p| p.into_inner()).push((at, payload));
                    cv.notify_all();
                }
            })
            .expect("spawn switch-master watch thread");
        match ready_rx.recv_timeout(IO_TIMEOUT * 2) {
            Ok(Ok(())) => SwitchWatch {
                sentinel: addr(port),
                events,
            },
            Ok(Err(e)) => self.fail(&format!("switch_master_watch on {}: {e}", addr(port))),
            Err(e) => self.fail(&format!("switch_master_watch on {}: {e}", addr(port))),
        }
    }

    /// Tails of all process logs (and each node's state and PID), for failure messages.
    pub fn dump_logs(&self) -> String {
        let nodes = self.lock();
        let mut out = format!("===== topology logs ({}) =====\n", self.dir.display());
        for node in nodes.iter() {
            out.push_str(&format!(
                "===== {} {} pid {} [{}] =====\n",
                node.label,
                node.addr(),
                node.pid,
                node.state()
            ));
            for file in node.log_files() {
                let Ok(text) = fs::read_to_string(&file) else {
                    continue;
                };
                if text.trim().is_empty() {
                    continue;
                }
                let lines: Vec<&str> = text.lines().collect();
                let skip = lines.len().saturating_sub(LOG_TAIL_LINES);
                out.push_str(&format!(
                    "--- {} ({} lines{})\n",
                    file.file_name().unwrap_or_default().to_string_lossy(),
                    lines.len(),
                    if skip > 0 {
                        format!(", last {LOG_TAIL_LINES}")
                    } else {
                        String::new()
                    }
                ));
                for line in &lines[skip..] {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }

    /// PIDs of the processes currently running (or stopped).
    pub fn pids(&self) -> Vec<u32> {
        self.lock()
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.pid)
            .collect()
    }

    /// The topology's temp dir (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    // ----------------------------------------------------------------------------------------

    fn create(spec: &Spec) -> Topology {
        let per_shard = 1 + spec.replicas;
        let ports = reserve_ports(spec.shards * per_shard + spec.sentinels);
        let dir = std::env::temp_dir().join(format!(
            "disredis-test-{}-{}-{}",
            std::process::id(),
            TOPOLOGY_COUNTER.fetch_add(1, Ordering::Relaxed),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        let mut nodes = Vec::new();
        let mut shards = Vec::new();
        let mut next = ports.iter().copied();
        let mut node = |label: String, dir_name: String, kind: Kind, port: u16, conf: String| {
            let node_dir = dir.join(dir_name);
            fs::create_dir_all(&node_dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", node_dir.display()));
            let file = node_dir.join(match kind {
                Kind::Data => "redis.conf",
                Kind::Sentinel => "sentinel.conf",
            });
            let conf = conf.replace("@DIR@", &node_dir.display().to_string());
            fs::write(&file, &conf).unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
            nodes.push(Node {
                label,
                kind,
                port,
                dir: node_dir,
                conf: file,
                original_conf: conf,
                child: None,
                pid: 0,
                stopped: false,
            });
        };
        for i in 0..spec.shards {
            let name = format!("shard-{}", char::from(b'a' + i as u8));
            let master_port = next.next().expect("enough ports");
            node(
                format!("{name} master"),
                format!("{name}-master"),
                Kind::Data,
                master_port,
                data_conf(master_port, None),
            );
            let mut replica_ports = Vec::new();
            for r in 1..=spec.replicas {
                let port = next.next().expect("enough ports");
                node(
                    format!("{name} replica {r}"),
                    format!("{name}-replica-{r}"),
                    Kind::Data,
                    port,
                    data_conf(port, Some(master_port)),
                );
                replica_ports.push(port);
            }
            shards.push(Shard {
                name,
                master_port,
                replica_ports,
            });
        }
        let mut sentinel_ports = Vec::new();
        for s in 1..=spec.sentinels {
            let port = next.next().expect("enough ports");
            node(
                format!("sentinel {s}"),
                format!("sentinel-{s}"),
                Kind::Sentinel,
                port,
                sentinel_conf(
                    port,
                    &shards,
                    spec.quorum,
                    DOWN_AFTER_MS + DOWN_AFTER_STAGGER_MS * (s as u32 - 1),
                ),
            );
            sentinel_ports.push(port);
        }
        Topology {
            spec: spec.clone(),
            dir,
            shards,
            sentinel_ports,
            ports,
            nodes: Mutex::new(nodes),
            logs_reported: AtomicBool::new(false),
        }
    }

    fn boot(&self) -> Result<(), BootError> {
        let masters: Vec<u16> = self.shards.iter().map(|s| s.master_port).collect();
        let replicas: Vec<u16> = self.shards.iter().flat_map(|s| s.replica_ports.clone()).collect();
        let up_deadline = || Instant::now() + NODE_UP;

        // Masters first: a replica started before its master retries only once per second.
        self.spawn_ports(&masters)?;
        for port in &masters {
            self.wait_node_up(*port, up_deadline())?;
        }
        self.spawn_ports(&replicas)?;
        for port in &replicas {
            self.wait_node_up(*port, up_deadline())?;
        }
        let ready = Instant::now() + TOPOLOGY_READY;
        let mut conns = HashMap::new();
        self.poll_until(ready, "replicas linked to their masters", || {
            for port in &replicas {
                let info = self.cached_query(&mut conns, *port, |c| info(c, "replication"))?;
                if info_field(&info, "master_link_status") != Some("up") {
                    return Err(format!(
                        "{} master_link_status {:?}",
                        addr(*port),
                        info_field(&info, "master_link_status")
                    ));
                }
            }
            Ok(())
        })?;
        conns.clear();

        self.spawn_ports(&self.sentinel_ports)?;
        for port in &self.sentinel_ports {
            self.wait_node_up(*port, up_deadline())?;
            self.send_fast_profile(*port)
                .map_err(|e| BootError::Failed(format!("SENTINEL DEBUG on {}: {e}", addr(*port))))?;
        }
        let names = self.master_names();
        let (replicas_per_shard, others) = (self.spec.replicas, self.spec.sentinels - 1);
        self.poll_until(ready, "every sentinel sees every master, replica and sentinel", || {
            for port in &self.sentinel_ports {
                for name in &names {
                    let at = addr(*port);
                    let ck: String = self.cached_query(&mut conns, *port, |c| {
                        redis::cmd("SENTINEL").arg("CKQUORUM").arg(name).query(c)
                    })?;
                    if !ck.starts_with("OK") {
                        return Err(format!("{at} CKQUORUM {name}: {ck}"));
                    }
                    let fields: Vec<String> = self.cached_query(&mut conns, *port, |c| {
                        redis::cmd("SENTINEL").arg("MASTER").arg(name).query(c)
                    })?;
                    let map: HashMap<&str, &str> = fields
                        .chunks(2)
                        .filter(|kv| kv.len() == 2)
                        .map(|kv| (kv[0].as_str(), kv[1].as_str()))
                        .collect();
                    let ok = map.get("flags") == Some(&"master")
                        && map.get("num-slaves") == Some(&replicas_per_shard.to_string().as_str())
                        && map.get("num-other-sentinels") == Some(&others.to_string().as_str());
                    if !ok {
                        return Err(format!(
                            "{at} SENTINEL MASTER {name}: flags {:?} num-slaves {:?} num-other-sentinels {:?}",
                            map.get("flags"),
                            map.get("num-slaves"),
                            map.get("num-other-sentinels")
                        ));
                    }
                }
            }
            Ok(())
        })?;
        // A replica with `master_link_status:up` (and even `state=online` in the master's INFO)
        // is not yet fed: after a diskless sync the master waits for the replica's first
        // REPLCONF ACK (sent once a second) before it streams writes, and a master killed or
        // frozen in that window takes them along (seen here: ~1800 acknowledged keys lost).
        // A write followed by WAIT on the same connection asks the replicas for that ACK
        // (REPLCONF GETACK) and returns once they have the write: then they are fed.
        self.poll_until(ready, "every master streams to its replicas (SET + WAIT)", || {
            for port in &masters {
                let acked: usize = self.cached_query(&mut conns, *port, |c| {
                    redis::pipe()
                        .cmd("SET")
                        .arg("harness:ready")
                        .arg(1)
                        .ignore()
                        .cmd("DEL")
                        .arg("harness:ready")
                        .ignore()
                        .cmd("WAIT")
                        .arg(replicas_per_shard)
                        .arg(400)
                        .query::<(usize,)>(c)
                        .map(|(n,)| n)
                })?;
                if acked < replicas_per_shard {
                    return Err(format!(
                        "{}: WAIT saw {acked} of {replicas_per_shard} replicas",
                        addr(*port)
                    ));
                }
            }
            Ok(())
        })
    }

    fn spawn_ports(&self, ports: &[u16]) -> Result<(), BootError> {
        let mut nodes = self.lock();
        for node in nodes.iter_mut().filter(|n| ports.contains(&n.port)) {
            node.spawn().map_err(BootError::Failed)?;
        }
        Ok(())
    }

    /// Waits until the server on `port` answers and is *our* child (`process_id` matches), so a
    /// foreign server that took the port in the meantime is never mistaken for ours.
    fn wait_node_up(&self, port: u16, deadline: Instant) -> Result<(), BootError> {
        let pid = self
            .lock()
            .iter()
            .find(|n| n.port == port)
            .map(|n| n.pid)
            .unwrap_or(0);
        self.poll_until(
            deadline,
            &format!("{} answers INFO as pid {pid}", addr(port)),
            || {
                let info = connect_port(port, PROBE_TIMEOUT)
                    .and_then(|mut c| info(&mut c, "server"))
                    .map_err(|e| e.to_string())?;
                match info_field(&info, "process_id") {
                    Some(p) if p == pid.to_string() => Ok(()),
                    other => Err(format!(
                        "{} answered with process_id {other:?}, not ours",
                        addr(port)
                    )),
                }
            },
        )
    }

    /// Polls `probe` every 10 ms until it returns Ok; checks on every step that no child died.
    fn poll_until(
        &self,
        deadline: Instant,
        what: &str,
        mut probe: impl FnMut() -> Result<(), String>,
    ) -> Result<(), BootError> {
        loop {
            self.check_children()?;
            let last = match probe() {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(BootError::Failed(format!(
                    "timeout waiting for {what}: last: {last}"
                )));
            }
            thread::sleep(POLL);
        }
    }

    fn check_children(&self) -> Result<(), BootError> {
        let mut nodes = self.lock();
        for node in nodes.iter_mut() {
            if let Some(msg) = node.exited() {
                return Err(if node.log_says_port_in_use() {
                    BootError::PortInUse(msg)
                } else {
                    BootError::Failed(msg)
                });
            }
        }
        Ok(())
    }

    fn send_fast_profile(&self, port: u16) -> redis::RedisResult<()> {
        let mut conn = self.connect(port)?;
        redis::cmd("SENTINEL")
            .arg(&FAST_PROFILE[..])
            .query::<()>(&mut conn)
    }

    fn signal(&self, addr: &str, signal: &str, stopped: bool) {
        let port = self.port_of(addr);
        let pid = {
            let nodes = self.lock();
            let node = nodes.iter().find(|n| n.port == port).expect("port_of checked");
            if node.child.is_none() {
                drop(nodes);
                self.fail(&format!("kill {signal} {addr}: not running"));
            }
            node.pid
        };
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            self.fail(&format!("kill {signal} {pid} ({addr}) failed: {status:?}"));
        }
        // Signals are delivered asynchronously: wait until /proc shows the new state.
        let deadline = Instant::now() + IO_TIMEOUT;
        while process_stopped(pid) != stopped {
            if Instant::now() >= deadline {
                self.fail(&format!("kill {signal} {pid} ({addr}): state did not change"));
            }
            thread::sleep(POLL);
        }
        if let Some(n) = self.lock().iter_mut().find(|n| n.port == port) {
            n.stopped = stopped;
        }
    }

    fn live_sentinels(&self) -> Vec<u16> {
        self.lock()
            .iter()
            .filter(|n| n.kind == Kind::Sentinel && n.child.is_some() && !n.stopped)
            .map(|n| n.port)
            .collect()
    }

    fn shard(&self, name: &str) -> &Shard {
        self.shards
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| self.fail(&format!("unknown master name {name:?}")))
    }

    fn port_of(&self, address: &str) -> u16 {
        let port = address
            .strip_prefix("127.0.0.1:")
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| self.fail(&format!("not a 127.0.0.1:PORT address: {address:?}")));
        if !self.lock().iter().any(|n| n.port == port) {
            self.fail(&format!("{address} is not a node of this topology"));
        }
        port
    }

    fn connect(&self, port: u16) -> redis::RedisResult<redis::Connection> {
        connect_port(port, IO_TIMEOUT)
    }

    fn probe_addr(&self, address: &str) -> redis::RedisResult<redis::Connection> {
        match address.strip_prefix("127.0.0.1:").and_then(|p| p.parse().ok()) {
            Some(port) => connect_port(port, PROBE_TIMEOUT),
            None => Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "not a 127.0.0.1:PORT address",
                address.to_string(),
            ))),
        }
    }

    /// Runs `f` on a cached connection to `port`; drops the connection on error.
    fn cached_query<T>(
        &self,
        conns: &mut HashMap<u16, redis::Connection>,
        port: u16,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, String> {
        let conn = match conns.entry(port) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(connect_port(port, PROBE_TIMEOUT).map_err(|e| format!("{}: {e}", addr(port)))?)
            }
        };
        f(conn).map_err(|e| {
            conns.remove(&port);
            format!("{}: {e}", addr(port))
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Node>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Panics with `msg` and all process logs. Must not be called while holding the node lock.
    fn fail(&self, msg: &str) -> ! {
        let logs = self.dump_logs();
        self.logs_reported.store(true, Ordering::SeqCst);
        panic!("{msg}\n{logs}");
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Logs first, so they show each node's state at the time of the failure.
        if thread::panicking() && !self.logs_reported.load(Ordering::SeqCst) {
            eprintln!("{}", self.dump_logs());
        }
        {
            let mut nodes = self.lock();
            // SIGKILL everything first, then reap, so the whole teardown takes a few ms.
            for node in nodes.iter_mut() {
                if let Some(child) = node.child.as_mut() {
                    let _ = child.kill();
                }
            }
            for node in nodes.iter_mut() {
                node.kill();
            }
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("support: cannot remove {}: {e}", self.dir.display());
        }
        let mut registry = PORTS_IN_USE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = registry.as_mut() {
            for port in &self.ports {
                set.remove(port);
            }
        }
    }
}

/// Recorded `+switch-master` messages (arrival time, payload) and a condvar to wait for more.
type Events = Arc<(Mutex<Vec<(Instant, String)>>, Condvar)>;

/// `+switch-master` messages seen by one Sentinel since [`Topology::switch_master_watch`].
pub struct SwitchWatch {
    sentinel: String,
    events: Events,
}

impl SwitchWatch {
    /// The first recorded `+switch-master` for master `name` (arrival time and payload
    /// `"NAME OLD-IP OLD-PORT NEW-IP NEW-PORT"`), waiting up to `within` for it.
    pub fn wait(&self, name: &str, within: Duration) -> Option<(Instant, String)> {
        let deadline = Instant::now() + within;
        let (list, cv) = &*self.events;
        let mut events = list.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(found) = events
                .iter()
                .find(|(_, payload)| payload.split(' ').next() == Some(name))
            {
                return Some(found.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            events = cv.wait_timeout(events, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<(Instant, String)> {
        self.events.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The sentinel this watch listens to.
    pub fn sentinel(&self) -> &str {
        &self.sentinel
    }
}

// ---------------------------------------------------------------------------------------------

fn addr(port: u16) -> String {
    format!("{HOST}:{port}")
}

fn connect_port(port: u16, timeout: Duration) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://{HOST}:{port}/"))?;
    let conn = client.get_connection_with_timeout(timeout)?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    Ok(conn)
}

fn get_master_addr(conn: &mut redis::Connection, name: &str) -> redis::RedisResult<Option<String>> {
    let reply: Option<(String, String)> = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(name)
        .query(conn)?;
    Ok(reply.map(|(ip, port)| format!("{ip}:{port}")))
}

fn info(conn: &mut redis::Connection, section: &str) -> redis::RedisResult<String> {
    redis::cmd("INFO").arg(section).query(conn)
}

/// The value of `field` in an INFO reply.
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        line.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

fn data_conf(port: u16, master: Option<u16>) -> String {
    let mut conf = format!(
        "bind {HOST}\n\
         port {port}\n\
         daemonize no\n\
         dir \"@DIR@\"\n\
         logfile \"@DIR@/redis.log\"\n\
         save \"\"\n\
         appendonly no\n\
         repl-diskless-sync yes\n\
         repl-diskless-sync-delay 0\n\
         rdb-del-sync-files yes\n"
    );
    if let Some(master) = master {
        conf.push_str(&format!("replicaof {HOST} {master}\n"));
    }
    conf
}

fn sentinel_conf(port: u16, shards: &[Shard], quorum: usize, down_after_ms: u32) -> String {
    let mut conf = format!(
        "bind {HOST}\n\
         port {port}\n\
         daemonize no\n\
         dir \"@DIR@\"\n\
         logfile \"@DIR@/sentinel.log\"\n"
    );
    for s in shards {
        let n = &s.name;
        conf.push_str(&format!(
            "sentinel monitor {n} {HOST} {} {quorum}\n\
             sentinel down-after-milliseconds {n} {down_after_ms}\n\
             sentinel failover-timeout {n} {FAILOVER_TIMEOUT_MS}\n\
             sentinel parallel-syncs {n} 1\n",
            s.master_port
        ));
    }
    conf
}

/// Picks `n` ports in 20000..32000, starting at a random port: not handed out to another
/// topology of this process, and bindable on 127.0.0.1 right now.
fn reserve_ports(n: usize) -> Vec<u16> {
    let span = u32::from(PORT_HIGH - PORT_LOW);
    let start = (random() % u64::from(span)) as u32;
    let mut registry = PORTS_IN_USE.lock().unwrap_or_else(|p| p.into_inner());
    let set = registry.get_or_insert_with(HashSet::new);
    let mut ports = Vec::with_capacity(n);
    for i in 0..span {
        if ports.len() == n {
            break;
        }
        let port = PORT_LOW + ((start + i) % span) as u16;
        if !set.contains(&port) && TcpListener::bind((HOST, port)).is_ok() {
            ports.push(port);
        }
    }
    assert_eq!(
        ports.len(),
        n,
        "could not find {n} free ports in {PORT_LOW}..{PORT_HIGH}"
    );
    set.extend(&ports);
    ports
}

fn random() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    h.write_u64(TOPOLOGY_COUNTER.load(Ordering::Relaxed));
    h.finish()
}

/// Whether `pid` is in state T (stopped), from /proc/PID/stat.
fn process_stopped(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The command name is in parentheses and may contain spaces: state follows ") ".
            let rest = &stat[stat.rfind(')')? + 2..];
            rest.chars().next()
        })
        .is_some_and(|state| state == 'T' || state == 't')
}
