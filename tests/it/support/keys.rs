//! Keys that a client routes to a given shard.

/// A client that can name the shard of a key: the async and the blocking one.
pub trait ShardFor {
    fn shard_of(&self, key: &str) -> &str;
}

impl ShardFor for disredis::DisredisClient {
    fn shard_of(&self, key: &str) -> &str {
        self.shard_for(key)
    }
}

impl ShardFor for disredis::blocking::DisredisClient {
    fn shard_of(&self, key: &str) -> &str {
        self.shard_for(key)
    }
}

/// The first `n` of the keys `{prefix}:0`, `{prefix}:1`, … that `client` routes to `shard`.
pub fn keys_on(client: &impl ShardFor, shard: &str, prefix: &str, n: usize) -> Vec<String> {
    (0..).map(|i| format!("{prefix}:{i}")).filter(|k| client.shard_of(k) == shard).take(n).collect()
}
