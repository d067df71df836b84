//! A disredis client for a topology.

use disredis::DisredisClient;

use super::Topology;

/// An async client with the default settings, connected through every Sentinel of `topo`.
pub async fn client(topo: &Topology) -> DisredisClient {
    DisredisClient::connect(topo.sentinel_addrs()).await.unwrap()
}
