//! `ring`: the ring the client follows (version, phase, members), the masters
//! Sentinel monitors that are not members, and per member its copy of the ring
//! record and which ring version its connected disredis clients follow.

use std::collections::BTreeMap;

use disredis::{DisredisClient, Ring};
use futures_util::future::join_all;

use crate::Failure;
use crate::out::outln;
use crate::output::{Json, print_table};

/// One member master as the tool found it.
struct Member {
    name: String,
    /// Its copy of the record, or why it could not be read.
    copy: Result<Option<Ring>, String>,
    /// Connected disredis clients (`CLIENT LIST` entries named `disredis:ring=N`).
    clients: Result<Vec<Named>, String>,
}

/// One connection a disredis client opened, as `CLIENT LIST` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    addr: String,
    version: u64,
    /// Seconds since it connected.
    age_s: u64,
}

/// The disredis connections in a `CLIENT LIST` reply (`name=disredis:ring=N`).
fn named(list: &str) -> Vec<Named> {
    list.lines()
        .filter_map(|line| {
            let field = |key: &str| line.split(' ').find_map(|f| f.strip_prefix(key));
            Some(Named {
                version: field("name=disredis:ring=")?.parse().ok()?,
                addr: field("addr=").unwrap_or("?").to_owned(),
                age_s: field("age=").and_then(|a| a.parse().ok()).unwrap_or(0),
            })
        })
        .collect()
}

/// How many connections follow each version.
fn versions(named: &[Named]) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    for n in named {
        *out.entry(n.version).or_insert(0) += 1;
    }
    out
}

async fn clients(client: &DisredisClient, name: &str) -> Result<Vec<Named>, String> {
    let mut handle = client.on_shard(name).map_err(|e| e.to_string())?;
    let list: String =
        redis::cmd("CLIENT").arg("LIST").query_async(&mut handle).await.map_err(|e| e.to_string())?;
    Ok(named(&list))
}

fn ring_json(r: &Ring) -> Json {
    Json::Obj(vec![
        ("version", Json::Int(r.version as i64)),
        ("phase", Json::str(r.phase.to_string())),
        ("members", Json::strs(&r.members)),
        ("target", Json::strs(&r.target)),
    ])
}

fn describe(copy: &Result<Option<Ring>, String>) -> String {
    match copy {
        Ok(Some(r)) => format!("v{} {}", r.version, r.phase),
        Ok(None) => "(none)".into(),
        Err(e) => format!("error: {e}"),
    }
}

fn describe_clients(clients: &Result<Vec<Named>, String>) -> String {
    match clients {
        Ok(m) if m.is_empty() => "(none)".into(),
        Ok(m) => versions(m).iter().map(|(v, n)| format!("v{v}: {n}")).collect::<Vec<_>>().join(", "),
        Err(e) => format!("error: {e}"),
    }
}

/// Connections that follow an older ring than `version`, per member.
fn stragglers(members: &[Member], version: u64) -> Vec<(&str, &Named)> {
    members
        .iter()
        .filter_map(|m| m.clients.as_ref().ok().map(|c| (m.name.as_str(), c)))
        .flat_map(|(name, c)| c.iter().filter(|n| n.version < version).map(move |n| (name, n)))
        .collect()
}

/// Prints the ring; exit status 1 when a member can't be read or holds a copy
/// other than the one the client follows.
pub async fn run(client: &DisredisClient, json: bool) -> Result<(), Failure> {
    let topology = client.topology();
    let ring = &topology.ring;
    // The copies and every member's clients at once: a member that is down
    // costs one `--shard-timeout`, not one per member or per question.
    let names = client.shard_names();
    let (copies, listed) =
        tokio::join!(client.ring_copies(), join_all(names.iter().map(|name| clients(client, name))));
    let members: Vec<Member> = copies
        .into_iter()
        .map(|(name, copy)| {
            let clients = match names.iter().position(|n| *n == name) {
                Some(i) => listed[i].clone(),
                None => Err("not a member when the clients were listed".into()),
            };
            Member { name, copy: copy.map_err(|e| e.to_string()), clients }
        })
        .collect();
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
                    Ok(named) => Json::Arr(
                        versions(named)
                            .iter()
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
        let late = stragglers(&members, ring.version)
            .into_iter()
            .map(|(master, n)| {
                Json::Obj(vec![
                    ("master", Json::str(master)),
                    ("addr", Json::str(&n.addr)),
                    ("version", Json::Int(n.version as i64)),
                    ("age_s", Json::Int(n.age_s as i64)),
                ])
            })
            .collect();
        outln!(
            "{}",
            Json::Obj(vec![
                ("ring", ring_json(ring)),
                ("unrouted", Json::strs(&topology.unrouted)),
                ("consistent", Json::Bool(consistent)),
                ("masters", Json::Arr(masters)),
                ("stragglers", Json::Arr(late)),
            ])
        );
    } else {
        outln!("ring version {} ({}), members: {}", ring.version, ring.phase, ring.members.join(", "));
        if !ring.target.is_empty() {
            outln!("moving to: {}", ring.target.join(", "));
        }
        if !topology.unrouted.is_empty() {
            outln!(
                "not members (Sentinel monitors them; nothing is routed there): {}",
                topology.unrouted.join(", ")
            );
        }
        let rows: Vec<Vec<String>> = members
            .iter()
            .map(|m| vec![m.name.clone(), describe(&m.copy), describe_clients(&m.clients)])
            .collect();
        print_table(&["MASTER", "RING COPY", "DISREDIS CLIENTS BY VERSION"], &rows);
        let late = stragglers(&members, ring.version);
        if !late.is_empty() {
            outln!("\nstragglers (connections following an older ring than version {}):", ring.version);
            let rows: Vec<Vec<String>> = late
                .iter()
                .map(|(master, n)| {
                    vec![
                        master.to_string(),
                        n.addr.clone(),
                        format!("v{}", n.version),
                        format!("{}s", n.age_s),
                    ]
                })
                .collect();
            print_table(&["MASTER", "CLIENT ADDR", "FOLLOWS", "AGE"], &rows);
        }
    }
    match consistent {
        true => Ok(()),
        false => Err(Failure::failed("a member's ring copy is missing, unreadable or different")),
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
        let found = named(list);
        assert_eq!(versions(&found), BTreeMap::from([(1, 1), (2, 2)]));
        assert_eq!(found[2], Named { addr: "127.0.0.1:7".into(), version: 1, age_s: 9 });
        let members = vec![Member { name: "a".into(), copy: Ok(None), clients: Ok(found) }];
        let late = stragglers(&members, 2);
        assert_eq!(late.len(), 1);
        assert_eq!((late[0].0, late[0].1.addr.as_str()), ("a", "127.0.0.1:7"));
    }
}
