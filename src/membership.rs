//! Which ring a client follows: reading the ring record from the masters, and
//! creating version 1 when there is none (see [`crate::ring`] for the record).
//!
//! At connect the client reads the record (`FCALL_RO disredis_ring 0`) from
//! every seed master (the `masters` filter, or every master Sentinel monitors)
//! and adopts the winning copy. With no copy anywhere it loads version 1 — the
//! seed masters — with `FUNCTION LOAD` (which fails when the library exists) on
//! each seed master in name order, reads again and adopts the winner, so first
//! clients that race agree. Copies that lost that race are replaced by the
//! winner, and a member without a copy gets one, so a later client that can
//! read only some masters finds the same ring.

use crate::wire::Wire;
use redis::{RedisResult, Value};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ring::{RING_LIBRARY, Ring, library_code};
use crate::sentinel::Sentinels;
use crate::topology::ShardTable;

mod follow;
pub(crate) use follow::Follower;

/// Every member's copy of the record, read over its connection of `shards`
/// (resolving a shard that has none first): for an operator to compare them.
pub(crate) async fn copies(
    shards: &ShardTable,
    sentinels: &Sentinels,
    config: &Config,
) -> Vec<(String, Result<Option<Ring>>)> {
    let mut out = Vec::new();
    for shard in &shards.shards {
        let mut why = None;
        if shard.connection().is_none() {
            why = shard.resolve(sentinels, config).await.err();
        }
        let copy = match shard.connection() {
            Some((_, mut conn)) => read(&shard.name, &mut conn).await,
            // Why there is no master: the shard is down, or what the resolve met.
            None => Err(shard
                .health
                .down_error(&shard.name, std::time::Instant::now())
                .or(why)
                .unwrap_or_else(|| {
                    Error::Redis((redis::ErrorKind::Io, "disredis: the shard has no master right now").into())
                })),
        };
        out.push((shard.name.clone(), copy));
    }
    out
}

/// One master's copy of the record: `Ok(None)` when it has none.
pub(crate) async fn read(name: &str, conn: &mut Wire) -> Result<Option<Ring>> {
    match read_once(name, conn, false).await? {
        // Absent a moment ago but listed now: another client loaded it in between.
        Some(None) => read_once(name, conn, true).await.map(Option::flatten),
        found => Ok(found.flatten()),
    }
}

/// One attempt: `Some(None)` when the call failed but the library is listed
/// (on the `last` attempt that is an unusable record).
async fn read_once(name: &str, conn: &mut Wire, last: bool) -> Result<Option<Option<Ring>>> {
    let reply: RedisResult<Value> = redis::cmd("FCALL_RO").arg(RING_LIBRARY).arg(0).query_async(conn).await;
    let bad = |detail: String| Error::BadRing { master: name.to_owned(), detail };
    match reply {
        Ok(Value::BulkString(text)) => Ring::parse(&text).map(|r| Some(Some(r))).map_err(bad),
        Err(e)
            if e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_connection_refusal() =>
        {
            Err(e.into())
        }
        Ok(Value::ServerError(_)) | Err(_) => {
            // No such function, most likely: the library is absent. Anything else
            // (the library is there but can't be called) is an unusable record.
            let libraries: Value = redis::cmd("FUNCTION")
                .arg("LIST")
                .arg("LIBRARYNAME")
                .arg(RING_LIBRARY)
                .query_async(conn)
                .await?;
            let present =
                matches!(&libraries, Value::Array(libs) if libs.iter().any(|l| mentions(l, RING_LIBRARY)));
            match (present, last) {
                (false, _) => Ok(None),
                (true, false) => Ok(Some(None)),
                (true, true) => Err(bad(format!("FCALL_RO {RING_LIBRARY} failed: {}", describe(&reply)))),
            }
        }
        Ok(other) => Err(bad(format!("FCALL_RO {RING_LIBRARY} answered {other:?}, not a string"))),
    }
}

