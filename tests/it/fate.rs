//! Exact fate through a SIGKILL failover: `INCR` is not safe to repeat, so a
//! request whose connection failed is retried only when the client knows it
//! did not run, and is `Error::Ambiguous` otherwise. With the connection of our
//! own, a request still in the write buffer when the connection failed is
//! known not to have run; only one written and unanswered is ambiguous. The
//! check: every counter ends between its acknowledged increments and those
//! plus its ambiguous ones (at most once, nothing acknowledged lost: WAIT mode,
//! 2 replicas). Prints one `fate:` line with the counts
//! (README, "Failover in brief").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use disredis::{DisredisClient, Error};
use redis::AsyncCommands;

use crate::support::{Spec, Topology, keys_on};

const WRITERS: usize = 8;
const FAILOVER_WITHIN: Duration = Duration::from_secs(20);

#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    acked: u64,
    ambiguous: u64,
    other: u64,
}

#[tokio::test(flavor = "multi_thread")]
async fn incr_through_a_sigkill_failover_counts_at_most_once() {
    let topo = Topology::start(Spec { replicas: 2, ..Spec::default() });
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .wait_replicas(1, Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let victim = topo.master_names()[0].clone();
    let old = topo.master_addr(&victim);
    let keys = keys_on(&client, &victim, "fate", WRITERS);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = keys
        .iter()
        .cloned()
        .map(|key| {
            let (mut con, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut t, mut first_other) = (Tally::default(), None);
                while !stop.load(Ordering::Relaxed) {
                    match con.incr::<_, _, i64>(&key, 1).await.map_err(Error::from) {
                        Ok(_) => t.acked += 1,
                        Err(Error::Ambiguous { .. }) => t.ambiguous += 1,
                        Err(e) => {
                            t.other += 1;
                            first_other.get_or_insert(e.to_string());
                        }
                    }
                }
                (key, t, first_other)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::block_in_place(|| topo.kill(&old));
    let new = tokio::task::block_in_place(|| topo.wait_for_failover(&victim, &old, FAILOVER_WITHIN));
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);

    let mut all = Tally::default();
    let mut con = client.clone();
    for w in writers {
        let (key, t, first_other) = w.await.unwrap();
        let value: i64 = con.get(&key).await.unwrap();
        let value = value as u64;
        assert!(
            value >= t.acked && value <= t.acked + t.ambiguous,
            "{key}: {value} after {} acknowledged and {} ambiguous increments",
            t.acked,
            t.ambiguous
        );
        assert_eq!(t.other, 0, "{key}: {first_other:?}");
        all.acked += t.acked;
        all.ambiguous += t.ambiguous;
    }
    eprintln!(
        "fate: SIGKILL of {old} ({new} promoted), {WRITERS} INCR writers: {} acknowledged, {} ambiguous",
        all.acked, all.ambiguous
    );
    assert!(all.acked > 0);
}
