//! The `disredis` binary against real processes: topology (table and JSON), locate,
//! get/set/del, ping, exit codes for bad input, and `watch` through a failover.
//!
//! Running the binary is in `cli/run.rs`; reading its JSON output in `cli/json.rs`.

mod json;
mod ops;
mod pipe;
pub mod run;
mod sentinel_timeout;
mod shard_down;
#[cfg(feature = "tls")]
mod tls;

use std::time::{Duration, Instant};

use json::J;
use run::{Running, cli, cli_env, ok, with_sentinels};

use crate::support::{Spec, Topology, hourly_ring_poll, load_record, stable_record};

#[test]
fn topology_table_and_json_match_the_real_topology() {
    let topo = Topology::start(Spec::default());
    let names = topo.master_names();
    let table = ok(&with_sentinels(&topo, &["topology"]));
    assert!(table.starts_with("SHARD"), "{table}");
    for name in &names {
        let line = table.lines().find(|l| l.starts_with(name.as_str())).unwrap_or_else(|| panic!("{table}"));
        assert!(line.contains(&topo.master_addr(name)), "{line}");
        assert!(line.contains("ok (master)"), "{line}");
        assert!(line.contains(&format!("{} online", topo.replica_addrs(name)[0])), "{line}");
        assert!(line.contains("2/2"), "both Sentinels agree: {line}");
    }

    let doc = J::parse(&ok(&with_sentinels(&topo, &["--json", "topology"])));
    let shards = doc.get("shards").arr();
    assert_eq!(shards.len(), names.len());
    for (shard, name) in shards.iter().zip(&names) {
        assert_eq!(shard.get("shard").str(), name);
        assert_eq!(shard.get("master").str(), topo.master_addr(name));
        assert_eq!(shard.get("role").str(), "master");
        assert_eq!(shard.get("role_ok"), &J::Bool(true));
        let replicas = shard.get("replicas").arr();
        assert_eq!(replicas.len(), 1);
        assert_eq!(replicas[0].get("addr").str(), topo.replica_addrs(name)[0]);
        assert!(replicas[0].get("lag_s").num() >= 0.0);
        assert_eq!(shard.get("sentinels_agree").num(), 2.0);
        assert_eq!(shard.get("sentinels_asked").num(), 2.0);
        for view in shard.get("sentinels").arr() {
            assert_eq!(view.get("master").str(), topo.master_addr(name));
            assert_eq!(view.get("error"), &J::Null);
        }
    }
}

#[test]
fn locate_agrees_with_the_library() {
    let topo = Topology::start(Spec::default());
    let reference = disredis::blocking::DisredisClient::connect(topo.sentinel_addrs()).unwrap();
    let keys: Vec<String> = (0..20).map(|i| format!("user:{i}")).chain(["{user:7}:cart".into()]).collect();
    let mut args = with_sentinels(&topo, &["--json", "locate"]);
    args.extend(keys.iter().cloned());
    let doc = J::parse(&ok(&args));
    assert_eq!(doc.arr().len(), keys.len());
    for (item, key) in doc.arr().iter().zip(&keys) {
        let shard = reference.shard_for(key);
        assert_eq!(item.get("key").str(), key);
        assert_eq!(item.get("shard").str(), shard, "{key}");
        assert_eq!(item.get("master").str(), topo.master_addr(shard), "{key}");
    }
    let mut args = with_sentinels(&topo, &["locate"]);
    args.extend(keys.iter().cloned());
    let table = ok(&args);
    for key in &keys {
        let line = table.lines().find(|l| l.split_whitespace().next() == Some(key)).expect("a row per key");
        assert!(line.contains(reference.shard_for(key)), "{line}");
    }
}

