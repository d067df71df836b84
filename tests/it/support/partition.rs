//! A topology whose every link goes through a fault-injecting [`Proxy`], for
//! partition tests: each data node has one proxy for the cluster (Sentinels and
//! replicas reach it there: `replica-announce-port`, `sentinel monitor` and
//! `REPLICAOF` name the proxy) and one for the client (`address_map` sends the
//! client from the cluster address to it); each Sentinel one for its peers
//! (`sentinel announce-port`) and one for the client. The harness's own
//! connections go straight to the processes, so a test can look at every node
//! whatever is cut.

use disredis::{Builder, DisredisClient, NodeAddr};
use std::collections::HashMap;

use super::proxy::{Faults, Proxy};
use super::query::addr;
use super::{Access, Spec, Topology};

/// The two proxies in front of one process.
pub(super) struct Links {
    /// The one other nodes use: Sentinels and replicas for a data node, the
    /// other Sentinels for a Sentinel.
    pub(super) cluster: Proxy,
    /// The client's.
    pub(super) client: Proxy,
}

/// Every process's links, by the process's own port.
pub(super) struct Proxies {
    pub(super) by_port: HashMap<u16, Links>,
    /// Ports reserved for proxies not started yet (none: not proxied).
    free: Vec<u16>,
}

impl Proxies {
    /// Proxies on `free` (two per process; none: a topology without proxies).
    pub(super) fn new(free: Vec<u16>) -> Proxies {
        Proxies { by_port: HashMap::new(), free }
    }

    /// Starts the two proxies of the process on `port`, if there are ports for them.
    pub(super) fn add(&mut self, port: u16) {
        let (Some(cluster), Some(client)) = (self.free.pop(), self.free.pop()) else { return };
        let start = |on| Proxy::start(on, port).unwrap_or_else(|e| panic!("proxy on {on} for {port}: {e}"));
        self.by_port.insert(port, Links { cluster: start(cluster), client: start(client) });
    }

    /// The port other nodes know the process on `port` by.
    pub(super) fn seen(&self, port: u16) -> u16 {
        self.by_port.get(&port).map_or(port, |l| l.cluster.port())
    }

    /// The process behind `port`, a proxy's or its own.
    pub(super) fn real(&self, port: u16) -> u16 {
        self.by_port
            .iter()
            .find(|(_, l)| l.cluster.port() == port || l.client.port() == port)
            .map_or(port, |(real, _)| *real)
    }
}

impl Topology {
    /// [`Topology::start`] with every link proxied (see the module docs).
    pub fn start_proxied(spec: Spec) -> Topology {
        Topology::start_inner(spec, Access::default(), true)
    }

    fn links(&self, address: &str) -> &Links {
        let port = self.port_of(address);
        self.proxies.by_port.get(&port).unwrap_or_else(|| self.fail(&format!("{address} is not proxied")))
    }

    /// The link from Sentinels and replicas (or, for a Sentinel, from the
    /// other Sentinels) to the process at `address` (its own address or a
    /// proxy's).
    pub fn cluster_link(&self, address: &str) -> &Proxy {
        &self.links(address).cluster
    }

    /// The link from the client to the process at `address`.
    pub fn client_link(&self, address: &str) -> &Proxy {
        &self.links(address).client
    }

    /// Sets `faults` on every Sentinel's client link (the client cut from, or
    /// healed to, all Sentinels).
    pub fn client_to_sentinels(&self, faults: Faults) {
        for s in self.sentinel_addrs() {
            self.client_link(&s).set(faults);
        }
    }

    /// Cuts the processes at `a` and `b` off from each other, both ways:
    /// what either opened to the other (through any of its proxies) is
    /// blackholed; the other links of both pass as before.
    pub fn cut_between(&self, a: &str, b: &str) {
        for (from, to) in [(a, b), (b, a)] {
            let pid = self.pid_of(from);
            let links = self.links(to);
            links.cluster.set_from(pid, Faults::BLACKHOLE);
            links.client.set_from(pid, Faults::BLACKHOLE);
        }
    }

    /// Lifts every fault on every link.
    pub fn heal(&self) {
        for l in self.proxies.by_port.values() {
            l.cluster.set(Faults::PASS);
            l.client.set(Faults::PASS);
        }
    }

    /// A client builder that goes through the client links: the Sentinels at
    /// their client proxies, the data nodes mapped from the address Sentinel
    /// names to theirs.
    pub fn proxied_builder(&self) -> Builder {
        let sentinels: Vec<String> =
            self.sentinel_addrs().iter().map(|s| self.client_link(s).addr()).collect();
        let map: HashMap<u16, u16> =
            self.proxies.by_port.values().map(|l| (l.cluster.port(), l.client.port())).collect();
        DisredisClient::builder().sentinels(sentinels).address_map(move |a: &NodeAddr| {
            match map.get(&a.port()) {
                Some(client) if a.host() == "127.0.0.1" => {
                    NodeAddr::parse(&addr(*client)).expect("a proxy address")
                }
                _ => a.clone(),
            }
        })
    }
}
