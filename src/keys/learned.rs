//! Commands the static table doesn't know (module commands, newer servers):
//! what `COMMAND INFO` said about their keys, cached per name. Pure: parsing
//! and the cache; `unknown` asks the server.

use std::collections::HashMap;

use parking_lot::RwLock;
use redis::Value;

/// What `COMMAND INFO` says about a command's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LearnedSpec {
    first: i64,
    last: i64,
    step: i64,
    /// Flagged `readonly`: idempotent, and not a write.
    pub(crate) read_only: bool,
    /// Flagged `blocking`: needs a connection of its own.
    pub(crate) blocking: bool,
    /// Flagged `movablekeys`: the keys depend on the arguments (ask `COMMAND GETKEYS`).
    pub(crate) movable: bool,
}

/// The specs learned so far: lower-case name → spec. Only commands the server
/// knows: one it doesn't is asked about again (a module may be loaded later).
#[derive(Default)]
pub(crate) struct Learned {
    cache: RwLock<HashMap<Vec<u8>, LearnedSpec>>,
}

impl Learned {
    /// The spec learned for `name`, if any.
    pub(crate) fn get(&self, name: &[u8]) -> Option<LearnedSpec> {
        self.cache.read().get(&name.to_ascii_lowercase()).copied()
    }

    /// Remembers what the server said about `name`.
    pub(crate) fn insert(&self, name: &[u8], spec: LearnedSpec) {
        self.cache.write().insert(name.to_ascii_lowercase(), spec);
    }
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
/// step, acl categories, tips, key specs, …]`; nil (unknown command) or anything
/// malformed is `None`.
///
/// The first/last/step range may cover arguments that a key spec flags `not_key`
/// (Valkey 9.1's `CLUSTERSCAN` cursor, there for cluster routing only; `COMMAND
/// GETKEYS` leaves them out): when every key spec is `not_key` the command has no
/// keys, when only some are its keys are asked of `COMMAND GETKEYS` per call.
pub(crate) fn parse_command_info(entry: &Value) -> Option<LearnedSpec> {
    let Value::Array(items) = entry else { return None };
    let f = flags(items.get(2));
    let not_key: Vec<bool> = match items.get(8) {
        Some(Value::Array(specs)) => {
            specs.iter().map(|s| flags(spec_field(s, "flags")).contains(&"not_key".into())).collect()
        }
        _ => Vec::new(),
    };
    let no_keys = !not_key.is_empty() && not_key.iter().all(|n| *n);
    let (first, last, step) = (int(items.get(3))?, int(items.get(4))?, int(items.get(5))?);
    Some(LearnedSpec {
        first: if no_keys { 0 } else { first },
        last: if no_keys { 0 } else { last },
        step: if no_keys { 0 } else { step },
        read_only: f.iter().any(|x| x == "readonly"),
        blocking: f.iter().any(|x| x == "blocking"),
        movable: f.iter().any(|x| x == "movablekeys") || (!no_keys && not_key.contains(&true)),
    })
}

/// A field of one key spec: a RESP3 map or a RESP2 flat `[name, value, …]` array.
fn spec_field<'a>(spec: &'a Value, name: &str) -> Option<&'a Value> {
    let is = |k: &Value| {
        matches!(k, Value::BulkString(b) if b == name.as_bytes())
            || matches!(k, Value::SimpleString(s) if s == name)
    };
    match spec {
        Value::Map(m) => m.iter().find(|(k, _)| is(k)).map(|(_, v)| v),
        Value::Array(kv) => kv.chunks(2).find(|p| p.len() == 2 && is(&p[0])).map(|p| &p[1]),
        _ => None,
    }
}

impl LearnedSpec {
    /// The keys at the fixed positions (`last` < 0 counts from the end).
    pub(crate) fn keys<'a>(&self, args: &[&'a [u8]]) -> Vec<&'a [u8]> {
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

    /// `entry` with key specs, each given by its flags (RESP2 shape).
    fn with_specs(first: i64, flags: &[&str], specs: &[&[&str]]) -> Value {
        let Value::Array(mut items) = entry(first, first, 1, flags) else { unreachable!() };
        items.push(Value::Array(vec![]));
        let spec = |f: &[&str]| {
            Value::Array(vec![
                bulk("flags"),
                Value::Array(f.iter().map(|x| Value::SimpleString((*x).into())).collect()),
                bulk("begin_search"),
                Value::Array(vec![]),
            ])
        };
        items.push(Value::Array(specs.iter().map(|f| spec(f)).collect()));
        Value::Array(items)
    }

    #[test]
    fn not_key_arguments_are_no_keys() {
        // Valkey 9.1's CLUSTERSCAN: range 1 1 1, its one key spec `not_key`.
        let s = parse_command_info(&with_specs(1, &["readonly"], &[&["not_key"]])).unwrap();
        assert!(s.keys(&[b"clusterscan", b"0"]).is_empty() && !s.movable);
        let s = parse_command_info(&with_specs(1, &["write"], &[&["RW", "update"]])).unwrap();
        assert_eq!((s.keys(&[b"delifeq", b"k", b"v"]), s.movable), (vec![&b"k"[..]], false));
        let s = parse_command_info(&with_specs(1, &["write"], &[&["RW"], &["not_key"]])).unwrap();
        assert!(s.movable, "some not_key specs: ask COMMAND GETKEYS");
    }

    #[test]
    fn the_cache_ignores_case() {
        let learned = Learned::default();
        assert_eq!(learned.get(b"MOD.GET"), None);
        let spec = parse_command_info(&entry(1, 1, 1, &["readonly"])).unwrap();
        learned.insert(b"Mod.Get", spec);
        assert_eq!(learned.get(b"mod.get"), Some(spec));
        assert_eq!(learned.get(b"NOPE"), None);
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
