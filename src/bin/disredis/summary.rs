//! `keys-summary` (alias `bigkeys`): are the shards balanced? Per shard DBSIZE,
//! `used_memory`, `MEMORY USAGE` of a sample of random keys (RANDOMKEY) and the
//! key memory estimated from it (mean sampled size × DBSIZE), the biggest keys
//! sampled, and over the shards the imbalance (largest / mean) of each figure.

use disredis::DisredisClient;
use futures_util::future::join_all;
use redis::Value;

use crate::Failure;
use crate::out::outln;
use crate::output::{Json, print_table};

struct Big {
    key: String,
    kind: String,
    bytes: i64,
}

struct Shard {
    dbsize: i64,
    used_memory: Option<i64>,
    /// Distinct keys sampled and measured.
    sampled: usize,
    sampled_bytes: i64,
    /// Sampled keys this shard does not own under the ring (left by another
    /// placement or an interrupted change: `rebalance --dry-run` counts them all).
    misplaced: usize,
    biggest: Vec<Big>,
}

impl Shard {
    fn estimate(&self) -> Option<i64> {
        (self.sampled > 0)
            .then(|| (self.sampled_bytes as f64 / self.sampled as f64 * self.dbsize as f64) as i64)
    }
}

async fn measure(client: &DisredisClient, shard: &str, samples: u32, top: usize) -> Result<Shard, String> {
    let fail = |e: redis::RedisError| Failure::from(e).message;
    let mut handle = client.on_shard(shard).map_err(|e| e.to_string())?;
    let (dbsize, info): (i64, String) =
        redis::pipe().cmd("DBSIZE").cmd("INFO").arg("memory").query_async(&mut handle).await.map_err(fail)?;
    let used_memory = crate::info::parse(&info)
        .into_iter()
        .flat_map(|(_, fields)| fields)
        .find(|(f, _)| f == "used_memory")
        .and_then(|(_, v)| v.parse().ok());
    let mut keys: Vec<Vec<u8>> = Vec::new();
    if dbsize > 0 {
        let mut pipe = redis::pipe();
        for _ in 0..samples {
            pipe.cmd("RANDOMKEY");
        }
        let got: Vec<Option<Vec<u8>>> = pipe.query_async(&mut handle).await.map_err(fail)?;
        keys = got.into_iter().flatten().collect();
        keys.sort();
        keys.dedup();
    }
    let (own, foreign): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
        keys.into_iter().partition(|k| client.shard_for(k) == shard);
    let mut pipe = redis::pipe();
    for key in &own {
        pipe.cmd("MEMORY").arg("USAGE").arg(key).cmd("TYPE").arg(key);
    }
    let replies: Vec<Value> =
        if own.is_empty() { Vec::new() } else { pipe.query_async(&mut handle).await.map_err(fail)? };
    let mut biggest = Vec::new();
    let (mut sampled, mut sampled_bytes) = (0, 0);
    for (key, pair) in own.iter().zip(replies.chunks(2)) {
        // A key that expired since RANDOMKEY has no size (nil): not counted.
        let Ok(bytes) = redis::from_redis_value::<i64>(pair[0].clone()) else { continue };
        let kind = redis::from_redis_value::<String>(pair[1].clone()).unwrap_or_default();
        sampled += 1;
        sampled_bytes += bytes;
        biggest.push(Big { key: String::from_utf8_lossy(key).into_owned(), kind, bytes });
    }
    biggest.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.key.cmp(&b.key)));
    biggest.truncate(top);
    Ok(Shard { dbsize, used_memory, sampled, sampled_bytes, misplaced: foreign.len(), biggest })
}

/// Largest / mean of the figures (`None` with no figure or a mean of 0).
pub fn imbalance(values: &[i64]) -> Option<f64> {
    let max = *values.iter().max()?;
    let mean = values.iter().sum::<i64>() as f64 / values.len() as f64;
    (mean > 0.0).then(|| max as f64 / mean)
}

