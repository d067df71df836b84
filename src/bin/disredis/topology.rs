//! `topology`: per shard the master, a fresh `ROLE` check, the replicas with their
//! lag (`INFO replication` on the master) and how many Sentinels agree on the master.

use disredis::{DisredisClient, NodeAddr};
use futures_util::future::join_all;
use redis::Value;

use crate::Failure;
use crate::output::{Json, print_table};

struct Replica {
    addr: String,
    state: String,
    /// Seconds since the replica's last acknowledgement (`lag=` in INFO).
    lag_s: Option<i64>,
    /// Bytes of replication stream the replica has not confirmed.
    behind: Option<i64>,
}

struct Row {
    shard: String,
    master: Option<String>,
    /// What `ROLE` said (`master` when healthy), or the error.
    role: Result<String, String>,
    replicas: Result<Vec<Replica>, String>,
    /// Each Sentinel asked and the master address it named (or its error).
    views: Vec<(String, Result<Option<String>, String>)>,
}

impl Row {
    fn agree(&self) -> usize {
        self.views.iter().filter(|(_, v)| matches!(v, Ok(Some(a)) if Some(a) == self.master.as_ref())).count()
    }
}

async fn role(client: &DisredisClient, shard: &str) -> Result<String, String> {
    let mut handle = client.on_shard(shard).map_err(|e| e.to_string())?;
    let reply: Vec<Value> = redis::cmd("ROLE").query_async(&mut handle).await.map_err(|e| e.to_string())?;
    match reply.first() {
        Some(Value::BulkString(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
        Some(Value::SimpleString(s)) => Ok(s.clone()),
        other => Err(format!("unexpected ROLE reply {other:?}")),
    }
}

/// The value of `name=` in a `slave0:ip=…,port=…,state=…,offset=…,lag=…` line.
fn field(line: &str, name: &str) -> Option<String> {
    line.split_once(':')?
        .1
        .split(',')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
}

/// The replicas in `INFO replication` (`slave0:ip=127.0.0.1,port=16382,…` lines).
fn parse_replication(info: &str) -> Vec<Replica> {
    let master_offset = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("master_repl_offset:"))
        .and_then(|v| v.parse::<i64>().ok());
    info.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("slave") && l.contains(":ip="))
        .map(|l| {
            let ip = field(l, "ip").unwrap_or_default();
            let port = field(l, "port").unwrap_or_default();
            let addr =
                NodeAddr::from_parts(&ip, &port).map_or_else(|_| format!("{ip}:{port}"), |a| a.to_string());
            let offset = field(l, "offset").and_then(|o| o.parse::<i64>().ok());
            Replica {
                addr,
                state: field(l, "state").unwrap_or_else(|| "?".into()),
                lag_s: field(l, "lag").and_then(|v| v.parse().ok()),
                behind: master_offset.zip(offset).map(|(m, o)| (m - o).max(0)),
            }
        })
        .collect()
}

async fn replicas(client: &DisredisClient, shard: &str) -> Result<Vec<Replica>, String> {
    let mut handle = client.on_shard(shard).map_err(|e| e.to_string())?;
    let info: String =
        redis::cmd("INFO").arg("replication").query_async(&mut handle).await.map_err(|e| e.to_string())?;
    Ok(parse_replication(&info))
}

async fn collect(client: &DisredisClient) -> Vec<Row> {
    let shards = client.shard_names().to_vec();
    // Each Sentinel asked over the client's own Sentinel connections (credentials,
    // TLS and address map as configured).
    let per_sentinel = client.sentinel_views();
    let per_shard =
        join_all(shards.iter().map(|s| async move { (role(client, s).await, replicas(client, s).await) }));
    let (per_sentinel, per_shard) = tokio::join!(per_sentinel, per_shard);
    // The address after the checks: a ROLE check may have triggered a re-resolve.
    let topology = client.topology();
    shards
        .iter()
        .zip(per_shard)
        .enumerate()
        .map(|(i, (name, (role, replicas)))| Row {
            shard: name.clone(),
            master: topology.shards.iter().find(|s| &s.name == name).and_then(|s| s.master.clone()),
            role,
            replicas,
            views: per_sentinel
                .iter()
                .map(|v| (v.sentinel.clone(), v.masters[i].clone().map_err(|e| e.to_string())))
                .collect(),
        })
        .collect()
}

