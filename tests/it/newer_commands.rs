//! Keyed commands newer than Redis 7.0 that the static table knows (`keys::NEWER_COMMANDS`):
//! Redis 8's hash-field commands route to the shard owning their key, and `MSETEX` (Redis 8.4,
//! Valkey 9.1) runs on one shard under a hash tag and is refused across shards, never split
//! (its NX / XX applies to the whole group). On a server without a command the client still
//! routes it by its key, and the test checks the server's own "unknown command" comes back.

use disredis::{DisredisClient, Error};
use redis::{AsyncCommands, Commands, Value};

use crate::support::{self, Flavor, Spec, Topology, client, keys_on};

/// Does the server under test have `name`, by `NEWER_COMMANDS` (checked against the server's
/// `COMMAND` by `key_table::`)?
fn server_has(name: &str) -> bool {
    let server = support::server();
    let (major, minor, _) = server.version;
    let command = disredis::keys::NEWER_COMMANDS.iter().find(|c| c.name == name).expect(name);
    let since = match server.flavor {
        Flavor::Redis => command.redis,
        Flavor::Valkey => command.valkey,
    };
    since.is_some_and(|v| (major, minor) >= v)
}

/// The masters by name, asked directly.
fn master(topo: &Topology, name: &str) -> redis::Connection {
    topo.conn(&topo.master_addr(name))
}

fn dbsize(topo: &Topology, name: &str) -> i64 {
    redis::cmd("DBSIZE").query(&mut master(topo, name)).unwrap()
}

/// A server without the command answered it (so the client routed it, did not refuse it).
fn assert_unknown_command(result: redis::RedisResult<Value>, name: &str) {
    let e = result.expect_err("the server lacks the command");
    assert!(e.to_string().to_lowercase().contains("unknown command"), "{name}: {e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hash_field_commands_route_to_the_shard_of_their_key() {
    let topo = Topology::start(Spec::default());
    let client: DisredisClient = client(&topo).await;
    let mut con = client.clone();
    let names = topo.master_names();
    // A key on each shard: whichever the first is, the commands must follow the key.
    for (i, owner) in names.iter().enumerate() {
        let other = &names[1 - i];
        let key = keys_on(&client, owner, "h8", 1).remove(0);
        let hsetex = redis::cmd("HSETEX")
            .arg(&key)
            .arg("EX")
            .arg(100)
            .arg("FIELDS")
            .arg(2)
            .arg("f1")
            .arg("v1")
            .arg("f2")
            .arg("v2")
            .clone();
        if !server_has("HSETEX") {
            assert_unknown_command(hsetex.query_async(&mut con).await, "HSETEX");
            continue;
        }
        let set: i64 = hsetex.query_async(&mut con).await.unwrap();
        assert_eq!(set, 1);
        let mut m = master(&topo, owner);
        let ttl: Vec<i64> =
            redis::cmd("HTTL").arg(&key).arg("FIELDS").arg(1).arg("f1").query(&mut m).unwrap();
        assert!(ttl[0] > 0 && ttl[0] <= 100, "{ttl:?}");
        assert_eq!(dbsize(&topo, other), 0, "HSETEX reached {other}, which does not own {key}");

        let got: Vec<String> = redis::cmd("HGETEX")
            .arg(&key)
            .arg("PERSIST")
            .arg("FIELDS")
            .arg(1)
            .arg("f1")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(got, ["v1"]);
        let ttl: Vec<i64> =
            redis::cmd("HTTL").arg(&key).arg("FIELDS").arg(1).arg("f1").query(&mut m).unwrap();
        assert_eq!(ttl, [-1], "HGETEX PERSIST ran on {owner}");

        let got: Vec<String> = redis::cmd("HGETDEL")
            .arg(&key)
            .arg("FIELDS")
            .arg(1)
            .arg("f2")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(got, ["v2"]);
        let left: Vec<String> = m.hkeys(&key).unwrap();
        assert_eq!(left, ["f1"], "HGETDEL deleted f2 on {owner}");
        let _: () = con.del(&key).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn msetex_runs_on_one_shard_under_a_hash_tag_and_is_refused_across_shards() {
    let topo = Topology::start(Spec::default());
    let client: DisredisClient = client(&topo).await;
    let mut con = client.clone();
    let names = topo.master_names();
    let (a, b) =
        (keys_on(&client, &names[0], "mx", 1).remove(0), keys_on(&client, &names[1], "mx", 1).remove(0));

    // Across shards: refused before anything is sent, on any server (never split: NX would
    // apply to each part, not to the group).
    for opts in [&["NX", "EX", "100"][..], &["PX", "100000"]] {
        let cmd = redis::cmd("MSETEX").arg(2).arg(&a).arg(1).arg(&b).arg(2).arg(opts).clone();
        let e = cmd.query_async::<Value>(&mut con).await.unwrap_err();
        match Error::from(e) {
            Error::CrossShard { command, shards } => {
                assert_eq!(command, "MSETEX");
                let mut want = names.clone();
                want.sort();
                assert_eq!(shards, want);
            }
            other => panic!("MSETEX across shards: expected CrossShard, got {other:?}"),
        }
    }
    assert_eq!((dbsize(&topo, &names[0]), dbsize(&topo, &names[1])), (0, 0), "nothing ran");

    // Under a hash tag: one shard, the whole group.
    let owner = client.shard_for("grp").to_owned();
    let other = names.iter().find(|n| **n != owner).unwrap();
    let msetex = |nx: &str| {
        redis::cmd("MSETEX")
            .arg(2)
            .arg("{grp}:a")
            .arg(1)
            .arg("{grp}:b")
            .arg(2)
            .arg(nx)
            .arg("EX")
            .arg(100)
            .clone()
    };
    if !server_has("MSETEX") {
        assert_unknown_command(msetex("NX").query_async(&mut con).await, "MSETEX");
        return;
    }
    let set: i64 = msetex("NX").query_async(&mut con).await.unwrap();
    assert_eq!(set, 1);
    let mut m = master(&topo, &owner);
    let ttl: i64 = m.ttl("{grp}:b").unwrap();
    assert!(ttl > 0 && ttl <= 100, "{ttl}");
    let got: Vec<i64> = m.mget(&["{grp}:a", "{grp}:b"]).unwrap();
    assert_eq!(got, [1, 2]);
    assert_eq!(dbsize(&topo, other), 0);
    // NX over the group: one key exists, so neither is set.
    let _: () = con.del("{grp}:b").await.unwrap();
    let set: i64 = msetex("NX").query_async(&mut con).await.unwrap();
    assert_eq!(set, 0);
    assert!(!m.exists::<_, bool>("{grp}:b").unwrap(), "NX applied to the group");
}
