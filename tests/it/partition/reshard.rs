//! A partition between the old owners and the new master in the middle of
//! `reshard add` (the library call the `disredis reshard add` tool makes):
//! every `MIGRATE` from a source to the target waits out its timeout while
//! clients still reach every master. The move waits (the mover retries its
//! batch, four failover deadlines at most) or stops and is resumed; nothing
//! acknowledged is lost and every key ends once, on its owner.

use std::time::{Duration, Instant};

use disredis::reshard::{self, Options};

use super::FAULT;
use crate::reshard::load::{Load, follows, seed, verify_acknowledged};
use crate::support::{Spec, Topology};

fn dbsize(topo: &Topology, name: &str) -> i64 {
    redis::cmd("DBSIZE").query(&mut topo.conn(&topo.master_addr(name))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partition_between_the_old_owners_and_the_new_master_mid_move_loses_nothing() {
    let topo = Topology::start_proxied(Spec { shards: 3, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    // Ring version 1 over the first two masters; the third joins.
    let first = topo.proxied_builder().masters(names[..2].to_vec()).connect().await.unwrap();
    assert_eq!(first.topology().ring.version, 1);
    let a = topo.proxied_builder().connect().await.unwrap();
    let b = topo.proxied_builder().connect().await.unwrap();
    let seeded = seed(&a, 10_000).await;
    let load = Load::new();
    let writers = load.start(&a, &b);
    let tool = topo.proxied_builder().connect().await.unwrap();
    let mover = tool.clone();
    let all = names.clone();
    let change =
        tokio::spawn(async move { reshard::start(&mover, all, &Options::default(), &mut |_| {}).await });

    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::task::block_in_place(|| dbsize(&topo, &names[2])) < 300 {
        assert!(Instant::now() < deadline, "no key moved");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let target = topo.master_addr(&names[2]);
    for source in &names[..2] {
        topo.cut_between(&topo.master_addr(source), &target);
    }
    tokio::time::sleep(FAULT).await;
    // Nothing can have finished the move while the target was unreachable
    // from the masters that hold the keys.
    assert!(!change.is_finished(), "the change ended during the partition: {:?}", change.await);
    topo.heal();
    let outcome = match change.await.unwrap() {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("partition: the change stopped ({e}); resuming it");
            reshard::resume(&tool, &Options::default(), &mut |_| {})
                .await
                .unwrap()
                .expect("a change to resume")
        }
    };
    assert_eq!(outcome.ring.members, names);
    assert!(outcome.progress.conflicts.is_empty(), "{:?}", outcome.progress.conflicts);
    follows(&a, 4).await;
    follows(&b, 4).await;
    load.stop(writers).await;
    eprintln!(
        "partition: old owners cut from the new master for {FAULT:?} mid-move: moved {} keys; {} requests, {} failed",
        outcome.progress.moved,
        load.ops.load(std::sync::atomic::Ordering::Relaxed),
        load.errors.lock().len()
    );
    tokio::task::block_in_place(|| verify_acknowledged(&topo, &names, &load, &seeded));
}
