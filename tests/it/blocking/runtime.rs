//! The blocking client inside tokio: it works in `spawn_blocking` (and
//! `block_in_place`) on both runtime flavors, and is a typed error — no panic,
//! no deadlock — in an async task or a runtime's `block_on`.

use std::collections::BTreeSet;
use std::time::Duration;

use disredis::Error;
use disredis::blocking::DisredisClient;
use redis::{Commands, ConnectionLike};
use tokio::runtime::Runtime;

use crate::support::{Spec, Topology, keys_on};

fn runtimes() -> [(&'static str, Runtime); 2] {
    let current = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let multi = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    [("current_thread", current), ("multi_thread", multi)]
}

/// Asserts `e` is `Error::InsideRuntime` as it arrives through the `redis` traits.
fn inside(what: &str, e: redis::RedisError) {
    assert!(matches!(Error::from(e.clone()), Error::InsideRuntime), "{what}: {e}");
    assert!(e.to_string().contains("inside an async task"), "{what}: {e}");
}

/// Built and used inside `spawn_blocking`: commands on both shards, a
/// pipeline, the subscriber; and a client built on a plain thread works there too.
#[test]
fn in_spawn_blocking_it_works_on_both_runtime_flavors() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let addrs = topo.sentinel_addrs();
    let names = topo.master_names();
    let outside = DisredisClient::connect(&addrs).unwrap();
    for (flavor, rt) in runtimes() {
        let (addrs, names, inner) = (addrs.clone(), names.clone(), outside.clone());
        let written = rt.block_on(async move {
            tokio::task::spawn_blocking(move || {
                let mut c = DisredisClient::connect(&addrs).unwrap();
                let mut written = Vec::new();
                for shard in &names {
                    for key in keys_on(&c, shard, &format!("sb:{flavor}"), 3) {
                        c.set::<_, _, ()>(&key, flavor).unwrap();
                        written.push(key);
                    }
                }
                let (n, v): (i64, String) =
                    redis::pipe().incr(format!("{{sb}}:{flavor}"), 2).get(&written[0]).query(&mut c).unwrap();
                assert_eq!((n, v.as_str()), (2, flavor));
                let mut o = inner;
                assert_eq!(o.get::<_, String>(&written[3]).unwrap(), flavor);

                let mut sub = c.pubsub().unwrap();
                let channels: Vec<String> = (0..6).map(|i| format!("sb:{flavor}:{i}")).collect();
                sub.subscribe(&channels).unwrap();
                for ch in &channels {
                    assert_eq!(c.publish::<_, _, i64>(ch, "hi").unwrap(), 1, "{ch}");
                }
                let mut got = BTreeSet::new();
                while got.len() < channels.len() {
                    let msg =
                        sub.get_message(Some(Duration::from_secs(5))).unwrap().expect("a message in 5 s");
                    got.insert(msg.get_channel_name().to_owned());
                }
                assert_eq!(got, channels.iter().cloned().collect());
                written
            })
            .await
            .unwrap()
        });
        // Each write reached its shard's master, seen from outside the client.
        for key in &written {
            let shard = outside.shard_for(key);
            let mut master = topo.conn(&topo.master_addr(shard));
            assert_eq!(master.get::<_, String>(key).unwrap(), flavor, "{key}");
        }
    }
}

/// In an async task (and a `block_on` body) every call is the typed error on
/// both flavors, and the client still works on the next blocking thread.
#[test]
fn in_an_async_task_every_call_is_a_typed_error_on_both_runtime_flavors() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let addrs = topo.sentinel_addrs();
    let mut c = DisredisClient::connect(&addrs).unwrap();
    for (flavor, rt) in runtimes() {
        let (addrs, task_client) = (addrs.clone(), c.clone());
        rt.block_on(async move {
            // The block_on body (#[tokio::main], #[tokio::test]).
            assert!(matches!(DisredisClient::connect(&addrs), Err(Error::InsideRuntime)), "{flavor}");
            let mut body = task_client.clone();
            inside(flavor, body.set::<_, _, ()>("k", "body").unwrap_err());
            // A task.
            tokio::spawn(async move {
                let mut c = task_client;
                assert!(matches!(DisredisClient::connect(&addrs), Err(Error::InsideRuntime)), "{flavor}");
                inside(flavor, c.set::<_, _, ()>("k", "task").unwrap_err());
                inside(flavor, redis::cmd("GET").arg("k").query::<Option<String>>(&mut c).unwrap_err());
                inside(flavor, redis::pipe().set("k", 1).query::<()>(&mut c).unwrap_err());
                inside(
                    flavor,
                    c.req_packed_command(&redis::cmd("GET").arg("k").get_packed_command()).unwrap_err(),
                );
                assert!(matches!(c.pubsub(), Err(Error::InsideRuntime)), "{flavor}");
                // The async client inside works there, and nothing was written.
                let v: Option<String> =
                    redis::AsyncCommands::get(&mut c.as_async().clone(), "k").await.unwrap();
                assert_eq!(v, None, "{flavor}");
                drop(c); // dropping inside a runtime must not panic either
            })
            .await
            .unwrap();
        });
    }
    assert_eq!(c.get::<_, Option<String>>("k").unwrap(), None);
    c.set::<_, _, ()>("k", "plain thread").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "plain thread");
}

/// A subscriber made on a plain thread, used in an async task: refused too.
#[test]
fn the_blocking_subscriber_in_an_async_task_is_a_typed_error() {
    let topo = Topology::start(Spec { shards: 1, replicas: 0, sentinels: 1, quorum: 1 });
    let c = DisredisClient::connect(topo.sentinel_addrs()).unwrap();
    let mut sub = c.pubsub().unwrap();
    sub.subscribe("ch").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sub = rt.block_on(async move {
        tokio::spawn(async move {
            let mut sub = sub;
            assert!(matches!(sub.subscribe("other"), Err(Error::InsideRuntime)));
            assert!(matches!(sub.get_message(Some(Duration::from_millis(1))), Err(Error::InsideRuntime)));
            sub
        })
        .await
        .unwrap()
    });
    // Back on a plain thread the subscription made before still delivers.
    let mut sub = sub;
    drop(rt);
    let mut publisher = c.clone();
    assert_eq!(publisher.publish::<_, _, i64>("ch", "after").unwrap(), 1);
    let msg = sub.get_message(Some(Duration::from_secs(5))).unwrap().expect("a message in 5 s");
    assert_eq!(msg.get_payload::<String>().unwrap(), "after");
}

/// `block_in_place`, tokio's other way to block in a multi-thread task, works.
#[test]
fn in_block_in_place_it_works() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let c = DisredisClient::connect(topo.sentinel_addrs()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut task_client = c.clone();
    let n = rt.block_on(async move {
        tokio::spawn(async move {
            tokio::task::block_in_place(|| {
                task_client.set::<_, _, ()>("bip", 41).unwrap();
                task_client.incr::<_, _, i64>("bip", 1).unwrap()
            })
        })
        .await
        .unwrap()
    });
    assert_eq!(n, 42);
    drop(rt);
    let mut master = topo.conn(&topo.master_addr(c.shard_for("bip")));
    assert_eq!(master.get::<_, i64>("bip").unwrap(), 42);
}
