//! Where the keys are in every Redis 7.0 command, and in the Redis 8 / Valkey 9 keyed
//! commands of `newer.rs`.
//!
//! The client hashes each command's keys to pick a shard, so it has to know the key
//! positions of every command, including the "movable key" ones (EVAL, ZUNIONSTORE,
//! XREAD, SORT, MIGRATE, ...). The rules mirror the server's key specs and its
//! `getkeys` procedures, and were checked against `COMMAND GETKEYS` of redis-server
//! 7.0.15. Shard channels (SPUBLISH, SSUBSCRIBE) are deliberately not keys here: the
//! server marks them `not_key`, and they do not name data.
//!
//! Public so that callers (and the live check in the integration tests'
//! `key_table` module) can see how `disredis` routes a command: [`visit_keys`]
//! and [`commands`].
//!
//! Pure logic, no I/O. The lookup for ordinary commands does not allocate: a
//! hashed open-addressing index for command names, binary search over a static
//! table for subcommands, both case-insensitive; only errors allocate.

use std::cmp::Ordering;

pub(crate) mod learned;
mod newer;
mod shapes;
mod table;

pub use newer::{NEWER_COMMANDS, NewerCommand};

use shapes::{Extra, geo_keys, migrate, numkeys, range, sort, streams};

/// What the table knows about a command (flags are argument-aware where needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    /// Canonical upper-case name, e.g. "GET", or "XINFO STREAM" / "OBJECT ENCODING" for container commands.
    pub name: &'static str,
    /// Does not modify data (Redis `readonly` flag).
    pub read_only: bool,
    /// Running it twice leaves the same data AND returns the same reply as running it once,
    /// so a retry after an ambiguous failure is safe. Every read-only command is; SET is
    /// unless NX/XX/GET; counting or popping writes (INCR, DEL, HSET, SADD, LPUSH) are not;
    /// neither are EXPIRE and friends (a past time deletes the key, so the reply changes)
    /// nor the *STORE commands (the destination may also be a source).
    pub idempotent: bool,
    /// Blocks server-side, so the connection is held for up to the timeout (BLPOP, ...,
    /// WAIT; XREAD/XREADGROUP only when a BLOCK option is present).
    pub blocking: bool,
    /// The command has no key positions at all (PING, INFO, SCRIPT LOAD, ...), so any
    /// shard may serve it. EVAL with numkeys 0 is not keyless: it simply visits nothing.
    pub keyless: bool,
}

/// Why keys could not be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The command name is not in the table (e.g. a module command, or a command newer than
    /// the table). Holds the name as sent (lossy UTF-8); for a subcommand the table doesn't
    /// know of a container it knows, "CONTAINER SUB" (e.g. "CLIENT CAPA").
    Unknown(String),
    /// The arguments do not match the command's shape (numkeys not a number or larger than
    /// the args, missing STREAMS, odd stream list, missing subcommand...).
    Malformed {
        /// Canonical name of the command (the container's name if its subcommand is bad).
        command: &'static str,
        /// What is wrong with the arguments.
        detail: String,
    },
}

/// How to find a command's keys in its arguments (indices count the command name as 0).
#[derive(Debug, Clone, Copy)]
enum Keys {
    /// No keys at all.
    None,
    /// Keys at `first..=last` every `step`; a negative `last` counts from the end
    /// (-1 = the last argument, -2 = the one before it, e.g. BLPOP's timeout follows).
    Range { first: u8, last: i8, step: u8 },
    /// A key count at `at` followed by that many keys, each `step` arguments apart (2 for
    /// MSETEX's key-value pairs). `dest` adds a destination key at 1 (ZUNIONSTORE);
    /// `zero_ok` allows a count of 0 (scripts and functions).
    Numkeys { at: u8, step: u8, dest: bool, zero_ok: bool },
    /// XREAD / XREADGROUP: the first half of the arguments after the STREAMS option.
    Streams,
    /// GEORADIUS[BYMEMBER]: key at 1, plus the last `STORE`/`STOREDIST key` from `from` on.
    Geo { from: u8 },
    /// SORT: key at 1, plus the last `STORE key` (skipping BY/GET/LIMIT arguments).
    Sort,
    /// MIGRATE: key at 3, or the keys after `KEYS` when argument 3 is empty.
    Migrate,
    /// A container command: the subcommand (argument 1) is looked up in this table.
    Sub(&'static [Entry]),
}

/// One row of the command table.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Canonical upper-case name ("OBJECT ENCODING" for subcommands).
    name: &'static str,
    /// Where the keys are.
    keys: Keys,
    /// `READ_ONLY | IDEMPOTENT | BLOCKING | SET_CONDITIONAL` bits.
    flags: u8,
}

