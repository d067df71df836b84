//! The subscription commands on one master's link: bringing it to carry
//! exactly what it should.

use redis::aio::MultiplexedConnection;

use super::{Carry, Kind, Link};

/// Subscribes and unsubscribes `link` to carry exactly `want`.
pub(super) async fn sync(link: &mut Link, want: &Carry) -> redis::RedisResult<()> {
    let Link { conn, carries: have, .. } = link;
    let sets = [
        (Kind::Channel, &want.channels, &have.channels),
        (Kind::Pattern, &want.patterns, &have.patterns),
        (Kind::Shard, &want.shard, &have.shard),
    ];
    for (kind, want, have) in sets {
        for (add, names) in [(true, want.difference(have)), (false, have.difference(want))] {
            let names: Vec<Vec<u8>> = names.cloned().collect();
            match (kind, add) {
                _ if names.is_empty() => {}
                (Kind::Channel, true) => conn.subscribe(&names).await?,
                (Kind::Channel, false) => conn.unsubscribe(&names).await?,
                (Kind::Pattern, true) => conn.psubscribe(&names).await?,
                (Kind::Pattern, false) => conn.punsubscribe(&names).await?,
                (Kind::Shard, true) => shard_command(conn, "SSUBSCRIBE", &names).await?,
                (Kind::Shard, false) => shard_command(conn, "SUNSUBSCRIBE", &names).await?,
            }
        }
    }
    *have = want.clone();
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
