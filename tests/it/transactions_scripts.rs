//! Shard-bound commands across shards, on real processes: transactions and
//! WATCH, scripts, blocking commands (BLPOP), `on_shard`, and commands the client
//! does not know. The rest of the command surface is in `commands.rs`.

use std::time::Duration;

use redis::AsyncCommands;

use crate::support::{Spec, Topology, client, keys_on};

#[tokio::test(flavor = "multi_thread")]
async fn transactions_on_hash_tagged_keys_and_watch_under_contention() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let mut con = client.clone();
    let (key, other) = ("{acct:1}:balance", "{acct:1}:log");
    con.set::<_, _, ()>(key, 0).await.unwrap();
    // 8 tasks × 25 optimistic read-modify-write transactions: none may be lost.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let con = client.clone();
            tokio::spawn(async move {
                for _ in 0..25 {
                    redis::aio::transaction_async(con.clone(), &[key], |mut c, mut pipe| async move {
                        let v: i64 = c.get(key).await?;
                        pipe.set(key, v + 1)
                            .ignore()
                            .rpush(other, v)
                            .ignore()
                            .query_async::<Option<()>>(&mut c)
                            .await
                    })
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let v: i64 = con.get(key).await.unwrap();
    assert_eq!(v, 200, "every transaction applied exactly once");
    let log: Vec<i64> = con.lrange(other, 0, -1).await.unwrap();
    assert_eq!(log, (0..200).collect::<Vec<_>>());
    // Across shards: refused before anything is sent.
    let names = topo.master_names();
    let (a, b) =
        (keys_on(&client, &names[0], "t", 1).remove(0), keys_on(&client, &names[1], "t", 1).remove(0));
    let err = redis::cmd("WATCH").arg(&a).arg(&b).query_async::<()>(&mut con).await.unwrap_err();
    assert!(err.to_string().contains(&names[1]), "{err}");
    let err = redis::cmd("MULTI").query_async::<()>(&mut con).await.unwrap_err();
    assert!(err.to_string().contains("atomic"), "{err}");
    // WATCH must not travel in a pipeline over a shared connection.
    let err = redis::pipe().cmd("WATCH").arg(key).get(key).query_async::<()>(&mut con).await.unwrap_err();
    assert!(err.to_string().contains("WATCH"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn scripts_load_on_demand_on_every_shard() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let mut con = client.clone();
    let script = redis::Script::new("redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])");
    let names = topo.master_names();
    for shard in &names {
        let key = keys_on(&client, shard, "sc", 1).remove(0);
        let v: String = script.key(&key).arg("hello").invoke_async(&mut con).await.unwrap();
        assert_eq!(v, "hello");
    }
    let exists: Vec<bool> =
        redis::cmd("SCRIPT").arg("EXISTS").arg(script.get_hash()).query_async(&mut con).await.unwrap();
    assert_eq!(exists, vec![true]);
    // Scripts with keys on two shards are refused.
    let (a, b) =
        (keys_on(&client, &names[0], "sc", 1).remove(0), keys_on(&client, &names[1], "sc", 1).remove(0));
    let err = script.key(&a).key(&b).arg(1).invoke_async::<String>(&mut con).await.unwrap_err();
    assert!(err.to_string().contains("EVALSHA"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn blpop_waits_past_the_response_timeout_without_blocking_the_shard() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let names = topo.master_names();
    let queue = keys_on(&client, &names[0], "q", 1).remove(0);
    let neighbour = keys_on(&client, &names[0], "n", 1).remove(0);
    let waiter = {
        let (mut con, queue) = (client.clone(), queue.clone());
        tokio::spawn(async move {
            let t = std::time::Instant::now();
            let got: Option<(String, String)> = con.blpop(&queue, 10.0).await.unwrap();
            (got, t.elapsed())
        })
    };
    // Meanwhile the shard serves other commands (BLPOP has a connection of its own).
    let mut con = client.clone();
    for i in 0..20 {
        con.set::<_, _, ()>(&neighbour, i).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    con.rpush::<_, _, ()>(&queue, "job").await.unwrap();
    let (got, waited) = waiter.await.unwrap();
    assert_eq!(got, Some((queue.clone(), "job".to_owned())));
    assert!(waited >= Duration::from_secs(2), "BLPOP returned before the push: {waited:?}");
    // In a pipeline too: a 1 s BLPOP on an empty list outlives the 500 ms response timeout.
    let (popped, n): (Option<(String, String)>, i64) =
        redis::pipe().blpop(&queue, 1.0).incr(&neighbour, 1).query_async(&mut con).await.unwrap();
    assert_eq!((popped, n), (None, 20));
}

#[tokio::test(flavor = "multi_thread")]
async fn on_shard_reaches_one_named_shard() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let names = topo.master_names();
    for name in &names {
        let mut shard = client.on_shard(name).unwrap();
        let info: String = redis::cmd("INFO").arg("server").query_async(&mut shard).await.unwrap();
        let port = topo.master_addr(name).rsplit_once(':').unwrap().1.to_owned();
        assert!(info.contains(&format!("tcp_port:{port}")), "{name}: {info}");
        let own = keys_on(&client, name, "o", 1).remove(0);
        shard.set::<_, _, ()>(&own, 1).await.unwrap();
    }
    let mut a = client.on_shard(&names[0]).unwrap();
    let foreign = keys_on(&client, &names[1], "o", 1).remove(0);
    let err = a.get::<_, Option<String>>(&foreign).await.unwrap_err();
    assert!(err.to_string().contains(&names[1]), "{err}");
    let err = client.on_shard("nope").unwrap_err();
    assert!(matches!(err, disredis::Error::UnknownShard { .. }), "{err:?}");
}

/// A command no server knows gets the server's own error, as on one connection;
/// the server is asked about it each time (only what it knows is cached), so a
/// module loaded later routes its commands by their keys at once.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_commands_get_the_servers_error_and_are_asked_about_each_time() {
    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let mut con = client.clone();
    for _ in 0..3 {
        let err = redis::cmd("NOSUCHMODULE.CMD").arg("k").query_async::<()>(&mut con).await.unwrap_err();
        assert_eq!(err.kind(), redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError), "{err}");
        assert!(err.to_string().to_lowercase().contains("unknown command"), "{err}");
    }
    // COMMAND INFO was asked each time (of the first shard), which also answered.
    let names = topo.master_names();
    let stats: String =
        redis::cmd("INFO").arg("commandstats").query(&mut topo.conn(&topo.master_addr(&names[0]))).unwrap();
    let line = stats.lines().find(|l| l.starts_with("cmdstat_command|info:")).unwrap_or_default();
    assert!(line.starts_with("cmdstat_command|info:calls=3,"), "{line}");
    // on_shard sends it anyway, and the server's own error comes back.
    let mut shard = client.on_shard(&names[0]).unwrap();
    let err = redis::cmd("NOSUCHMODULE.CMD").query_async::<()>(&mut shard).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("unknown command"), "{err}");
}

/// The crate page's `WATCH` example (src/lib.rs), as written there: under 8
/// tasks taking 10 at a time from 95, exactly 9 takes succeed, the balance ends
/// at 5 and the log holds one entry per take; an early `Some(None)` changes
/// nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_crate_docs_watch_example_takes_exactly_what_the_balance_holds() {
    async fn take(client: disredis::DisredisClient) -> redis::RedisResult<Option<i64>> {
        let (balance, log) = ("{user:42}:balance", "{user:42}:log");
        let left: Option<i64> = redis::aio::transaction_async(
            client.clone(), // the WATCH pins this handle (and its clones) to a connection of its own
            &[balance],
            |mut con, mut pipe| async move {
                let now: i64 = con.get::<_, Option<i64>>(balance).await?.unwrap_or(0);
                if now < 10 {
                    return Ok(Some(None)); // nothing to change: ends the loop
                }
                // `None` when `balance` changed after the WATCH: the closure runs again.
                let done: Option<(i64,)> =
                    pipe.decr(balance, 10).rpush(log, -10).ignore().query_async(&mut con).await?;
                Ok(done.map(|(left,)| Some(left)))
            },
        )
        .await?;
        Ok(left)
    }

    let topo = Topology::start(Spec::default());
    let client = client(&topo).await;
    let mut con = client.clone();
    con.set::<_, _, ()>("{user:42}:balance", 95).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut took = Vec::new();
                while let Some(left) = take(client.clone()).await.unwrap() {
                    took.push(left);
                }
                took
            })
        })
        .collect();
    let mut lefts = Vec::new();
    for t in tasks {
        lefts.extend(t.await.unwrap());
    }
    lefts.sort();
    assert_eq!(lefts, (0..9).map(|i| 5 + 10 * i).collect::<Vec<i64>>(), "each take saw its own balance");
    assert_eq!(con.get::<_, i64>("{user:42}:balance").await.unwrap(), 5);
    assert_eq!(con.llen::<_, usize>("{user:42}:log").await.unwrap(), 9);
    // Insufficient: the early `Some(None)` changes nothing.
    assert_eq!(take(client.clone()).await.unwrap(), None);
    assert_eq!(con.get::<_, i64>("{user:42}:balance").await.unwrap(), 5);
    assert_eq!(con.llen::<_, usize>("{user:42}:log").await.unwrap(), 9);
}
