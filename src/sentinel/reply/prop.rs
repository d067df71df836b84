//! Properties of the Sentinel reply parsers (`sentinel/reply.rs`) against
//! models of what they should accept, and regressions found by fuzzing them.

use std::collections::HashMap;

use proptest::prelude::*;
use redis::Value;

use self::replies::{Record, leaf, master_addr_reply, record, value_tree};
use crate::addr::NodeAddr;
use crate::addr::prop::check_well_formed;
use crate::error::Error;
use crate::prop::config;
use crate::sentinel::reply::{MasterEntry, entry_addr, parse_master_addr, parse_masters, parse_table};

mod replies;

fn sentinel() -> NodeAddr {
    NodeAddr::parse("127.0.0.1:26379").expect("valid")
}

/// The model of `parse_masters`: the entries sorted by name, or `None` when the
/// reply must be refused.
fn model_masters(records: &[Record]) -> Option<Vec<MasterEntry>> {
    let mut out = Vec::new();
    for r in records {
        let f = r.model_fields()?;
        let name = f.get("name")?;
        let flags = f.get("flags")?;
        let addr = NodeAddr::from_parts(f.get("ip")?, f.get("port")?).ok()?;
        if name.is_empty() {
            return None;
        }
        let down = flags.split(',').any(|x| x == "s_down" || x == "o_down");
        out.push(MasterEntry { name: name.clone(), addr: (!down).then_some(addr) });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    (!out.windows(2).any(|w| w[0].name == w[1].name)).then_some(out)
}

/// The model of the parser's `text()`.
fn model_text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok().map(str::to_owned),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(i) => Some(format!("{i}")),
        _ => None,
    }
}

/// The model of `parse_table`.
fn model_table(v: &Value) -> Option<Vec<HashMap<String, String>>> {
    let Value::Array(rows) = v else { return None };
    rows.iter()
        .map(|row| {
            let pairs: Vec<(&Value, &Value)> = match row {
                Value::Array(flat) if flat.len() % 2 == 0 => flat.chunks(2).map(|c| (&c[0], &c[1])).collect(),
                Value::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
                _ => return None,
            };
            pairs.into_iter().map(|(k, v)| Some((model_text(k)?, model_text(v)?))).collect()
        })
        .collect()
}

/// The model of `parse_master_addr`: `Err(())` when the reply must be refused.
fn model_master_addr(v: &Value) -> Result<Option<NodeAddr>, ()> {
    match v {
        Value::Nil => Ok(None),
        Value::Array(items) => match items.as_slice() {
            [] => Ok(None),
            [ip, port] => {
                let (ip, port) = (model_text(ip).ok_or(())?, model_text(port).ok_or(())?);
                NodeAddr::from_parts(&ip, &port).map(Some).map_err(|_| ())
            }
            _ => Err(()),
        },
        _ => Err(()),
    }
}

/// Asserts `e` is a `SentinelReply` about `command` from our Sentinel.
fn check_reply_error(e: Error, command: &str) -> Result<(), TestCaseError> {
    match e {
        Error::SentinelReply { sentinel, command: c, detail } => {
            prop_assert_eq!(sentinel, "127.0.0.1:26379");
            prop_assert_eq!(c, command);
            prop_assert!(!detail.is_empty());
            Ok(())
        }
        other => Err(TestCaseError::fail(format!("expected SentinelReply for {command}, got {other:?}"))),
    }
}

