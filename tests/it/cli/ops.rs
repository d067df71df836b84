//! The operator commands on real processes: `info` side by side, `scan` over every shard
//! (text, --type and --json lines), `keys-summary` (DBSIZE, sampled MEMORY USAGE, the
//! biggest key, misplaced keys, imbalance) and `completions`.

use std::collections::BTreeSet;

use super::json::J;
use super::run::{cli, ok, with_sentinels};
use crate::support::{Spec, Topology};

/// 120 small strings, 10 hashes and one 200 000-byte string written through the library;
/// the key names with the shard each lives on.
fn fill(topo: &Topology) -> (disredis::blocking::DisredisClient, Vec<(String, String)>) {
    let client = disredis::blocking::DisredisClient::connect(topo.sentinel_addrs()).unwrap();
    let mut con = client.clone();
    let mut keys = Vec::new();
    for i in 0..120 {
        let key = format!("ops:s:{i}");
        redis::cmd("SET").arg(&key).arg("x").exec(&mut con).unwrap();
        keys.push(key);
    }
    for i in 0..10 {
        let key = format!("ops:h:{i}");
        redis::cmd("HSET").arg(&key).arg("f").arg("v").exec(&mut con).unwrap();
        keys.push(key);
    }
    redis::cmd("SET").arg("ops:big").arg("b".repeat(200_000)).exec(&mut con).unwrap();
    keys.push("ops:big".into());
    redis::cmd("SET").arg("other:key").arg("not matched").exec(&mut con).unwrap();
    let placed =
        keys.into_iter().map(|k| (client.shard_for(&k).to_owned(), k)).map(|(s, k)| (k, s)).collect();
    (client, placed)
}

fn dbsize(topo: &Topology, shard: &str) -> i64 {
    redis::cmd("DBSIZE").query(&mut topo.conn(&topo.master_addr(shard))).unwrap()
}

