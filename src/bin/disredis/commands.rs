//! `locate`, `get`, `set`, `del` and `ping`.

use std::time::{Duration, Instant};

use disredis::DisredisClient;
use redis::AsyncCommands;

use crate::Failure;
use crate::out::outln;
use crate::output::{Json, ms, print_table};

/// The master address the client uses for `shard` now, if it has one.
pub fn master_of(client: &DisredisClient, shard: &str) -> Option<String> {
    client.topology().shards.into_iter().find(|s| s.name == shard).and_then(|s| s.master)
}

pub fn locate(client: &DisredisClient, keys: &[String], json: bool) -> Result<(), Failure> {
    let located = keys.iter().map(|key| {
        let shard = client.shard_for(key);
        (key, shard, master_of(client, shard))
    });
    if json {
        let items = located
            .map(|(key, shard, master)| {
                Json::Obj(vec![
                    ("key", Json::str(key)),
                    ("shard", Json::str(shard)),
                    ("master", Json::opt_str(master)),
                ])
            })
            .collect();
        outln!("{}", Json::Arr(items));
    } else {
        let rows: Vec<Vec<String>> = located
            .map(|(k, s, m)| vec![k.clone(), s.to_owned(), m.unwrap_or_else(|| "(not connected)".into())])
            .collect();
        print_table(&["KEY", "SHARD", "MASTER"], &rows);
    }
    Ok(())
}

pub async fn get(client: &DisredisClient, key: &str, json: bool) -> Result<(), Failure> {
    let value: Option<Vec<u8>> = client.clone().get(key).await?;
    let value = value.map(|v| String::from_utf8_lossy(&v).into_owned());
    if json {
        let shard = client.shard_for(key).to_owned();
        outln!(
            "{}",
            Json::Obj(vec![
                ("key", Json::str(key)),
                ("shard", Json::Str(shard)),
                ("value", Json::opt_str(value))
            ])
        );
    } else {
        outln!("{}", value.as_deref().unwrap_or("(nil)"));
    }
    Ok(())
}

pub async fn set(
    client: &DisredisClient,
    key: &str,
    value: &str,
    ex: Option<u64>,
    json: bool,
) -> Result<(), Failure> {
    let mut con = client.clone();
    match ex {
        Some(secs) => con.set_ex::<_, _, ()>(key, value, secs).await?,
        None => con.set::<_, _, ()>(key, value).await?,
    }
    let shard = client.shard_for(key).to_owned();
    if json {
        outln!(
            "{}",
            Json::Obj(vec![("key", Json::str(key)), ("shard", Json::Str(shard)), ("ok", Json::Bool(true))])
        );
    } else {
        outln!("OK ({shard})");
    }
    Ok(())
}

pub async fn del(client: &DisredisClient, keys: &[String], json: bool) -> Result<(), Failure> {
    let deleted: i64 = client.clone().del(keys).await?;
    if json {
        outln!("{}", Json::Obj(vec![("deleted", Json::Int(deleted))]));
    } else {
        outln!("deleted {deleted} of {} key(s)", keys.len());
    }
    Ok(())
}

struct PingRow {
    shard: String,
    master: Option<String>,
    /// Sorted round-trip times, or the first error.
    times: Result<Vec<Duration>, String>,
}

async fn ping_shard(client: &DisredisClient, shard: &str, count: u32) -> PingRow {
    let times = async {
        let mut handle = client.on_shard(shard)?;
        let mut times = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let started = Instant::now();
            redis::cmd("PING").query_async::<()>(&mut handle).await?;
            times.push(started.elapsed());
        }
        times.sort();
        Ok::<_, Failure>(times)
    };
    let times = times.await.map_err(|f| f.message);
    PingRow { shard: shard.to_owned(), master: master_of(client, shard), times }
}

pub async fn ping(client: &DisredisClient, count: u32, json: bool) -> Result<(), Failure> {
    let rows =
        futures_util::future::join_all(client.shard_names().iter().map(|s| ping_shard(client, s, count)))
            .await;
    let failed = rows.iter().filter(|r| r.times.is_err()).count();
    let stats = |t: &[Duration]| (t[0], t[t.len() / 2], t[t.len() - 1]);
    if json {
        let items = rows
            .iter()
            .map(|r| {
                let mut fields =
                    vec![("shard", Json::str(&r.shard)), ("master", Json::opt_str(r.master.clone()))];
                match &r.times {
                    Ok(t) => {
                        let (min, median, max) = stats(t);
                        let msf = |d: Duration| Json::Num(d.as_secs_f64() * 1000.0);
                        fields.extend([
                            ("count", Json::Int(t.len() as i64)),
                            ("min_ms", msf(min)),
                            ("median_ms", msf(median)),
                            ("max_ms", msf(max)),
                        ]);
                    }
                    Err(e) => fields.push(("error", Json::str(e))),
                }
                Json::Obj(fields)
            })
            .collect();
        outln!("{}", Json::Arr(items));
    } else {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let master = r.master.clone().unwrap_or_else(|| "-".into());
                match &r.times {
                    Ok(t) => {
                        let (min, median, max) = stats(t);
                        vec![r.shard.clone(), master, ms(min), ms(median), ms(max)]
                    }
                    Err(e) => {
                        vec![r.shard.clone(), master, format!("error: {e}"), String::new(), String::new()]
                    }
                }
            })
            .collect();
        print_table(&["SHARD", "MASTER", "MIN", "MEDIAN", "MAX"], &table);
        outln!("{count} PING(s) per shard through the shard's connection");
    }
    Failure::unless_all_answered(failed, "PING")
}
