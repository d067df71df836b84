//! The subscription commands on one master's link: bringing it to carry
//! exactly what it should.

use redis::Value;

use super::{Carry, Kind, Link};
use crate::wire::Wire;
use crate::wire::reply::Expect;

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
            let names: Vec<&Vec<u8>> = names.collect();
            if names.is_empty() {
                continue;
            }
            let command = match (kind, add) {
                (Kind::Channel, true) => "SUBSCRIBE",
                (Kind::Channel, false) => "UNSUBSCRIBE",
                (Kind::Pattern, true) => "PSUBSCRIBE",
                (Kind::Pattern, false) => "PUNSUBSCRIBE",
                (Kind::Shard, true) => "SSUBSCRIBE",
                (Kind::Shard, false) => "SUNSUBSCRIBE",
            };
            subscription(conn, command, &names).await?;
        }
    }
    *have = want.clone();
    Ok(())
}

/// One (un)subscription command on a RESP3 connection. Its confirmations
/// are pushes (to the link's sink, which drops them), not replies, so a
/// `PING` after it is what the request waits for: once it answers, the
/// server has made the (un)subscriptions. A refusal (an ACL's `NOPERM`) is
/// a reply and comes in the `PING`'s place; the `PONG` after it has no
/// request left, which fails the link, and the manager makes a new one.
async fn subscription(conn: &Wire, command: &str, names: &[&Vec<u8>]) -> redis::RedisResult<()> {
    let mut change = redis::cmd(command);
    change.arg(names);
    let pack = |b: &mut Vec<u8>| {
        change.write_packed_command(b);
        redis::cmd("PING").write_packed_command(b);
    };
    match conn.request(pack, Expect::One, None).await?.one()? {
        Value::ServerError(e) => Err(e.into()),
        _ => Ok(()),
    }
}
