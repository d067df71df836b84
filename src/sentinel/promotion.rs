//! Whether Sentinel will give a shard without a usable master a new one:
//! the judgement of `SENTINEL MASTER` and `SENTINEL REPLICAS` behind the
//! dead-shard rule (`execute::down`). Pure: no I/O; every moment is passed in.

/// What Sentinel says about giving a shard without a usable master a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Promotion {
    /// A failover is under way (`failover_in_progress` on the master, or a
    /// replica flagged `promoted`): wait for it.
    InProgress,
    /// Not under way, but a replica could be promoted: one Sentinel does not
    /// flag down, or flags down only for a moment (see [`judge_promotion`]).
    Possible,
    /// No failover and no replica to promote: nothing Sentinel does will give
    /// the shard a master until a node comes back.
    Impossible,
    /// Sentinel hears the master (not flagged down, answered within the
    /// threshold): no failover is coming, and only this client can't reach
    /// it (a partition on the client's side).
    NotNeeded,
}

/// The master as `SENTINEL MASTER` describes it: its flags, when Sentinel
/// last heard it (`last-ok-ping-reply`, ms) and the role it reports in its
/// `INFO` (`role-reported`).
pub(crate) struct MasterSeen {
    pub(crate) flags: String,
    pub(crate) last_ok_ms: Option<u64>,
    pub(crate) role_reported: Option<String>,
}

/// One replica as `SENTINEL REPLICAS` describes it: its flags
/// (comma-separated) and `last-ok-ping-reply` (ms since Sentinel last heard
/// it; `None` when absent or not a number).
pub(crate) struct ReplicaSeen {
    pub(crate) flags: String,
    pub(crate) last_ok_ms: Option<u64>,
    /// `replica-priority` (`slave-priority` before Redis 5): 0 is never promoted.
    pub(crate) priority: Option<u64>,
}

/// Judges `SENTINEL MASTER` and the replicas. The master counts as heard
/// when Sentinel does not flag it down, heard it within `silent` and it
/// reports the master role (a dead or frozen master is silent at least as
/// long as the client's outage, so this never reads a dead one as healthy;
/// one demoted behind Sentinel's back reports `slave`, and Sentinel will
/// reconfigure). A replica counts as
/// promotable unless its priority is 0 or Sentinel flags it down
/// (`s_down`, `o_down`, `disconnected`) and has not heard from it for `silent`:
/// on a loaded host Sentinel flags a live replica `s_down` for a moment
/// (measured in the chaos tests: a failover that took 6 s), and that must not
/// read as "no replica".
pub(crate) fn judge_promotion(
    master: &MasterSeen,
    replicas: &[ReplicaSeen],
    silent: std::time::Duration,
) -> Promotion {
    let has = |flags: &str, wanted: &[&str]| flags.split(',').any(|f| wanted.contains(&f));
    if has(&master.flags, &["failover_in_progress"]) || replicas.iter().any(|r| has(&r.flags, &["promoted"]))
    {
        return Promotion::InProgress;
    }
    let silent_ms = silent.as_millis() as u64;
    if !has(&master.flags, &["s_down", "o_down", "disconnected"])
        && master.last_ok_ms.is_some_and(|ms| ms < silent_ms)
        && master.role_reported.as_deref() == Some("master")
    {
        return Promotion::NotNeeded;
    }
    let promotable = |r: &ReplicaSeen| {
        r.priority != Some(0)
            && (!has(&r.flags, &["s_down", "o_down", "disconnected"])
                || r.last_ok_ms.is_some_and(|ms| ms < silent_ms))
    };
    match replicas.iter().any(promotable) {
        true => Promotion::Possible,
        false => Promotion::Impossible,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_follows_the_flags() {
        let r = |flags: &str, last_ok_ms: Option<u64>, priority: Option<u64>| ReplicaSeen {
            flags: flags.to_owned(),
            last_ok_ms,
            priority,
        };
        let m = |flags: &str, last_ok_ms: Option<u64>, role: &str| MasterSeen {
            flags: flags.to_owned(),
            last_ok_ms,
            role_reported: Some(role.to_owned()),
        };
        let judge = |master: &str, replicas: &[ReplicaSeen]| {
            // A master Sentinel last heard 3 s ago: not heard (see below).
            judge_promotion(&m(master, Some(3000), "master"), replicas, std::time::Duration::from_secs(2))
        };
        let in_progress = judge("master,s_down,o_down,failover_in_progress", &[r("slave", None, None)]);
        assert_eq!(in_progress, Promotion::InProgress);
        assert_eq!(judge("master,s_down", &[r("slave,promoted", None, None)]), Promotion::InProgress);
        assert_eq!(judge("master,s_down,o_down", &[r("slave", Some(100), Some(100))]), Promotion::Possible);
        // Flagged down a moment ago on a busy host: still a candidate.
        assert_eq!(judge("master,s_down", &[r("slave,s_down", Some(700), None)]), Promotion::Possible);
        // Silent for longer than the threshold, or never promoted: not one.
        let gone = [r("slave,s_down", Some(2500), None), r("slave,disconnected", None, None)];
        assert_eq!(judge("master", &gone), Promotion::Impossible);
        assert_eq!(judge("master,s_down", &[r("slave", Some(10), Some(0))]), Promotion::Impossible);
        assert_eq!(judge("master,s_down,o_down", &[]), Promotion::Impossible);
        // Heard a moment ago and not flagged down: no failover is coming.
        let heard = |flags: &str, ms: Option<u64>| {
            judge_promotion(
                &m(flags, ms, "master"),
                &[r("slave", Some(10), None)],
                std::time::Duration::from_secs(2),
            )
        };
        assert_eq!(heard("master", Some(150)), Promotion::NotNeeded);
        let demoted = m("master", Some(150), "slave");
        let seen =
            judge_promotion(&demoted, &[r("slave", Some(10), None)], std::time::Duration::from_secs(2));
        assert_eq!(seen, Promotion::Possible, "demoted behind Sentinel's back: Sentinel will reconfigure");
        assert_eq!(heard("master", Some(2000)), Promotion::Possible, "silent as long as the threshold");
        assert_eq!(heard("master", None), Promotion::Possible);
        assert_eq!(heard("master,s_down", Some(150)), Promotion::Possible, "flagged down");
        assert_eq!(heard("master,disconnected", Some(150)), Promotion::Possible);
        let moving = judge_promotion(
            &m("master,failover_in_progress", Some(10), "master"),
            &[],
            std::time::Duration::from_secs(2),
        );
        assert_eq!(moving, Promotion::InProgress);
    }
}
