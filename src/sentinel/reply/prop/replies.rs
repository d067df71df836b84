//! Generators of Sentinel replies for `prop.rs`: arbitrary RESP trees, and
//! "almost valid" `SENTINEL MASTERS` records and `[ip, port]` pairs built from
//! cells that say what the parser should make of them.

use std::collections::HashMap;

use proptest::prelude::*;
use redis::{Value, VerbatimFormat};

use crate::prop::chars;

/// Words a Sentinel reply is made of, so random trees sometimes look like records.
const WORDS: &[&str] = &[
    "name",
    "ip",
    "port",
    "flags",
    "runid",
    "master",
    "s_down",
    "o_down",
    "s_down,master",
    "shard-a",
    "shard-b",
    "127.0.0.1",
    "::1",
    "6379",
    "0",
    "65536",
    "",
];

pub(super) fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        Just(Value::Okay),
        any::<i64>().prop_map(Value::Int),
        prop::sample::select(WORDS).prop_map(|w| Value::BulkString(w.as_bytes().to_vec())),
        prop::sample::select(WORDS).prop_map(|w| Value::SimpleString(w.to_owned())),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(Value::BulkString),
        chars(12).prop_map(Value::SimpleString),
        chars(12).prop_map(|text| Value::VerbatimString { format: VerbatimFormat::Text, text }),
        any::<f64>().prop_map(Value::Double),
        any::<bool>().prop_map(Value::Boolean),
    ]
}

/// Arbitrary reply trees: depth up to 4, arrays/sets up to 40 wide, maps up to 20 pairs.
pub(super) fn value_tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 96, 20, |inner| {
        prop_oneof![
            3 => prop::collection::vec(inner.clone(), 0..40).prop_map(Value::Array),
            2 => prop::collection::vec((inner.clone(), inner.clone()), 0..20).prop_map(Value::Map),
            1 => prop::collection::vec(inner, 0..8).prop_map(Value::Set),
        ]
    })
}

/// A field or value in an "almost valid" record, with what `text()` should make of it.
#[derive(Debug, Clone)]
enum Cell {
    Bulk(String),
    Simple(String),
    Verbatim(String),
    Int(i64),
    NotUtf8(Vec<u8>),
    Nil,
    Nested,
}

impl Cell {
    fn value(&self) -> Value {
        match self {
            Cell::Bulk(s) => Value::BulkString(s.as_bytes().to_vec()),
            Cell::Simple(s) => Value::SimpleString(s.clone()),
            Cell::Verbatim(s) => Value::VerbatimString { format: VerbatimFormat::Markdown, text: s.clone() },
            Cell::Int(i) => Value::Int(*i),
            Cell::NotUtf8(b) => Value::BulkString(b.clone()),
            Cell::Nil => Value::Nil,
            Cell::Nested => Value::Array(vec![Value::BulkString(b"x".to_vec())]),
        }
    }

    /// The model of the parser's notion of "a string".
    fn text(&self) -> Option<String> {
        match self {
            Cell::Bulk(s) | Cell::Simple(s) | Cell::Verbatim(s) => Some(s.clone()),
            Cell::Int(i) => Some(format!("{i}")),
            Cell::NotUtf8(_) | Cell::Nil | Cell::Nested => None,
        }
    }
}

/// Mostly well-typed strings from `words`, sometimes other types.
fn cell(words: &'static [&'static str], ints: &'static [i64]) -> impl Strategy<Value = Cell> {
    prop_oneof![
        12 => prop::sample::select(words).prop_map(|w| Cell::Bulk(w.to_owned())),
        2 => prop::sample::select(words).prop_map(|w| Cell::Simple(w.to_owned())),
        1 => prop::sample::select(words).prop_map(|w| Cell::Verbatim(w.to_owned())),
        2 => prop::sample::select(ints).prop_map(Cell::Int),
        1 => any::<i64>().prop_map(Cell::Int),
        1 => chars(10).prop_map(Cell::Bulk),
        1 => prop::collection::vec(any::<u8>(), 0..6).prop_map(|b| Cell::NotUtf8([&[0xff][..], &b].concat())),
        1 => Just(Cell::Nil),
        1 => Just(Cell::Nested),
    ]
}

