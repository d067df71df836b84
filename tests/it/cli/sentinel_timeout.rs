//! `--sentinel-timeout MS`: how long each Sentinel gets. A Sentinel that takes
//! 3 s to name a master is reported "timed out" under a 1 s limit and counted
//! as agreeing under a 20 s one; the limits are far from the pause on either
//! side, so a loaded machine can't turn one into the other.

use std::time::Duration;

use super::json::J;
use super::run::{cli, ok, with_sentinels};
use crate::hostile_sentinel::fake::{Act, FakeSentinel, array, bulk};
use crate::support::{Spec, Topology};

/// A Sentinel that names each shard's real master, `pause` late.
fn slow_sentinel(topo: &Topology, pause: Duration) -> FakeSentinel {
    let masters: Vec<(String, String)> =
        topo.master_names().into_iter().map(|n| (n.to_uppercase(), topo.master_addr(&n))).collect();
    FakeSentinel::start(move |cmd| match cmd {
        [s, m, name] if s == "SENTINEL" && m == "GET-MASTER-ADDR-BY-NAME" => {
            match masters.iter().find(|(n, _)| n == name) {
                Some((_, addr)) => {
                    let (ip, port) = addr.rsplit_once(':').unwrap();
                    Act::Later(pause, array(&[bulk(ip), bulk(port)]))
                }
                None => Act::Reply(b"*-1\r\n".to_vec()),
            }
        }
        [s, m, _] if s == "SENTINEL" && m == "SENTINELS" => Act::Reply(b"*0\r\n".to_vec()),
        _ => Act::Reply(b"-ERR unexpected\r\n".to_vec()),
    })
}

#[test]
fn the_sentinel_timeout_flag_decides_whether_a_slow_sentinel_is_heard() {
    let topo = Topology::start(Spec::default());
    let slow = slow_sentinel(&topo, Duration::from_secs(3));
    // The real Sentinels first: the client connects through them; `topology`
    // then asks every Sentinel it knows, the slow one included.
    let views = |ms: &str| -> Vec<(String, J)> {
        let args = with_sentinels(
            &topo,
            &["--sentinel", &slow.addr, "--json", "--sentinel-timeout", ms, "topology"],
        );
        let doc = J::parse(&ok(&args));
        let mut out = Vec::new();
        for shard in doc.get("shards").arr() {
            let name = shard.get("shard").str().to_owned();
            let view = shard.get("sentinels").arr().iter().find(|v| v.get("sentinel").str() == slow.addr);
            out.push((
                name,
                view.unwrap_or_else(|| panic!("the slow Sentinel not asked: {shard:?}")).clone(),
            ));
        }
        out
    };

    let short = views("1000");
    assert_eq!(short.len(), topo.master_names().len());
    for (shard, view) in &short {
        assert_eq!(view.get("master"), &J::Null, "{shard}: {view:?}");
        assert!(view.get("error").str().contains("timed out"), "{shard}: {view:?}");
    }
    for (shard, view) in views("20000") {
        assert_eq!(view.get("master").str(), topo.master_addr(&shard), "{shard}: {view:?}");
        assert_eq!(view.get("error"), &J::Null, "{shard}: {view:?}");
    }

    // Out of range is a usage error (2), before anything is contacted.
    for bad in ["0", "600001", "soon"] {
        let out = cli(&["--sentinel", &slow.addr, "--sentinel-timeout", bad, "topology"]);
        assert_eq!(out.code, 2, "--sentinel-timeout {bad}: {}", out.stderr);
        assert!(out.stderr.contains("--sentinel-timeout"), "{}", out.stderr);
    }
}
