//! `scan PATTERN [--count N] [--type T]`: every matching key on every shard's
//! master, one line per key as each SCAN call returns them (flushed per batch,
//! so a pipe sees keys while the walk goes on), the count per shard on stderr.

use disredis::DisredisClient;

use crate::Failure;
use crate::out::{self, errln};
use crate::output::Json;

/// Walks one shard with its own cursor (through the shard's handle, so failover
/// and retries work as for the client), printing as it goes; the keys seen.
async fn walk(
    client: &DisredisClient,
    shard: &str,
    pattern: &str,
    count: u32,
    key_type: Option<&str>,
    json: bool,
) -> (u64, Option<String>) {
    let mut handle = match client.on_shard(shard) {
        Ok(h) => h,
        Err(e) => return (0, Some(e.to_string())),
    };
    let (mut cursor, mut seen) = (0u64, 0u64);
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(count);
        if let Some(t) = key_type {
            cmd.arg("TYPE").arg(t);
        }
        let (next, keys): (u64, Vec<Vec<u8>>) = match cmd.query_async(&mut handle).await {
            Ok(reply) => reply,
            Err(e) => return (seen, Some(Failure::from(e).message)),
        };
        let mut batch = String::new();
        for key in &keys {
            let key = String::from_utf8_lossy(key);
            if json {
                let line = Json::Obj(vec![("key", Json::str(key)), ("shard", Json::str(shard))]);
                batch.push_str(&line.to_string());
            } else {
                batch.push_str(&key);
            }
            batch.push('\n');
        }
        seen += keys.len() as u64;
        out::bytes(batch.as_bytes());
        if next == 0 {
            return (seen, None);
        }
        cursor = next;
    }
}

pub async fn run(
    client: &DisredisClient,
    pattern: &str,
    count: u32,
    key_type: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let (mut counts, mut failed) = (Vec::new(), Vec::new());
    for shard in client.shard_names() {
        let (seen, stop) = walk(client, &shard, pattern, count, key_type, json).await;
        match stop {
            Some(e) => {
                counts.push(format!("{shard} {seen} (stopped: {e})"));
                failed.push(shard);
            }
            None => counts.push(format!("{shard} {seen}")),
        }
    }
    errln!("keys matching {pattern:?} per shard: {}", counts.join(", "));
    match failed.len() {
        0 => Ok(()),
        _ => Err(Failure { code: 1, message: format!("SCAN failed on {}", failed.join(", ")) }),
    }
}
