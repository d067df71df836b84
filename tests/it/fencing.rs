//! Fencing a stranded master on real processes: a master with `min-replicas-to-write 1` whose
//! replica is gone (SIGSTOP) refuses writes with `NOREPLICAS`, as the old master on the
//! minority side of a partition does. That refusal is a failover symptom: the write is
//! re-resolved and retried within the deadline, never reported successful, and when the shard
//! never recovers it ends in `FailoverTimeout` whose last error is the `NOREPLICAS`.

use std::time::{Duration, Instant};

use disredis::{Builder, Error, Event};
use redis::AsyncCommands;

use crate::support::{Spec, Topology, keys_on, shard_info};

/// Polls (10 ms steps) until the master itself refuses a write with `NOREPLICAS`.
fn wait_for_noreplicas(topo: &Topology, master: &str) {
    let mut con = topo.conn(master);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let outcome: redis::RedisResult<()> = redis::cmd("SET").arg("probe").arg(1).query(&mut con);
        match outcome {
            Err(e) if e.code() == Some("NOREPLICAS") => return,
            other => assert!(Instant::now() < deadline, "the master still takes writes: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn assert_noreplicas_timeout(err: redis::RedisError, shard: &str) {
    match Error::from(err) {
        Error::FailoverTimeout { shard: got, last, .. } => {
            assert_eq!(got, shard);
            // A single command's refusal, or an aborted transaction whose commands were refused.
            let refused = |r: &redis::RedisError| {
                r.code() == Some("NOREPLICAS")
                    || r.clone().into_server_errors().is_some_and(|errs| {
                        !errs.is_empty() && errs.iter().all(|(_, e)| e.code() == "NOREPLICAS")
                    })
            };
            assert!(matches!(*last, Error::Redis(ref r) if refused(r)), "{last:?}");
        }
        other => panic!("expected FailoverTimeout after NOREPLICAS, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_master_that_lost_its_replicas_is_retried_never_a_silent_success() {
    let topo = Topology::start(Spec { shards: 1, replicas: 1, sentinels: 1, quorum: 1 });
    let shard = topo.master_names()[0].clone();
    let master = topo.master_addr(&shard);
    let replica = topo.replica_addrs(&shard)[0].clone();
    let settings = |deadline| Builder::default().sentinels(topo.sentinel_addrs()).failover_deadline(deadline);
    let short = settings(Duration::from_secs(2)).connect().await.unwrap();
    let patient = settings(Duration::from_secs(60)).connect().await.unwrap();
    let keys = keys_on(&short, &shard, "fence", 3);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("min-replicas-to-write")
        .arg(1)
        .arg("min-replicas-max-lag")
        .arg(1)
        .query(&mut topo.conn(&master))
        .unwrap();
    topo.stop(&replica);
    wait_for_noreplicas(&topo, &master);

    // The shard never recovers within the deadline: a typed error, nothing written.
    let mut con = short.clone();
    let resolves = shard_info(&short, &shard).resolves;
    assert_noreplicas_timeout(con.set::<_, _, ()>(&keys[0], 1).await.unwrap_err(), &shard);
    assert!(shard_info(&short, &shard).resolves > resolves, "re-resolved, not given up at once");
    // A transaction refused while queueing (EXECABORT) is the same symptom.
    let err = redis::pipe()
        .atomic()
        .set(&keys[1], 1)
        .incr(&keys[2], 1)
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert_noreplicas_timeout(err, &shard);
    let mut check = topo.conn(&master);
    for k in &keys {
        let v: Option<i64> = redis::cmd("GET").arg(k).query(&mut check).unwrap();
        assert_eq!(v, None, "{k} was written while the master refused writes");
    }

    // Within the deadline the write waits for the shard and then succeeds.
    let mut events = patient.events();
    let write = {
        let (mut con, key) = (patient.clone(), keys[0].clone());
        tokio::spawn(async move { con.set::<_, _, ()>(&key, 2).await })
    };
    let noticed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Ok(Event::ReResolved { cause, .. }) = events.recv().await
                && cause.contains("NOREPLICAS")
            {
                return cause;
            }
        }
    })
    .await
    .expect("the refused write is re-resolved");
    assert!(!write.is_finished(), "the write returned while the master refused writes");
    topo.cont(&replica);
    write.await.unwrap().unwrap_or_else(|e| panic!("after {noticed}: {e}"));
    let v: Option<i64> = redis::cmd("GET").arg(&keys[0]).query(&mut check).unwrap();
    assert_eq!(v, Some(2));
}
