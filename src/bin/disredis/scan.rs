//! `scan PATTERN [--count N] [--type T]`: every matching key on every shard's
//! master, one line per key as each SCAN call returns them (flushed per batch,
//! so a pipe sees keys while the walk goes on), the count per shard on stderr.

use disredis::DisredisClient;
use redis::ToRedisArgs;

use crate::Failure;
use crate::out::{self, errln};
use crate::output::Json;

/// Walks one shard with its own cursor and `options` after it (`MATCH`,
/// `COUNT`, `TYPE`), through the shard's handle, so failover and retries work
/// as for the client; `each` gets the keys of every SCAN call.
pub async fn each_batch(
    client: &DisredisClient,
    shard: &str,
    options: impl ToRedisArgs + Copy,
    mut each: impl FnMut(Vec<Vec<u8>>),
) -> Result<(), Failure> {
    let mut handle = client.on_shard(shard)?;
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) =
            redis::cmd("SCAN").arg(cursor).arg(options).query_async(&mut handle).await?;
        each(keys);
        if next == 0 {
            return Ok(());
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
    let options = ("MATCH", pattern, "COUNT", count, key_type.map(|t| ("TYPE", t)));
    let (mut counts, mut failed) = (Vec::new(), Vec::new());
    for shard in client.shard_names() {
        let mut seen = 0;
        let walked = each_batch(client, &shard, options, |keys| {
            let mut batch = String::new();
            for key in &keys {
                let key = String::from_utf8_lossy(key);
                if json {
                    let line = Json::Obj(vec![("key", Json::str(key)), ("shard", Json::str(&shard))]);
                    batch.push_str(&line.to_string());
                } else {
                    batch.push_str(&key);
                }
                batch.push('\n');
            }
            seen += keys.len();
            out::bytes(batch.as_bytes());
        })
        .await;
        match walked {
            Err(e) => {
                counts.push(format!("{shard} {seen} (stopped: {})", e.message));
                failed.push(shard);
            }
            Ok(()) => counts.push(format!("{shard} {seen}")),
        }
    }
    errln!("keys matching {pattern:?} per shard: {}", counts.join(", "));
    match failed.len() {
        0 => Ok(()),
        _ => Err(Failure::failed(format!("SCAN failed on {}", failed.join(", ")))),
    }
}
