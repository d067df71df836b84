//! Parsing Sentinel replies. Pure: no I/O.
//!
//! Sentinel replies are trusted for nothing: every field is checked, and anything
//! unexpected (wrong types, missing fields, a non-numeric port, a name listed
//! twice) is an [`Error::SentinelReply`] naming the Sentinel and the command, so
//! the caller can try the next Sentinel. Never a panic.

use std::collections::HashMap;

use redis::{RedisError, Value};
use tracing::warn;

use crate::config::NodeAddr;
use crate::error::{Error, Result};

/// A master as Sentinel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MasterEntry {
    pub name: String,
    /// `None` when Sentinel flags the master down (`s_down`/`o_down`): the *name*
    /// stays a shard, only its address is unknown until a re-resolve.
    pub addr: Option<NodeAddr>,
}

/// A reply for an error message, cut to [`SHOWN_MAX`] characters: a hostile
/// Sentinel must not make error texts (and logs) as big as its reply.
fn shown(v: &Value) -> String {
    cut(format!("{v:?}"))
}

/// `text` cut to [`SHOWN_MAX`] characters (see [`shown`]).
fn cut(text: String) -> String {
    if text.len() <= SHOWN_MAX {
        return text;
    }
    let end = (0..=SHOWN_MAX).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// Longest reply excerpt in an error message.
const SHOWN_MAX: usize = 200;

fn malformed(sentinel: &NodeAddr, command: &'static str, detail: impl Into<String>) -> Error {
    Error::SentinelReply { sentinel: sentinel.to_string(), command, detail: detail.into() }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// A reply that is a list of field/value records (flat arrays in RESP2, maps in RESP3).
pub(crate) fn parse_table(
    sentinel: &NodeAddr,
    command: &'static str,
    reply: Value,
) -> Result<Vec<HashMap<String, String>>> {
    let Value::Array(rows) = reply else {
        return Err(malformed(sentinel, command, format!("expected an array, got {}", shown(&reply))));
    };
    rows.into_iter()
        .map(|row| {
            let pairs: Vec<(Value, Value)> = match row {
                Value::Array(flat) if flat.len() % 2 == 0 => {
                    let mut it = flat.into_iter();
                    std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
                }
                Value::Map(pairs) => pairs,
                other => {
                    return Err(malformed(
                        sentinel,
                        command,
                        format!("expected a field/value record, got {}", shown(&other)),
                    ));
                }
            };
            pairs
                .into_iter()
                .map(|(k, v)| match (text(&k), text(&v)) {
                    (Some(k), Some(v)) => Ok((k, v)),
                    _ => Err(malformed(sentinel, command, "a field or value is not a string")),
                })
                .collect()
        })
        .collect()
}

fn field<'a>(
    sentinel: &NodeAddr,
    command: &'static str,
    e: &'a HashMap<String, String>,
    name: &str,
) -> Result<&'a str> {
    e.get(name)
        .map(String::as_str)
        .ok_or_else(|| malformed(sentinel, command, format!("record without a {name:?} field")))
}

pub(crate) fn entry_addr(
    sentinel: &NodeAddr,
    command: &'static str,
    e: &HashMap<String, String>,
) -> Result<NodeAddr> {
    addr_of(sentinel, command, field(sentinel, command, e, "ip")?, field(sentinel, command, e, "port")?)
}

fn addr_of(sentinel: &NodeAddr, command: &'static str, ip: &str, port: &str) -> Result<NodeAddr> {
    NodeAddr::from_parts(ip, port)
        .map_err(|_| malformed(sentinel, command, format!("bad address {ip:?} port {port:?}")))
}

