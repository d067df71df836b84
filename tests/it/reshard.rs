//! Changing the ring online on real processes: `reshard add` and `remove`
//! while two independent clients write and read, with nothing lost, nothing
//! applied twice, and every key on the master its new owner names.

pub(crate) mod load;
mod measure;
mod phases;
#[cfg(feature = "cli")]
mod tool;

use std::sync::atomic::Ordering;
use std::time::Duration;

use disredis::reshard::{self, Options, Step};
use disredis::{DisredisClient, Phase};

use load::{Load, follows, joined_later, seed, verify};

use crate::support::{Spec, Topology};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adding_a_master_under_load_loses_nothing() {
    let topo = joined_later(0).await;
    let names = topo.master_names();
    let a = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let b = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    assert_eq!(a.topology().unrouted, vec![names[2].clone()]);
    let seeded = seed(&a, 5000).await;
    let mut events = a.events();
    let load = Load::new();
    let writers = load.start(&a, &b);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let tool = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let mut phases = Vec::new();
    let outcome = reshard::start(&tool, names.clone(), &Options::default(), &mut |step| {
        if let Step::Published { ring } = step {
            phases.push((ring.version, ring.phase));
        }
    })
    .await
    .unwrap();
    assert_eq!(phases, [(2, Phase::Prepare), (3, Phase::Migrating), (4, Phase::Stable)]);
    assert_eq!(outcome.ring.members, names);
    assert!(outcome.progress.conflicts.is_empty());
    assert!(outcome.progress.moved > 0, "{:?}", outcome.progress);
    follows(&a, 4).await;
    follows(&b, 4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    load.stop(writers).await;
    eprintln!(
        "moved {} keys; {} operations under load",
        outcome.progress.moved,
        load.ops.load(Ordering::Relaxed)
    );
    verify(&topo, &names, &load, &seeded);
    // A ring change moves no master: the old members' connections of each new
    // table go where they went (no SwitchMaster); only the joining master is
    // connected to for the first time (`from: None`).
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(seen.iter().any(|e| matches!(e, disredis::Event::RingChanged { to: 4, .. })), "{seen:?}");
    for e in &seen {
        if let disredis::Event::SwitchMaster { shard, from, .. } = e {
            assert!(
                *shard == names[2] && from.is_none(),
                "a ring change reported a switch: {e:?} in {seen:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removing_a_master_under_load_loses_nothing() {
    let topo = Topology::start(Spec { shards: 3, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let a = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let b = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    assert_eq!(a.topology().ring.members, names);
    let seeded = seed(&a, 5000).await;
    let load = Load::new();
    let writers = load.start(&a, &b);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let remaining = vec![names[0].clone(), names[2].clone()];
    let outcome = reshard::start(&a, remaining.clone(), &Options::default(), &mut |_| {}).await.unwrap();
    assert_eq!((outcome.ring.version, outcome.ring.phase), (4, Phase::Stable));
    assert_eq!(outcome.ring.members, remaining);
    follows(&b, 4).await;
    load.stop(writers).await;
    assert_eq!(b.topology().unrouted, vec![names[1].clone()], "the removed master is not routed to");
    eprintln!(
        "moved {} keys; {} operations under load",
        outcome.progress.moved,
        load.ops.load(Ordering::Relaxed)
    );
    verify(&topo, &remaining, &load, &seeded);
}

/// The bad changes are refused with a reason, and change nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_that_cant_be_made_changes_nothing() {
    let topo = joined_later(0).await;
    let names = topo.master_names();
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let mut c = client.clone();
    // The new master holds a key: refused unless allowed.
    let mut direct = topo.conn(&topo.master_addr(&names[2]));
    let _: () = redis::cmd("SET").arg("stray").arg(1).query(&mut direct).unwrap();
    let e = reshard::start(&client, names.clone(), &Options::default(), &mut |_| {}).await.unwrap_err();
    assert!(matches!(&e, disredis::Error::Reshard { reason } if reason.contains("holds keys")), "{e}");
    let e = reshard::start(&client, names[..2].to_vec(), &Options::default(), &mut |_| {}).await.unwrap_err();
    assert!(e.to_string().contains("the current one"), "{e}");
    assert_eq!(client.topology().ring.version, 1, "nothing was written");
    redis::AsyncCommands::set::<_, _, ()>(&mut c, "still", "works").await.unwrap();
    // A second change while one is in progress names its phase.
    let prepare = format!(
        "disredis-ring/1\nversion: 2\nphase: prepare\nmembers: {}\ntarget: {}\n",
        names[..2].join(","),
        names.join(",")
    );
    for name in &names {
        crate::support::load_record(&topo, name, &prepare);
    }
    let e = reshard::start(&client, names[..1].to_vec(), &Options::default(), &mut |_| {}).await.unwrap_err();
    assert!(e.to_string().contains("in progress (ring version 2, phase prepare)"), "{e}");
}

/// Durability mode (`wait_replicas`): the new master is SIGKILLed in the
/// middle of the move; the tool and the clients carry on at the promoted
/// replica, and no acknowledged write is lost (copies are deleted at the old
/// owner only once the new owner's replica has them).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_new_master_killed_mid_move_loses_no_acknowledged_write() {
    master_killed_mid_move(2).await;
}

/// The same with a master keys move away from (a source of the mover).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_old_master_killed_mid_move_loses_no_acknowledged_write() {
    master_killed_mid_move(0).await;
}

/// Adds the third master under durable writers and SIGKILLs master `victim`
/// (by index) once 300 keys reached the new one.
async fn master_killed_mid_move(victim: usize) {
    let topo = joined_later(1).await;
    let names = topo.master_names();
    let durable = || {
        DisredisClient::builder()
            .sentinels(topo.sentinel_addrs())
            .wait_replicas(1, Duration::from_secs(1))
            .connect()
    };
    let (a, b) = (durable().await.unwrap(), durable().await.unwrap());
    let seeded = seed(&a, 30_000).await;
    let load = Load::new();
    let writers = load.start(&a, &b);
    let tool = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let change = tokio::spawn(async move {
        let mut all = tool.shard_names();
        all.extend(tool.topology().unrouted);
        reshard::start(&tool, all, &Options::default(), &mut |_| {}).await
    });
    let target = topo.master_addr(&names[2]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while redis::cmd("DBSIZE").query::<i64>(&mut topo.conn(&target)).unwrap() < 300 {
        assert!(std::time::Instant::now() < deadline, "no key moved");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let old = topo.master_addr(&names[victim]);
    topo.kill(&old);
    let promoted = topo.wait_for_failover(&names[victim], &old, Duration::from_secs(30));
    topo.restart(&old); // comes back as a replica of the promoted node
    let outcome = change.await.unwrap().unwrap();
    assert_eq!(outcome.ring.members, names);
    assert!(outcome.progress.conflicts.is_empty(), "{:?}", outcome.progress.conflicts);
    assert_ne!(promoted, old);
    follows(&a, 4).await;
    follows(&b, 4).await;
    load.stop(writers).await;
    load::verify_acknowledged(&topo, &names, &load, &seeded);
}

/// A client handle that made requests and then sits idle must not hold the old
/// ring's connections open (as a per-handle cache of connection handles would),
/// or the fence would wait for it forever. Here one sits idle through the whole
/// change: the fence reports no straggler, and the handle works under the new
/// ring afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_handle_does_not_hold_the_old_ring() {
    let topo = joined_later(0).await;
    let names = topo.master_names();
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let mut idle = client.clone();
    for i in 0..20 {
        redis::AsyncCommands::set::<_, _, ()>(&mut idle, format!("idle:{i}"), i).await.unwrap();
    }
    let tool = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let mut stragglers = 0;
    let mut count = |step: Step| {
        if let Step::Stragglers { .. } = step {
            stragglers += 1;
        }
    };
    let options = Options::default();
    let change = reshard::start(&tool, names.clone(), &options, &mut count);
    let outcome = tokio::time::timeout(Duration::from_secs(60), change)
        .await
        .expect("the fence is still waiting (for the idle handle's connections?)")
        .unwrap();
    assert_eq!((outcome.ring.version, outcome.ring.phase), (4, Phase::Stable));
    assert_eq!(stragglers, 0, "an idle handle was reported as a straggler");
    follows(&client, 4).await;
    for i in 0..20 {
        let v: i64 = redis::AsyncCommands::get(&mut idle, format!("idle:{i}")).await.unwrap();
        assert_eq!(v, i);
    }
}