/// Whether a `FUNCTION LIST` entry names `library` exactly (`LIBRARYNAME` is a
/// pattern: `disredis_ring` also lists `disredis_ringer`).
fn mentions(entry: &Value, library: &str) -> bool {
    let items = match entry {
        Value::Array(items) => items.clone(),
        Value::Map(pairs) => pairs.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect(),
        _ => return false,
    };
    items.windows(2).any(|w| {
        matches!((&w[0], &w[1]), (Value::BulkString(k), Value::BulkString(v))
            if k.as_slice() == b"library_name" && v.as_slice() == library.as_bytes())
    })
}

fn describe(reply: &RedisResult<Value>) -> String {
    match reply {
        Ok(v) => format!("{v:?}"),
        Err(e) => e.to_string(),
    }
}

/// Every readable copy, per master; masters that can't be read are left out
/// (a failover may be under way), with how many answered. A copy that doesn't
/// parse is an error.
pub(super) async fn read_all(conns: &mut [(String, Wire)]) -> Result<(usize, Vec<(String, Ring)>)> {
    let mut answered = 0;
    let mut copies = Vec::new();
    for (name, conn) in conns.iter_mut() {
        match read(name, conn).await {
            Ok(copy) => {
                answered += 1;
                copies.extend(copy.map(|ring| (name.clone(), ring)));
            }
            Err(e @ Error::BadRing { .. }) => return Err(e),
            // Expected during a failover; `load` says so once at connect, and the
            // follower simply tries again at its next poll.
            Err(e) => debug!(master = %name, error = %e, "could not read the ring record"),
        }
    }
    Ok((answered, copies))
}

/// Loads `ring` as the library on one master; `replace` overwrites a copy.
pub(super) async fn write(name: &str, conn: &mut Wire, ring: &Ring, replace: bool) -> bool {
    let mut load = redis::cmd("FUNCTION");
    load.arg("LOAD");
    if replace {
        load.arg("REPLACE");
    }
    match load.arg(library_code(ring)).query_async::<Value>(conn).await {
        Ok(_) => true,
        Err(e) => {
            // "already exists" is the normal answer of a lost race.
            if !e.to_string().contains("already exists") {
                warn!(master = %name, error = %e, "could not write the ring record");
            }
            false
        }
    }
}

/// The ring this client follows, from the masters of `conns` (the seed masters
/// that could be reached, by name); `seed` are all seed names (version 1's
/// members when there is no record yet).
pub(crate) async fn load(conns: &mut [(String, Wire)], seed: &[String]) -> Result<Ring> {
    let first = Ring::first(seed.iter().cloned()).map_err(|detail| Error::BadRing {
        master: seed.join(","),
        detail: format!("can't make version 1 of the seed masters: {detail}"),
    })?;
    let (answered, mut copies) = read_all(conns).await?;
    if answered < conns.len() {
        warn!(read = answered, of = conns.len(), "some seed masters' ring records could not be read");
    }
    if copies.is_empty() {
        if answered == 0 {
            warn!(members = ?first.members, "no seed master could be read: following version 1 of the seed until one can");
            return Ok(first);
        }
        for (name, conn) in conns.iter_mut() {
            if write(name, conn, &first, false).await {
                info!(master = %name, members = ?first.members, "created ring version 1");
            }
        }
        copies = read_all(conns).await?.1;
    }
    let Some(winner) = Ring::newest(copies.iter().map(|(_, r)| r)).cloned() else {
        return Ok(first);
    };
    for (name, conn) in conns.iter_mut() {
        let copy = copies.iter().find(|(n, _)| n == name).map(|(_, r)| r);
        // A copy that lost the version 1 race is replaced by the winner; a member
        // without a copy (unreadable before, or it lost it) gets one.
        let replace = match copy {
            Some(r) if r.version == winner.version && *r != winner => true,
            None if winner.names().contains(name) => false,
            _ => continue,
        };
        if write(name, conn, &winner, replace).await {
            info!(master = %name, replaced = replace, "wrote the ring copy this master lacked");
        }
    }
    Ok(winner)
}
