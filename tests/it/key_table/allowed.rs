//! The known, deliberate differences between `visit_keys` and the server's `COMMAND GETKEYS`
//! (see src/keys.rs), Redis 7.0's and Valkey 9.1's.

use super::{Ours, Srv};

/// The known, deliberate differences from `COMMAND GETKEYS` (see src/keys.rs): `true` when
/// this disagreement is one of them.
pub(super) fn allowed(args: &[Vec<u8>], ours: &Ours, srv: &Srv) -> bool {
    use {Ours::Found, Ours::Malformed as Bad, Srv::Keys};
    match (ours, srv) {
        // EVAL*/FCALL* with a numkeys that is not a count, is negative or exceeds the
        // arguments: the server's getkeys silently finds no keys (and the command itself would
        // fail); we reject the arguments instead of routing them to an arbitrary shard.
        (Bad("EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO", why, _), Keys(k)) => {
            k.is_empty() && why.starts_with("numkeys")
        }
        // MSET/MSETNX with an odd key/value list: the server's key spec still finds keys;
        // the command itself would fail with a wrong number of arguments, so we reject it.
        (Bad("MSET" | "MSETNX", why, _), Keys(_)) => why.contains("groups of 2"),
        // XREAD/XREADGROUP with an odd list after STREAMS: the server's getkeys takes half
        // (rounded down) as keys; the command itself would fail, so we reject it.
        (Bad("XREAD" | "XREADGROUP", why, _), Keys(_)) => why.contains("one ID per key"),
        // MIGRATE ... KEYS with nothing after KEYS: the server's getkeys returns the empty key
        // argument as the key; there is nothing to migrate, so we reject it.
        (Bad("MIGRATE", why, _), Keys(k)) => {
            why.contains("no keys after KEYS") && k.iter().all(Vec::is_empty)
        }
        // PFMERGE with a destination only: GETKEYS rejects it (the source key spec starts past
        // the end), but the command is valid and writes the destination, so we route by it.
        (Found(info, k), Srv::Error(_)) => info.name == "PFMERGE" && args.len() == 2 && k.len() == 1,
        // GEORADIUS* with both STORE and STOREDIST: the last one wins and is the only key
        // written. Valkey 9.1's getkeys returns only that one, Redis 7.0's both; we take both
        // (they must then be on one shard: stricter, never misrouted).
        (Found(info, mine), Keys(theirs)) if info.name.starts_with("GEORADIUS") => {
            let both = ["STORE", "STOREDIST"]
                .iter()
                .all(|o| args.iter().any(|a| a.eq_ignore_ascii_case(o.as_bytes())));
            both && mine.first() == theirs.first() && theirs.iter().all(|k| mine.contains(k))
        }
        _ => false,
    }
}
