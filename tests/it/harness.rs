//! Smoke tests of the test harness itself (real redis-server / redis-sentinel processes).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{self, Spec, Topology, info_field};

fn info(topology: &Topology, addr: &str, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query(&mut topology.conn(addr))
        .unwrap_or_else(|e| panic!("INFO {section} on {addr}: {e}"))
}

fn port(addr: &str) -> &str {
    addr.rsplit(':').next().expect("addr has a port")
}

#[test]
fn default_topology_starts_and_cleans_up() {
    support::require_server();
    let started = Instant::now();
    let topology = Topology::start(Spec::default());
    eprintln!("default topology ready in {:?}", started.elapsed());

    let names = topology.master_names();
    assert_eq!(names, ["shard-a", "shard-b"]);
    assert_eq!(topology.sentinel_addrs().len(), 2);

    // Every sentinel lists every master (SENTINEL MASTERS order is random: sort).
    for sentinel in topology.sentinel_addrs() {
        let masters: Vec<Vec<String>> = redis::cmd("SENTINEL")
            .arg("MASTERS")
            .query(&mut topology.conn(&sentinel))
            .unwrap_or_else(|e| panic!("SENTINEL MASTERS on {sentinel}: {e}"));
        let mut listed: Vec<String> = masters
            .iter()
            .map(|fields| {
                let i = fields.iter().position(|f| f == "name").expect("name field");
                fields[i + 1].clone()
            })
            .collect();
        listed.sort();
        assert_eq!(listed, names, "masters listed by {sentinel}");
        for name in &names {
            assert_eq!(topology.master_addr(name), topology.initial_master_addr(name));
        }
    }

    // Every replica reports its master, with the link up; every master is a master.
    for name in &names {
        let master = topology.initial_master_addr(name);
        assert_eq!(info_field(&info(&topology, &master, "replication"), "role"), Some("master"));
        let replicas = topology.replica_addrs(name);
        assert_eq!(replicas.len(), 1);
        for replica in replicas {
            let rep = info(&topology, &replica, "replication");
            assert_eq!(info_field(&rep, "role"), Some("slave"), "{replica}: {rep}");
            assert_eq!(info_field(&rep, "master_host"), Some("127.0.0.1"));
            assert_eq!(info_field(&rep, "master_port"), Some(port(&master)));
            assert_eq!(info_field(&rep, "master_link_status"), Some("up"));
        }
    }

    // Drop kills every process and removes the dir.
    let dir = topology.dir().to_path_buf();
    let pids = topology.pids();
    assert_eq!(pids.len(), 6, "4 data nodes + 2 sentinels");
    assert!(dir.is_dir());
    let addrs: Vec<String> = names
        .iter()
        .flat_map(|n| {
            let mut all = topology.replica_addrs(n);
            all.push(topology.initial_master_addr(n));
            all
        })
        .chain(topology.sentinel_addrs())
        .collect();
    drop(topology);
    assert!(!dir.exists(), "{} still exists", dir.display());
    for pid in pids {
        // Children are reaped on drop, so not even a zombie may remain.
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "process {pid} still exists after drop");
    }
    for addr in addrs {
        assert!(std::net::TcpStream::connect(&addr).is_err(), "{addr} still accepts connections after drop");
    }
}

