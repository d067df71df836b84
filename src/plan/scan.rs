//! `SCAN` over every shard behind one cursor. Pure.
//!
//! The caller's cursor packs the shard index in its low 16 bits and that shard's
//! own cursor above them: `cursor = shard_cursor << 16 | shard`. A scan starts at
//! shard 0 with cursor 0; when a shard's cursor comes back 0 the walk moves on to
//! the next shard (cursor `shard + 1`, never 0), and the final 0 comes after the
//! last shard. So redis-rs's `scan`/`scan_match` iterators see one ordinary cursor
//! and return every key of every shard exactly once over a stable data set (the
//! per-shard guarantee of `SCAN`). Shard cursors stay far below 2^48 in practice
//! (they are bounded by the size of the shard's hash table).

use redis::{Cmd, Value};

use crate::error::{Error, Result};

const SHARD_BITS: u32 = 16;
const SHARD_MASK: u64 = (1 << SHARD_BITS) - 1;

/// The shard and that shard's cursor encoded in a caller's cursor; `None`
/// when the shard is past the last one (the ring lost a member since the
/// cursor was made: the walk is over, see docs/resharding.md on SCAN).
pub(crate) fn decode(cursor: &[u8], shards: usize) -> Result<Option<(usize, u64)>> {
    let bad = |detail: &str| Error::BadCommand { command: "SCAN".into(), detail: detail.to_owned() };
    let text = std::str::from_utf8(cursor).map_err(|_| bad("the cursor is not a number"))?;
    let c: u64 = text.parse().map_err(|_| bad("the cursor is not a number"))?;
    let shard = (c & SHARD_MASK) as usize;
    Ok((shard < shards).then_some((shard, c >> SHARD_BITS)))
}

/// The caller's next cursor after `shard` answered `next`: 0 only when the last
/// shard is done.
pub(crate) fn next_cursor(shard: usize, next: u64, shards: usize) -> Result<u64> {
    if next == 0 {
        return Ok(if shard + 1 < shards { (shard + 1) as u64 } else { 0 });
    }
    if next >> (64 - SHARD_BITS) != 0 {
        return Err(Error::BadCommand {
            command: "SCAN".into(),
            detail: format!("shard cursor {next} is too large to combine with a shard index"),
        });
    }
    Ok(next << SHARD_BITS | shard as u64)
}

/// The command for one shard: the caller's arguments with the shard's cursor.
pub(crate) fn shard_command(args: &[&[u8]], cursor: u64) -> Cmd {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor).arg(args.get(2..).unwrap_or_default());
    cmd
}

/// Rewrites a shard's `[cursor, keys]` reply with the combined cursor.
pub(crate) fn rewrite_reply(reply: Value, shard: usize, shards: usize) -> Result<Value> {
    let unexpected = || {
        Error::Redis(
            (redis::ErrorKind::UnexpectedReturnType, "disredis: SCAN reply is not [cursor, keys]").into(),
        )
    };
    let Value::Array(mut items) = reply else {
        return match reply {
            Value::ServerError(_) => Ok(reply),
            _ => Err(unexpected()),
        };
    };
    if items.len() != 2 {
        return Err(unexpected());
    }
    let next: u64 = match &items[0] {
        Value::BulkString(b) => {
            std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).ok_or_else(unexpected)?
        }
        Value::SimpleString(s) => s.parse().map_err(|_| unexpected())?,
        Value::Int(i) => u64::try_from(*i).map_err(|_| unexpected())?,
        _ => return Err(unexpected()),
    };
    items[0] = Value::BulkString(next_cursor(shard, next, shards)?.to_string().into_bytes());
    // The tombstone hashes of a ring change are the library's, not the application's.
    if let Value::Array(keys) = &mut items[1] {
        keys.retain(|k| !matches!(k, Value::BulkString(k) if k.starts_with(crate::change::TOMBSTONE_PREFIX.as_bytes())));
    }
    Ok(Value::Array(items))
}