#[test]
fn set_get_del_round_trip() {
    let topo = Topology::start(Spec::default());
    let url = format!("redis+sentinel://{}/?db=2", topo.sentinel_addrs().join(","));
    let by_url = |args: &[&str]| cli(&[&["--url", url.as_str()], args].concat());
    let keys = ["cli:a", "cli:b", "cli:c", "cli:d"];
    for k in keys {
        let out = by_url(&["set", k, &format!("value of {k} \"quoted\"")]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stdout.starts_with("OK (shard-"), "{}", out.stdout);
    }
    assert_eq!(by_url(&["get", "cli:a"]).stdout, "value of cli:a \"quoted\"\n");
    // The same URL from DISREDIS_URL; JSON keeps the quotes intact.
    let doc = J::parse(&cli_env(&["--json", "get", "cli:b"], Some(&url)).stdout);
    assert_eq!(doc.get("value").str(), "value of cli:b \"quoted\"");
    // db=2 from the URL: the value is in database 2 of the key's master.
    let reference = disredis::blocking::DisredisClient::connect(topo.sentinel_addrs()).unwrap();
    let mut node = topo.conn(&topo.master_addr(reference.shard_for("cli:c")));
    redis::cmd("SELECT").arg(2).exec(&mut node).unwrap();
    let direct: String = redis::cmd("GET").arg("cli:c").query(&mut node).unwrap();
    assert_eq!(direct, "value of cli:c \"quoted\"");

    let out = by_url(&["del", "cli:a", "cli:b", "cli:c", "cli:d", "cli:missing"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "deleted 4 of 5 key(s)\n"));
    assert_eq!(by_url(&["get", "cli:a"]).stdout, "(nil)\n");
    assert_eq!(J::parse(&by_url(&["--json", "get", "cli:a"]).stdout).get("value"), &J::Null);
    assert_eq!(J::parse(&by_url(&["--json", "del", "cli:a"]).stdout).get("deleted").num(), 0.0);
}

#[test]
fn ping_reports_latency_per_shard() {
    let topo = Topology::start(Spec::default());
    let table = ok(&with_sentinels(&topo, &["ping", "-n", "3"]));
    for name in topo.master_names() {
        let line = table.lines().find(|l| l.starts_with(&name)).unwrap_or_else(|| panic!("{table}"));
        assert_eq!(line.matches(" ms").count(), 3, "min, median, max: {line}");
    }
    let doc = J::parse(&ok(&with_sentinels(&topo, &["--json", "ping", "--count", "4"])));
    assert_eq!(doc.arr().len(), 2);
    for row in doc.arr() {
        let (min, median, max) =
            (row.get("min_ms").num(), row.get("median_ms").num(), row.get("max_ms").num());
        assert!(0.0 < min && min <= median && median <= max && max < 1000.0, "{row:?}");
        assert_eq!(row.get("count").num(), 4.0);
        assert_eq!(row.get("master").str(), topo.master_addr(row.get("shard").str()));
    }
}

