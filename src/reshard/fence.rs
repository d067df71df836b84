//! The fence: waiting until every disredis connection on the masters follows
//! a ring version, as `CLIENT LIST` shows it (each connection is named
//! `disredis:ring=<version>`). A connection still on an older version after
//! the grace time is a straggler: reported, and ended with `CLIENT KILL` when
//! the operator asked for it (the client reads the ring when it reconnects).
//! A blocked one (a `BLPOP` waiting) is unblocked at once with `CLIENT
//! UNBLOCK`: its command returns as on timeout and the next one goes out
//! under the new ring.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use redis::Value;
use tracing::{info, warn};

use super::masters::Masters;
use super::{Options, Step};
use crate::error::Result;

/// How often the fence reads `CLIENT LIST`.
const POLL: Duration = Duration::from_millis(100);

/// A disredis connection that follows an older ring than the fence waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Straggler {
    /// The master (name) it is connected to.
    pub master: String,
    /// The client's address, as `CLIENT LIST` shows it.
    pub addr: String,
    /// The connection's name (`disredis:ring=<version>`).
    pub name: String,
    /// The version it follows.
    pub version: u64,
    /// How long it has been connected.
    pub age: Duration,
}

/// One `CLIENT LIST` entry of a disredis connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    pub id: u64,
    pub addr: String,
    pub version: u64,
    pub age_s: u64,
    /// Waiting in a blocking command (`flags` holds `b`).
    pub blocked: bool,
}

/// The disredis connections of a `CLIENT LIST` reply.
pub(crate) fn named(list: &str) -> Vec<Named> {
    list.lines()
        .filter_map(|line| {
            let field = |key: &str| line.split(' ').find_map(|f| f.strip_prefix(key));
            Some(Named {
                id: field("id=")?.parse().ok()?,
                version: field("name=disredis:ring=")?.parse().ok()?,
                addr: field("addr=").unwrap_or("?").to_owned(),
                age_s: field("age=").and_then(|a| a.parse().ok()).unwrap_or(0),
                blocked: field("flags=").is_some_and(|f| f.contains('b')),
            })
        })
        .collect()
}

/// Waits until no connection on `names`' masters follows a version below
/// `version`; returns how long that took.
pub(crate) async fn fence(
    masters: &mut Masters<'_>,
    names: &[String],
    version: u64,
    options: &Options,
    progress: &mut (dyn FnMut(Step) + Send),
) -> Result<Duration> {
    let started = Instant::now();
    let mut reported = started;
    let mut unblocked: HashSet<(String, u64)> = HashSet::new();
    loop {
        let mut late = Vec::new();
        for name in names {
            let list = masters.query(name, redis::cmd("CLIENT").arg("LIST")).await?;
            let list = match list {
                Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                Value::VerbatimString { text, .. } => text,
                _ => String::new(),
            };
            for conn in named(&list).into_iter().filter(|c| c.version < version) {
                if conn.blocked && unblocked.insert((name.clone(), conn.id)) {
                    info!(master = %name, addr = %conn.addr, "fence: unblocking a blocked connection of an old ring");
                    masters.query(name, redis::cmd("CLIENT").arg("UNBLOCK").arg(conn.id)).await?;
                }
                late.push((name.clone(), conn));
            }
        }
        if late.is_empty() {
            return Ok(started.elapsed());
        }
        let waited = started.elapsed();
        if waited >= options.grace && reported.elapsed() >= options.grace.min(Duration::from_secs(5)) {
            reported = Instant::now();
            let list: Vec<Straggler> = late
                .iter()
                .map(|(master, c)| Straggler {
                    master: master.clone(),
                    addr: c.addr.clone(),
                    name: crate::ring::client_name(c.version),
                    version: c.version,
                    age: Duration::from_secs(c.age_s),
                })
                .collect();
            warn!(stragglers = list.len(), version, "fence: connections still follow an older ring");
            progress(Step::Stragglers { version, waited, stragglers: list });
        }
        if let Some(after) = options.kill_stragglers_after
            && waited >= after
        {
            for (master, conn) in &late {
                warn!(%master, addr = %conn.addr, version = conn.version, "fence: ending a straggler (CLIENT KILL)");
                masters.query(master, redis::cmd("CLIENT").arg("KILL").arg("ID").arg(conn.id)).await?;
            }
            progress(Step::Killed { count: late.len() });
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_list_entries_of_disredis_connections() {
        let list = "id=3 addr=127.0.0.1:5 name=disredis:ring=2 age=1 flags=N cmd=get\n\
                    id=5 addr=127.0.0.1:7 name=disredis:ring=1 age=9 flags=b cmd=blpop\n\
                    id=6 addr=127.0.0.1:8 name= age=1\n\
                    id=7 addr=127.0.0.1:9 name=disredis:ring=x age=1\n";
        let found = named(list);
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[1],
            Named { id: 5, addr: "127.0.0.1:7".into(), version: 1, age_s: 9, blocked: true }
        );
        assert!(!found[0].blocked);
    }
}
