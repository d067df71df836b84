//! The subscription commands on one master's link: bringing it to carry
//! exactly what it should.

use std::collections::BTreeSet;

use redis::aio::MultiplexedConnection;

use super::{Carry, Link};

/// Subscribes and unsubscribes `link` to carry exactly `want`.
pub(super) async fn sync(link: &mut Link, want: &Carry) -> redis::RedisResult<()> {
    let have = &link.carries;
    let diff = |want: &BTreeSet<Vec<u8>>, have: &BTreeSet<Vec<u8>>| -> Vec<Vec<u8>> {
        want.difference(have).cloned().collect()
    };
    let conn = &mut link.conn;
    let (add, remove) = (diff(&want.channels, &have.channels), diff(&have.channels, &want.channels));
    if !add.is_empty() {
        conn.subscribe(&add).await?;
    }
    if !remove.is_empty() {
        conn.unsubscribe(&remove).await?;
    }
    let (add, remove) = (diff(&want.patterns, &have.patterns), diff(&have.patterns, &want.patterns));
    if !add.is_empty() {
        conn.psubscribe(&add).await?;
    }
    if !remove.is_empty() {
        conn.punsubscribe(&remove).await?;
    }
    let (add, remove) = (diff(&want.shard, &have.shard), diff(&have.shard, &want.shard));
    for (command, names) in [("SSUBSCRIBE", add), ("SUNSUBSCRIBE", remove)] {
        if !names.is_empty() {
            shard_command(conn, command, &names).await?;
        }
    }
    link.carries = want.clone();
    Ok(())
}

/// `SSUBSCRIBE`/`SUNSUBSCRIBE` on a RESP3 connection: redis-rs has them only
/// for cluster connections. Their confirmations are pushes, not replies, so a
/// `PING` after them is what the connection waits for: once it answers, the
/// server has made the (un)subscriptions.
async fn shard_command(
    conn: &mut MultiplexedConnection,
    command: &str,
    names: &[Vec<u8>],
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.cmd(command).arg(names).cmd("PING");
    let replies = conn.send_packed_commands(&pipe, 0, 1).await?;
    match replies.first() {
        Some(redis::Value::ServerError(e)) => Err(e.clone().into()),
        _ => Ok(()),
    }
}
