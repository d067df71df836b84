//! Commands newer than Redis 7.0 that the table knows, with the server and version that
//! brought each: Redis 8 and Valkey 9 keyed commands, so that they route by their keys
//! without a `COMMAND INFO` round trip, and with flags judged here rather than learned.
//!
//! Derived from the `COMMAND INFO` of redis-server 8.2.3 (the hash and stream commands) and
//! valkey-server 9.1.2 (`MSETEX`, which Redis has from 8.4), and checked against each
//! server's `COMMAND GETKEYS` by the integration tests' `key_table` module. A server older
//! than a command's version simply does not have it: the check allows that
//! (see [`NEWER_COMMANDS`]).
//! Sorted by name, like the Redis 7.0 table.

use super::{Entry, SET_OPTS, W};
use super::{c, nkp, r};

/// Top-level commands newer than Redis 7.0.
pub(super) static NEWER: &[Entry] = &[
    // Writes: the expiry options reach the fields, and a past EXAT/PXAT deletes them, so a
    // retry can answer differently (GETEX, an older judgment, is marked idempotent).
    c("HGETDEL", r(1, 1, 1), W),
    c("HGETEX", r(1, 1, 1), W),
    // FNX / FXX make a retry's reply differ (0 where the first said 1).
    c("HSETEX", r(1, 1, 1), W),
    // `MSETEX numkeys key value [key value ...] [NX|XX] [expiry]`: like SET, idempotent
    // unless NX / XX. Never split across shards: NX / XX apply to the whole group.
    c("MSETEX", nkp(1), SET_OPTS),
    // The second call answers "not found" (-1) for ids the first deleted.
    c("XACKDEL", r(1, 1, 1), W),
    c("XDELEX", r(1, 1, 1), W),
];

/// A keyed command newer than Redis 7.0 that the table knows, and the first `(major, minor)`
/// version of each server that has it; `None`: no release of that server has it (as of Redis
/// 8.2 and Valkey 9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewerCommand {
    /// Canonical upper-case name.
    pub name: &'static str,
    /// The first Redis version with it.
    pub redis: Option<(u32, u32)>,
    /// The first Valkey version with it.
    pub valkey: Option<(u32, u32)>,
}

/// Shorthand for the list below.
const fn since(name: &'static str, redis: Option<(u32, u32)>, valkey: Option<(u32, u32)>) -> NewerCommand {
    NewerCommand { name, redis, valkey }
}

/// Which servers have each of the table's commands newer than Redis 7.0. Read by the
/// `key_table` check to tell a command the server is too old for from a table mistake.
pub const NEWER_COMMANDS: &[NewerCommand] = &[
    since("HGETDEL", Some((8, 0)), Some((9, 1))),
    since("HGETEX", Some((8, 0)), Some((9, 0))),
    since("HSETEX", Some((8, 0)), Some((9, 0))),
    since("MSETEX", Some((8, 4)), Some((9, 1))),
    since("XACKDEL", Some((8, 2)), None),
    since("XDELEX", Some((8, 2)), None),
];