#[test]
fn bad_input_gives_exit_code_2_and_names_it_and_failures_give_1() {
    let out = cli(&["--sentinel", "not-an-address", "topology"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("\"not-an-address\""), "{}", out.stderr);
    let out = cli(&["--sentinel", "127.0.0.1:99999", "ping"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("127.0.0.1:99999"), "{}", out.stderr);
    let out = cli(&["topology"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--sentinel") && out.stderr.contains("DISREDIS_URL"), "{}", out.stderr);
    let out = cli(&["--url", "redis+sentinel://u:pw-SECRET@127.0.0.1:1/?db=x", "ping"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("bad Sentinel URL: db:") && !out.stderr.contains("SECRET"), "{}", out.stderr);
    let out = cli_env(&["ping"], Some("redis://127.0.0.1:1"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("bad Sentinel URL: scheme"), "{}", out.stderr);
    let out = cli(&["--sentinel", "127.0.0.1:1", "frobnicate"]);
    assert_eq!(out.code, 2, "clap usage error");
    assert!(out.stderr.contains("frobnicate"), "{}", out.stderr);
    assert_eq!(cli(&["--help"]).code, 0);

    // Well-formed but nobody listens: the command fails (1), naming the Sentinel.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let out = cli(&["--sentinel", &dead, "ping"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains(&format!("no Sentinel answered: {dead}")), "{}", out.stderr);

    // A master name the Sentinels don't monitor is a configuration error.
    let topo = Topology::start(Spec::default());
    let mut args = vec!["--master".to_owned(), "shard-a,nope".to_owned()];
    args.extend(with_sentinels(&topo, &["ping"]));
    let out = cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("\"nope\""), "{}", out.stderr);
}

#[test]
fn watch_prints_switch_master_after_a_master_is_killed() {
    let topo = Topology::start(Spec::default());
    let name = &topo.master_names()[0];
    let old = topo.master_addr(name);
    let mut watch = Running::start(&with_sentinels(&topo, &["watch"]));
    watch.watching();
    let killed_at = Instant::now();
    topo.kill(&old);
    let line = watch.wait_for(
        |out, l| out && l.contains("SwitchMaster") && l.contains(name.as_str()),
        Duration::from_secs(30),
    );
    drop(watch);
    let line = line.expect("a SwitchMaster line within 30 s of the kill");
    let new = topo.master_addr(name);
    assert_ne!(new, old);
    // `2025-11-22T02:58:01.123Z SwitchMaster  shard-a: 127.0.0.1:1 -> 127.0.0.1:2`
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 6, "{line}");
    assert!(fields[0].len() == 24 && fields[0].ends_with('Z'), "{line}");
    assert_eq!(fields[2], format!("{name}:"));
    assert_eq!((fields[3], fields[5]), (old.as_str(), new.as_str()), "{line}");
    eprintln!("SwitchMaster printed {:.2} s after the kill", killed_at.elapsed().as_secs_f64());
}

/// `ring`: version, phase and members as the library follows them, the masters
/// Sentinel monitors outside the ring, and per member its copy and the ring
/// versions of its connected disredis clients; exit 1 when a copy differs.
#[test]
fn ring_shows_members_copies_and_client_versions() {
    let topo = Topology::start(Spec { shards: 3, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    // A ring over the first two: the third is monitored but not a member.
    let mut args = with_sentinels(&topo, &["--master", &names[0], "--master", &names[1], "ping", "-n", "1"]);
    ok(&args);
    let app = disredis::blocking::DisredisClient::connect(topo.sentinel_addrs()).unwrap();
    assert_eq!(app.topology().ring.members, names[..2]);

    let table = ok(&with_sentinels(&topo, &["ring"]));
    assert!(
        table.starts_with(&format!("ring version 1 (stable), members: {}, {}", names[0], names[1])),
        "{table}"
    );
    assert!(
        table.contains(&format!(
            "not members (Sentinel monitors them; nothing is routed there): {}",
            names[2]
        ))
    );
    for name in &names[..2] {
        let line = table.lines().find(|l| l.starts_with(name.as_str())).unwrap_or_else(|| panic!("{table}"));
        assert!(line.contains("v1 stable"), "{line}");
        assert!(line.contains("v1: "), "the app's and the tool's own connections follow v1: {line}");
    }

    args = with_sentinels(&topo, &["--json", "ring"]);
    let doc = J::parse(&ok(&args));
    assert_eq!(doc.get("ring").get("version").num(), 1.0);
    assert_eq!(doc.get("ring").get("phase").str(), "stable");
    assert_eq!(doc.get("unrouted").arr().len(), 1);
    assert_eq!(doc.get("consistent"), &J::Bool(true));
    for master in doc.get("masters").arr() {
        assert_eq!(master.get("copy").get("version").num(), 1.0);
        let clients = master.get("clients").arr();
        assert!(
            clients.iter().any(|c| c.get("version").num() == 1.0 && c.get("count").num() >= 2.0),
            "{master:?}"
        );
    }

    // A member whose copy is gone: reported, exit status 1.
    let mut direct = topo.conn(&topo.initial_master_addr(&names[1]));
    let _: () = redis::cmd("FUNCTION").arg("DELETE").arg("disredis_ring").query(&mut direct).unwrap();
    let refs: Vec<String> = with_sentinels(&topo, &["--master", &names[0], "ring"]);
    let out = cli(&refs.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("(none)"), "{}", out.stdout);
    drop(app);
}

/// `reshard add/remove --dry-run`: exactly the keys whose owner changes, per
/// (from, to), nothing written; impossible changes are exit status 2 naming
/// why.
#[test]
fn reshard_dry_run_counts_the_keys_that_would_move() {
    let topo = Topology::start(Spec { shards: 3, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let config =
        disredis::DisredisClient::builder().sentinels(topo.sentinel_addrs()).masters(&names[..2]).build();
    let app = disredis::blocking::DisredisClient::with_config(config.unwrap()).unwrap();
    let mut con = app;
    let keys: Vec<String> = (0..2000).map(|i| format!("rs:{i}")).collect();
    let pairs: Vec<(&String, i32)> = keys.iter().map(|k| (k, 1)).collect();
    redis::Commands::mset::<_, _, ()>(&mut con, &pairs).unwrap();
    let two = disredis::hashing::Rendezvous::new(names[..2].to_vec()).unwrap();
    let three = disredis::hashing::Rendezvous::new(names.clone()).unwrap();

    let doc = J::parse(&ok(&with_sentinels(&topo, &["--json", "reshard", "add", &names[2], "--dry-run"])));
    let expected: usize = keys.iter().filter(|k| three.shard_for(k.as_bytes()) == names[2]).count();
    assert_eq!(doc.get("scanned").num(), 2000.0);
    assert_eq!(doc.get("moving").num(), expected as f64);
    assert_eq!(doc.get("misplaced").num(), 0.0);
    for m in doc.get("moves").arr() {
        assert_eq!(m.get("to").str(), names[2], "adding a master moves keys only to it");
        let from = m.get("from").str();
        let n = keys
            .iter()
            .filter(|k| two.shard_for(k.as_bytes()) == from && three.shard_for(k.as_bytes()) == names[2])
            .count();
        assert_eq!(m.get("keys").num(), n as f64, "{from}");
    }

    let doc = J::parse(&ok(&with_sentinels(&topo, &["--json", "reshard", "remove", &names[1], "--dry-run"])));
    let on_b = keys.iter().filter(|k| two.shard_for(k.as_bytes()) == names[1]).count();
    assert_eq!(doc.get("moving").num(), on_b as f64);
    let moves = doc.get("moves").arr();
    assert_eq!(moves.len(), 1);
    assert_eq!(
        (moves[0].get("from").str(), moves[0].get("to").str()),
        (names[1].as_str(), names[0].as_str())
    );

    let table = ok(&with_sentinels(&topo, &["reshard", "add", &names[2], "--dry-run"]));
    assert!(table.contains(&format!("{expected} of 2000 keys would move")), "{table}");

    // Impossible changes: exit 2, nothing changed.
    for (args, why) in [
        (vec!["reshard", "add", names[0].as_str(), "--dry-run"], "already a member"),
        (vec!["reshard", "add", "shard-z", "--dry-run"], "not a master the Sentinels monitor"),
        (vec!["reshard", "remove", names[2].as_str(), "--dry-run"], "is not a member"),
    ] {
        let all = with_sentinels(&topo, &args);
        let out = cli(&all.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(why), "{args:?}: {}", out.stderr);
    }
    let after = disredis::blocking::DisredisClient::connect(topo.sentinel_addrs()).unwrap();
    assert_eq!(after.topology().ring.members, names[..2], "the dry runs changed nothing");
    assert_eq!(after.topology().ring.version, 1);
}

/// `ring` lists the connections that follow an older ring than the members'
/// copies (stragglers), with the client's address, its version and age.
#[test]
fn ring_reports_stragglers() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    // An application that polls the ring only hourly and hears no announcement.
    let app =
        disredis::blocking::DisredisClient::with_config(hourly_ring_poll(&topo).build().unwrap()).unwrap();
    for name in &names {
        load_record(&topo, name, &stable_record(2, &names));
    }
    let doc = J::parse(&ok(&with_sentinels(&topo, &["--json", "ring"])));
    assert_eq!(doc.get("ring").get("version").num(), 2.0, "the tool follows the members' copies");
    let late = doc.get("stragglers").arr();
    assert_eq!(late.len(), names.len(), "the app's one shared connection per master: {late:?}");
    for s in late {
        assert_eq!(s.get("version").num(), 1.0);
        assert!(s.get("addr").str().starts_with("127.0.0.1:"));
    }
    let table = ok(&with_sentinels(&topo, &["ring"]));
    assert!(table.contains("stragglers (connections following an older ring than version 2):"), "{table}");
    assert_eq!(app.topology().ring.version, 1);
}