#[test]
fn info_shows_each_shard_side_by_side() {
    let topo = Topology::start(Spec::default());
    let (_client, _) = fill(&topo);
    let names = topo.master_names();
    let table = ok(&with_sentinels(&topo, &["info", "keyspace"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["FIELD", names[0].as_str(), names[1].as_str()], "{table}");
    let db0: Vec<&str> =
        table.lines().find(|l| l.starts_with("db0")).expect("db0 row").split_whitespace().collect();
    for (i, name) in names.iter().enumerate() {
        assert!(db0[i + 1].starts_with(&format!("keys={},", dbsize(&topo, name))), "{name}: {db0:?}");
    }
    let doc = J::parse(&ok(&with_sentinels(&topo, &["--json", "info", "server"])));
    let shards = doc.get("shards").arr();
    assert_eq!(shards.len(), 2);
    for (shard, name) in shards.iter().zip(&names) {
        assert_eq!(shard.get("shard").str(), name);
        let master = topo.master_addr(name);
        assert_eq!(shard.get("master").str(), master);
        let server = shard.get("sections").get("server");
        assert_eq!(
            format!("127.0.0.1:{}", server.get("tcp_port").str()),
            master,
            "INFO from the shard's own master"
        );
        assert_eq!(shard.get("error"), &J::Null);
    }
}

#[test]
fn scan_streams_every_matching_key_of_every_shard() {
    let topo = Topology::start(Spec::default());
    let (_client, placed) = fill(&topo);
    let out = cli(&with_sentinels(&topo, &["scan", "ops:*", "--count", "7"])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got: Vec<&str> = out.stdout.lines().collect();
    let want: BTreeSet<&str> = placed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(got.len(), want.len(), "each key once");
    assert_eq!(got.iter().copied().collect::<BTreeSet<_>>(), want);
    for name in topo.master_names() {
        let n = placed.iter().filter(|(_, s)| *s == name).count();
        assert!(
            out.stderr.contains(&format!("{name} {n}")),
            "per-shard count {n} for {name}: {}",
            out.stderr
        );
    }
    let hashes = ok(&with_sentinels(&topo, &["scan", "ops:*", "--type", "hash"]));
    let hashes: BTreeSet<&str> = hashes.lines().collect();
    assert_eq!(
        hashes,
        (0..10).map(|i| format!("ops:h:{i}")).collect::<BTreeSet<_>>().iter().map(String::as_str).collect()
    );
    // --json: one object per line, each naming the shard it came from (= the library's routing).
    let lines = ok(&with_sentinels(&topo, &["--json", "scan", "ops:s:*"]));
    assert_eq!(lines.lines().count(), 120);
    for line in lines.lines() {
        let item = J::parse(line);
        let key = item.get("key").str();
        let shard = &placed.iter().find(|(k, _)| k == key).expect("a written key").1;
        assert_eq!(item.get("shard").str(), shard, "{key}");
    }
}

#[test]
fn keys_summary_counts_samples_and_finds_the_big_key_and_misplaced_ones() {
    let topo = Topology::start(Spec::default());
    let (client, placed) = fill(&topo);
    let names = topo.master_names();
    let big_shard = client.shard_for("ops:big").to_owned();
    let other = names.iter().find(|n| **n != big_shard).unwrap().clone();
    // A key its owner does not hold, written straight onto the other master.
    let stray = (0..).map(|i| format!("stray:{i}")).find(|k| client.shard_for(k) == big_shard).unwrap();
    redis::cmd("SET").arg(&stray).arg("misplaced").exec(&mut topo.conn(&topo.master_addr(&other))).unwrap();
    assert!(placed.len() > 100);

    let doc =
        J::parse(&ok(&with_sentinels(&topo, &["--json", "keys-summary", "--samples", "3000", "--top", "3"])));
    let shards = doc.get("shards").arr();
    let sizes: Vec<f64> = names.iter().map(|n| dbsize(&topo, n) as f64).collect();
    for (shard, name) in shards.iter().zip(&names) {
        assert_eq!(shard.get("shard").str(), name);
        assert_eq!(shard.get("keys").num(), dbsize(&topo, name) as f64);
        assert!(shard.get("sampled").num() > 0.0, "{shard:?}");
        assert!(shard.get("used_memory").num() > 0.0, "{shard:?}");
        assert!(shard.get("biggest").arr().len() <= 3);
        let misplaced = shard.get("misplaced_in_sample").num();
        assert_eq!(misplaced, if *name == other { 1.0 } else { 0.0 }, "{name}: {shard:?}");
    }
    let big = shards.iter().find(|s| s.get("shard").str() == big_shard).unwrap();
    let top = &big.get("biggest").arr()[0];
    assert_eq!((top.get("key").str(), top.get("type").str()), ("ops:big", "string"));
    assert!(top.get("bytes").num() > 200_000.0, "{top:?}");
    assert!(big.get("estimated_key_memory").num() > 200_000.0, "{big:?}");
    let mean = sizes.iter().sum::<f64>() / sizes.len() as f64;
    let want = sizes.iter().cloned().fold(0.0, f64::max) / mean;
    let got = doc.get("imbalance").get("keys").num();
    assert!((got - want).abs() < 1e-9, "keys imbalance {got} vs {want}");

    // The table (alias bigkeys): a row per shard and the imbalance line.
    let table = ok(&with_sentinels(&topo, &["bigkeys", "--samples", "50"]));
    for name in &names {
        assert!(table.lines().any(|l| l.starts_with(name.as_str())), "{table}");
    }
    assert!(table.contains("imbalance (largest / mean): keys "), "{table}");
}

#[test]
fn completions_need_no_sentinel_and_json_is_refused_there() {
    let out = cli(&["completions", "bash"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("_disredis") && out.stdout.contains("keys-summary"), "{}", out.stdout);
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = cli(&["completions", shell]);
        assert!(out.code == 0 && out.stdout.contains("scan"), "{shell}: {}", out.stderr);
    }
    let out = cli(&["--json", "completions", "zsh"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(cli(&["completions", "tcsh"]).code, 2, "an unknown shell is a usage error");
}

/// A shard whose master and replica are both gone: `info`, `scan` and `keys-summary` report
/// it (its error in its column or field, the other shard's figures still shown) and exit 1.
#[test]
fn a_shard_that_is_down_is_reported_and_exits_1() {
    let topo = Topology::start(Spec::default());
    let (client, placed) = fill(&topo);
    let names = topo.master_names();
    let (down, up) = (names[0].clone(), names[1].clone());
    drop(client);
    for replica in topo.replica_addrs(&down) {
        topo.kill(&replica);
    }
    topo.kill(&topo.master_addr(&down));
    let url = format!("redis+sentinel://{}/?failover_deadline=1000", topo.sentinel_addrs().join(","));
    let run = |rest: &[&str]| cli(&[&["--url", url.as_str()], rest].concat());

    let out = run(&["--json", "info", "server"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = J::parse(&out.stdout);
    let shards = doc.get("shards").arr();
    assert_eq!(shards[0].get("shard").str(), down);
    assert!(!shards[0].get("error").str().is_empty());
    assert_eq!(shards[1].get("error"), &J::Null);
    let table = run(&["info", "server"]);
    assert_eq!(table.code, 1);
    assert!(table.stdout.lines().any(|l| l.starts_with("error")), "{}", table.stdout);
    assert!(
        table.stdout.lines().any(|l| l.starts_with("redis_version")),
        "the other shard's column: {}",
        table.stdout
    );

    let out = run(&["scan", "ops:*"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let on_up = placed.iter().filter(|(_, s)| *s == up).count();
    assert_eq!(out.stdout.lines().count(), on_up, "the shard that is up is scanned whole");
    assert!(out.stderr.contains(&format!("SCAN failed on {down}")), "{}", out.stderr);

    let out = run(&["--json", "keys-summary"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = J::parse(&out.stdout);
    let shards = doc.get("shards").arr();
    assert!(!shards[0].get("error").str().is_empty());
    assert_eq!(shards[1].get("keys").num(), dbsize(&topo, &up) as f64);
}
