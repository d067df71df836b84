//! `ring`: the ring the client follows (version, phase, members), the masters
//! Sentinel monitors that are not members, and per member its copy of the ring
//! record and which ring version its connected disredis clients follow.

use std::collections::BTreeMap;

use disredis::{DisredisClient, RING_LIBRARY, Ring};
use redis::Value;

use crate::Failure;
use crate::output::{Json, print_table};

/// One member master as the tool found it.
struct Member {
    name: String,
    /// Its copy of the record, or why it could not be read.
    copy: Result<Option<Ring>, String>,
    /// Connected disredis clients per ring version (`CLIENT LIST` names).
    clients: Result<BTreeMap<u64, usize>, String>,
}

async fn copy(client: &DisredisClient, name: &str) -> Result<Option<Ring>, String> {
    let mut handle = client.on_shard(name).map_err(|e| e.to_string())?;
    let reply: redis::RedisResult<Value> =
        redis::cmd("FCALL_RO").arg(RING_LIBRARY).arg(0).query_async(&mut handle).await;
    match reply {
        Ok(Value::BulkString(text)) => Ring::parse(&text).map(Some),
        Ok(other) => Err(format!("unexpected reply {other:?}")),
        Err(e) if e.to_string().contains("not found") => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The ring versions named in a `CLIENT LIST` reply (`name=disredis:ring=N`).
fn versions(list: &str) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    for line in list.lines() {
        let version = line
            .split(' ')
            .find_map(|f| f.strip_prefix("name=disredis:ring="))
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(v) = version {
            *out.entry(v).or_insert(0) += 1;
        }
    }
    out
}

async fn clients(client: &DisredisClient, name: &str) -> Result<BTreeMap<u64, usize>, String> {
    let mut handle = client.on_shard(name).map_err(|e| e.to_string())?;
    let list: String =
        redis::cmd("CLIENT").arg("LIST").query_async(&mut handle).await.map_err(|e| e.to_string())?;
    Ok(versions(&list))
}

fn ring_json(r: &Ring) -> Json {
    let names = |v: &[String]| Json::Arr(v.iter().map(Json::str).collect());
    Json::Obj(vec![
        ("version", Json::Int(r.version as i64)),
        ("phase", Json::str(r.phase.to_string())),
        ("members", names(&r.members)),
        ("target", names(&r.target)),
    ])
}

fn describe(copy: &Result<Option<Ring>, String>) -> String {
    match copy {
        Ok(Some(r)) => format!("v{} {}", r.version, r.phase),
        Ok(None) => "(none)".into(),
        Err(e) => format!("error: {e}"),
    }
}

fn describe_clients(clients: &Result<BTreeMap<u64, usize>, String>) -> String {
    match clients {
        Ok(m) if m.is_empty() => "(none)".into(),
        Ok(m) => m.iter().map(|(v, n)| format!("v{v}: {n}")).collect::<Vec<_>>().join(", "),
        Err(e) => format!("error: {e}"),
    }
}

/// Prints the ring; exit status 1 when a member can't be read or holds a copy
/// other than the one the client follows.
pub async fn run(client: &DisredisClient, json: bool) -> Result<(), Failure> {
    let topology = client.topology();
    let ring = &topology.ring;
    let mut members = Vec::new();
    for name in &ring.members {
        let (copy, clients) = tokio::join!(copy(client, name), clients(client, name));
        members.push(Member { name: name.clone(), copy, clients });
    }
    let consistent = members.iter().all(|m| matches!(&m.copy, Ok(Some(c)) if c == ring));
    if json {
        let masters = members
            .iter()
            .map(|m| {
                let copy = match &m.copy {
                    Ok(Some(r)) => ring_json(r),
                    Ok(None) => Json::Null,
                    Err(e) => Json::Obj(vec![("error", Json::str(e))]),
                };
                let clients = match &m.clients {
                    Ok(map) => Json::Arr(
                        map.iter()
                            .map(|(v, n)| {
                                Json::Obj(vec![
                                    ("version", Json::Int(*v as i64)),
                                    ("count", Json::Int(*n as i64)),
                                ])
                            })
                            .collect(),
                    ),
                    Err(e) => Json::Obj(vec![("error", Json::str(e))]),
                };
                Json::Obj(vec![("name", Json::str(&m.name)), ("copy", copy), ("clients", clients)])
            })
            .collect();
        let unrouted = Json::Arr(topology.unrouted.iter().map(Json::str).collect());
        println!(
            "{}",
            Json::Obj(vec![
                ("ring", ring_json(ring)),
                ("unrouted", unrouted),
                ("consistent", Json::Bool(consistent)),
                ("masters", Json::Arr(masters)),
            ])
        );
    } else {
        println!("ring version {} ({}), members: {}", ring.version, ring.phase, ring.members.join(", "));
        if !ring.target.is_empty() {
            println!("moving to: {}", ring.target.join(", "));
        }
        if !topology.unrouted.is_empty() {
            println!(
                "not members (Sentinel monitors them; nothing is routed there): {}",
                topology.unrouted.join(", ")
            );
        }
        let rows: Vec<Vec<String>> = members
            .iter()
            .map(|m| vec![m.name.clone(), describe(&m.copy), describe_clients(&m.clients)])
            .collect();
        print_table(&["MASTER", "RING COPY", "DISREDIS CLIENTS BY VERSION"], &rows);
    }
    match consistent {
        true => Ok(()),
        false => Err(Failure {
            code: 1,
            message: "a member's ring copy is missing, unreadable or different".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_list_versions() {
        let list = "id=3 addr=127.0.0.1:5 name=disredis:ring=2 age=1 cmd=get\n\
                    id=4 addr=127.0.0.1:6 name=disredis:ring=2 age=1\n\
                    id=5 addr=127.0.0.1:7 name=disredis:ring=1 age=9\n\
                    id=6 addr=127.0.0.1:8 name= age=1\n\
                    id=7 addr=127.0.0.1:9 name=disredis:ring=x age=1\n";
        assert_eq!(versions(list), BTreeMap::from([(1, 1), (2, 2)]));
    }
}