#[test]
fn sigkill_master_fails_over_to_replica() {
    let topology = Topology::start(Spec::default());
    let old = topology.initial_master_addr("shard-a");
    let replica = topology.replica_addrs("shard-a")[0].clone();
    let other_master = topology.initial_master_addr("shard-b");
    let watch = topology.switch_master_watch();

    // A write the replica acknowledged (WAIT) must survive the failover.
    let mut old_conn = topology.conn(&old);
    let _: () =
        redis::cmd("SET").arg("before-kill").arg("kept").query(&mut old_conn).expect("SET on the old master");
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(2000).query(&mut old_conn).expect("WAIT");
    assert_eq!(acked, 1, "the replica acknowledged the write");

    let killed_at = Instant::now();
    topology.kill(&old);
    let new = topology.wait_for_failover("shard-a", &old, Duration::from_secs(15));
    let all_sentinels_at = killed_at.elapsed();
    assert_eq!(new, replica, "the only replica is promoted");
    assert_eq!(topology.master_addr("shard-a"), new);

    let (switched_at, payload) = watch
        .wait("shard-a", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no +switch-master for shard-a on {}", watch.sentinel()));
    assert_eq!(payload, format!("shard-a 127.0.0.1 {} 127.0.0.1 {}", port(&old), port(&new)));
    eprintln!(
        "kill -> +switch-master {:.3} s (watch on {}); kill -> all sentinels agree + ROLE master {:.3} s",
        switched_at.duration_since(killed_at).as_secs_f64(),
        watch.sentinel(),
        all_sentinels_at.as_secs_f64()
    );

    // shard-b was not touched.
    assert_eq!(topology.master_addr("shard-b"), other_master);
    assert!(watch.wait("shard-b", Duration::ZERO).is_none());
    let kept: Option<String> =
        redis::cmd("GET").arg("before-kill").query(&mut topology.conn(&new)).expect("GET on the new master");
    assert_eq!(kept.as_deref(), Some("kept"));
    // The new master accepts writes.
    let reply: String =
        redis::cmd("SET").arg("k").arg("v").query(&mut topology.conn(&new)).expect("SET on the new master");
    assert_eq!(reply, "OK");
}

#[test]
fn restarted_old_master_is_demoted() {
    let topology = Topology::start(Spec::default());
    let old = topology.initial_master_addr("shard-a");
    topology.kill(&old);
    let new = topology.wait_for_failover("shard-a", &old, Duration::from_secs(15));

    topology.restart(&old);
    let restarted = Instant::now();
    let deadline = restarted + Duration::from_secs(15);
    let mut last = String::new();
    loop {
        // Sentinel kills client connections on demotion: reconnect on every poll.
        if let Ok(mut conn) = topology.try_conn(&old)
            && let Ok(rep) = redis::cmd("INFO").arg("replication").query::<String>(&mut conn)
        {
            if info_field(&rep, "role") == Some("slave") {
                assert_eq!(info_field(&rep, "master_port"), Some(port(&new)), "{rep}");
                break;
            }
            last = rep;
        }
        assert!(
            Instant::now() < deadline,
            "restarted {old} not demoted within 15 s; last INFO replication: {last}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("restart -> role:slave {:.3} s", restarted.elapsed().as_secs_f64());
    assert_eq!(topology.master_addr("shard-a"), new);
}

/// The partition proxy does what `support::proxy` says: passes, delays,
/// holds bytes while blackholed and delivers them on heal, resets, and
/// holds one process's connections while another's pass.
#[test]
fn the_proxy_passes_delays_blackholes_and_resets() {
    use std::io::{Read, Write};

    use support::proxy::{Fault, Faults};

    let topology = Topology::start_proxied(Spec { shards: 1, replicas: 0, sentinels: 1, quorum: 1 });
    let master = topology.master_addr("shard-a");
    let link = topology.client_link(&master);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", link.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let ping = |s: &mut std::net::TcpStream| -> std::io::Result<String> {
        s.write_all(b"PING\r\n")?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    };
    assert_eq!(ping(&mut s).unwrap(), "+PONG\r\n");

    let delay = Duration::from_millis(200);
    link.set(Faults { to_node: Fault::Delay(delay), from_node: Fault::Pass });
    let sent = Instant::now();
    assert_eq!(ping(&mut s).unwrap(), "+PONG\r\n");
    assert!(sent.elapsed() >= delay, "delivered {:?} after sending", sent.elapsed());

    // Blackholed: the request waits in the proxy; nothing comes back.
    link.set(Faults::BLACKHOLE);
    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let held = ping(&mut s).unwrap_err();
    assert!(matches!(held.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{held}");
    // Healed: the held request is delivered and answered, in order.
    link.set(Faults::PASS);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"+PONG\r\n");

    link.set(Faults::RESET);
    let mut buf = [0u8; 64];
    let reset = s.read(&mut buf);
    assert!(matches!(&reset, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset), "{reset:?}");
    link.set(Faults::PASS);
    let mut again = std::net::TcpStream::connect(("127.0.0.1", link.port())).unwrap();
    again.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(ping(&mut again).unwrap(), "+PONG\r\n");

    // By source: a fault for another process leaves this one's connection
    // passing; one for this process (found in /proc) holds it.
    link.set_from(topology.pid_of(&master), Faults::BLACKHOLE);
    assert_eq!(ping(&mut again).unwrap(), "+PONG\r\n");
    link.set_from(std::process::id(), Faults::BLACKHOLE);
    again.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let held = ping(&mut again).unwrap_err();
    assert!(matches!(held.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{held}");
    link.set(Faults::PASS);
    again.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let n = again.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"+PONG\r\n");
}
