//! Typed errors through the `redis` traits on real processes: what the client refuses or
//! gives up on comes back from `redis::AsyncCommands` and the blocking `redis::Commands` as a
//! `RedisError` that `disredis::Error::from` turns into the variant, with every field.
//!
//! One topology without replicas and one Sentinel: a frozen (SIGSTOP) master can't be failed
//! over, so a non-idempotent write on it is `Ambiguous` and a read `FailoverTimeout`, and a
//! `WAIT 1` in durability mode is never satisfied (`NotReplicated`).

use std::time::Duration;

use disredis::{Builder, Error};
use redis::{AsyncCommands, Commands, RedisError};

use crate::support::{Spec, Topology, keys_on};

/// Keys `a` and `b` on different shards, and the cross-shard commands over them.
fn cross_shard_commands(a: &str, b: &str) -> Vec<redis::Cmd> {
    let two = |name: &str| {
        let mut c = redis::cmd(name);
        c.arg(a).arg(b);
        c
    };
    let mut cmds: Vec<redis::Cmd> = [
        "RENAME",
        "RENAMENX",
        "SMOVE",
        "RPOPLPUSH",
        "SUNIONSTORE",
        "SINTERSTORE",
        "SDIFFSTORE",
        "PFMERGE",
        "COPY",
    ]
    .into_iter()
    .map(two)
    .collect();
    cmds[2].arg("member");
    let mut lmove = redis::cmd("LMOVE");
    lmove.arg(a).arg(b).arg("LEFT").arg("RIGHT");
    let mut msetnx = redis::cmd("MSETNX");
    msetnx.arg(a).arg(1).arg(b).arg(2);
    let mut bitop = redis::cmd("BITOP");
    bitop.arg("AND").arg(a).arg(b);
    cmds.extend([lmove, msetnx, bitop]);
    cmds
}

/// Counts the refusals that come back as `CrossShard` naming both shards.
fn typed_cross_shard(errors: Vec<RedisError>, shards: &[String]) -> usize {
    errors
        .into_iter()
        .filter(|e| match Error::from(e.clone()) {
            Error::CrossShard { shards: got, .. } => got.len() == 2 && shards.iter().all(|s| got.contains(s)),
            other => panic!("expected CrossShard, got {other:?}"),
        })
        .count()
}

fn assert_no_key(e: RedisError, command: &str) {
    match Error::from(e) {
        Error::NoKey { command: got } => assert_eq!(got, command),
        other => panic!("expected NoKey, got {other:?}"),
    }
}

fn assert_ambiguous(e: RedisError, shard: &str) {
    match Error::from(e) {
        Error::Ambiguous { command, shard: got, cause } => {
            assert_eq!((command.as_str(), got.as_str()), ("INCRBY", shard));
            assert!(cause.is_timeout() || cause.is_connection_dropped(), "{cause}");
        }
        other => panic!("expected Ambiguous, got {other:?}"),
    }
}

fn assert_failover_timeout(e: RedisError, shard: &str) {
    match Error::from(e) {
        Error::FailoverTimeout { shard: got, last, .. } => {
            assert_eq!(got, shard);
            // The frozen master: a response or ROLE-check timeout.
            assert!(matches!(*last, Error::Redis(ref r) if r.is_timeout()), "{last:?}");
        }
        other => panic!("expected FailoverTimeout, got {other:?}"),
    }
}

fn assert_not_replicated(e: RedisError, shard: &str) {
    match Error::from(e) {
        Error::NotReplicated { command, shard: got, acked, wanted } => {
            assert_eq!((command.as_str(), got.as_str(), acked, wanted), ("SET", shard, 0, 1));
        }
        other => panic!("expected NotReplicated, got {other:?}"),
    }
}

#[test]
fn every_refusal_comes_back_typed_through_async_and_blocking_commands() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let settings =
        // FailoverTimeout is checked below, not the fail-fast of a shard that
        // stays down (dead_shard:: covers ShardDown).
        || {
            Builder::default()
                .sentinels(topo.sentinel_addrs())
                .failover_deadline(Duration::from_secs(1))
                .shard_down_after(None)
        };
    let client = rt.block_on(settings().connect()).unwrap();
    let mut con = client.clone();
    let mut blocking = settings().connect_blocking().unwrap();
    let names = topo.master_names();
    let a = keys_on(&client, &names[0], "te", 1).remove(0);
    let b = keys_on(&client, &names[1], "te", 1).remove(0);

    // CrossShard, every one (before this change: 12 of 12 came back as Error::Redis).
    let cmds = cross_shard_commands(&a, &b);
    let async_errors: Vec<RedisError> =
        cmds.iter().map(|c| rt.block_on(c.query_async::<redis::Value>(&mut con)).unwrap_err()).collect();
    let blocking_errors: Vec<RedisError> =
        cmds.iter().map(|c| c.query::<redis::Value>(&mut blocking).unwrap_err()).collect();
    let (n_async, n_blocking) =
        (typed_cross_shard(async_errors, &names), typed_cross_shard(blocking_errors, &names));
    eprintln!(
        "cross-shard refusals typed: async {n_async} of {}, blocking {n_blocking} of {}",
        cmds.len(),
        cmds.len()
    );
    assert_eq!((n_async, n_blocking), (cmds.len(), cmds.len()));
    // An AsyncCommands method and a Commands method too.
    let e = rt.block_on(con.rename::<_, _, ()>(&a, &b)).unwrap_err();
    assert_eq!(typed_cross_shard(vec![e], &names), 1);
    let e = blocking.rename::<_, _, ()>(&a, &b).unwrap_err();
    assert_eq!(typed_cross_shard(vec![e], &names), 1);

    // NoKey.
    assert_no_key(rt.block_on(redis::cmd("INFO").query_async::<String>(&mut con)).unwrap_err(), "INFO");
    assert_no_key(
        redis::cmd("CONFIG").arg("GET").arg("*").query::<redis::Value>(&mut blocking).unwrap_err(),
        "CONFIG GET",
    );

    // NotReplicated: durability mode with no replica to acknowledge.
    let durable = || settings().wait_replicas(1, Duration::from_millis(50));
    let mut durable_async = rt.block_on(durable().connect()).unwrap();
    let mut durable_blocking = durable().connect_blocking().unwrap();
    assert_not_replicated(rt.block_on(durable_async.set::<_, _, ()>(&a, 1)).unwrap_err(), &names[0]);
    assert_not_replicated(durable_blocking.set::<_, _, ()>(&a, 1).unwrap_err(), &names[0]);

    // Ambiguous and FailoverTimeout: a frozen master without a replica to promote.
    let master = topo.master_addr(&names[0]);
    topo.stop(&master);
    assert_ambiguous(rt.block_on(con.incr::<_, _, i64>(&a, 1)).unwrap_err(), &names[0]);
    assert_ambiguous(blocking.incr::<_, _, i64>(&a, 1).unwrap_err(), &names[0]);
    assert_failover_timeout(rt.block_on(con.get::<_, Option<String>>(&a)).unwrap_err(), &names[0]);
    assert_failover_timeout(blocking.get::<_, Option<String>>(&a).unwrap_err(), &names[0]);
    // The other shard kept serving all along.
    rt.block_on(con.set::<_, _, ()>(&b, "ok")).unwrap();
    assert_eq!(blocking.get::<_, String>(&b).unwrap(), "ok");
    topo.cont(&master);
}
