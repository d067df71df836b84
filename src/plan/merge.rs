//! Merging the replies of a command's parts into the caller's reply, and
//! [`gather`]: what a split command answers when some parts failed. Pure.

use redis::Value;

use crate::error::{Error, Result, ShardFailure};
use crate::routes::Route;

/// One part's outcome, for [`gather`]: its route, whether it changes data,
/// and what it returned.
pub(crate) type PartOutcome<T> = (Route, bool, Result<T>);

/// The parts' values (in part order) when every part succeeded. Otherwise:
/// when at least one part that changes data succeeded, the command took effect
/// there and the answer is [`Error::PartiallyApplied`] naming those shards and
/// every failed one (`names`: a label per route); when none did,
/// nothing happened and the first part's error is the answer.
pub(crate) fn gather<T>(command: &str, names: &[String], parts: Vec<PartOutcome<T>>) -> Result<Vec<T>> {
    if parts.iter().all(|(_, _, r)| r.is_ok()) {
        return Ok(parts.into_iter().filter_map(|(_, _, r)| r.ok()).collect());
    }
    let mut applied: Vec<String> = Vec::new();
    let mut failed = Vec::new();
    for (route, writes, outcome) in parts {
        match outcome {
            Ok(_) if writes => applied.push(names[route.index()].clone()),
            Ok(_) => {}
            Err(error) => failed.push(ShardFailure { shard: names[route.index()].clone(), error }),
        }
    }
    if applied.is_empty() {
        return Err(failed.swap_remove(0).error);
    }
    applied.sort();
    applied.dedup();
    Err(Error::PartiallyApplied { command: command.to_owned(), applied, failed })
}

/// How the replies of a command's parts become the caller's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Merge {
    /// `MGET`: part `i` answered for the keys at `positions[i]` of the caller's
    /// `total` keys.
    Mget { positions: Vec<Vec<usize>>, total: usize },
    /// Integers added up (`DEL`, `EXISTS`, `DBSIZE`, …).
    Sum,
    /// `OK` when every part said OK (`MSET`, `FLUSHDB`, …).
    AllOk,
    /// Every part must succeed; the first reply (`PING`, `SCRIPT LOAD`).
    First,
    /// Arrays concatenated in shard order (`KEYS`).
    Concat,
    /// Arrays of 0/1 combined element-wise with AND (`SCRIPT EXISTS`).
    AndEach,
    /// The smallest integer (`WAIT`).
    Min,
    /// The first non-nil reply, looking from part `start` on (`RANDOMKEY`).
    FirstNonNil { start: usize },
}

fn unexpected(what: &str, v: &Value) -> Error {
    Error::Redis(
        (
            redis::ErrorKind::UnexpectedReturnType,
            "disredis: unexpected reply while merging shards",
            format!("{what}: {v:?}"),
        )
            .into(),
    )
}

fn int(v: &Value) -> Result<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(unexpected("expected an integer", other)),
    }
}

fn array(v: Value) -> Result<Vec<Value>> {
    match v {
        Value::Array(items) | Value::Set(items) => Ok(items),
        other => Err(unexpected("expected an array", &other)),
    }
}

/// Merges `replies` (one per part, in part order). A server error in any part is
/// the merged reply (it stays in its pipeline slot); a reply of the wrong shape
/// is an error.
pub(crate) fn merge(how: &Merge, mut replies: Vec<Value>) -> Result<Value> {
    if let Some(i) = replies.iter().position(|v| matches!(v, Value::ServerError(_))) {
        return Ok(replies.swap_remove(i));
    }
    if replies.is_empty() {
        return Err(unexpected("no part answered", &Value::Nil));
    }
    Ok(match how {
        Merge::First => replies.swap_remove(0),
        Merge::Mget { positions, total } => {
            let mut out = vec![Value::Nil; *total];
            for (reply, pos) in replies.into_iter().zip(positions) {
                let values = array(reply)?;
                if values.len() != pos.len() {
                    return Err(unexpected(
                        "MGET part answered a different number of values",
                        &Value::Int(values.len() as i64),
                    ));
                }
                for (v, &p) in values.into_iter().zip(pos) {
                    if let Some(slot) = out.get_mut(p) {
                        *slot = v;
                    }
                }
            }
            Value::Array(out)
        }
        Merge::Sum => Value::Int(replies.iter().map(int).sum::<Result<i64>>()?),
        Merge::Min => {
            Value::Int(replies.iter().map(int).collect::<Result<Vec<i64>>>()?.into_iter().min().unwrap_or(0))
        }
        Merge::AllOk => {
            let ok = |r: &Value| matches!(r, Value::Okay) || matches!(r, Value::SimpleString(s) if s == "OK");
            if let Some(r) = replies.iter().find(|r| !ok(r)) {
                return Err(unexpected("expected OK", r));
            }
            Value::Okay
        }
        Merge::Concat => Value::Array(
            replies.into_iter().map(array).collect::<Result<Vec<_>>>()?.into_iter().flatten().collect(),
        ),
        Merge::AndEach => {
            let mut acc: Option<Vec<i64>> = None;
            for r in replies {
                let bits = array(r)?.iter().map(int).collect::<Result<Vec<i64>>>()?;
                acc = Some(match acc {
                    None => bits,
                    Some(a) if a.len() == bits.len() => {
                        a.iter().zip(&bits).map(|(x, y)| (*x).min(*y)).collect()
                    }
                    Some(_) => return Err(unexpected("SCRIPT EXISTS parts differ in length", &Value::Nil)),
                });
            }
            Value::Array(acc.unwrap_or_default().into_iter().map(Value::Int).collect())
        }
        Merge::FirstNonNil { start } => {
            let n = replies.len();
            (0..n)
                .map(|i| (start + i) % n)
                .find(|&i| !matches!(replies[i], Value::Nil))
                .map_or(Value::Nil, |i| replies.swap_remove(i))
        }
    })
}
