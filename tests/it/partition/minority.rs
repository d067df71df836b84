//! A minority of Sentinels with a stale view: the old master and one
//! Sentinel cut off together from the other two Sentinels and the replicas
//! (the client still reaches every node). The majority promotes a replica;
//! the cut-off Sentinel still hears the old master, so it keeps naming it —
//! and the client asks it first. `Builder::sentinel_quorum(2)` outvotes it
//! on every lookup; with a quorum of 1 the client still follows the
//! majority's `+switch-master`, and neither its address poll nor a re-resolve
//! (forced here with `CLIENT KILL` on the promoted master) undoes that.

use std::time::{Duration, Instant};

use disredis::Event;
use tokio::task::block_in_place;

use super::{FAILOVER_WITHIN, PATIENCE, Run, until_the_end, wait_replica_of};
use crate::support::{generation, shard_info, wait_generation};

/// The scenario with `sentinel_quorum(quorum)` on both clients (durability
/// mode losing nothing is asserted by `Run::finish`). Returns whether the
/// client went back to the old master after it had followed the promotion.
async fn stale_minority(tag: &str, quorum: usize) -> bool {
    // The stale Sentinel first in the client's list: the one a quorum of 1 asks.
    let run = Run::start_with(tag, |topo, b| {
        let mut order: Vec<String> =
            topo.sentinel_addrs().iter().map(|s| topo.client_link(s).addr()).collect();
        order.rotate_left(2);
        b.sentinels(order).sentinel_quorum(quorum)
    })
    .await;
    let mut events = run.fast.events();
    let sentinels = run.topo.sentinel_addrs();
    let stale = sentinels[2].clone();
    let majority = [sentinels[..2].to_vec(), run.topo.replica_addrs(&run.shard)].concat();
    let cut = Instant::now();
    for other in &majority {
        run.topo.cut_between(&run.master, other);
        run.topo.cut_between(&stale, other);
    }
    let new = block_in_place(|| {
        run.topo.wait_for_failover_without(
            &run.shard,
            &run.master,
            FAILOVER_WITHIN,
            std::slice::from_ref(&stale),
        )
    });
    // The cut-off Sentinel still names the old master (its view is stale).
    let named = block_in_place(|| {
        let mut con = run.topo.conn(&stale);
        let reply: Vec<String> =
            redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg(&run.shard).query(&mut con).unwrap();
        reply.join(":")
    });
    assert_eq!(named, run.master, "the cut-off Sentinel learned the promotion");
    // Once both clients are on the promoted master, their connections there
    // are killed: they re-resolve, asking the stale Sentinel first.
    let on_new = |c: &disredis::DisredisClient| {
        let at = shard_info(c, &run.shard).master;
        at.is_some_and(|a| run.topo.port_of(&a) == run.topo.port_of(&new))
    };
    let deadline = Instant::now() + PATIENCE;
    while !(on_new(&run.fast) && on_new(&run.durable)) {
        assert!(Instant::now() < deadline, "the clients never followed the promotion");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = (generation(&run.fast, &run.shard), generation(&run.durable, &run.shard));
    block_in_place(|| {
        let _: redis::Value = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .query(&mut run.topo.conn(&new))
            .unwrap();
    });
    assert!(
        wait_generation(&run.fast, &run.shard, before.0 + 1, PATIENCE).await
            && wait_generation(&run.durable, &run.shard, before.1 + 1, PATIENCE).await,
        "the clients did not reconnect after CLIENT KILL"
    );
    until_the_end(cut).await;
    run.heal().await;
    block_in_place(|| wait_replica_of(&run.topo, &run.master, &new));
    let shard = run.shard.clone();
    let old = run.master.clone();
    let scenario =
        format!("old master and 1 of 3 Sentinels cut off, client asks it first, sentinel_quorum {quorum}");
    // After the client followed the promotion, did it go back to the old master?
    // (Events name the client's addresses: compared by the process behind them.)
    let topo = &run.topo;
    let old = topo.port_of(&old);
    let (mut followed, mut went_back) = (false, false);
    while let Ok(event) = events.try_recv() {
        if let Event::SwitchMaster { shard: s, to, .. } = event
            && s == shard
        {
            let to = topo.port_of(&to);
            went_back |= followed && to == old;
            followed |= to != old;
        }
    }
    run.finish(&scenario).await;
    assert!(followed, "{scenario}: the client never followed the promotion");
    eprintln!("partition: {scenario}: went back to the old master: {went_back}");
    went_back
}

/// With a quorum of 2 the stale Sentinel is outvoted: the client follows the
/// promotion and never goes back; durability mode loses nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_minority_sentinel_is_outvoted_with_sentinel_quorum() {
    assert!(
        !stale_minority("stale2", 2).await,
        "the client went back to the old master with sentinel_quorum 2"
    );
}

/// With a quorum of 1 a lookup asks the first Sentinel that answers — the
/// stale one. The `+switch-master` from the majority still moves the client;
/// its address poll does not take it back to the master that switch left (it
/// did before: fast mode lost 85 %), and a re-resolve (after `CLIENT KILL`)
/// passes the stale Sentinel over for the next. Durability mode loses
/// nothing either way.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_minority_sentinel_does_not_take_a_quorum_of_one_back() {
    assert!(
        !stale_minority("stale1", 1).await,
        "the poll or a re-resolve took the client back to the old master"
    );
}