pub(crate) fn parse_masters(sentinel: &NodeAddr, reply: Value) -> Result<Vec<MasterEntry>> {
    const CMD: &str = "SENTINEL MASTERS";
    let mut masters = Vec::new();
    for e in parse_table(sentinel, CMD, reply)? {
        let name = field(sentinel, CMD, &e, "name")?.to_owned();
        if name.is_empty() {
            return Err(malformed(sentinel, CMD, "empty master name"));
        }
        let flags = field(sentinel, CMD, &e, "flags")?;
        let down = flags.split(',').any(|f| f == "s_down" || f == "o_down");
        let addr = entry_addr(sentinel, CMD, &e)?;
        if down {
            warn!(sentinel = %sentinel, master = %name, addr = %addr, flags, "master is flagged down; will re-resolve");
        }
        masters.push(MasterEntry { name, addr: (!down).then_some(addr) });
    }
    masters.sort_by(|a, b| a.name.cmp(&b.name));
    if masters.windows(2).any(|w| w[0].name == w[1].name) {
        return Err(malformed(sentinel, CMD, "a master name is listed twice"));
    }
    Ok(masters)
}

/// `Some` when `e` is how a data node answers a `SENTINEL` command: a
/// redis-server (not redis-sentinel) says `ERR unknown command 'SENTINEL', with
/// args beginning with: …` (Redis 7.0 and Valkey 9.1 alike), which happens
/// when a master's or a replica's address is configured as a Sentinel. An
/// [`Error::SentinelReply`] that says so and keeps what the node said; the
/// next Sentinel is tried as for any bad reply.
pub(crate) fn not_a_sentinel(sentinel: &NodeAddr, command: &'static str, e: &RedisError) -> Option<Error> {
    let said = e.detail()?.trim();
    let unknown =
        e.code() == Some("ERR") && said.to_ascii_lowercase().starts_with("unknown command 'sentinel'");
    unknown.then(|| {
        malformed(
            sentinel,
            command,
            format!(
                "the node at this address is a Redis server, not a Sentinel (it answered \"{}\"): list the Sentinels' \
                 addresses (redis-sentinel, port 26379 unless configured otherwise), not a master's or a replica's",
                cut(said.to_owned())
            ),
        )
    })
}

/// The command [`parse_master_addr`] reads the reply of.
pub(crate) const GET_MASTER_ADDR: &str = "SENTINEL GET-MASTER-ADDR-BY-NAME";

pub(crate) fn parse_master_addr(sentinel: &NodeAddr, reply: Value) -> Result<Option<NodeAddr>> {
    const CMD: &str = GET_MASTER_ADDR;
    match reply {
        Value::Nil => Ok(None),
        Value::Array(v) if v.is_empty() => Ok(None),
        Value::Array(v) if v.len() == 2 => match (text(&v[0]), text(&v[1])) {
            (Some(ip), Some(port)) => addr_of(sentinel, CMD, &ip, &port).map(Some),
            _ => Err(malformed(sentinel, CMD, "ip or port is not a string")),
        },
        other => Err(malformed(sentinel, CMD, format!("expected [ip, port] or nil, got {}", shown(&other)))),
    }
}

