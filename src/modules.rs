//! Commands the static key table doesn't know (module commands, newer Redis
//! versions): `COMMAND INFO` is asked once per name and the answer cached.
//!
//! - A name the server doesn't know either, or a command without key positions,
//!   is [`Error::NoKey`] (send it with `on_shard`).
//! - Fixed key positions (first, last, step) route like any command.
//! - `movablekeys` commands ask `COMMAND GETKEYS` for each call (one extra round
//!   trip), since their keys depend on the arguments.
//!
//! Such commands count as not idempotent unless the server flags them `readonly`.

use std::collections::HashMap;

use parking_lot::RwLock;
use redis::Value;

use crate::client::Inner;
use crate::dispatch::one;
use crate::error::{Error, Result};
use crate::execute::{Call, Request};

/// What `COMMAND INFO` says about a command's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ModuleSpec {
    first: i64,
    last: i64,
    step: i64,
    read_only: bool,
    blocking: bool,
    movable: bool,
}

/// The cache: lower-case name → spec (`None`: the server doesn't know it).
#[derive(Default)]
pub(crate) struct Modules {
    cache: RwLock<HashMap<Vec<u8>, Option<ModuleSpec>>>,
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

fn flags(v: Option<&Value>) -> Vec<String> {
    let items = match v {
        Some(Value::Array(items)) | Some(Value::Set(items)) => items,
        _ => return Vec::new(),
    };
    items
        .iter()
        .filter_map(|f| match f {
            Value::SimpleString(s) => Some(s.to_ascii_lowercase()),
            Value::BulkString(b) => Some(String::from_utf8_lossy(b).to_ascii_lowercase()),
            Value::Okay => Some("ok".into()),
            _ => None,
        })
        .collect()
}

/// Parses one entry of a `COMMAND INFO` reply: `[name, arity, flags, first, last,
/// step, …]`; nil (unknown command) or anything malformed is `None`.
pub(crate) fn parse_command_info(entry: &Value) -> Option<ModuleSpec> {
    let Value::Array(items) = entry else { return None };
    let f = flags(items.get(2));
    Some(ModuleSpec {
        first: int(items.get(3))?,
        last: int(items.get(4))?,
        step: int(items.get(5))?,
        read_only: f.iter().any(|x| x == "readonly"),
        blocking: f.iter().any(|x| x == "blocking"),
        movable: f.iter().any(|x| x == "movablekeys"),
    })
}

impl ModuleSpec {
    /// The keys at the fixed positions (`last` < 0 counts from the end).
    fn keys<'a>(&self, args: &[&'a [u8]]) -> Vec<&'a [u8]> {
        let n = args.len() as i64;
        let last = if self.last < 0 { n + self.last } else { self.last.min(n - 1) };
        if self.first <= 0 || self.step <= 0 {
            return Vec::new();
        }
        (self.first..=last)
            .step_by(self.step as usize)
            .filter_map(|i| args.get(i as usize).copied())
            .collect()
    }
}

impl Inner {
    /// Routes a command the static table doesn't know: its one shard and how to
    /// call it.
    pub(crate) async fn route_unknown(&self, args: &[&[u8]]) -> Result<(usize, Call)> {
        let name = args.first().copied().unwrap_or_default();
        let shown = String::from_utf8_lossy(name).into_owned();
        let spec = self.module_spec(name).await?;
        let Some(spec) = spec else {
            return Err(Error::NoKey { command: shown });
        };
        let keys: Vec<Vec<u8>> = if spec.movable {
            self.getkeys(args).await?
        } else {
            spec.keys(args).into_iter().map(<[u8]>::to_vec).collect()
        };
        let ring = &self.shards.ring;
        let mut shards: Vec<usize> = keys.iter().map(|k| ring.shard_index(k)).collect();
        shards.sort_unstable();
        shards.dedup();
        match shards.as_slice() {
            [] => Err(Error::NoKey { command: shown }),
            [one] => Ok((
                *one,
                Call {
                    command: "module command",
                    idempotent: spec.read_only,
                    dedicated: spec.blocking,
                    write: !spec.read_only,
                    patience: None,
                },
            )),
            many => Err(Error::CrossShard {
                command: shown,
                shards: many.iter().map(|&i| ring.names()[i].clone()).collect(),
            }),
        }
    }

    async fn module_spec(&self, name: &[u8]) -> Result<Option<ModuleSpec>> {
        let lower = name.to_ascii_lowercase();
        if let Some(spec) = self.modules.cache.read().get(&lower) {
            return Ok(*spec);
        }
        let cmd = redis::cmd("COMMAND").arg("INFO").arg(name).to_owned();
        let call = Call {
            command: "COMMAND INFO",
            idempotent: true,
            dedicated: false,
            write: false,
            patience: None,
        };
        let reply = one(self.execute(0, call, Request::Cmd(&cmd)).await?)?;
        let spec = match &reply {
            Value::Array(entries) => entries.first().and_then(parse_command_info),
            _ => None,
        };
        self.modules.cache.write().insert(lower, spec);
        Ok(spec)
    }

    async fn getkeys(&self, args: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
        let mut cmd = redis::cmd("COMMAND");
        cmd.arg("GETKEYS");
        for a in args {
            cmd.arg(*a);
        }
        let call = Call {
            command: "COMMAND GETKEYS",
            idempotent: true,
            dedicated: false,
            write: false,
            patience: None,
        };
        match one(self.execute(0, call, Request::Cmd(&cmd)).await?)? {
            Value::Array(keys) => Ok(keys
                .into_iter()
                .filter_map(|k| match k {
                    Value::BulkString(b) => Some(b),
                    _ => None,
                })
                .collect()),
            _ => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// The shape of a real `COMMAND INFO` entry (redis 7.0, RESP2).
    fn entry(first: i64, last: i64, step: i64, flags: &[&str]) -> Value {
        Value::Array(vec![
            bulk("mod.cmd"),
            Value::Int(-2),
            Value::Array(flags.iter().map(|f| Value::SimpleString((*f).into())).collect()),
            Value::Int(first),
            Value::Int(last),
            Value::Int(step),
            Value::Array(vec![]),
        ])
    }

    #[test]
    fn parses_positions_and_flags() {
        let s = parse_command_info(&entry(1, -1, 2, &["write", "movablekeys"])).unwrap();
        assert_eq!((s.first, s.last, s.step, s.read_only, s.movable), (1, -1, 2, false, true));
        let s = parse_command_info(&entry(1, 1, 1, &["readonly", "fast"])).unwrap();
        assert!(s.read_only && !s.blocking);
        assert_eq!(parse_command_info(&Value::Nil), None);
        assert_eq!(parse_command_info(&Value::Array(vec![bulk("x")])), None);
    }

    #[test]
    fn fixed_positions_give_the_keys() {
        let args: Vec<&[u8]> = vec![b"mod.mset", b"k1", b"v1", b"k2", b"v2"];
        let s = parse_command_info(&entry(1, -1, 2, &[])).unwrap();
        assert_eq!(s.keys(&args), vec![&b"k1"[..], b"k2"]);
        let s = parse_command_info(&entry(2, 2, 1, &[])).unwrap();
        assert_eq!(s.keys(&args), vec![&b"v1"[..]]);
        let s = parse_command_info(&entry(0, 0, 0, &[])).unwrap();
        assert!(s.keys(&args).is_empty());
        let s = parse_command_info(&entry(1, 9, 1, &[])).unwrap();
        assert_eq!(s.keys(&args).len(), 4, "a last position past the end is clamped");
    }
}
