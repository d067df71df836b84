//! Port reservation: bind-tested ports, unique within this process.

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use super::HOST;
use super::boot::TOPOLOGY_COUNTER;

/// Candidate ports. Below 32768 so they never collide with ephemeral (outgoing) ports.
const PORT_LOW: u16 = 20000;
const PORT_HIGH: u16 = 32000;

/// Ports handed out to topologies of this process. Several tests of one binary run in parallel
/// threads; bind-testing alone would let two of them pick the same free port.
static PORTS_IN_USE: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Picks `n` ports in 20000..32000, starting at a random port: not handed out to another
/// topology of this process, and bindable on 127.0.0.1 right now.
pub(super) fn reserve_ports(n: usize) -> Vec<u16> {
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
    assert_eq!(ports.len(), n, "could not find {n} free ports in {PORT_LOW}..{PORT_HIGH}");
    set.extend(&ports);
    ports
}

/// Returns `ports` (handed out by [`reserve_ports`]) to the pool.
pub(super) fn release_ports(ports: &[u16]) {
    let mut registry = PORTS_IN_USE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(set) = registry.as_mut() {
        for port in ports {
            set.remove(port);
        }
    }
}

fn random() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    h.write_u64(TOPOLOGY_COUNTER.load(Ordering::Relaxed));
    h.finish()
}