const NAMES: &[&str] = &["shard-a", "shard-b", "shard-c", "mymaster", "", "é", "a b", "0"];
const IPS: &[&str] = &[
    "127.0.0.1",
    "10.0.0.7",
    "::1",
    "2001:db8::1",
    "::ffff:1.2.3.4",
    "localhost",
    "redis-1.local",
    "",
    "[::1]",
    "host name",
    "user@h",
    "a/b",
    "fe80::1%eth0",
    "a:b",
    "é.local",
    "h\n",
    "1.2.3.4:5",
];
const PORTS: &[&str] = &[
    "6379",
    "1",
    "65535",
    "0",
    "65536",
    "-1",
    "99999999999999999999",
    "abc",
    "+1",
    " 1",
    "1 ",
    "",
    "6379.0",
    "0x10",
    "٣",
    "1e3",
    "007",
];
const FLAGS: &[&str] = &[
    "master",
    "s_down,master",
    "master,o_down",
    "o_down",
    "s_down",
    "",
    "master,disconnected",
    "S_DOWN",
    "s_down ",
    "master,s_down,o_down",
];
const KEYS: &[&str] = &["name", "ip", "port", "flags", "runid", "num-slaves", "NAME", "", "quorum"];
const PORT_INTS: &[i64] = &[6379, 1, 0, -1, 65535, 65536, i64::MAX, i64::MIN];
const SMALL_INTS: &[i64] = &[0, 1, 42];

/// A record as a list of (field, value) cells, its encoding (flat array or
/// RESP3 map), and whether the flat array loses its last element (odd length,
/// unless it was empty).
#[derive(Debug, Clone)]
pub(super) struct Record {
    pairs: Vec<(Cell, Cell)>,
    as_map: bool,
    odd: bool,
}

impl Record {
    pub(super) fn value(&self) -> Value {
        if self.as_map {
            return Value::Map(self.pairs.iter().map(|(k, v)| (k.value(), v.value())).collect());
        }
        let mut flat: Vec<Value> = self.pairs.iter().flat_map(|(k, v)| [k.value(), v.value()]).collect();
        if self.odd {
            flat.pop();
        }
        Value::Array(flat)
    }

    /// What `parse_table` should make of it: `None` if it must be refused.
    pub(super) fn model_fields(&self) -> Option<HashMap<String, String>> {
        // Dropping the last element of an empty record leaves it empty (even).
        if !self.as_map && self.odd && !self.pairs.is_empty() {
            return None;
        }
        let mut fields = HashMap::new();
        for (k, v) in &self.pairs {
            // A later duplicate field wins, as `collect` into a map does.
            fields.insert(k.text()?, v.text()?);
        }
        Some(fields)
    }
}

/// A full name/ip/port/flags record with some fields dropped, some duplicated,
/// some extras, in random order.
pub(super) fn record() -> impl Strategy<Value = Record> {
    let bulk = |s: &str| Cell::Bulk(s.to_owned());
    (
        cell(NAMES, SMALL_INTS),
        cell(IPS, SMALL_INTS),
        cell(PORTS, PORT_INTS),
        cell(FLAGS, SMALL_INTS),
        any::<[bool; 4]>(),
        prop::collection::vec((cell(KEYS, SMALL_INTS), cell(PORTS, PORT_INTS)), 0..3),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.9),
    )
        .prop_flat_map(move |(name, ip, port, flags, drop, extra, as_map, odd, keep_all)| {
            let mut pairs = Vec::new();
            for (i, (k, v)) in
                [("name", name), ("ip", ip), ("port", port), ("flags", flags)].into_iter().enumerate()
            {
                if keep_all || !drop[i] {
                    pairs.push((bulk(k), v));
                }
            }
            pairs.extend(extra);
            (Just(pairs).prop_shuffle(), Just(as_map), Just(odd))
        })
        .prop_map(|(pairs, as_map, odd)| Record { pairs, as_map, odd })
}

/// An `[ip, port]`-like reply: 0 to 3 cells, or nil.
pub(super) fn master_addr_reply() -> impl Strategy<Value = Value> {
    let pair = (cell(IPS, SMALL_INTS), cell(PORTS, PORT_INTS)).prop_map(|(ip, port)| vec![ip, port]);
    let any_len = prop::collection::vec(cell(IPS, PORT_INTS), 0..4);
    prop_oneof![
        8 => pair.prop_map(|c| Value::Array(c.iter().map(Cell::value).collect())),
        1 => any_len.prop_map(|c| Value::Array(c.iter().map(Cell::value).collect())),
        1 => Just(Value::Nil),
    ]
}
