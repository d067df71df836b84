//! Commands that change a connection's state never reach a shared connection:
//! `SELECT` and `CLIENT SETNAME` through `on_shard` (the advice `NoKey` gives),
//! the client and pipelines are refused with `Error::SharedConnection`, later
//! reads still see the right database, and the connections keep the
//! `disredis:ring=<v>` name the reshard fence counts. Also the hints of the
//! other routing errors (a key of another shard through `on_shard`, `PUBLISH`
//! in a pipeline, a script without keys).

use redis::AsyncCommands;

use disredis::Error;

use crate::support::{Spec, Topology, client, keys_on};

fn err(e: redis::RedisError) -> Error {
    Error::from(e)
}

#[tokio::test(flavor = "multi_thread")]
async fn state_commands_are_refused_and_the_shared_connection_keeps_its_state() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let mut con = client(&topo).await;
    let key = keys_on(&con, &names[0], "state", 1).remove(0);
    con.set::<_, _, ()>(&key, "db0").await.unwrap();
    let mut shard = con.on_shard(&names[0]).unwrap();

    for (args, command) in [
        (vec!["SELECT", "1"], "SELECT"),
        (vec!["CLIENT", "SETNAME", "myapp"], "CLIENT SETNAME"),
        (vec!["client", "reply", "off"], "CLIENT REPLY"),
        (vec!["HELLO", "3"], "HELLO"),
        (vec!["SUBSCRIBE", "news"], "SUBSCRIBE"),
        // Newer than the static table (Redis 7.2+): refused by name all the same.
        (vec!["CLIENT", "NO-TOUCH", "ON"], "CLIENT NO-TOUCH"),
    ] {
        let mut cmd = redis::cmd(args[0]);
        cmd.arg(&args[1..]);
        let through_handle = cmd.query_async::<redis::Value>(&mut shard).await.map_err(err);
        let through_client = cmd.query_async::<redis::Value>(&mut con).await.map_err(err);
        let in_pipeline =
            redis::pipe().get(&key).add_command(cmd.clone()).query_async::<redis::Value>(&mut con).await;
        for (path, outcome) in
            [("on_shard", through_handle), ("client", through_client), ("pipeline", in_pipeline.map_err(err))]
        {
            match outcome {
                Err(Error::SharedConnection { command: c, instead }) => {
                    assert_eq!(c, command, "{path}");
                    assert!(!instead.is_empty());
                }
                other => panic!("{path}: {args:?} was not refused: {other:?}"),
            }
        }
    }
    // Nothing moved the shared connection: the key reads from database 0 ...
    assert_eq!(con.get::<_, Option<String>>(&key).await.unwrap().as_deref(), Some("db0"));
    // ... and every connection still carries the name the reshard fence counts.
    let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut shard).await.unwrap();
    let ours: Vec<&str> =
        list.lines().filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("name="))).collect();
    assert!(ours.iter().any(|n| n.starts_with("disredis:ring=")), "{list}");
    assert!(!ours.contains(&"myapp"), "{list}");
    // Ordinary CLIENT subcommands still run.
    let id: i64 = redis::cmd("CLIENT").arg("ID").query_async(&mut shard).await.unwrap();
    assert!(id > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_errors_say_what_to_do() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let mut con = client(&topo).await;
    let theirs = keys_on(&con, &names[1], "wrong", 1).remove(0);

    // One key of shard b through shard a's handle: says whose key it is.
    let mut a = con.on_shard(&names[0]).unwrap();
    match a.get::<_, Option<String>>(&theirs).await.map_err(err) {
        Err(Error::WrongShard { command, shard, owner }) => {
            assert_eq!((command.as_str(), shard.as_str(), owner.as_str()), ("GET", &*names[0], &*names[1]));
        }
        other => panic!("{other:?}"),
    }

    // PUBLISH in a pipeline: send it on its own (not on_shard).
    let e = redis::pipe()
        .publish("news", "x")
        .query_async::<redis::Value>(&mut con)
        .await
        .map_err(err)
        .unwrap_err();
    assert!(matches!(&e, Error::NoKey { .. }) && e.to_string().contains("on its own"), "{e}");
    assert!(!e.to_string().contains("on_shard"), "{e}");

    // A script with no declared key: declare them in KEYS.
    let e = redis::cmd("EVAL")
        .arg("return 1")
        .arg(0)
        .query_async::<i64>(&mut con)
        .await
        .map_err(err)
        .unwrap_err();
    assert!(matches!(&e, Error::NoKey { .. }) && e.to_string().contains("KEYS"), "{e}");
    // ... which on_shard runs, as the text says for a script that touches no key.
    let one: i64 = redis::cmd("EVAL").arg("return 1").arg(0).query_async(&mut a).await.unwrap();
    assert_eq!(one, 1);
}
