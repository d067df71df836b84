//! `topology`: per shard the master, a fresh `ROLE` check, the replicas with their
//! lag (`INFO replication` on the master) and how many Sentinels agree on the master.

use disredis::{DisredisClient, NodeAddr};
use futures_util::future::join_all;
use redis::Value;

use crate::Failure;
use crate::out::outln;
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
    /// The master the client uses after the checks (`None`: it has none).
    master: Option<String>,
    /// What `ROLE` said (`master` when healthy), or why it got no reply.
    role: Result<String, Failed>,
    replicas: Result<Vec<Replica>, Failed>,
    /// Each Sentinel asked and the master address it named (or its error).
    views: Vec<(String, Result<Option<String>, String>)>,
}

/// A check that failed: the library's error text, and whether it failed because
/// no master answered within `--shard-timeout` (then `last` is the last error
/// the client saw, e.g. "Connection refused") rather than with an answer.
struct Failed {
    text: String,
    no_answer: Option<String>,
}

impl From<disredis::Error> for Failed {
    fn from(e: disredis::Error) -> Failed {
        // The node didn't answer within the deadline, or the client had
        // already declared its shard down (which one depends on how long the
        // run took to get here): either way, what the node last said.
        let no_answer = match &e {
            disredis::Error::FailoverTimeout { last, .. } => Some(last.to_string()),
            disredis::Error::ShardDown { last, .. } => Some(last.to_string()),
            _ => None,
        };
        Failed { text: e.to_string(), no_answer }
    }
}

impl From<redis::RedisError> for Failed {
    fn from(e: redis::RedisError) -> Failed {
        Failed::from(disredis::Error::from(e))
    }
}

impl Row {
    /// The address the row is about: the client's master, or where it has none
    /// (the shard is down) the address most Sentinels name.
    fn reference(&self) -> Option<&str> {
        if let Some(m) = &self.master {
            return Some(m);
        }
        let named: Vec<&str> = self.views.iter().filter_map(|(_, v)| v.as_ref().ok()?.as_deref()).collect();
        // The first of those named most often (`max_by_key` keeps the last).
        named.iter().rev().max_by_key(|a| named.iter().filter(|b| b == a).count()).copied()
    }

    /// How many Sentinels name [`Row::reference`].
    fn agree(&self) -> usize {
        let reference = self.reference();
        self.views.iter().filter(|(_, v)| matches!(v, Ok(Some(a)) if Some(a.as_str()) == reference)).count()
    }

    /// The address every Sentinel that named one names (`None` when they
    /// differ or none did).
    fn consensus(&self) -> Option<&str> {
        let mut named = self.views.iter().filter_map(|(_, v)| v.as_ref().ok()?.as_deref());
        let first = named.next()?;
        named.all(|a| a == first).then_some(first)
    }

    /// Why the master did not answer, when that is why the ROLE check failed.
    fn no_answer(&self) -> Option<&str> {
        self.role.as_ref().err()?.no_answer.as_deref()
    }
}

