//! [`SentinelView`]: every known Sentinel asked on its own where each shard's
//! master is, for an operator to see whether they agree (`disredis topology`).

use super::Sentinels;
use crate::config::NodeAddr;
use crate::error::Result;

impl Sentinels {
    /// Asks every known Sentinel, each on its own, where each of `names` has its
    /// master (`GET-MASTER-ADDR-BY-NAME`, addresses mapped): for an operator to
    /// see whether the Sentinels agree. Unlike the other queries this does not
    /// stop at the first answer, and moves no Sentinel to the front.
    pub(crate) async fn ask_each(&self, names: &[String]) -> Vec<SentinelView> {
        let one = |addr: NodeAddr| async move {
            let masters = match self.connect(&addr).await {
                Ok(con) => {
                    let lookups = names.iter().map(|name| {
                        let (mut con, addr) = (con.clone(), &addr);
                        async move { Ok(self.master_at(&mut con, addr, name).await?.map(|a| a.to_string())) }
                    });
                    futures_util::future::join_all(lookups).await
                }
                Err(e) => names.iter().map(|_| Err(e.clone())).collect(),
            };
            SentinelView { sentinel: addr.to_string(), masters }
        };
        futures_util::future::join_all(self.addrs().into_iter().map(one)).await
    }
}

/// What one Sentinel says about where each shard's master is, from
/// [`DisredisClient::sentinel_views`](crate::DisredisClient::sentinel_views).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SentinelView {
    /// The Sentinel asked, `host:port`.
    pub sentinel: String,
    /// Per shard, in [`shard_names`](crate::DisredisClient::shard_names) order:
    /// the master address it names (after the address map), `Ok(None)` when it
    /// does not monitor that name, or why it could not be asked.
    pub masters: Vec<Result<Option<String>>>,
}