fn bytes(n: i64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

pub async fn run(client: &DisredisClient, samples: u32, top: usize, json: bool) -> Result<(), Failure> {
    let names = client.shard_names();
    let all = join_all(names.iter().map(|s| measure(client, s, samples, top))).await;
    let ok: Vec<&Shard> = all.iter().flatten().collect();
    let figure =
        |f: &dyn Fn(&Shard) -> Option<i64>| imbalance(&ok.iter().filter_map(|s| f(s)).collect::<Vec<_>>());
    let (keys_ratio, est_ratio, used_ratio) =
        (figure(&|s| Some(s.dbsize)), figure(&|s| s.estimate()), figure(&|s| s.used_memory));
    let failed = all.iter().filter(|r| r.is_err()).count();
    if json {
        let opt = |v: Option<i64>| v.map_or(Json::Null, Json::Int);
        let ratio = |v: Option<f64>| v.map_or(Json::Null, Json::Num);
        let shards = names
            .iter()
            .zip(&all)
            .map(|(name, r)| {
                let mut fields = vec![("shard", Json::str(name))];
                match r {
                    Ok(s) => fields.extend([
                        ("keys", Json::Int(s.dbsize)),
                        ("used_memory", opt(s.used_memory)),
                        ("sampled", Json::Int(s.sampled as i64)),
                        ("sampled_bytes", Json::Int(s.sampled_bytes)),
                        ("estimated_key_memory", opt(s.estimate())),
                        ("misplaced_in_sample", Json::Int(s.misplaced as i64)),
                        (
                            "biggest",
                            Json::Arr(
                                s.biggest
                                    .iter()
                                    .map(|b| {
                                        Json::Obj(vec![
                                            ("key", Json::str(&b.key)),
                                            ("type", Json::str(&b.kind)),
                                            ("bytes", Json::Int(b.bytes)),
                                        ])
                                    })
                                    .collect(),
                            ),
                        ),
                        ("error", Json::Null),
                    ]),
                    Err(e) => fields.push(("error", Json::str(e))),
                }
                Json::Obj(fields)
            })
            .collect();
        let imbalance = Json::Obj(vec![
            ("keys", ratio(keys_ratio)),
            ("estimated_key_memory", ratio(est_ratio)),
            ("used_memory", ratio(used_ratio)),
        ]);
        outln!("{}", Json::Obj(vec![("shards", Json::Arr(shards)), ("imbalance", imbalance)]));
    } else {
        let table: Vec<Vec<String>> = names
            .iter()
            .zip(&all)
            .map(|(name, r)| match r {
                Ok(s) => vec![
                    name.clone(),
                    s.dbsize.to_string(),
                    s.used_memory.map_or("-".into(), bytes),
                    format!("{} ({})", s.estimate().map_or("-".into(), bytes), s.sampled),
                    s.misplaced.to_string(),
                    s.biggest
                        .iter()
                        .map(|b| format!("{} {} {}", b.key, b.kind, bytes(b.bytes)))
                        .collect::<Vec<_>>()
                        .join(", "),
                ],
                Err(e) => vec![name.clone(), format!("error: {e}")],
            })
            .collect();
        print_table(
            &["SHARD", "KEYS", "USED MEMORY", "KEY MEMORY EST. (SAMPLED)", "MISPLACED", "BIGGEST SAMPLED"],
            &table,
        );
        let r = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.2}"));
        outln!(
            "imbalance (largest / mean): keys {}, estimated key memory {}, used memory {}",
            r(keys_ratio),
            r(est_ratio),
            r(used_ratio)
        );
    }
    Failure::unless_all_answered(failed, "")
}

#[cfg(test)]
mod tests {
    #[test]
    fn imbalance_is_largest_over_mean() {
        assert_eq!(super::imbalance(&[10, 10]), Some(1.0));
        assert_eq!(super::imbalance(&[30, 10]), Some(1.5));
        assert_eq!(super::imbalance(&[0, 0]), None);
        assert_eq!(super::imbalance(&[]), None);
    }
}
