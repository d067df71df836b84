//! The change phases one at a time, with the records written by hand: what a
//! client does with a moving key under `prepare` (the guard) and `migrating`
//! (migrate on first touch), for single commands, pipelines, transactions,
//! blocking commands and WATCH sessions.

use std::time::Duration;

use disredis::DisredisClient;
use disredis::hashing::Rendezvous;
use redis::AsyncCommands;

use super::load::{follows, joined_later};
use crate::support::{Topology, load_record};

fn record(version: u64, phase: &str, members: &[String], target: &[String]) -> String {
    format!(
        "disredis-ring/1\nversion: {version}\nphase: {phase}\nmembers: {}\ntarget: {}\n",
        members.join(","),
        target.join(",")
    )
}

/// Writes `text` on every master and announces it on the ring channel.
fn publish(topo: &Topology, text: &str, version: u64) {
    for name in topo.master_names() {
        load_record(topo, &name, text);
        let _: i64 = redis::cmd("PUBLISH")
            .arg("__disredis__:ring")
            .arg(version)
            .query(&mut topo.conn(&topo.master_addr(&name)))
            .unwrap();
    }
}

fn on(topo: &Topology, master: &str, key: &str) -> bool {
    redis::cmd("EXISTS").arg(key).query::<i64>(&mut topo.conn(&topo.master_addr(master))).unwrap() == 1
}

