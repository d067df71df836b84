//! Bringing an [`Executor`] up: discovery, the first connections, the ring,
//! and the background tasks that follow Sentinel and the ring.

use std::sync::Arc;

use parking_lot::RwLock;
use tracing::warn;

use super::Executor;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::Events;
use crate::keys::learned::Learned;
use crate::membership;
use crate::ring::{UNREAD, client_name};
use crate::sentinel::Sentinels;
use crate::sentinel::switch;
use crate::topology::{CurrentTable, ShardTable, Where, open_masters};

impl Executor {
    /// Discovers the masters through the first Sentinel that answers, connects
    /// to the seed masters (the `masters` filter, or all of them), adopts the
    /// ring they hold (see `membership`: version 1 of the seed when there is
    /// none), and starts following `+switch-master` (unless `watch` is off).
    ///
    /// [`Error::NoSentinel`] when no Sentinel answers, [`Error::NoMasters`] when it
    /// monitors none and [`Error::UnknownMaster`] when the `masters` filter names
    /// one it does not monitor. A shard whose master can't be reached now is not
    /// an error: it is resolved again on first use (a failover may be under way).
    pub(crate) async fn connect(config: Config) -> Result<Executor> {
        let events = Events::default();
        let sentinels = Arc::new(Sentinels::new(&config, events.clone()));
        let (sentinel, masters) = sentinels.discover().await?;
        if masters.is_empty() {
            return Err(Error::NoMasters { sentinel: sentinel.to_string() });
        }
        let known: Vec<String> = masters.iter().map(|m| m.name.clone()).collect();
        let seed = match &config.masters {
            Some(filter) => {
                let missing: Vec<String> = filter.iter().filter(|n| !known.contains(n)).cloned().collect();
                if !missing.is_empty() {
                    return Err(Error::UnknownMaster { sentinel: sentinel.to_string(), missing, known });
                }
                filter.clone()
            }
            None => known.clone(),
        };
        let config = Arc::new(config);
        #[cfg(feature = "cache")]
        let cache = config.client_cache.as_ref().map(|c| Arc::new(crate::cache::ClientCache::new(c)));
        #[cfg(feature = "cache")]
        let tracking =
            cache.clone().map(|cache| -> crate::wire::PushSink { Arc::new(move |p| cache.on_push(&p)) });
        #[cfg(not(feature = "cache"))]
        let tracking = None;
        // Every seed master Sentinel reported up, at once, named after no
        // ring yet: the fence counts them while the ring is read over them.
        let seed_at = masters.into_iter().filter(|m| seed.contains(&m.name));
        let seed_at = seed_at.filter_map(|m| Some((m.name, Where::At(m.addr?)))).collect();
        let (mut conns, fatal) =
            open_masters(seed_at, &client_name(UNREAD), &sentinels, &config, tracking.as_ref()).await;
        fatal?;
        conns.sort_by(|a, b| a.0.cmp(&b.0));
        let mut named: Vec<_> = conns.iter().map(|(n, _, c)| (n.clone(), c.clone())).collect();
        let ring = membership::load(&mut named, &seed).await?;
        crate::metrics::ring_version(ring.version);
        let names = ring.names();
        let unrouted: Vec<String> = seed.iter().filter(|n| !names.contains(n)).cloned().collect();
        for name in &unrouted {
            warn!(master = %name, version = ring.version, "Sentinel monitors this master but the ring does not list it: not routed to (disredis ring lists it)");
        }
        for name in ring.members.iter().filter(|n| !known.contains(n)) {
            warn!(master = %name, "a ring member Sentinel does not monitor: its keys can't be reached");
        }
        let shards = ShardTable::new(ring, unrouted, &events, tracking)
            .ok_or_else(|| Error::NoMasters { sentinel: sentinel.to_string() })?;
        let open = conns.into_iter().map(|(name, addr, conn)| (name, Where::Open(addr, conn))).collect();
        shards.bring_up(open, &sentinels, &config).await?;
        let table = Arc::new(CurrentTable::new(shards));
        let mut stops = Vec::new();
        let names: switch::Names = Arc::new(RwLock::new(table.latest().names().into_iter().collect()));
        if config.watch {
            let (stop, sightings) = switch::watch(sentinels.clone(), names.clone(), config.poll_interval);
            tokio::spawn(table.clone().follow(sightings, config.clone()));
            stops.push(stop);
        }
        let follower = membership::Follower {
            table: table.clone(),
            sentinels: sentinels.clone(),
            config: config.clone(),
            events: events.clone(),
            seed,
            names,
            warned: Default::default(),
        };
        stops.push(follower.start());
        Ok(Executor {
            config,
            sentinels,
            table,
            learned: Learned::default(),
            events,
            stops: parking_lot::Mutex::new(stops),
            closed: Default::default(),
            #[cfg(feature = "cache")]
            cache,
        })
    }
}
