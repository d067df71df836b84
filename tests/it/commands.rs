//! The command surface across shards, on real processes: split multi-key
//! commands, keyless fan-out, SCAN, pipelines (also through a failover), and the
//! at-least-once opt-in. Transactions, scripts, blocking commands and `on_shard`
//! are in `transactions_scripts.rs`.

use std::collections::HashSet;
use std::time::Duration;

use disredis::DisredisClient;
use redis::AsyncCommands;

use crate::support::{Spec, Topology, client, keys_on};

fn dbsize(topo: &Topology, shard: &str) -> i64 {
    redis::cmd("DBSIZE").query(&mut topo.conn(&topo.master_addr(shard))).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_key_commands_split_across_shards_and_merge_in_order() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let mut con = client.clone();
    let keys: Vec<String> = (0..1000).map(|i| format!("m:{i}")).collect();
    let pairs: Vec<(String, usize)> =
        keys.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(i, k)| (k.clone(), i)).collect();
    con.mset::<_, _, ()>(&pairs).await.unwrap();
    // Both shards got their share, checked on the masters directly.
    let names = topo.master_names();
    let on_a = pairs.iter().filter(|(k, _)| client.shard_for(k) == names[0]).count() as i64;
    assert_eq!(dbsize(&topo, &names[0]), on_a);
    assert_eq!(dbsize(&topo, &names[1]), pairs.len() as i64 - on_a);

    let values: Vec<Option<usize>> = con.mget(&keys).await.unwrap();
    let expected: Vec<Option<usize>> = (0..1000).map(|i| (i % 3 != 0).then_some(i)).collect();
    assert_eq!(values, expected, "MGET of 1000 keys over both shards, in the caller's order");

    let n: usize = con.exists(&keys).await.unwrap();
    assert_eq!(n, pairs.len());
    let n: usize = redis::cmd("TOUCH").arg(&keys[..10]).query_async(&mut con).await.unwrap();
    assert_eq!(n, 6);
    let n: usize = con.del(&keys[..500]).await.unwrap();
    assert_eq!(n, (0..500).filter(|i| i % 3 != 0).count());
    let n: usize = con.unlink(&keys).await.unwrap();
    assert_eq!(n, (500..1000).filter(|i| i % 3 != 0).count());
    assert_eq!(dbsize(&topo, &names[0]) + dbsize(&topo, &names[1]), 0);

    // Commands that can't be split are refused, naming both shards, and nothing ran.
    let (a, b) =
        (keys_on(&client, &names[0], "x", 1).remove(0), keys_on(&client, &names[1], "x", 1).remove(0));
    let err = con.mset_nx::<_, _, bool>(&[(&a, 1), (&b, 2)]).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("MSETNX") && text.contains(&names[0]) && text.contains(&names[1]), "{text}");
    let n: usize = con.exists(&[&a, &b]).await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn keyless_commands_fan_out_with_their_merge() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let mut con = client.clone();
    let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
    assert_eq!(pong, "PONG");
    for i in 0..300 {
        con.set::<_, _, ()>(format!("f:{i}"), i).await.unwrap();
    }
    let names = topo.master_names();
    let total: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    assert_eq!(total, 300);
    assert!(dbsize(&topo, &names[0]) > 0 && dbsize(&topo, &names[1]) > 0);
    let mut keys: Vec<String> = con.keys("f:*").await.unwrap();
    keys.sort();
    let mut expected: Vec<String> = (0..300).map(|i| format!("f:{i}")).collect();
    expected.sort();
    assert_eq!(keys, expected);
    let random: String = redis::cmd("RANDOMKEY").query_async(&mut con).await.unwrap();
    assert!(random.starts_with("f:"));
    // WAIT: each shard waits for this client's writes to reach its replica.
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(2000).query_async(&mut con).await.unwrap();
    assert_eq!(acked, 1);
    let _: () = redis::cmd("FLUSHDB").query_async(&mut con).await.unwrap();
    assert_eq!(redis::cmd("DBSIZE").query_async::<i64>(&mut con).await.unwrap(), 0);
    let none: Option<String> = redis::cmd("RANDOMKEY").query_async(&mut con).await.unwrap();
    assert_eq!(none, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_returns_every_key_of_both_shards_exactly_once() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let mut con = client.clone();
    let keys: Vec<String> = (0..2000).map(|i| format!("s:{i}")).collect();
    for chunk in keys.chunks(100) {
        let pairs: Vec<(&String, i32)> = chunk.iter().map(|k| (k, 1)).collect();
        con.mset::<_, _, ()>(&pairs).await.unwrap();
    }
    con.set::<_, _, ()>("other", 1).await.unwrap();
    let mut seen: Vec<String> = Vec::new();
    {
        let mut it = con.scan_match::<_, String>("s:*").await.unwrap();
        while let Some(k) = it.next_item().await {
            seen.push(k.unwrap());
        }
    }
    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "a key came back twice");
    assert_eq!(distinct, keys.iter().collect::<HashSet<_>>());
    let mut all = 0;
    {
        let mut it = con.scan::<String>().await.unwrap();
        while let Some(k) = it.next_item().await {
            k.unwrap();
            all += 1;
        }
    }
    assert_eq!(all, 2001);
    // A cursor past the last shard (one handed out before the ring lost a
    // member) ends the walk; one that is not a number is refused.
    let (next, keys): (String, Vec<String>) = redis::cmd("SCAN").arg(99).query_async(&mut con).await.unwrap();
    assert_eq!((next.as_str(), keys.len()), ("0", 0));
    let err = redis::cmd("SCAN").arg("x").query_async::<redis::Value>(&mut con).await.unwrap_err();
    assert!(err.to_string().contains("cursor"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_of_1000_mixed_commands_across_shards_comes_back_in_order() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let mut con = client.clone();
    con.set::<_, _, ()>("str", "x").await.unwrap();
    let mut pipe = redis::pipe();
    for i in 0..250 {
        pipe.set(format!("p:{i}"), i).ignore();
        pipe.get(format!("p:{i}"));
        pipe.incr(format!("c:{}", i % 7), 1);
        pipe.mget(&[format!("p:{i}"), format!("p:{}", i + 1000)]);
    }
    let out: Vec<redis::Value> = pipe.query_async(&mut con).await.unwrap();
    assert_eq!(out.len(), 750, "ignored SETs are dropped");
    let mut counters = [0i64; 7];
    for i in 0..250 {
        let get: usize = redis::from_redis_value(out[3 * i].clone()).unwrap();
        assert_eq!(get, i);
        counters[i % 7] += 1;
        let incr: i64 = redis::from_redis_value(out[3 * i + 1].clone()).unwrap();
        assert_eq!(incr, counters[i % 7]);
        let mget: (Option<usize>, Option<usize>) = redis::from_redis_value(out[3 * i + 2].clone()).unwrap();
        assert_eq!(mget, (Some(i), None));
    }
    // A server error stays in its slot; the other commands still ran.
    let out: Vec<redis::Value> = redis::pipe()
        .ignore_errors()
        .get("p:1")
        .lpush("str", "y")
        .get("p:2")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(matches!(out[1], redis::Value::ServerError(_)), "{out:?}");
    assert_eq!(redis::from_redis_value::<usize>(out[2].clone()).unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn failover_during_a_pipeline_retries_only_the_failed_shards_part() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let mut con = client.clone();
    let names = topo.master_names();
    let a = keys_on(&client, &names[0], "fp", 1).remove(0);
    let b = keys_on(&client, &names[1], "fp", 1).remove(0);
    con.set::<_, _, ()>(&a, 0).await.unwrap();
    let old = topo.master_addr(&names[0]);
    topo.kill(&old);
    // shard-a's part (an idempotent SET) waits for the failover; shard-b's part
    // (a non-idempotent INCR) runs once.
    let (set, incr): (String, i64) =
        redis::pipe().set(&a, "after").incr(&b, 1).query_async(&mut con).await.unwrap();
    assert_eq!((set.as_str(), incr), ("OK", 1));
    let b_value: i64 = con.get(&b).await.unwrap();
    assert_eq!(b_value, 1);
    let a_value: String = con.get(&a).await.unwrap();
    assert_eq!(a_value, "after");
    assert_ne!(topo.master_addr(&names[0]), old);
}

#[tokio::test(flavor = "multi_thread")]
async fn at_least_once_opt_in_retries_non_idempotent_commands() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .response_timeout(Some(Duration::from_millis(200)))
        .retry_non_idempotent(true)
        .connect()
        .await
        .unwrap();
    let names = topo.master_names();
    let key = keys_on(&client, &names[0], "inc", 1).remove(0);
    let mut con = client.clone();
    con.set::<_, _, ()>(&key, 1).await.unwrap();
    let mut replica = topo.conn(&topo.replica_addrs(&names[0])[0]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while redis::Commands::get::<_, Option<i64>>(&mut replica, &key).unwrap() != Some(1) {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let old = topo.master_addr(&names[0]);
    topo.stop(&old);
    // Without the opt-in this is Error::Ambiguous (tests/it/failover.rs).
    let v: i64 = con.incr(&key, 1).await.unwrap();
    assert_eq!(v, 2, "the INCR ran on the promoted replica");
    topo.cont(&old);
}

/// A split write whose part on one shard fails after the other part ran is
/// `Error::PartiallyApplied` naming both shards, not the failed part's error
/// alone (which would read as "nothing happened"); a read or a write that ran
/// nowhere keeps its own error.
#[tokio::test(flavor = "multi_thread")]
async fn a_split_write_that_fails_on_one_shard_says_which_shards_took_it() {
    // No replicas: Sentinel can't promote anything, so a killed master stays down.
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .failover_deadline(Duration::from_millis(600))
        // FailoverTimeout is what this test is about, not the fail-fast of a
        // shard that stays down (dead_shard:: covers that).
        .shard_down_after(None)
        .connect()
        .await
        .unwrap();
    let mut con = client.clone();
    let names = topo.master_names();
    let (up, down) = (&names[0], &names[1]);
    let on_up = keys_on(&client, up, "p", 3);
    let on_down = keys_on(&client, down, "p", 3);
    topo.kill(&topo.master_addr(down));

    let pairs: Vec<(&String, i32)> = on_up.iter().chain(&on_down).map(|k| (k, 7)).collect();
    let err = con.mset::<_, _, ()>(&pairs).await.unwrap_err().to_string();
    let applied = format!("MSET took effect on shard(s) [\"{up}\"] but failed on {down}: ");
    assert!(err.contains(&applied), "{err}");
    assert!(err.contains("failover deadline"), "the failed part's own error is kept: {err}");
    let mut direct = topo.conn(&topo.master_addr(up));
    let written: Vec<Option<i32>> = redis::cmd("MGET").arg(&on_up).query(&mut direct).unwrap();
    assert_eq!(written, vec![Some(7); 3], "the part on {up} took effect and stays");

    let err = con.del::<_, usize>(&[&on_up[0], &on_down[0]]).await.unwrap_err().to_string();
    assert!(err.contains(&format!("DEL took effect on shard(s) [\"{up}\"]")), "{err}");
    let left: Option<i32> = redis::cmd("GET").arg(&on_up[0]).query(&mut direct).unwrap();
    assert_eq!(left, None);

    let mut pipe = redis::pipe();
    pipe.set(&on_up[1], 8).ignore().set(&on_down[1], 8).ignore();
    let err = pipe.query_async::<()>(&mut con).await.unwrap_err().to_string();
    assert!(err.contains(&format!("pipeline took effect on shard(s) [\"{up}\"]")), "{err}");

    // A read changed nothing anywhere, and a write that ran nowhere neither:
    // their own errors, without "took effect".
    let err = con.mget::<_, Vec<Option<i32>>>(&[&on_up[2], &on_down[2]]).await.unwrap_err().to_string();
    assert!(err.contains("failover deadline") && !err.contains("took effect"), "{err}");
    let err = con.mset::<_, _, ()>(&[(&on_down[1], 1), (&on_down[2], 2)]).await.unwrap_err().to_string();
    assert!(err.contains("failover deadline") && !err.contains("took effect"), "{err}");
}
