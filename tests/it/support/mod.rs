//! A local Redis + Sentinel topology (real `redis-server` / `redis-sentinel` processes on
//! 127.0.0.1, or Valkey's: see [`server`]) for integration tests.
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
//!   process (another test run on the machine, say) may grab a port between the bind test and
//!   the server start; within this process, `ports` never hands out a port twice. A server that
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
//! It is the `support` module of the one integration-test binary (`tests/it/main.rs`); the test
//! modules use it as `crate::support`. All children are SIGKILLed (and reaped) when the
//! [`Topology`] is dropped, also when the test panics; in that case the process logs are printed
//! to stderr.

mod access;
mod boot;
mod client;
mod conf;
mod keys;
mod node;
mod partition;
mod ports;
pub mod proxy;
mod query;
mod ring;
mod server;
mod watch;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use boot::{BootError, NODE_UP, START_ATTEMPTS};
use node::{Kind, Node};
use query::{addr, get_master_addr};

pub use access::Access;
pub use client::{client, generation, shard_info, wait_generation};
pub use keys::keys_on;
pub use query::info_field;
pub use ring::{hourly_ring_poll, load_record, ring_changed, stable_record};
pub use server::{Flavor, Server, server};

const HOST: &str = "127.0.0.1";
/// Step of every polling loop (no fixed sleeps anywhere).
const POLL: Duration = Duration::from_millis(10);
/// Connect, read and write timeout of the connections the harness hands out.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// The same for polling probes: a probe that hangs (a port taken by a foreign process that does
/// not answer) must not delay noticing that our child has exited.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

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
        Spec { shards: 2, replicas: 1, sentinels: 2, quorum: 1 }
    }
}

/// Panics with a clear message when the server binary (`redis-server` on PATH, or
/// `DISREDIS_TEST_SERVER`) is missing. Tests never skip: a machine without it is a test failure.
pub fn require_server() -> &'static Server {
    server()
}

struct Shard {
    name: String,
    master_port: u16,
    /// The master's port as Sentinels and replicas know it (a proxy's, in a
    /// proxied topology).
    seen_port: u16,
    replica_ports: Vec<u16>,
}

/// A running topology. Owns every child process and a temp dir; `Drop` kills everything
/// (SIGKILL + wait), removes the dir and releases the ports.
pub struct Topology {
    spec: Spec,
    access: Access,
    dir: PathBuf,
    shards: Vec<Shard>,
    sentinel_ports: Vec<u16>,
    ports: Vec<u16>,
    nodes: Mutex<Vec<Node>>,
    /// Set once the logs went into a panic message, so `Drop` does not print them twice.
    logs_reported: AtomicBool,
    /// The proxies of [`Topology::start_proxied`] (none otherwise).
    proxies: partition::Proxies,
}

impl Topology {
    /// Starts masters, replicas (waits for `master_link_status:up`) and sentinels (sends the
    /// fast `SENTINEL DEBUG` profile), then waits until every sentinel reports every master
    /// with `CKQUORUM` OK, all replicas and all other sentinels. Panics with all logs on failure.
    pub fn start(spec: Spec) -> Topology {
        Topology::start_with(spec, Access::default())
    }

    /// [`Topology::start`] with passwords and/or TLS (see [`Access`]); the harness's own
    /// connections authenticate and speak TLS as each node needs.
    pub fn start_with(spec: Spec, access: Access) -> Topology {
        Topology::start_inner(spec, access, false)
    }

    fn start_inner(spec: Spec, access: Access, proxied: bool) -> Topology {
        require_server();
        assert!(access.tls || !access.sentinel_tls, "Access.sentinel_tls needs Access.tls: {access:?}");
        assert!((1..=26).contains(&spec.shards), "Spec.shards must be 1..=26: {spec:?}");
        assert!(spec.sentinels >= 1, "Spec.sentinels must be >= 1: {spec:?}");
        assert!((1..=spec.sentinels).contains(&spec.quorum), "Spec.quorum must be 1..=sentinels: {spec:?}");
        let mut earlier = String::new();
        let started = Instant::now();
        for attempt in 1..=START_ATTEMPTS {
            let topology = Topology::create(&spec, &access, proxied);
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
                    earlier.push_str(&format!("\n--- attempt {attempt}: {msg}\n{}", topology.dump_logs()));
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
        self.fail(&format!("master_addr({name}): no live sentinel answered: {errors:?}"))
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
        self.connect(port).unwrap_or_else(|e| self.fail(&format!("conn({addr}): {e}")))
    }

    pub fn try_conn(&self, addr: &str) -> redis::RedisResult<redis::Connection> {
        self.connect(self.port_of(addr))
    }

    /// SIGKILL the process listening on `addr` (data node or sentinel) and wait for it to exit.
    pub fn kill(&self, addr: &str) {
        let port = self.port_of(addr);
        let err = {
            let mut nodes = self.lock();
            let node = nodes.iter_mut().find(|n| n.port == port).expect("port_of checked");
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
                let node = nodes.iter_mut().find(|n| n.port == port).expect("port_of checked");
                if node.child.is_some() {
                    return Err(format!("restart({addr}): {} is still running; kill it first", node.label));
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

    /// The PID of the process at `address` (its own or a proxy's).
    pub fn pid_of(&self, address: &str) -> u32 {
        let port = self.port_of(address);
        let pid = self.lock().iter().find(|n| n.port == port && n.child.is_some()).map(|n| n.pid);
        pid.unwrap_or_else(|| self.fail(&format!("{address} is not running")))
    }

    /// PIDs of the processes currently running (or stopped).
    pub fn pids(&self) -> Vec<u32> {
        self.lock().iter().filter(|n| n.child.is_some()).map(|n| n.pid).collect()
    }

    /// The topology's temp dir (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
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

    /// The port of the process at `address` (its own, or one of its proxies').
    pub fn port_of(&self, address: &str) -> u16 {
        let port = address
            .strip_prefix("127.0.0.1:")
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| self.fail(&format!("not a 127.0.0.1:PORT address: {address:?}")));
        let port = self.proxies.real(port);
        if !self.lock().iter().any(|n| n.port == port) {
            self.fail(&format!("{address} is not a node of this topology"));
        }
        port
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
        ports::release_ports(&self.ports);
    }
}
