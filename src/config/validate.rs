//! [`Builder::build`]: the validation of a [`Builder`]'s settings into a
//! [`Config`], each refusal an [`Error::Config`] naming the field. Pure.

use std::time::Duration;

use super::{Builder, Config, NodeAddr};
use crate::error::{Error, Result};

impl Builder {
    /// Validates the settings.
    pub fn build(self) -> Result<Config> {
        if self.sentinels.is_empty() {
            return refused("sentinels", "", "at least one Sentinel address is required");
        }
        let mut sentinels: Vec<NodeAddr> = Vec::with_capacity(self.sentinels.len());
        for s in &self.sentinels {
            let addr = NodeAddr::parse_field("sentinels", s.trim())?;
            if !sentinels.contains(&addr) {
                sentinels.push(addr);
            }
        }
        if let Some(masters) = &self.masters {
            if masters.is_empty() {
                return refused(
                    "masters",
                    "",
                    "an empty filter selects no shard; omit it to use every master",
                );
            }
            for m in masters {
                if m.is_empty() || m.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
                    return refused("masters", m.as_str(), "a master name is non-empty and has no spaces");
                }
            }
        }
        #[cfg(feature = "tls")]
        for (field, tls) in [("tls", &self.redis_auth.tls), ("sentinel_tls", &self.sentinel_auth.tls)] {
            if let Some(tls) = tls {
                tls.validate(field)?;
            }
        }
        if self.db < 0 {
            return refused("db", self.db.to_string(), "database numbers start at 0");
        }
        let positive = |field, d: Duration| match d.is_zero() {
            true => refused(field, format!("{d:?}"), "must be greater than zero"),
            false => Ok(()),
        };
        positive("connect_timeout", self.connect_timeout)?;
        if let Some(t) = self.response_timeout {
            positive("response_timeout", t)?;
        }
        if let Some(t) = self.tcp_keepalive {
            positive("tcp_keepalive", t)?;
        }
        positive("sentinel_timeout", self.sentinel_timeout)?;
        if self.sentinel_quorum == 0 {
            return refused(
                "sentinel_quorum",
                "0",
                "at least one Sentinel must name a master (1 is the default)",
            );
        }
        positive("failover_deadline", self.failover_deadline)?;
        if let Some(t) = self.shard_down_after {
            positive("shard_down_after", t)?;
        }
        positive("backoff", self.backoff.0)?;
        positive("poll_interval", self.poll_interval)?;
        positive("ring_poll_interval", self.ring_poll_interval)?;
        if let Some((n, t)) = self.wait_replicas {
            if n == 0 {
                return refused(
                    "wait_replicas",
                    "0",
                    "waiting for 0 replicas does nothing; leave the option off",
                );
            }
            positive("wait_replicas", t)?;
        }
        if self.backoff.0 > self.backoff.1 {
            return refused(
                "backoff",
                format!("{:?}..{:?}", self.backoff.0, self.backoff.1),
                "min must not exceed max",
            );
        }
        #[cfg(feature = "cache")]
        if let Some(cache) = &self.client_cache {
            if cache.max_bytes < 1024 {
                return refused(
                    "client_cache",
                    cache.max_bytes.to_string(),
                    "max_bytes is at least 1 KiB (1024)",
                );
            }
            positive("client_cache", cache.ttl)?;
            if self.wait_replicas.is_some() {
                return refused(
                    "client_cache",
                    "with wait_replicas",
                    "durability mode can't be combined with the client cache: an entry could hold a write no \
                     replica has yet",
                );
            }
        }
        let mut masters = self.masters;
        if let Some(m) = masters.as_mut() {
            m.sort();
            m.dedup();
        }
        Ok(Config {
            sentinels,
            masters,
            redis_auth: self.redis_auth,
            sentinel_auth: self.sentinel_auth,
            db: self.db,
            connect_timeout: self.connect_timeout,
            response_timeout: self.response_timeout,
            tcp_nodelay: self.tcp_nodelay,
            tcp_keepalive: self.tcp_keepalive,
            sentinel_timeout: self.sentinel_timeout,
            sentinel_quorum: self.sentinel_quorum,
            failover_deadline: self.failover_deadline,
            shard_down_after: self.shard_down_after,
            backoff_min: self.backoff.0,
            backoff_max: self.backoff.1,
            retry_non_idempotent: self.retry_non_idempotent,
            fence_writes: self.fence_writes,
            read_from: self.read_from,
            wait_replicas: self.wait_replicas,
            address_map: self.address_map,
            watch: self.watch,
            poll_interval: self.poll_interval,
            ring_poll_interval: self.ring_poll_interval,
            #[cfg(feature = "cache")]
            client_cache: self.client_cache,
        })
    }
}

/// An [`Error::Config`]: `value` of `field` is refused for `reason`.
fn refused<T>(field: &'static str, value: impl Into<String>, reason: &'static str) -> Result<T> {
    Err(Error::Config { field, value: value.into(), reason })
}
