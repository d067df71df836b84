//! Where a master is: the first Sentinel's answer, the answer past a
//! Sentinel that missed a failover (`master_addr_past`), or the one a quorum
//! of Sentinels agrees on (`sentinel_quorum`). Part of [`Sentinels`]: the same
//! connections, the same order of trying.

use redis::aio::MultiplexedConnection;
use tracing::{debug, warn};

use super::quorum::Tally;
use super::reply::{self, MasterEntry, parse_master_addr};
use super::{Sentinels, query};
use crate::config::NodeAddr;
use crate::error::{Error, Result};

impl Sentinels {
    /// `SENTINEL GET-MASTER-ADDR-BY-NAME <name>` on the first Sentinel that knows
    /// it, or with `sentinel_quorum` above 1 the address enough Sentinels agree
    /// on ([`Error::NoQuorum`] when they don't).
    pub(crate) async fn master_addr(&self, name: &str) -> Result<NodeAddr> {
        if self.quorum > 1 {
            return self.agreed_master_addr(name).await;
        }
        self.ask(reply::GET_MASTER_ADDR, |mut con, addr| async move {
            self.master_at(&mut con, &addr, name).await
        })
        .await
    }

    /// [`master_addr`](Self::master_addr) for a shard a `+switch-master`
    /// moved away from `stale` (`Shard::supersede`): with a quorum of 1, a
    /// Sentinel that names `stale` missed that failover (one cut off with the
    /// old master) and is passed over for the next, unless every Sentinel that
    /// answers names it (then it is the master again).
    pub(crate) async fn master_addr_past(&self, name: &str, stale: Option<&NodeAddr>) -> Result<NodeAddr> {
        let Some(stale) = stale.filter(|_| self.quorum == 1) else { return self.master_addr(name).await };
        let passed = std::sync::atomic::AtomicBool::new(false);
        let found = self
            .ask(reply::GET_MASTER_ADDR, |mut con, addr| {
                let passed = &passed;
                async move {
                    let named = self.master_at(&mut con, &addr, name).await?;
                    if named.as_ref() == Some(stale) {
                        debug!(sentinel = %addr, shard = %name, named = %stale, "this Sentinel names the master a +switch-master left: asking the next");
                        passed.store(true, std::sync::atomic::Ordering::Relaxed);
                        return Ok(None);
                    }
                    Ok(named)
                }
            })
            .await;
        match found {
            Err(Error::NoSentinel { .. }) if passed.load(std::sync::atomic::Ordering::Relaxed) => {
                Ok(stale.clone())
            }
            other => other,
        }
    }

    /// `GET-MASTER-ADDR-BY-NAME <name>` on the Sentinel at `addr`, the address mapped.
    pub(super) async fn master_at(
        &self,
        con: &mut MultiplexedConnection,
        addr: &NodeAddr,
        name: &str,
    ) -> Result<Option<NodeAddr>> {
        let reply = query(con, addr, reply::GET_MASTER_ADDR, Some(name)).await?;
        Ok(parse_master_addr(addr, reply)?.map(|a| self.map(a)))
    }

    /// Asks every known Sentinel at once where `name` has its master and counts
    /// the answers as they come ([`Tally`]): the address at least `quorum` of
    /// them name, as soon as no other can get as many. Moves no Sentinel to the
    /// front; keeps each answering Sentinel's connection.
    async fn agreed_master_addr(&self, name: &str) -> Result<NodeAddr> {
        use futures_util::StreamExt;
        let asked = self.addrs();
        let mut tally = Tally::new(self.quorum, asked.len());
        let mut answers: futures_util::stream::FuturesUnordered<_> = asked
            .into_iter()
            .map(|addr| async move {
                let said = async {
                    let mut con = self.connect(&addr).await?;
                    Ok::<_, Error>((self.master_at(&mut con, &addr, name).await?, con))
                }
                .await;
                (addr, said)
            })
            .collect();
        while let Some((addr, said)) = answers.next().await {
            let said = match said {
                Ok((master, con)) => {
                    self.mark(&addr, None);
                    self.cached.lock().insert(addr.clone(), con);
                    Ok(master)
                }
                Err(e) => {
                    self.failed(&addr, reply::GET_MASTER_ADDR, &e);
                    Err(e.to_string())
                }
            };
            tally.add(&addr, said);
            if let Some(agreed) = tally.decided() {
                return Ok(agreed.clone());
            }
        }
        let e = tally.into_error(name);
        warn!(master = %name, error = %e, "the Sentinels do not agree on a master");
        Err(e)
    }

    /// With `sentinel_quorum` above 1: replaces each address `SENTINEL MASTERS`
    /// gave (one Sentinel's word) with the one the Sentinels agree on, or `None`
    /// (resolved again on first use) when they don't. [`Error::Config`] when the
    /// quorum is more than the Sentinels known now: no lookup could ever succeed.
    pub(super) async fn agree_on(&self, masters: &mut [MasterEntry]) -> Result<()> {
        let known = self.addrs().len();
        if self.quorum > known {
            return Err(Error::Config {
                field: "sentinel_quorum",
                value: format!("{} (with {known} Sentinels known after discovery)", self.quorum),
                reason: "more than the Sentinels known, configured and learned: no master could be agreed on",
            });
        }
        let names: Vec<String> = masters.iter().map(|m| m.name.clone()).collect();
        let agreed = futures_util::future::join_all(names.iter().map(|n| self.agreed_master_addr(n))).await;
        for (m, agreed) in masters.iter_mut().zip(agreed) {
            m.addr = agreed.ok();
        }
        Ok(())
    }
}
