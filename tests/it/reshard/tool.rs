//! `disredis reshard` as an operator runs it: killed mid-move and resumed,
//! and a straggler that never follows reported and ended.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use disredis::DisredisClient;

use super::load::{Load, follows, joined_later, seed, verify};
use crate::cli::run::{BIN, cli, with_sentinels};
use crate::support::Topology;

/// Runs the tool to the end: exit code, stdout, stderr.
fn run(topo: &Topology, rest: &[&str]) -> (i32, String, String) {
    let all = with_sentinels(topo, rest);
    let out = cli(&all.iter().map(String::as_str).collect::<Vec<_>>());
    (out.code, out.stdout, out.stderr)
}

/// The phase of the ring record on `name`'s master.
fn phase_on(topo: &Topology, name: &str) -> String {
    let text: String = redis::cmd("FCALL_RO")
        .arg("disredis_ring")
        .arg(0)
        .query(&mut topo.conn(&topo.master_addr(name)))
        .unwrap();
    text.lines().find_map(|l| l.strip_prefix("phase: ")).unwrap().to_owned()
}

fn dbsize(topo: &Topology, name: &str) -> i64 {
    redis::cmd("DBSIZE").query(&mut topo.conn(&topo.master_addr(name))).unwrap()
}

/// The tool SIGKILLed in the middle of moving keys, then `reshard resume`:
/// the change completes with nothing lost or duplicated, while the
/// applications keep writing through all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tool_killed_mid_move_is_resumed() {
    let topo = joined_later(0).await;
    let names = topo.master_names();
    let a = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let b = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let seeded = seed(&a, 60_000).await;
    let load = Load::new();
    let writers = load.start(&a, &b);

    let mut child = Command::new(BIN)
        .args(with_sentinels(&topo, &["reshard", "add", &names[2]]))
        .env_remove("DISREDIS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        BufReader::new(stderr).lines().map_while(Result::ok).for_each(|l| drop(tx.send(l)))
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the tool says migrating");
        eprintln!("tool: {line}");
        if line.contains("migrating") {
            break;
        }
    }
    while dbsize(&topo, &names[2]) < 300 {
        assert!(Instant::now() < deadline, "no key moved");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(phase_on(&topo, &names[0]), "migrating", "killed in the middle of the move");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (code, stdout, _) = run(&topo, &["reshard", "resume"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("ring version 4 stable"), "{stdout}");
    follows(&a, 4).await;
    follows(&b, 4).await;
    load.stop(writers).await;
    verify(&topo, &names, &load, &seeded);

    let (code, stdout, _) = run(&topo, &["reshard", "resume"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("nothing in progress"), "{stdout}");
}

/// A connection named after an old ring that never follows (an application
/// stuck somewhere) is reported after the grace time and ended with
/// `--kill-stragglers-after`; the change then completes.
#[test]
fn a_straggler_is_reported_and_ended() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let topo = rt.block_on(joined_later(0));
    let names = topo.master_names();
    let mut stuck = topo.conn(&topo.master_addr(&names[0]));
    let _: () = redis::cmd("CLIENT").arg("SETNAME").arg("disredis:ring=1").query(&mut stuck).unwrap();
    let (code, stdout, stderr) =
        run(&topo, &["reshard", "add", &names[2], "--grace", "0.3", "--kill-stragglers-after", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("straggler on {}", names[0])), "{stderr}");
    assert!(stderr.contains("disredis:ring=1 (version 1"), "{stderr}");
    assert!(stderr.contains("ended 1 straggler"), "{stderr}");
    assert!(stdout.contains("ring version 4 stable"), "{stdout}");
    assert!(redis::cmd("PING").query::<String>(&mut stuck).is_err(), "the straggler's connection was ended");
}

/// The Python disredis's placement: sha1(key) mod N over the masters in
/// Sentinel's (here: shuffled) order.
fn python_owner<'a>(key: &str, order: &'a [String]) -> &'a str {
    // redis-rs hashes script bodies with sha1: the hex digest of the key.
    let hex = redis::Script::new(key).get_hash().to_owned();
    let n = order.len() as u64;
    let rem = hex.chars().fold(0u64, |r, c| (r * 16 + c.to_digit(16).unwrap() as u64) % n);
    &order[rem as usize]
}

