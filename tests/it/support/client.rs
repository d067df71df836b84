//! A disredis client for a topology.

use disredis::DisredisClient;

use super::Topology;

/// An async client with the default settings, connected through every Sentinel of `topo`.
/// With `DISREDIS_TEST_CACHE=1` (feature `cache`) it has the client cache on: the suites
/// that use it (commands, drop-in, transactions and scripts, …) then check that the cache
/// changes no answer (CONTRIBUTING.md, "The test suite").
pub async fn client(topo: &Topology) -> DisredisClient {
    let builder = disredis::Builder::default().sentinels(topo.sentinel_addrs());
    #[cfg(feature = "cache")]
    let builder = match std::env::var_os("DISREDIS_TEST_CACHE").is_some_and(|v| v == "1") {
        true => builder.client_cache(disredis::CacheConfig::new()),
        false => builder,
    };
    builder.connect().await.unwrap()
}

/// The client's view of one shard (panics if the client has no such shard).
pub fn shard_info(client: &DisredisClient, shard: &str) -> disredis::ShardInfo {
    client.topology().shards.into_iter().find(|s| s.name == shard).unwrap()
}

/// How many connections the client has installed for `shard` (1 after connect).
pub fn generation(client: &DisredisClient, shard: &str) -> u64 {
    shard_info(client, shard).generation
}

/// Polls (10 ms steps, at most `within`) until the client has installed at least
/// `at_least` connections for `shard`, i.e. it has switched after a failover.
/// Returns whether it got there.
pub async fn wait_generation(
    client: &DisredisClient,
    shard: &str,
    at_least: u64,
    within: std::time::Duration,
) -> bool {
    let deadline = std::time::Instant::now() + within;
    while generation(client, shard) < at_least {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    true
}
