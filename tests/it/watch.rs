//! The `+switch-master` watch, events and Sentinel loss, on real processes.

use std::time::{Duration, Instant};

use disredis::{DisredisClient, Error, Event};
use redis::AsyncCommands;

use crate::support::{self, Spec, Topology};

fn master_of(client: &DisredisClient, shard: &str) -> (Option<String>, u64) {
    let s = support::shard_info(client, shard);
    (s.master, s.generation)
}

fn keys_on(client: &DisredisClient, shard: &str, n: usize) -> Vec<String> {
    (0..).map(|i| format!("k{i}")).filter(|k| client.shard_for(k) == shard).take(n).collect()
}

/// Waits for the first event that `pick` accepts.
async fn wait_event<T>(
    rx: &mut tokio::sync::broadcast::Receiver<Event>,
    within: Duration,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) => {
                if let Some(t) = pick(&e) {
                    return Some(t);
                }
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_client_switches_on_switch_master_before_any_request() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    // A second client without the watch: it only notices on its next request.
    let lazy = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .watch_sentinels(false, Duration::from_secs(60))
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    let victim = topo.master_names()[0].clone();
    let old = topo.master_addr(&victim);
    topo.kill(&old);
    let killed = Instant::now();
    let to = wait_event(&mut events, Duration::from_secs(20), |e| match e {
        Event::SwitchMaster { shard, from, to } if *shard == victim => {
            assert_eq!(from.as_deref(), Some(old.as_str()));
            Some(to.clone())
        }
        _ => None,
    })
    .await
    .expect("a SwitchMaster event without any request");
    let new = topo.wait_for_failover(&victim, &old, Duration::from_secs(20));
    assert_eq!(to, new);
    assert_eq!(master_of(&client, &victim).0.as_deref(), Some(new.as_str()));
    eprintln!("watch: switched {:?} after the kill, with no request in flight", killed.elapsed());
    // The client without the watch still points at the dead master…
    assert_eq!(master_of(&lazy, &victim), (Some(old.clone()), 1));
    // …and gets there through its retry loop on the next request.
    let mut con = lazy.clone();
    con.set::<_, _, ()>(keys_on(&lazy, &victim, 1)[0].as_str(), 1).await.unwrap();
    assert_eq!(master_of(&lazy, &victim).0.as_deref(), Some(new.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_planned_failover_is_followed_and_the_demoted_master_is_never_written() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .watch_sentinels(true, Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let victim = topo.master_names()[0].clone();
    let old = topo.master_addr(&victim);
    let replica = topo.replica_addrs(&victim)[0].clone();
    // SENTINEL FAILOVER: a planned failover with the old master alive.
    let mut s = topo.conn(&topo.sentinel_addrs()[0]);
    let _: () = redis::cmd("SENTINEL").arg("FAILOVER").arg(&victim).query(&mut s).unwrap();
    let new = topo.wait_for_failover(&victim, &old, Duration::from_secs(20));
    assert_eq!(new, replica);
    let deadline = Instant::now() + Duration::from_secs(10);
    while master_of(&client, &victim).0.as_deref() != Some(new.as_str()) {
        assert!(Instant::now() < deadline, "the watch never switched to {new}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The old master is alive and now a replica: the client must not write there.
    let mut con = client.clone();
    con.set::<_, _, ()>(keys_on(&client, &victim, 1)[0].as_str(), "x").await.unwrap();
    let v: Option<String> =
        redis::Commands::get(&mut topo.conn(&new), keys_on(&client, &victim, 1)[0].as_str()).unwrap();
    assert_eq!(v.as_deref(), Some("x"));
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_one_of_three_sentinels_still_fails_over() {
    let topo = Topology::start(Spec { sentinels: 3, quorum: 2, ..Spec::default() });
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let mut events = client.events();
    let first = client.sentinels()[0].clone();
    topo.kill(&first);
    let down = wait_event(&mut events, Duration::from_secs(10), |e| match e {
        Event::SentinelDown { addr, .. } if *addr == first => Some(()),
        _ => None,
    })
    .await;
    assert!(down.is_some(), "no SentinelDown event for {first}");
    let victim = topo.master_names()[1].clone();
    let key = keys_on(&client, &victim, 1).remove(0);
    let mut con = client.clone();
    con.set::<_, _, ()>(&key, "before").await.unwrap();
    let old = topo.master_addr(&victim);
    topo.kill(&old);
    con.set::<_, _, ()>(&key, "after").await.unwrap();
    let new = topo.wait_for_failover(&victim, &old, Duration::from_secs(20));
    assert_eq!(master_of(&client, &victim).0.as_deref(), Some(new.as_str()));
    assert_ne!(client.sentinels()[0], first, "a live Sentinel moved to the front");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_every_sentinel_down_known_masters_keep_serving() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .failover_deadline(Duration::from_secs(2))
        // FailoverTimeout is what this test is about, not the fail-fast of a
        // shard that stays down (dead_shard:: covers that).
        .shard_down_after(None)
        .connect()
        .await
        .unwrap();
    for s in topo.sentinel_addrs() {
        topo.kill(&s);
    }
    let names = topo.master_names();
    let mut con = client.clone();
    for name in &names {
        for k in keys_on(&client, name, 20) {
            con.set::<_, _, ()>(&k, 1).await.unwrap();
            let v: i64 = con.get(&k).await.unwrap();
            assert_eq!(v, 1);
        }
    }
    // Only a shard that needs a re-resolve fails, and says why.
    topo.kill(&topo.initial_master_addr(&names[0]));
    let err = con.set::<_, _, ()>(keys_on(&client, &names[0], 1)[0].as_str(), 2).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("deadline") && text.contains("no Sentinel answered"), "{text}");
    let healthy = keys_on(&client, &names[1], 1).remove(0);
    con.set::<_, _, ()>(&healthy, 3).await.unwrap();
    match Error::from(err) {
        Error::FailoverTimeout { last, .. } => assert!(matches!(*last, Error::NoSentinel { .. }), "{last:?}"),
        other => panic!("{other:?}"),
    }
}
