//! Config-file text for data nodes and sentinels, and the runtime-only Sentinel timers.

use super::{HOST, Shard};

pub(super) const DOWN_AFTER_MS: u32 = 500;
/// The same for a proxied topology ([`Topology::start_proxied`](super::Topology::start_proxied)):
/// every byte there crosses a userspace proxy, shared by the partition tests
/// running at once, and under that load 500 ms let a Sentinel fail a healthy
/// master over now and then (a second failover in the middle of a scenario).
/// 1,500 ms is also what the partition issue measured with.
pub(super) const PROXIED_DOWN_AFTER_MS: u32 = 1500;
/// Sentinel k (from 0) uses `DOWN_AFTER_MS + k * DOWN_AFTER_STAGGER_MS`. With equal values
/// both Sentinels sometimes reach ODOWN in the same millisecond, each votes for itself
/// (`-failover-abort-not-elected`) and the retry comes ~5 s later (seen 3 times in ~110
/// failovers under parallel load); staggering lets one of them start the election first.
pub(super) const DOWN_AFTER_STAGGER_MS: u32 = 100;
/// Must be well above 1000 ms: Sentinel polls the promoted replica's INFO every 1000 ms
/// (hard-coded) during a failover; with 500 ms every failover aborted at least once.
const FAILOVER_TIMEOUT_MS: u32 = 2000;
/// Runtime-only Sentinel timers (not stored in the config; resent after every sentinel start).
pub(super) const FAST_PROFILE: [&str; 9] =
    ["DEBUG", "ping-period", "300", "ask-period", "100", "publish-period", "100", "info-period", "1000"];

/// `master`: the port the replica replicates from; `announce`: the port it
/// tells its master (and so the Sentinels) to reach it on.
pub(super) fn data_conf(port: u16, master: Option<u16>, announce: Option<u16>) -> String {
    let mut conf = format!(
        "bind {HOST}\n\
         port {port}\n\
         daemonize no\n\
         dir \"@DIR@\"\n\
         logfile \"@DIR@/redis.log\"\n\
         save \"\"\n\
         appendonly no\n\
         repl-diskless-sync yes\n\
         repl-diskless-sync-delay 0\n\
         rdb-del-sync-files yes\n"
    );
    if let Some(master) = master {
        conf.push_str(&format!("replicaof {HOST} {master}\n"));
    }
    if let Some(announce) = announce {
        conf.push_str(&format!("replica-announce-ip {HOST}\nreplica-announce-port {announce}\n"));
    }
    conf
}

/// `announce`: the port the other Sentinels reach this one on.
pub(super) fn sentinel_conf(
    port: u16,
    shards: &[Shard],
    quorum: usize,
    down_after_ms: u32,
    announce: Option<u16>,
) -> String {
    let mut conf = format!(
        "bind {HOST}\n\
         port {port}\n\
         daemonize no\n\
         dir \"@DIR@\"\n\
         logfile \"@DIR@/sentinel.log\"\n"
    );
    if let Some(announce) = announce {
        conf.push_str(&format!("sentinel announce-ip {HOST}\nsentinel announce-port {announce}\n"));
    }
    for s in shards {
        let n = &s.name;
        conf.push_str(&format!(
            "sentinel monitor {n} {HOST} {} {quorum}\n\
             sentinel down-after-milliseconds {n} {down_after_ms}\n\
             sentinel failover-timeout {n} {FAILOVER_TIMEOUT_MS}\n\
             sentinel parallel-syncs {n} 1\n",
            s.seen_port
        ));
    }
    conf
}
