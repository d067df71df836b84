//! Bringing up a shard table: a named, `ROLE`-checked connection to every
//! shard's master at once, at connect and whenever the client follows a new ring.

use crate::wire::{PushSink, Wire};
use futures_util::future::join_all;
use tracing::{Instrument, info_span, warn};

use super::ShardTable;
use crate::config::{Config, NodeAddr};
use crate::connect::{connect_master, set_name};
use crate::error::{Error, Result};
use crate::retry::is_fatal;
use crate::ring::client_name;
use crate::sentinel::Sentinels;

/// Where a master is found.
pub(crate) enum Where {
    /// Connected already (at connect, named [`crate::ring::UNREAD`] while the
    /// ring was read over it): named again.
    Open(NodeAddr, Wire),
    /// At this address: Sentinel's at discovery; in [`ShardTable::bring_up`] the
    /// replaced table's, carried over.
    At(NodeAddr),
    /// Sentinel is asked.
    Ask,
}

/// Connects to every master of `masters` at once, each connection named
/// `name` in the round trip of its `ROLE` check so the reshard fence counts
/// it from its first moment; returns those that connected, and the first
/// fatal error (`retry::is_fatal`: credentials, TLS) if there was one. One
/// that failed otherwise is logged and resolves on first use (a failover may
/// be under way). The connects wait
/// side by side on the caller's task, not on tasks of their own: a panic in
/// one is the caller's, never a connection silently skipped.
pub(crate) async fn open_masters(
    masters: Vec<(String, Where)>,
    name: &str,
    sentinels: &Sentinels,
    config: &Config,
    tracking: Option<&PushSink>,
) -> (Vec<(String, NodeAddr, Wire)>, Result<()>) {
    let span = info_span!("bring_up", client_name = name, masters = masters.len());
    let each = masters.into_iter().map(|(master, at)| async move {
        let opened = async {
            let addr = match at {
                Where::Open(addr, mut conn) => {
                    set_name(&mut conn, name).await;
                    return Ok((addr, conn));
                }
                Where::At(addr) => addr,
                Where::Ask => sentinels.master_addr(&master).await?,
            };
            let conn =
                connect_master(&master, &addr, config, config.response_timeout, Some(name), tracking).await?;
            Ok::<_, Error>((addr, conn))
        }
        .await;
        (master, opened)
    });
    sort_out(join_all(each).instrument(span).await)
}

/// What connected, and the first fatal error; the other failures logged.
fn sort_out<C>(outcomes: Vec<(String, Result<(NodeAddr, C)>)>) -> (Vec<(String, NodeAddr, C)>, Result<()>) {
    let (mut opened, mut fatal) = (Vec::new(), Ok(()));
    for (master, outcome) in outcomes {
        match outcome {
            Ok((addr, conn)) => opened.push((master, addr, conn)),
            Err(e) if is_fatal(&e) => fatal = fatal.and(Err(e)),
            Err(e) => {
                warn!(shard = %master, error = %e, "first connect failed; will re-resolve on first use")
            }
        }
    }
    (opened, fatal)
}

impl ShardTable {
    /// Brings this new table up: [`open_masters`] named after its ring for
    /// the shards `masters` lists, each connection installed (also when
    /// another met a fatal error, which is returned). A shard found
    /// [`Where::At`] is carried over (`Shard::carry_over`: its first
    /// connection there is no switch); one not listed or not reached
    /// resolves on first use.
    pub(crate) async fn bring_up(
        &self,
        mut masters: Vec<(String, Where)>,
        sentinels: &Sentinels,
        config: &Config,
    ) -> Result<()> {
        masters.retain(|(name, at)| match (self.shard(name), at) {
            (Some(shard), Where::At(addr)) => {
                shard.carry_over(addr.clone());
                true
            }
            (found, _) => found.is_some(),
        });
        let (opened, fatal) =
            open_masters(masters, &client_name(self.ring.version), sentinels, config, self.tracking.as_ref())
                .await;
        for (name, addr, conn) in opened {
            if let Some(shard) = self.shard(&name) {
                shard.install(addr, conn);
            }
        }
        fatal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_connected_is_kept_a_fatal_error_returned_others_left_out() {
        let addr = NodeAddr::parse("127.0.0.1:7000").unwrap();
        let io = Error::Redis((redis::ErrorKind::Io, "connection refused").into());
        let (kept, fatal) = sort_out(vec![("a".into(), Ok((addr.clone(), 1))), ("b".into(), Err(io))]);
        assert_eq!((kept, fatal.is_ok()), (vec![("a".to_owned(), addr.clone(), 1)], true));
        let auth = Error::Auth { node: addr.to_string(), role: "master", detail: "refused".into() };
        let (kept, fatal) = sort_out(vec![("a".into(), Ok((addr.clone(), 1))), ("b".into(), Err(auth))]);
        assert_eq!(kept, vec![("a".to_owned(), addr, 1)], "kept, for a caller that goes on");
        assert!(matches!(fatal, Err(Error::Auth { .. })));
    }
}