/// Keys `{prefix}…` that move from their old owner (returned) to `to`.
fn moving(
    prefix: &str,
    n: usize,
    old: &Rendezvous,
    new: &Rendezvous,
    to: &str,
) -> (Vec<String>, Vec<String>) {
    let keys: Vec<String> =
        (0..).map(|i| format!("{prefix}{i}")).filter(|k| new.shard_for(k.as_bytes()) == to).take(n).collect();
    let owners = keys.iter().map(|k| old.shard_for(k.as_bytes()).to_owned()).collect();
    (keys, owners)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moving_key_is_guarded_then_moved_on_first_touch() {
    let topo = joined_later(0).await;
    let names = topo.master_names();
    let (members, c) = (names[..2].to_vec(), names[2].clone());
    let (old, new) = (Rendezvous::new(members.clone()).unwrap(), Rendezvous::new(names.clone()).unwrap());
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let mut x = client.clone();
    let (keys, owners) = moving("mv:", 4, &old, &new, &c);
    for k in &keys {
        x.set::<_, _, ()>(k, "v1").await.unwrap();
    }

    // prepare: moving keys stay at their old owner, through the guard.
    publish(&topo, &record(2, "prepare", &members, &names), 2);
    follows(&client, 2).await;
    x.set::<_, _, ()>(&keys[0], "v2").await.unwrap();
    assert!(on(&topo, &owners[0], &keys[0]) && !on(&topo, &c, &keys[0]));
    let (ok, got): (String, String) = redis::pipe()
        .set(&keys[1], "p")
        .ignore()
        .cmd("SET")
        .arg(&keys[1])
        .arg("q")
        .get(&keys[1])
        .query_async(&mut x)
        .await
        .unwrap();
    assert_eq!((ok.as_str(), got.as_str()), ("OK", "q"), "a pipeline through the guard");
    let tag = moving("{tx", 1, &old, &new, &c).0[0].clone() + "}";
    let (t1, t2) = (format!("{tag}:a"), format!("{tag}:b"));
    let (n1, n2): (i64, i64) =
        redis::pipe().atomic().incr(&t1, 1).incr(&t2, 2).query_async(&mut x).await.unwrap();
    assert_eq!((n1, n2), (1, 2), "a transaction through the guard");
    let err = x.lpush::<_, _, i64>(&keys[0], "x").await.unwrap_err();
    assert!(err.to_string().contains("WRONGTYPE"), "errors come back as they are: {err}");

    // A tombstone at the old owner (a client of the next phase moved the key):
    // the write waits for the next ring instead of landing at the old owner.
    let tomb = "__disredis__:moved:3";
    let _: i64 = redis::cmd("HSET")
        .arg(tomb)
        .arg(&keys[2])
        .arg(1)
        .query(&mut topo.conn(&topo.master_addr(&owners[2])))
        .unwrap();
    // In one pipeline with a key that stays: only the moving part waits and is
    // sent again; the other part runs once.
    let stays = (0..)
        .map(|i| format!("stays:{i}"))
        .find(|k| new.shard_for(k.as_bytes()) == old.shard_for(k.as_bytes()))
        .unwrap();
    let mut y = x.clone();
    let (k2, s2) = (keys[2].clone(), stays.clone());
    let waiting = tokio::spawn(async move {
        redis::pipe().incr(&s2, 1).set(&k2, "v3").ignore().query_async::<(i64,)>(&mut y).await
    });
    // A blocking pop and a WATCH session on moving keys wait for the next phase too.
    let (lists, list_owners) = moving("list:", 1, &old, &new, &c);
    let mut z = x.clone();
    let list = lists[0].clone();
    let popping = tokio::spawn(async move { z.blpop::<_, Option<(String, String)>>(&list, 5.0).await });
    let counter = moving("watched:", 1, &old, &new, &c).0.remove(0);
    let watched = counter.clone();
    let (tx_client, watch_key) = (x.clone(), counter.clone());
    let watching = tokio::spawn(async move {
        redis::aio::transaction_async(tx_client, &[watch_key.as_str()], move |mut c, mut pipe| {
            let counter = watched.clone();
            async move {
                let v: Option<i64> = c.get(&counter).await?;
                pipe.set(&counter, v.unwrap_or(0) + 5)
                    .ignore()
                    .get(&counter)
                    .query_async::<Option<(i64,)>>(&mut c)
                    .await
            }
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "a guarded write on a moved key waits for the next phase");
    assert!(!popping.is_finished() && !watching.is_finished());
    assert_eq!(
        redis::cmd("GET")
            .arg(&keys[2])
            .query::<String>(&mut topo.conn(&topo.master_addr(&owners[2])))
            .unwrap(),
        "v1"
    );

    // migrating: the waiting write goes to the new owner; a read moves the key.
    publish(&topo, &record(3, "migrating", &members, &names), 3);
    assert_eq!(waiting.await.unwrap().unwrap(), (1,), "the part that stays ran once");
    assert!(on(&topo, &c, &keys[2]), "the write went to the new owner");
    let (n,): (i64,) = watching.await.unwrap().unwrap();
    assert_eq!(n, 5, "the WATCH session ran under the next phase");
    assert!(on(&topo, &c, &counter));
    let _: i64 = x.rpush(&lists[0], "a").await.unwrap();
    assert_eq!(
        popping.await.unwrap().unwrap(),
        Some((lists[0].clone(), "a".into())),
        "the pop waits at the new owner"
    );
    assert!(!on(&topo, &list_owners[0], &lists[0]));
    let got: String = x.get(&keys[0]).await.unwrap();
    assert_eq!(got, "v2", "the value moved with the key");
    assert!(on(&topo, &c, &keys[0]) && !on(&topo, &owners[0], &keys[0]), "moved on first touch");
    let marked: i64 = redis::cmd("HEXISTS")
        .arg(tomb)
        .arg(&keys[0])
        .query(&mut topo.conn(&topo.master_addr(&owners[0])))
        .unwrap();
    assert_eq!(marked, 1, "with a tombstone at the old owner");
    let ttl_key = &keys[3];
    let _: () = redis::cmd("EXPIRE")
        .arg(ttl_key)
        .arg(1000)
        .query(&mut topo.conn(&topo.master_addr(&owners[3])))
        .unwrap();
    let ttl: i64 = x.ttl(ttl_key).await.unwrap();
    assert!((990..=1000).contains(&ttl), "MIGRATE keeps the TTL: {ttl}");

    // A blocking pop of a list that is still at its old owner moves it first.
    let (lists, list_owners) = moving("list2:", 1, &old, &new, &c);
    let _: i64 = redis::cmd("RPUSH")
        .arg(&lists[0])
        .arg("b")
        .query(&mut topo.conn(&topo.master_addr(&list_owners[0])))
        .unwrap();
    let popped: Option<(String, String)> = x.blpop(&lists[0], 1.0).await.unwrap();
    assert_eq!(popped, Some((lists[0].clone(), "b".into())));

    // stable over the new members.
    publish(&topo, &crate::support::stable_record(4, &names), 4);
    follows(&client, 4).await;
    let got: String = x.get(&keys[2]).await.unwrap();
    assert_eq!(got, "v3");
    assert_eq!(client.shard_for(&keys[2]), c);
}