async fn role(client: &DisredisClient, shard: &str) -> Result<String, Failed> {
    let mut handle = client.on_shard(shard)?;
    let reply: Vec<Value> = redis::cmd("ROLE").query_async(&mut handle).await?;
    match reply.first() {
        Some(Value::BulkString(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
        Some(Value::SimpleString(s)) => Ok(s.clone()),
        other => Err(Failed { text: format!("unexpected ROLE reply {other:?}"), no_answer: None }),
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

async fn replicas(client: &DisredisClient, shard: &str) -> Result<Vec<Replica>, Failed> {
    let mut handle = client.on_shard(shard)?;
    let info: String = redis::cmd("INFO").arg("replication").query_async(&mut handle).await?;
    Ok(parse_replication(&info))
}

async fn collect(client: &DisredisClient) -> Vec<Row> {
    let shards = client.shard_names().to_vec();
    // Each Sentinel asked over the client's own Sentinel connections (credentials,
    // TLS and address map as configured).
    let per_sentinel = client.sentinel_views();
    // Every check at once: a shard that does not answer costs one
    // `--shard-timeout` in all, not one per column or per shard.
    let per_shard =
        join_all(shards.iter().map(|s| async move { tokio::join!(role(client, s), replicas(client, s)) }));
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
            let error = |f: &Failed| f.text.clone();
            Json::Obj(vec![
                ("shard", Json::str(&r.shard)),
                ("master", Json::opt_str(r.master.clone())),
                ("answers", Json::Bool(r.role.is_ok())),
                ("role", Json::opt_str(r.role.as_ref().ok().cloned())),
                ("role_ok", Json::Bool(matches!(&r.role, Ok(role) if role == "master"))),
                ("role_error", Json::opt_str(r.role.as_ref().err().map(error))),
                ("replicas", replicas),
                ("replicas_error", Json::opt_str(r.replicas.as_ref().err().map(error))),
                ("sentinels_agree", Json::Int(r.agree() as i64)),
                ("sentinels_asked", Json::Int(r.views.len() as i64)),
                ("sentinels_name", Json::opt_str(r.consensus())),
                ("sentinels", Json::Arr(views)),
            ])
        })
        .collect();
    Json::Obj(vec![("shards", Json::Arr(shards))])
}

/// Who names the address: "both Sentinels name", "2 Sentinels name", …
fn who_names(agree: usize, asked: usize) -> String {
    match (agree, asked) {
        (1, 1) => "the Sentinel names".into(),
        (2, 2) => "both Sentinels name".into(),
        (n, m) if n == m => format!("all {n} Sentinels name"),
        (1, _) => "1 Sentinel names".into(),
        (n, _) => format!("{n} Sentinels name"),
    }
}

/// The SENTINELS AGREE cell: how many name the row's address; where its node
/// does not answer, that they agree on it all the same (a dead node, not a
/// disagreement); then each Sentinel that says something else.
fn agree_cell(r: &Row) -> String {
    let reference = r.reference();
    let mut notes = Vec::new();
    if let (Some(addr), Some(_), 1..) = (reference, r.no_answer(), r.agree()) {
        notes.push(format!("{} {addr}; it does not answer", who_names(r.agree(), r.views.len())));
    }
    for (s, v) in &r.views {
        match v {
            Ok(Some(a)) if Some(a.as_str()) != reference => notes.push(format!("{s} says {a}")),
            Ok(Some(_)) => {}
            Ok(None) => notes.push(format!("{s}: unknown master")),
            Err(e) => notes.push(format!("{s}: {e}")),
        }
    }
    let count = format!("{}/{}", r.agree(), r.views.len());
    match notes.is_empty() {
        true => count,
        false => format!("{count} ({})", notes.join("; ")),
    }
}

fn to_table(rows: &[Row]) -> Vec<Vec<String>> {
    let failed = |f: &Failed| match &f.no_answer {
        Some(last) => format!("no answer: {last}"),
        None => f.text.clone(),
    };
    rows.iter()
        .map(|r| {
            let role = match &r.role {
                Ok(role) if role == "master" => "ok (master)".to_owned(),
                Ok(role) => format!("FAIL ({role})"),
                Err(f) => format!("FAIL ({})", failed(f)),
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
                Err(f) if f.no_answer.is_some() => "? (no answer)".to_owned(),
                Err(f) => format!("? ({})", f.text),
            };
            let master = r.master.clone().unwrap_or_else(|| "-".into());
            vec![r.shard.clone(), master, role, replicas, agree_cell(r)]
        })
        .collect()
}

pub async fn run(client: &DisredisClient, json: bool) -> Result<(), Failure> {
    let rows = collect(client).await;
    if json {
        outln!("{}", to_json(&rows));
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
        false => Err(Failure::failed(format!("ROLE check failed on {}", failed.join(", ")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shard the client already declared down reads like one whose node
    /// didn't answer in time: the same row, whichever came first.
    #[test]
    fn a_down_shard_is_a_node_that_did_not_answer() {
        let refused = || Box::new(disredis::Error::Closed);
        let down = Failed::from(disredis::Error::ShardDown {
            shard: "shard-b".into(),
            down_for: std::time::Duration::from_secs(2),
            last: refused(),
        });
        assert_eq!(down.no_answer.as_deref(), Some(refused().to_string().as_str()));
        let other = Failed::from(disredis::Error::Closed);
        assert_eq!(other.no_answer, None);
    }

    fn row(master: Option<&str>, role: Result<&str, Option<&str>>, views: &[Result<&str, &str>]) -> Row {
        let failed = |no_answer: Option<&str>| Failed {
            text: "the library's text".into(),
            no_answer: no_answer.map(str::to_owned),
        };
        Row {
            shard: "shard-b".into(),
            master: master.map(str::to_owned),
            role: role.map(str::to_owned).map_err(failed),
            replicas: Ok(Vec::new()),
            views: views
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("s{i}"), v.map(|a| Some(a.to_owned())).map_err(str::to_owned)))
                .collect(),
        }
    }

    #[test]
    fn sentinels_agreeing_on_a_dead_master_is_not_a_disagreement() {
        let healthy = row(Some("m:1"), Ok("master"), &[Ok("m:1"), Ok("m:1")]);
        assert_eq!(agree_cell(&healthy), "2/2");
        let behind = row(Some("m:1"), Ok("master"), &[Ok("m:1"), Ok("m:0")]);
        assert_eq!(agree_cell(&behind), "1/2 (s1 says m:0)");
        let dead = row(None, Err(Some("Connection refused")), &[Ok("m:1"), Ok("m:1")]);
        assert_eq!(agree_cell(&dead), "2/2 (both Sentinels name m:1; it does not answer)");
        assert_eq!(dead.consensus(), Some("m:1"));
        let one_late = row(None, Err(Some("Connection refused")), &[Ok("m:1"), Ok("m:1"), Err("timed out")]);
        assert_eq!(agree_cell(&one_late), "2/3 (2 Sentinels name m:1; it does not answer; s2: timed out)");
        // Where they do disagree, the address most of them name is the row's.
        let split = row(None, Err(Some("Connection refused")), &[Ok("m:0"), Ok("m:1"), Ok("m:1")]);
        assert_eq!(agree_cell(&split), "2/3 (2 Sentinels name m:1; it does not answer; s0 says m:0)");
        assert_eq!(split.consensus(), None);
        // A ROLE error that is not a missing answer says nothing about the node.
        let refused = row(Some("m:1"), Err(None), &[Ok("m:1")]);
        assert_eq!(agree_cell(&refused), "1/1");
    }

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
