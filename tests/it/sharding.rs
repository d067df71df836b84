//! Keys land where `shard_for` says, spread evenly, and hash tags co-locate; on
//! real processes, checked by asking each master directly.

use std::collections::HashMap;

use disredis::Error;
use redis::{AsyncCommands, Commands};

use crate::support::{Spec, Topology, client};

#[tokio::test(flavor = "multi_thread")]
async fn every_key_lands_on_the_master_shard_for_names() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let mut con = client.clone();
    let keys: Vec<String> = (0..2000).map(|i| format!("placement:{i}")).collect();
    for k in &keys {
        con.set::<_, _, ()>(k, k).await.unwrap();
    }
    let mut masters: HashMap<String, redis::Connection> = topo
        .master_names()
        .into_iter()
        .map(|n| {
            let c = topo.conn(&topo.master_addr(&n));
            (n, c)
        })
        .collect();
    for k in &keys {
        let owner = client.shard_for(k).to_owned();
        for (name, c) in masters.iter_mut() {
            let v: Option<String> = c.get(k).unwrap();
            if *name == owner {
                assert_eq!(v.as_deref(), Some(k.as_str()), "{k} missing on {name}");
            } else {
                assert_eq!(v, None, "{k} also on {name}, but shard_for says {owner}");
            }
        }
    }
    // Reads through the client see the same values.
    for k in keys.iter().step_by(97) {
        let v: String = con.get(k).await.unwrap();
        assert_eq!(&v, k);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_shards_each_get_40_to_60_percent_of_10k_random_keys() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let mut con = client.clone();
    // Random-looking keys from a fixed-seed generator (reproducible).
    let mut x: u64 = 0x243f_6a88_85a3_08d3;
    let mut pipe_keys = Vec::new();
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pipe_keys.push(format!("r:{x:016x}"));
    }
    for k in &pipe_keys {
        con.set::<_, _, ()>(k, 1).await.unwrap();
    }
    for name in topo.master_names() {
        let mut c = topo.conn(&topo.master_addr(&name));
        let n: usize = redis::cmd("DBSIZE").query(&mut c).unwrap();
        let share = n as f64 / 10_000.0;
        assert!((0.40..=0.60).contains(&share), "{name} holds {n} of 10000 keys");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hash_tagged_keys_co_locate_and_multi_key_commands_run_on_one_shard() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let mut con = client.clone();
    let keys: Vec<String> = (0..20).map(|i| format!("{{cart:7}}:item{i}")).collect();
    let owner = client.shard_for("cart:7").to_owned();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(client.shard_for(k), owner);
        con.set::<_, _, ()>(k, i).await.unwrap();
    }
    let values: Vec<usize> = con.mget(&keys).await.unwrap();
    assert_eq!(values, (0..20).collect::<Vec<_>>());
    let mut master = topo.conn(&topo.master_addr(&owner));
    let n: usize = master.exists(&keys).unwrap();
    assert_eq!(n, 20, "all tagged keys on {owner}");
    // A single-shard pipeline works too.
    let (a, b): (usize, usize) =
        redis::pipe().get(&keys[3]).get(&keys[4]).query_async(&mut con).await.unwrap();
    assert_eq!((a, b), (3, 4));
    // So does a transaction (MULTI/EXEC) over the tagged keys.
    let (set, got): (String, usize) =
        redis::pipe().atomic().set(&keys[0], 100).get(&keys[0]).query_async(&mut con).await.unwrap();
    assert_eq!((set.as_str(), got), ("OK", 100));
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_shard_and_keyless_commands_are_refused_not_misrouted() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let mut con = client.clone();
    // Find two keys on different shards.
    let a = "x:0".to_owned();
    let b = (1..).map(|i| format!("x:{i}")).find(|k| client.shard_for(k) != client.shard_for(&a)).unwrap();
    con.set::<_, _, ()>(&a, "va").await.unwrap();

    let err = con.rename::<_, _, ()>(&a, &b).await.unwrap_err();
    assert!(matches!(Error::from(err.clone()), Error::CrossShard { command, .. } if command == "RENAME"));
    let text = err.to_string();
    assert!(text.contains("RENAME") && text.contains("shard-a") && text.contains("shard-b"), "{text}");
    // Nothing moved: the source key is still there.
    let v: String = con.get(&a).await.unwrap();
    assert_eq!(v, "va");

    let err = redis::cmd("INFO").query_async::<String>(&mut con).await.unwrap_err();
    assert!(err.to_string().contains("INFO") && err.to_string().contains("on_shard"), "{err}");

    // A transaction across shards is refused before anything is sent.
    let err = redis::pipe()
        .atomic()
        .set(&a, "changed")
        .set(&b, "vb")
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("MULTI/EXEC") && err.to_string().contains("shard-b"), "{err}");
    let v: String = con.get(&a).await.unwrap();
    assert_eq!(v, "va", "nothing of the refused transaction ran");

    let err = redis::cmd("EVAL").arg("return 1").arg("x").query_async::<i64>(&mut con).await.unwrap_err();
    assert!(err.to_string().contains("EVAL"), "{err}");

    // Plain server errors come back unretried.
    con.set::<_, _, ()>("wrongtype", "s").await.unwrap();
    let err = con.lpush::<_, _, ()>("wrongtype", "x").await.unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"));
}

#[test]
fn the_typed_error_survives_the_redis_traits() {
    // Error -> RedisError keeps the message a person needs, and comes back whole.
    let e = Error::CrossShard { command: "MSETNX".into(), shards: vec!["shard-a".into(), "shard-b".into()] };
    let r: redis::RedisError = e.into();
    assert!(r.to_string().contains("MSETNX"));
    match Error::from(r) {
        e @ Error::CrossShard { .. } => assert_eq!(e.kind(), redis::ErrorKind::Client),
        other => panic!("{other:?}"),
    }
}
