//! The per-shard reports with one shard fully down (its replica, then its
//! master SIGKILLed: Sentinel has nothing to promote and keeps naming the dead
//! master). `topology` took 30 s (a 15 s failover deadline per column) and
//! printed `0/2 (A says X; B says X)`, which reads as a disagreement; `watch`
//! printed nothing. Now each shard gets `--shard-timeout` (2 s) once, the text
//! says the Sentinels agree on a master that does not answer, and `watch`
//! reports the shard without a master and its return.

use std::time::{Duration, Instant};

use super::json::J;
use super::run::{Out, Running, cli, with_sentinels};
use crate::support::{Spec, Topology};

/// Well under the 30 s `topology` took with a shard down, and far above the
/// 2 s it takes now, so a loaded machine can't fail it.
const BOUND: Duration = Duration::from_secs(15);

/// Kills `name`'s replica, then its master (so no failover can happen); the
/// dead master's address.
fn kill_shard(topo: &Topology, name: &str) -> String {
    let master = topo.master_addr(name);
    for replica in topo.replica_addrs(name) {
        topo.kill(&replica);
    }
    topo.kill(&master);
    master
}

/// How long the client kept trying, from a `FailoverTimeout` text: `… failover
/// deadline (2.001261753s); last error: …` or `(700.93ms)`.
fn kept_trying(error: &str) -> Duration {
    let text = error.split_once("failover deadline (").and_then(|(_, rest)| rest.split_once(')'));
    let text = text.unwrap_or_else(|| panic!("no deadline in {error:?}")).0;
    let secs: f64 = match text.strip_suffix("ms") {
        Some(ms) => ms.parse::<f64>().unwrap() / 1000.0,
        None => text.strip_suffix('s').unwrap().parse().unwrap(),
    };
    Duration::from_secs_f64(secs)
}

/// Runs the binary and says how long it took.
fn timed(args: &[String]) -> (Out, Duration) {
    let started = Instant::now();
    let out = cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    (out, started.elapsed())
}

#[test]
fn topology_ring_and_info_report_a_dead_shard_in_bounded_time_and_honestly() {
    let topo = Topology::start(Spec::default());
    let names = topo.master_names();
    let (up, down) = (&names[0], &names[1]);
    let dead = kill_shard(&topo, down);

    let (out, took) = timed(&with_sentinels(&topo, &["topology"]));
    assert!(took < BOUND, "topology took {took:?} with a shard down");
    assert_eq!(out.code, 1, "a failed ROLE check: {}", out.stderr);
    assert!(out.stderr.contains(&format!("ROLE check failed on {down}")), "{}", out.stderr);
    let row = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name}: {}", out.stdout))
    };
    let healthy = row(up);
    assert!(healthy.contains(&topo.master_addr(up)) && healthy.contains("ok (master)"), "{healthy}");
    assert!(healthy.contains(&format!("{} online", topo.replica_addrs(up)[0])), "{healthy}");
    assert!(healthy.trim_end().ends_with("2/2"), "both agree, nothing to add: {healthy}");
    let dead_row = row(down);
    assert!(dead_row.contains("FAIL (no answer: Connection refused"), "{dead_row}");
    assert!(
        dead_row.contains(&format!("2/2 (both Sentinels name {dead}; it does not answer)")),
        "the Sentinels agree; the node is dead: {dead_row}"
    );
    assert!(!dead_row.contains(" says "), "no disagreement wording: {dead_row}");

    let (out, took) = timed(&with_sentinels(&topo, &["--json", "topology"]));
    assert!(took < BOUND, "--json topology took {took:?}");
    let doc = J::parse(&out.stdout);
    let shard = |name: &str| doc.get("shards").arr().iter().find(|s| s.get("shard").str() == name).unwrap();
    let (a, b) = (shard(up), shard(down));
    assert_eq!((a.get("answers"), a.get("role_ok")), (&J::Bool(true), &J::Bool(true)));
    assert_eq!(a.get("sentinels_name").str(), topo.master_addr(up));
    assert_eq!(b.get("master"), &J::Null, "the client has no master for it");
    assert_eq!((b.get("answers"), b.get("role_ok")), (&J::Bool(false), &J::Bool(false)));
    assert!(b.get("role_error").str().contains("Connection refused"), "{b:?}");
    let waited = kept_trying(b.get("role_error").str());
    assert!(Duration::from_secs(2) <= waited && waited < BOUND, "the default --shard-timeout: {waited:?}");
    assert_eq!(b.get("sentinels_name").str(), dead);
    assert_eq!((b.get("sentinels_agree").num(), b.get("sentinels_asked").num()), (2.0, 2.0));
    for view in b.get("sentinels").arr() {
        assert_eq!((view.get("master").str(), view.get("error")), (dead.as_str(), &J::Null));
    }

    // --shard-timeout sets how long.
    let doc =
        J::parse(&timed(&with_sentinels(&topo, &["--shard-timeout", "700", "--json", "topology"])).0.stdout);
    let b = doc.get("shards").arr().iter().find(|s| s.get("shard").str() == down.as_str()).unwrap();
    let waited = kept_trying(b.get("role_error").str());
    assert!(Duration::from_millis(700) <= waited && waited < Duration::from_secs(2), "{waited:?}");

    // `ring` and `info` likewise: the live member reported, the dead one's error, in bounded time.
    let (out, took) = timed(&with_sentinels(&topo, &["ring"]));
    assert!(took < BOUND, "ring took {took:?}");
    assert_eq!(out.code, 1, "a member's copy can't be read");
    let line = out.stdout.lines().find(|l| l.starts_with(up.as_str())).expect("the live member's row");
    assert!(line.contains("v1 stable"), "{line}");
    let (out, took) = timed(&with_sentinels(&topo, &["info", "replication"]));
    assert!(took < BOUND, "info took {took:?}");
    assert_eq!(out.code, 1);
    let role = out.stdout.lines().find(|l| l.starts_with("role ")).expect("a role row");
    assert_eq!(role.split_whitespace().collect::<Vec<_>>(), ["role", "master"], "{}", out.stdout);
}

#[test]
fn watch_reports_a_shard_without_a_master_and_its_return() {
    let topo = Topology::start(Spec::default());
    let down = &topo.master_names()[1];
    let mut watch = Running::start(&with_sentinels(&topo, &["watch"]));
    watch.watching();
    let dead = kill_shard(&topo, down);
    let line = watch
        .wait_for(|out, l| out && l.contains("NoMaster"), Duration::from_secs(20))
        .expect("a NoMaster line within 20 s of the kill");
    // `2026-…Z NoMaster      shard-b: no master answers (Connection refused (os error 111))`
    assert!(line.contains(&format!("NoMaster      {down}: no master answers (")), "{line}");
    assert!(line.contains("Connection refused"), "{line}");

    topo.restart(&dead);
    let line = watch
        .wait_for(|out, l| out && l.contains("MasterUp"), Duration::from_secs(30))
        .expect("a MasterUp line within 30 s of the restart");
    assert!(line.contains(&format!("MasterUp      {down}: {dead} answers (no master for ")), "{line}");
}