/// `rebalance` on data placed by the Python seed's rule, with planted
/// conflicts: the dry run counts exactly, changes nothing; the run moves
/// every other key to its owner and keeps the conflicts until told which
/// copy wins.
#[tokio::test(flavor = "multi_thread")]
async fn rebalance_moves_another_placement_onto_the_ring() {
    let topo = crate::support::Topology::start(crate::support::Spec {
        shards: 3,
        replicas: 0,
        sentinels: 1,
        quorum: 1,
    });
    let names = topo.master_names();
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let order = vec![names[2].clone(), names[0].clone(), names[1].clone()];
    let keys: Vec<String> = (0..3000).map(|i| format!("py:{i}")).collect();
    let mut expected = std::collections::BTreeMap::new();
    for k in &keys {
        let on = python_owner(k, &order);
        let _: () = redis::cmd("SET").arg(k).arg(k).query(&mut topo.conn(&topo.master_addr(on))).unwrap();
        let owner = client.shard_for(k);
        if on != owner {
            *expected.entry((on.to_owned(), owner.to_owned())).or_insert(0u64) += 1;
        }
    }
    // Conflicts: a misplaced key whose owner has a copy of its own.
    let planted: Vec<&String> =
        keys.iter().filter(|k| python_owner(k, &order) != client.shard_for(k)).take(10).collect();
    for k in &planted {
        let _: () = redis::cmd("SET")
            .arg(k)
            .arg("owner's")
            .query(&mut topo.conn(&topo.master_addr(client.shard_for(k))))
            .unwrap();
    }
    let misplaced: u64 = expected.values().sum();

    let (code, stdout, _) = run(&topo, &["--json", "rebalance", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(stdout.contains(&format!("\"misplaced\":{misplaced}")), "{stdout}");
    assert!(stdout.contains("\"conflicts\":10"), "{stdout}");
    for ((from, to), n) in &expected {
        assert!(
            stdout.contains(&format!("{{\"from\":\"{from}\",\"to\":\"{to}\",\"keys\":{n}}}")),
            "{from}->{to}: {stdout}"
        );
    }
    let sizes = |t: &Topology| -> Vec<i64> { names.iter().map(|n| dbsize(t, n)).collect() };
    let before = sizes(&topo);
    assert_eq!(sizes(&topo), before, "the dry run changed nothing");

    let (code, _, stderr) = run(&topo, &["rebalance"]);
    assert_eq!(code, 1, "conflicts kept: {stderr}");
    assert!(stderr.contains("10 key(s) are on their owner and on another master"), "{stderr}");
    let mut c = client.clone();
    for k in &keys {
        let v: String = redis::AsyncCommands::get(&mut c, k).await.unwrap();
        let want = if planted.contains(&k) { "owner's" } else { k.as_str() };
        assert_eq!(v, want, "{k}");
    }
    for k in &planted {
        let other = python_owner(k, &order);
        assert!(
            redis::cmd("EXISTS").arg(*k).query::<i64>(&mut topo.conn(&topo.master_addr(other))).unwrap() == 1,
            "nothing deleted without a decision"
        );
    }

    let (code, stdout, _) = run(&topo, &["rebalance", "--on-conflict", "keep-other"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("conflicts 10 (resolved 10)"), "{stdout}");
    for k in &planted {
        let v: String = redis::AsyncCommands::get(&mut c, *k).await.unwrap();
        assert_eq!(&v, *k, "the other copy won");
    }
    let total: i64 = sizes(&topo).iter().sum();
    assert_eq!(total, 3000, "every key exactly once");
    let (code, stdout, _) = run(&topo, &["rebalance", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("0 keys not on their owner (3000 read)"), "{stdout}");

    // keep-owner: stray copies elsewhere are deleted, the owner's stay.
    for k in &keys[..5] {
        let elsewhere = names.iter().find(|n| *n != client.shard_for(k)).unwrap();
        let _: () = redis::cmd("SET")
            .arg(k)
            .arg("stray")
            .query(&mut topo.conn(&topo.master_addr(elsewhere)))
            .unwrap();
    }
    let (code, stdout, _) = run(&topo, &["rebalance", "--on-conflict", "keep-owner"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("conflicts 5 (resolved 5)"), "{stdout}");
    for k in &keys[..5] {
        let v: String = redis::AsyncCommands::get(&mut c, k).await.unwrap();
        assert_ne!(v, "stray", "{k}: the owner's copy stays");
    }
    assert_eq!(sizes(&topo).iter().sum::<i64>(), 3000, "the strays are gone");
}