fn to_json(rows: &[Row]) -> Json {
    let shards = rows
        .iter()
        .map(|r| {
            let replicas = match &r.replicas {
                Ok(list) => Json::Arr(
                    list.iter()
                        .map(|p| {
                            Json::Obj(vec![
                                ("addr", Json::str(&p.addr)),
                                ("state", Json::str(&p.state)),
                                ("lag_s", p.lag_s.map_or(Json::Null, Json::Int)),
                                ("behind_bytes", p.behind.map_or(Json::Null, Json::Int)),
                            ])
                        })
                        .collect(),
                ),
                Err(_) => Json::Null,
            };
            let views = r
                .views
                .iter()
                .map(|(s, v)| {
                    let (master, error) = match v {
                        Ok(m) => (Json::opt_str(m.clone()), Json::Null),
                        Err(e) => (Json::Null, Json::str(e)),
                    };
                    Json::Obj(vec![("sentinel", Json::str(s)), ("master", master), ("error", error)])
                })
                .collect();
            Json::Obj(vec![
                ("shard", Json::str(&r.shard)),
                ("master", Json::opt_str(r.master.clone())),
                ("role", Json::opt_str(r.role.as_ref().ok().cloned())),
                ("role_ok", Json::Bool(matches!(&r.role, Ok(role) if role == "master"))),
                ("role_error", Json::opt_str(r.role.as_ref().err().cloned())),
                ("replicas", replicas),
                ("replicas_error", Json::opt_str(r.replicas.as_ref().err().cloned())),
                ("sentinels_agree", Json::Int(r.agree() as i64)),
                ("sentinels_asked", Json::Int(r.views.len() as i64)),
                ("sentinels", Json::Arr(views)),
            ])
        })
        .collect();
    Json::Obj(vec![("shards", Json::Arr(shards))])
}

fn to_table(rows: &[Row]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            let role = match &r.role {
                Ok(role) if role == "master" => "ok (master)".to_owned(),
                Ok(role) => format!("FAIL ({role})"),
                Err(e) => format!("FAIL ({e})"),
            };
            let replicas = match &r.replicas {
                Ok(list) if list.is_empty() => "none".to_owned(),
                Ok(list) => list
                    .iter()
                    .map(|p| {
                        let lag = p.lag_s.map_or("?".to_owned(), |l| format!("{l}s"));
                        let behind = p.behind.map_or("?".to_owned(), |b| format!("{b}B"));
                        format!("{} {} lag {lag} behind {behind}", p.addr, p.state)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(e) => format!("? ({e})"),
            };
            let mut agree = format!("{}/{}", r.agree(), r.views.len());
            let others: Vec<String> = r
                .views
                .iter()
                .filter_map(|(s, v)| match v {
                    Ok(Some(a)) if Some(a) != r.master.as_ref() => Some(format!("{s} says {a}")),
                    Ok(Some(_)) => None,
                    Ok(None) => Some(format!("{s}: unknown master")),
                    Err(e) => Some(format!("{s}: {e}")),
                })
                .collect();
            if !others.is_empty() {
                agree.push_str(&format!(" ({})", others.join("; ")));
            }
            vec![r.shard.clone(), r.master.clone().unwrap_or_else(|| "-".into()), role, replicas, agree]
        })
        .collect()
}

pub async fn run(client: &DisredisClient, json: bool) -> Result<(), Failure> {
    let rows = collect(client).await;
    if json {
        println!("{}", to_json(&rows));
    } else {
        print_table(&["SHARD", "MASTER", "ROLE", "REPLICAS", "SENTINELS AGREE"], &to_table(&rows));
    }
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| !matches!(&r.role, Ok(role) if role == "master"))
        .map(|r| r.shard.as_str())
        .collect();
    match failed.is_empty() {
        true => Ok(()),
        false => Err(Failure { code: 1, message: format!("ROLE check failed on {}", failed.join(", ")) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_info_gives_replicas_and_lag() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
                    slave0:ip=127.0.0.1,port=16382,state=online,offset=90,lag=0\r\n\
                    slave1:ip=::1,port=16383,state=wait_bgsave,offset=0,lag=3\r\n\
                    master_repl_offset:100\r\n";
        let r = parse_replication(info);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].addr.as_str(), r[0].state.as_str(), r[0].lag_s, r[0].behind),
            ("127.0.0.1:16382", "online", Some(0), Some(10))
        );
        assert_eq!((r[1].addr.as_str(), r[1].lag_s, r[1].behind), ("[::1]:16383", Some(3), Some(100)));
    }
}
