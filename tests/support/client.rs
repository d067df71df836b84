//! A disredis client for a topology.

use disredis::DisredisClient;

use super::Topology;

/// An async client with the default settings, connected through every Sentinel of `topo`.
pub async fn client(topo: &Topology) -> DisredisClient {
    DisredisClient::connect(topo.sentinel_addrs()).await.unwrap()
}

/// The client's view of one shard (panics if the client has no such shard).
pub fn shard_info(client: &DisredisClient, shard: &str) -> disredis::ShardInfo {
    client.topology().shards.into_iter().find(|s| s.name == shard).unwrap()
}

/// How many connections the client has installed for `shard` (1 after connect).
pub fn generation(client: &DisredisClient, shard: &str) -> u64 {
    shard_info(client, shard).generation
}