/// Redis `readonly` flag.
const READ_ONLY: u8 = 1;
/// Safe to retry (see [`CommandInfo::idempotent`]).
const IDEMPOTENT: u8 = 2;
/// Blocks server-side.
const BLOCKING: u8 = 4;
/// SET: idempotent unless an NX / XX / GET option follows the value.
const SET_CONDITIONAL: u8 = 8;
/// Table shorthand: read-only, hence idempotent.
const RO: u8 = READ_ONLY | IDEMPOTENT;
/// Table shorthand: writes (or acts), but a retry is harmless.
const ID: u8 = IDEMPOTENT;
/// Table shorthand: blocking.
const BL: u8 = BLOCKING;
/// Table shorthand: writes, not safe to retry.
const W: u8 = 0;
/// Table shorthand for SET.
const SET_OPTS: u8 = IDEMPOTENT | SET_CONDITIONAL;
/// Table shorthand for [`Keys::None`].
const NONE: Keys = Keys::None;
/// Table shorthand for [`Keys::Streams`].
const STREAMS: Keys = Keys::Streams;
/// Table shorthand for [`Keys::Sort`].
const SORT: Keys = Keys::Sort;
/// Table shorthand for [`Keys::Migrate`].
const MIGRATE: Keys = Keys::Migrate;

/// Table row constructor, kept short so each command fits on one line.
const fn c(name: &'static str, keys: Keys, flags: u8) -> Entry {
    Entry { name, keys, flags }
}
/// [`Keys::Range`] shorthand.
const fn r(first: u8, last: i8, step: u8) -> Keys {
    Keys::Range { first, last, step }
}
/// [`Keys::Numkeys`] shorthand: count at `at`, at least one key.
const fn nk(at: u8) -> Keys {
    Keys::Numkeys { at, step: 1, dest: false, zero_ok: false }
}
/// [`Keys::Numkeys`] shorthand: destination at 1, count at `at`, at least one key.
const fn nkd(at: u8) -> Keys {
    Keys::Numkeys { at, step: 1, dest: true, zero_ok: false }
}
/// [`Keys::Numkeys`] shorthand: count at `at`, zero keys allowed (scripts, functions).
const fn nk0(at: u8) -> Keys {
    Keys::Numkeys { at, step: 1, dest: false, zero_ok: true }
}
/// [`Keys::Numkeys`] shorthand: count at `at`, then that many key-value pairs (MSETEX).
const fn nkp(at: u8) -> Keys {
    Keys::Numkeys { at, step: 2, dest: false, zero_ok: false }
}
/// [`Keys::Geo`] shorthand.
const fn geo(from: u8) -> Keys {
    Keys::Geo { from }
}
/// [`Keys::Sub`] shorthand.
const fn sub(table: &'static [Entry]) -> Keys {
    Keys::Sub(table)
}

/// Orders an upper-case table name against an argument, ignoring the argument's ASCII case
/// without allocating an upper-cased copy.
fn cmp_name(name: &[u8], arg: &[u8]) -> Ordering {
    name.iter().copied().cmp(arg.iter().map(u8::to_ascii_uppercase))
}

/// Binary-searches `table`, comparing each name from byte `skip` on (to skip "OBJECT ").
fn find(table: &'static [Entry], skip: usize, arg: &[u8]) -> Option<&'static Entry> {
    let i =
        table.binary_search_by(|e| cmp_name(e.name.as_bytes().get(skip..).unwrap_or_default(), arg)).ok()?;
    table.get(i)
}

/// Slots of the top-level lookup table (a power of two, over twice the number
/// of commands, so probe chains stay short).
const SLOTS: usize = 1024;

/// FNV-1a over the ASCII-upper-cased name.
fn name_hash(name: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for &b in name {
        h = (h ^ u32::from(b.to_ascii_uppercase())).wrapping_mul(0x0100_0193);
    }
    h as usize
}

/// Finds a top-level command by hashing its name into an open-addressing table
/// built on first use: one hash and usually one comparison, where the binary
/// search with case-folding compares took ~30 ns of a GET's ~40 ns lookup.
fn find_command(arg: &[u8]) -> Option<&'static Entry> {
    static INDEX: std::sync::OnceLock<Vec<u16>> = std::sync::OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut slots = vec![0u16; SLOTS];
        for (i, e) in top_level().enumerate() {
            let mut h = name_hash(e.name.as_bytes()) % SLOTS;
            while slots[h] != 0 {
                h = (h + 1) % SLOTS;
            }
            // Entries are numbered from 1; 0 marks an empty slot.
            slots[h] = u16::try_from(i + 1).unwrap_or(0);
        }
        slots
    });
    let mut h = name_hash(arg) % SLOTS;
    for _ in 0..SLOTS {
        let i = usize::from(*index.get(h)?);
        let i = i.checked_sub(1)?;
        let e = table::COMMANDS.get(i).or_else(|| newer::NEWER.get(i - table::COMMANDS.len()))?;
        if e.name.as_bytes().eq_ignore_ascii_case(arg) {
            return Some(e);
        }
        h = (h + 1) % SLOTS;
    }
    None
}

