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

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{RedisResult, Value};
use tracing::{info, warn};

use crate::config::Config;
use crate::connect::connect_master;
use crate::error::{Error, Result};
use crate::events::{Event, Events};
use crate::ring::{Phase, RING_LIBRARY, Ring, library_code};
use crate::sentinel::Sentinels;
use crate::sentinel::switch::{Names, Stop, stop_signal};
use crate::topology::{Shards, Table};

/// One master's copy of the record: `Ok(None)` when it has none.
async fn read(name: &str, conn: &mut MultiplexedConnection) -> Result<Option<Ring>> {
    match read_once(name, conn, false).await? {
        // Absent a moment ago but listed now: another client loaded it in between.
        Some(None) => read_once(name, conn, true).await.map(Option::flatten),
        found => Ok(found.flatten()),
    }
}

/// One attempt: `Some(None)` when the call failed but the library is listed
/// (on the `last` attempt that is an unusable record).
async fn read_once(name: &str, conn: &mut MultiplexedConnection, last: bool) -> Result<Option<Option<Ring>>> {
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
async fn read_all(conns: &mut [(String, MultiplexedConnection)]) -> Result<(usize, Vec<(String, Ring)>)> {
    let mut answered = 0;
    let mut copies = Vec::new();
    for (name, conn) in conns.iter_mut() {
        match read(name, conn).await {
            Ok(copy) => {
                answered += 1;
                copies.extend(copy.map(|ring| (name.clone(), ring)));
            }
            Err(e @ Error::BadRing { .. }) => return Err(e),
            Err(e) => warn!(master = %name, error = %e, "could not read the ring record"),
        }
    }
    Ok((answered, copies))
}

/// Loads `ring` as the library on one master; `replace` overwrites a copy.
async fn write(name: &str, conn: &mut MultiplexedConnection, ring: &Ring, replace: bool) -> bool {
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
pub(crate) async fn load(conns: &mut [(String, MultiplexedConnection)], seed: &[String]) -> Result<Ring> {
    let first = Ring::first(seed.iter().cloned()).map_err(|detail| Error::BadRing {
        master: seed.join(","),
        detail: format!("can't make version 1 of the seed masters: {detail}"),
    })?;
    let (answered, mut copies) = read_all(conns).await?;
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
    if winner.phase != Phase::Stable {
        let holder = copies.iter().find(|(_, r)| *r == winner).map_or_else(String::new, |(n, _)| n.clone());
        return Err(Error::BadRing {
            master: holder,
            detail: format!(
                "version {} is in phase {}: this client follows stable rings only (finish the change first)",
                winner.version, winner.phase
            ),
        });
    }
    for (name, conn) in conns.iter_mut() {
        let copy = copies.iter().find(|(n, _)| n == name).map(|(_, r)| r);
        // A copy that lost the version 1 race is replaced by the winner; a member
        // without a copy (unreadable before, or it lost it) gets one.
        let replace = match copy {
            Some(r) if r.version == winner.version && *r != winner => true,
            None if winner.members.contains(name) => false,
            _ => continue,
        };
        if write(name, conn, &winner, replace).await {
            info!(master = %name, replaced = replace, "wrote the ring copy this master lacked");
        }
    }
    Ok(winner)
}

/// How often a client reads the ring record from the members to follow a
/// change: 1 s (a change is announced by the tool, and the tool waits for
/// every connection to follow it, so this bounds how long a change takes).
pub(crate) const RING_POLL: Duration = Duration::from_secs(1);

/// Follows the ring: every [`RING_POLL`] it reads the copies on the current
/// members; a newer stable version becomes a new table (new connections, named
/// after it) that replaces the current one, announced as
/// [`Event::RingChanged`]. A member without a copy (after `FUNCTION FLUSH`) or
/// with one the current ring wins over gets the current ring back.
pub(crate) struct Follower {
    pub(crate) table: Arc<Table>,
    pub(crate) sentinels: Arc<Sentinels>,
    pub(crate) config: Arc<Config>,
    pub(crate) events: Events,
    /// The seed masters (for the unrouted list of a new ring).
    pub(crate) seed: Vec<String>,
    /// The names the `+switch-master` watch follows: the members.
    pub(crate) names: Names,
}

impl Follower {
    /// Starts following on a task of its own, until the returned handle drops.
    pub(crate) fn start(self) -> Stop {
        let (stop, mut stopped) = stop_signal();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(RING_POLL) => {}
                    _ = stopped.changed() => return,
                }
                self.tick().await;
            }
        });
        stop
    }

    async fn tick(&self) {
        let current = self.table.current();
        let mut conns: Vec<(String, MultiplexedConnection)> =
            current.shards.iter().filter_map(|s| s.current().map(|(_, c)| (s.name.clone(), c))).collect();
        let copies = match read_all(&mut conns).await {
            Ok((_, copies)) => copies,
            Err(e) => {
                warn!(error = %e, "ring poll: a member holds an unusable record; staying on the current ring");
                return;
            }
        };
        // The current ring competes with the copies: a copy wins when it is
        // newer, or of the same version and first by the rule (a client that
        // started on its seed's version 1 because no master could be read).
        let winner = Ring::newest(copies.iter().map(|(_, r)| r).chain([&current.ring])).cloned();
        match winner {
            Some(next) if next != current.ring && next.phase != Phase::Stable => {
                warn!(version = next.version, phase = %next.phase, "ring poll: a change this client can't follow yet; staying on the current ring");
            }
            Some(next) if next != current.ring => self.adopt(&current, next).await,
            _ => self.repair(&mut conns, &copies, &current.ring).await,
        }
    }

    /// Gives members that lack the current ring, or hold one it wins over, a copy.
    async fn repair(
        &self,
        conns: &mut [(String, MultiplexedConnection)],
        copies: &[(String, Ring)],
        ring: &Ring,
    ) {
        for (name, conn) in conns.iter_mut() {
            match copies.iter().find(|(n, _)| n == name) {
                None => {
                    if write(name, conn, ring, false).await {
                        info!(master = %name, version = ring.version, "ring poll: restored the member's missing ring copy");
                    }
                }
                // Older, or of the same version and losing to the current ring.
                Some((_, r)) if r.version < ring.version || (r.version == ring.version && r != ring) => {
                    if write(name, conn, ring, true).await {
                        info!(master = %name, from = r.version, to = ring.version, "ring poll: replaced an older ring copy");
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Builds the table for `next` (connections named after it) and makes it current.
    async fn adopt(&self, current: &Shards, next: Ring) {
        let unrouted: Vec<String> = self.seed.iter().filter(|n| !next.members.contains(n)).cloned().collect();
        let (from, to, members) = (current.ring.version, next.version, next.members.clone());
        let Some(shards) = Shards::new(next, unrouted, &self.events) else { return };
        for shard in &shards.shards {
            let addr = match current.shard(&shard.name).and_then(|s| s.addr()) {
                Some(addr) => Ok(addr),
                None => self.sentinels.master_addr(&shard.name).await,
            };
            let conn = match addr {
                Ok(addr) => connect_master(
                    &shard.name,
                    &addr,
                    &self.config,
                    self.config.response_timeout,
                    Some(&shard.client_name),
                )
                .await
                .map(|c| (addr, c)),
                Err(e) => Err(e),
            };
            match conn {
                Ok((addr, conn)) => shard.adopt(addr, conn),
                Err(e) => {
                    warn!(shard = %shard.name, error = %e, "new ring: first connect failed; will re-resolve on first use")
                }
            }
        }
        *self.names.write() = members.iter().cloned().collect();
        self.table.replace(shards);
        self.events.emit(Event::RingChanged { from, to, members });
    }
}