#[cfg(test)]
mod prop;
#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> NodeAddr {
        NodeAddr::parse("127.0.0.1:26379").unwrap()
    }
    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }
    fn record(fields: &[(&str, &str)]) -> Value {
        Value::Array(fields.iter().flat_map(|(k, v)| [bulk(k), bulk(v)]).collect())
    }
    /// A `SENTINEL MASTERS` record flagged `master`.
    fn master(name: &str, ip: &str, port: &str) -> Value {
        record(&[("name", name), ("ip", ip), ("port", port), ("flags", "master")])
    }

    #[test]
    fn masters_are_sorted_and_down_ones_keep_their_name() {
        let reply = Value::Array(vec![
            master("shard-b", "127.0.0.1", "7002"),
            record(&[
                ("name", "shard-a"),
                ("ip", "::1"),
                ("port", "7001"),
                ("flags", "s_down,master,disconnected"),
            ]),
        ]);
        let m = parse_masters(&s(), reply).unwrap();
        assert_eq!(m[0], MasterEntry { name: "shard-a".into(), addr: None });
        assert_eq!(m[1].name, "shard-b");
        assert_eq!(m[1].addr.as_ref().unwrap().to_string(), "127.0.0.1:7002");
    }

    #[test]
    fn resp3_maps_are_accepted() {
        let reply = Value::Array(vec![Value::Map(vec![
            (bulk("name"), bulk("m")),
            (bulk("ip"), bulk("10.1.2.3")),
            (bulk("port"), Value::Int(6379)),
            (bulk("flags"), bulk("master")),
        ])]);
        assert_eq!(parse_masters(&s(), reply).unwrap()[0].addr.as_ref().unwrap().port(), 6379);
    }

    #[test]
    fn garbage_is_a_typed_error_not_a_panic() {
        let cases = vec![
            Value::Int(3),
            Value::Array(vec![Value::Int(1)]),
            Value::Array(vec![Value::Array(vec![bulk("name")])]),
            Value::Array(vec![record(&[("name", "m"), ("ip", "127.0.0.1"), ("flags", "master")])]),
            Value::Array(vec![master("m", "127.0.0.1", "http")]),
            Value::Array(vec![master("m", "127.0.0.1", "70000")]),
            Value::Array(vec![master("", "h", "1")]),
            Value::Array(vec![master("m", "h", "1"), master("m", "h", "2")]),
        ];
        for reply in cases {
            let shown = format!("{reply:?}");
            match parse_masters(&s(), reply) {
                Err(Error::SentinelReply { sentinel, command, .. }) => {
                    assert_eq!(sentinel, "127.0.0.1:26379");
                    assert_eq!(command, "SENTINEL MASTERS");
                }
                other => panic!("{shown} gave {other:?}"),
            }
        }
    }

    /// What redis-rs makes of a server's error line.
    fn server_error(line: &str) -> RedisError {
        match redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).unwrap() {
            Value::ServerError(e) => e.into(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_data_nodes_unknown_command_says_it_is_not_a_sentinel() {
        let e = server_error("ERR unknown command 'SENTINEL', with args beginning with: 'MASTERS' ");
        match not_a_sentinel(&s(), "SENTINEL MASTERS", &e) {
            Some(Error::SentinelReply { sentinel, command, detail }) => {
                assert_eq!((sentinel.as_str(), command), ("127.0.0.1:26379", "SENTINEL MASTERS"));
                assert!(
                    detail.starts_with("the node at this address is a Redis server, not a Sentinel"),
                    "{detail}"
                );
                assert!(
                    detail.contains("\"unknown command 'SENTINEL', with args beginning with: 'MASTERS'\"")
                );
            }
            other => panic!("{other:?}"),
        }
        let lower = server_error("ERR unknown command 'sentinel', with args beginning with: 'masters'");
        assert!(not_a_sentinel(&s(), "SENTINEL MASTERS", &lower).is_some());
        let long = server_error(&format!(
            "ERR unknown command 'SENTINEL', with args beginning with: '{}'",
            "x".repeat(5000)
        ));
        let Some(Error::SentinelReply { detail, .. }) = not_a_sentinel(&s(), "SENTINEL MASTERS", &long)
        else {
            panic!()
        };
        assert!(detail.len() < 600, "cut: {} bytes", detail.len());
        // Anything else is not this case.
        for other in [
            server_error("ERR unknown command 'FOO'"),
            server_error("NOPERM this user has no permissions to run the 'sentinel|masters' command"),
            server_error("NOAUTH Authentication required."),
            RedisError::from((redis::ErrorKind::Io, "connection refused")),
        ] {
            assert!(not_a_sentinel(&s(), "SENTINEL MASTERS", &other).is_none(), "{other}");
        }
    }

    #[test]
    fn master_addr_replies() {
        assert_eq!(parse_master_addr(&s(), Value::Nil).unwrap(), None);
        let ok = Value::Array(vec![bulk("127.0.0.1"), bulk("7001")]);
        assert_eq!(parse_master_addr(&s(), ok).unwrap().unwrap().to_string(), "127.0.0.1:7001");
        for bad in [
            Value::Array(vec![bulk("127.0.0.1")]),
            Value::Array(vec![bulk("127.0.0.1"), bulk("port")]),
            Value::Okay,
        ] {
            assert!(matches!(parse_master_addr(&s(), bad), Err(Error::SentinelReply { .. })));
        }
    }
}