/// The top-level rows: Redis 7.0's, then the newer commands', numbered in this order.
fn top_level() -> impl Iterator<Item = &'static Entry> {
    table::COMMANDS.iter().chain(newer::NEWER)
}

/// Case-insensitive option match.
fn is(arg: &[u8], option: &str) -> bool {
    arg.eq_ignore_ascii_case(option.as_bytes())
}

/// Builds a [`KeyError::Malformed`].
fn malformed(command: &'static str, detail: impl Into<String>) -> KeyError {
    KeyError::Malformed { command, detail: detail.into() }
}

/// Looks up `args[0]` (case-insensitive, bytes; container commands use `args[1]` as the subcommand), calls `visit` once per key in argument order, and returns the command's info.
pub fn visit_keys<'a>(args: &[&'a [u8]], mut visit: impl FnMut(&'a [u8])) -> Result<CommandInfo, KeyError> {
    let Some(&cmd) = args.first() else {
        return Err(malformed("", "empty command"));
    };
    let mut entry =
        find_command(cmd).ok_or_else(|| KeyError::Unknown(String::from_utf8_lossy(cmd).into_owned()))?;
    if let Keys::Sub(subs) = entry.keys {
        let container = entry.name;
        let Some(&sub) = args.get(1) else {
            return Err(malformed(container, "missing subcommand"));
        };
        // A subcommand newer than the table (Valkey's CLIENT CAPA, SCRIPT SHOW):
        // the server may know it, so it is unknown here rather than malformed.
        entry = find(subs, container.len() + 1, sub).ok_or_else(|| {
            KeyError::Unknown(format!("{container} {}", String::from_utf8_lossy(sub).to_uppercase()))
        })?;
    }
    let mut flags = entry.flags;
    let v = &mut visit;
    let found = match entry.keys {
        Keys::None | Keys::Sub(_) => Ok(Extra::default()),
        Keys::Range { first, last, step } => range(args, first, last, step, v),
        Keys::Numkeys { at, step, dest, zero_ok } => numkeys(args, at, (step, dest, zero_ok), v),
        Keys::Streams => streams(args, v),
        Keys::Geo { from } => geo_keys(args, usize::from(from), v),
        Keys::Sort => sort(args, v),
        Keys::Migrate => migrate(args, v),
    };
    let extra = found.map_err(|detail| malformed(entry.name, detail))?;
    if extra.blocks {
        flags |= BLOCKING;
    }
    let conditional = flags & SET_CONDITIONAL != 0
        && args.iter().skip(3).any(|a| is(a, "NX") || is(a, "XX") || is(a, "GET"));
    if extra.stores || conditional {
        flags &= !IDEMPOTENT;
    }
    Ok(CommandInfo {
        name: entry.name,
        read_only: flags & READ_ONLY != 0,
        idempotent: flags & IDEMPOTENT != 0,
        blocking: flags & BLOCKING != 0,
        keyless: matches!(entry.keys, Keys::None | Keys::Sub(_)),
    })
}

/// Whether `name` is a container command of the table (`OBJECT`, `CLIENT`, ...), whose
/// subcommand is its second argument.
pub(crate) fn is_container(name: &[u8]) -> bool {
    find_command(name).is_some_and(|e| matches!(e.keys, Keys::Sub(_)))
}

/// Every command and container subcommand the table knows, as canonical upper-case
/// names ("GET", "XINFO STREAM"), containers included by their own name ("XINFO").
pub fn commands() -> impl Iterator<Item = &'static str> {
    top_level().flat_map(|e| {
        let subs: &'static [Entry] = match e.keys {
            Keys::Sub(t) => t,
            _ => &[],
        };
        std::iter::once(e.name).chain(subs.iter().map(|s| s.name))
    })
}

#[cfg(test)]
mod tests;