/// Everything an accepted `SENTINEL MASTERS` reply promises.
fn check_masters(masters: &[MasterEntry]) -> Result<(), TestCaseError> {
    for w in masters.windows(2) {
        prop_assert!(w[0].name < w[1].name, "names not sorted and unique: {masters:?}");
    }
    for m in masters {
        prop_assert!(!m.name.is_empty());
        if let Some(a) = &m.addr {
            check_well_formed(a)?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary trees: `parse_table` never panics and agrees with the model;
    /// `parse_masters` never panics and is either well-formed or a typed error.
    #[test]
    fn arbitrary_trees_parse_or_fail_typed(v in value_tree()) {
        match (parse_table(&sentinel(), "SENTINEL SENTINELS", v.clone()), model_table(&v)) {
            (Ok(rows), Some(expected)) => prop_assert_eq!(rows, expected),
            (Err(e), None) => check_reply_error(e, "SENTINEL SENTINELS")?,
            (got, expected) => prop_assert!(false, "parse_table {v:?}: got {got:?}, model {expected:?}"),
        }
        match parse_masters(&sentinel(), v.clone()) {
            Ok(m) => check_masters(&m)?,
            Err(e) => check_reply_error(e, "SENTINEL MASTERS")?,
        }
        match (parse_master_addr(&sentinel(), v.clone()), model_master_addr(&v)) {
            (Ok(got), Ok(expected)) => prop_assert_eq!(got, expected),
            (Err(e), Err(())) => check_reply_error(e, "SENTINEL GET-MASTER-ADDR-BY-NAME")?,
            (got, expected) => {
                prop_assert!(false, "parse_master_addr {v:?}: got {got:?}, model {expected:?}")
            }
        }
    }

    /// Almost-valid `SENTINEL MASTERS` replies (missing, duplicate and extra
    /// fields, bad ports and hosts, empty and duplicate names, wrong cell types,
    /// odd-length records, maps and arrays): exactly the model's answer.
    #[test]
    fn almost_valid_masters_match_the_model(
        records in prop::collection::vec(record(), 0..6),
        junk in prop::option::weighted(0.05, leaf()),
    ) {
        let mut rows: Vec<Value> = records.iter().map(Record::value).collect();
        let expected = if let Some(j) = junk { rows.push(j); None } else { model_masters(&records) };
        let reply = Value::Array(rows);
        match (parse_masters(&sentinel(), reply.clone()), expected) {
            (Ok(got), Some(expected)) => {
                check_masters(&got)?;
                prop_assert_eq!(got, expected);
            }
            (Err(e), None) => check_reply_error(e, "SENTINEL MASTERS")?,
            (got, expected) => {
                prop_assert!(false, "parse_masters {reply:?}: got {got:?}, model {expected:?}")
            }
        }
    }

    /// The `SENTINEL SENTINELS` path (`parse_table` then `entry_addr`) on
    /// almost-valid records: never panics, addresses are well-formed and are
    /// exactly what the record's ip and port say.
    #[test]
    fn almost_valid_sentinels_give_valid_addresses(records in prop::collection::vec(record(), 0..6)) {
        let reply = Value::Array(records.iter().map(Record::value).collect());
        match parse_table(&sentinel(), "SENTINEL SENTINELS", reply) {
            Ok(rows) => {
                prop_assert_eq!(rows.len(), records.len());
                for (row, r) in rows.iter().zip(&records) {
                    let fields = r.model_fields().expect("accepted, so the model accepts it");
                    prop_assert_eq!(row, &fields);
                    let expected = match (fields.get("ip"), fields.get("port")) {
                        (Some(ip), Some(port)) => NodeAddr::from_parts(ip, port).ok(),
                        _ => None,
                    };
                    match entry_addr(&sentinel(), "SENTINEL SENTINELS", row) {
                        Ok(a) => {
                            check_well_formed(&a)?;
                            prop_assert_eq!(Some(a), expected);
                        }
                        Err(e) => {
                            prop_assert!(expected.is_none());
                            check_reply_error(e, "SENTINEL SENTINELS")?;
                        }
                    }
                }
            }
            Err(e) => {
                prop_assert!(records.iter().any(|r| r.model_fields().is_none()));
                check_reply_error(e, "SENTINEL SENTINELS")?;
            }
        }
    }

    /// Almost-valid `GET-MASTER-ADDR-BY-NAME` replies: exactly the model's answer.
    #[test]
    fn almost_valid_master_addr_matches_the_model(v in master_addr_reply()) {
        match (parse_master_addr(&sentinel(), v.clone()), model_master_addr(&v)) {
            (Ok(Some(a)), Ok(Some(expected))) => {
                check_well_formed(&a)?;
                prop_assert_eq!(a, expected);
            }
            (Ok(None), Ok(None)) => {}
            (Err(e), Err(())) => check_reply_error(e, "SENTINEL GET-MASTER-ADDR-BY-NAME")?,
            (got, expected) => {
                prop_assert!(false, "parse_master_addr {v:?}: got {got:?}, model {expected:?}")
            }
        }
    }
}

/// Found by fuzzing: a malformed reply was echoed whole into the error detail,
/// so a Sentinel answering a 4 MiB bulk string (or a 4 MiB odd-length record)
/// made a 4 MiB `Error::SentinelReply`, cloned into `NoSentinel`, logged and
/// kept as a shard's last error. The shown reply is cut now (`reply::shown`).
#[test]
fn malformed_reply_detail_is_bounded() {
    const LIMIT: usize = 1024;
    let huge = || Value::BulkString(vec![b'x'; 4 << 20]);
    let odd_record = || Value::Array(vec![Value::Array(vec![huge()])]);
    let errors = [
        parse_masters(&sentinel(), huge()).expect_err("not an array"),
        parse_masters(&sentinel(), odd_record()).expect_err("odd record"),
        parse_table(&sentinel(), "SENTINEL SENTINELS", huge()).expect_err("not an array"),
        parse_master_addr(&sentinel(), huge()).expect_err("not [ip, port]"),
        parse_master_addr(&sentinel(), Value::Array(vec![huge(); 3])).expect_err("not [ip, port]"),
    ];
    for e in errors {
        let shown = e.to_string();
        assert!(shown.len() < LIMIT, "{} bytes: {}…", shown.len(), &shown[..200]);
    }
}
