//! `sentinel_quorum` against a Sentinel that names a stale master: the fake (standing for a
//! Sentinel cut off on the minority side of a partition) keeps naming another node that says
//! `ROLE master` — here the other shard's master — for `shard-a`, while the two real Sentinels
//! name the real one.

use std::time::Duration;

use disredis::{Builder, DisredisClient, Error, SentinelAnswer};
use redis::AsyncCommands;

use super::fake::{Act, FakeSentinel, array, bulk, master};
use crate::support::{Spec, Topology, keys_on, shard_info};

/// A fake Sentinel that names `stale` as the master of `shard-a` and the real master of
/// every other shard.
fn stale_sentinel(topo: &Topology, stale: &str) -> FakeSentinel {
    let named: Vec<(String, String)> = topo
        .master_names()
        .into_iter()
        .map(|n| {
            let addr = if n == "shard-a" { stale.to_owned() } else { topo.master_addr(&n) };
            (n, addr)
        })
        .collect();
    FakeSentinel::start(move |cmd| {
        let split = |a: &str| {
            let (ip, port) = a.rsplit_once(':').unwrap();
            (ip.to_owned(), port.to_owned())
        };
        match cmd {
            [s, m] if s == "SENTINEL" && m == "MASTERS" => Act::Reply(array(
                &named
                    .iter()
                    .map(|(n, a)| {
                        let (ip, port) = split(a);
                        master(&n.to_lowercase(), &ip, &port, "master")
                    })
                    .collect::<Vec<_>>(),
            )),
            [s, m, _] if s == "SENTINEL" && m == "SENTINELS" => Act::Reply(b"*0\r\n".to_vec()),
            [s, m, name] if s == "SENTINEL" && m == "GET-MASTER-ADDR-BY-NAME" => {
                match named.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                    Some((_, a)) => {
                        let (ip, port) = split(a);
                        Act::Reply(array(&[bulk(&ip), bulk(&port)]))
                    }
                    None => Act::Reply(b"*-1\r\n".to_vec()),
                }
            }
            _ => Act::Reply(b"-ERR unexpected\r\n".to_vec()),
        }
    })
}

/// The stale Sentinel first, then the real ones; no `+switch-master` subscriptions (the fake
/// does not speak pub/sub), so every master address comes from a lookup.
fn builder(fake: &FakeSentinel, topo: &Topology) -> Builder {
    let mut sentinels = vec![fake.addr.clone()];
    sentinels.extend(topo.sentinel_addrs());
    DisredisClient::builder()
        .sentinels(sentinels)
        .sentinel_timeout(Duration::from_secs(2))
        .watch_sentinels(false, Duration::from_secs(3600))
}

fn on(topo: &Topology, addr: &str, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query(&mut topo.conn(addr)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_follows_the_majority_not_a_stale_sentinel() {
    let topo = Topology::start(Spec::default());
    let (real, stale) = (topo.master_addr("shard-a"), topo.master_addr("shard-b"));
    let fake = stale_sentinel(&topo, &stale);

    // The hazard: the first Sentinel's word (the default) sends shard-a's writes to the stale
    // master.
    let first = builder(&fake, &topo).connect().await.unwrap();
    assert_eq!(shard_info(&first, "shard-a").master.as_deref(), Some(stale.as_str()));
    let key = keys_on(&first, "shard-a", "q", 1).remove(0);
    first.clone().set::<_, _, ()>(&key, "astray").await.unwrap();
    assert_eq!(on(&topo, &stale, &key).as_deref(), Some("astray"));
    assert_eq!(on(&topo, &real, &key), None);

    // With a quorum of 2 of the 3 Sentinels the majority's master is used, at connect...
    let client = builder(&fake, &topo).sentinel_quorum(2).connect().await.unwrap();
    assert_eq!(shard_info(&client, "shard-a").master.as_deref(), Some(real.as_str()));
    let mut con = client.clone();
    con.set::<_, _, ()>(&key, "home").await.unwrap();
    assert_eq!(on(&topo, &real, &key).as_deref(), Some("home"));
    assert_eq!(on(&topo, &stale, &key).as_deref(), Some("astray"), "the stale master got nothing");

    // ...and on a re-resolve: drop the client's connections to the real master.
    let mut admin = topo.conn(&real);
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
    for id in list
        .lines()
        .filter(|l| l.contains(" name=disredis:"))
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
    {
        let _: redis::Value = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id).query(&mut admin).unwrap();
    }
    let resolves = shard_info(&client, "shard-a").resolves;
    con.set::<_, _, ()>(&key, "again").await.unwrap();
    assert!(shard_info(&client, "shard-a").resolves > resolves, "the write re-resolved");
    assert_eq!(on(&topo, &real, &key).as_deref(), Some("again"));
    assert_eq!(
        on(&topo, &stale, &key).as_deref(),
        Some("astray"),
        "the re-resolve followed the stale Sentinel"
    );
    // Not asserted: that the fake was asked. Two real answers decide a quorum of 2 of 3,
    // and the lookup stops waiting (and may drop its request to the fake unsent) as soon
    // as the outcome can't change: under CPU load the fake's count stayed at one.
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_majority_the_error_names_what_each_sentinel_said() {
    let topo = Topology::start(Spec::default());
    let (real, stale) = (topo.master_addr("shard-a"), topo.master_addr("shard-b"));
    let fake = stale_sentinel(&topo, &stale);

    // More than the Sentinels there are: refused at connect.
    match builder(&fake, &topo).sentinel_quorum(4).connect().await {
        Err(Error::Config { field: "sentinel_quorum", .. }) => {}
        other => panic!("expected a sentinel_quorum config error, got {:?}", other.err()),
    }

    // All three must agree; two name the real master, one the stale: shard-a gets no master.
    let client = builder(&fake, &topo)
        .sentinel_quorum(3)
        .failover_deadline(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    assert_eq!(shard_info(&client, "shard-a").master, None, "no address was agreed on");
    let mut con = client.clone();
    let key = keys_on(&client, "shard-a", "nq", 1).remove(0);
    let err = con.set::<_, _, ()>(&key, 1).await.unwrap_err();
    let answers = match Error::from(err) {
        Error::FailoverTimeout { shard, last, .. } => {
            assert_eq!(shard, "shard-a");
            match *last {
                Error::NoQuorum { shard, needed, answers } => {
                    assert_eq!((shard.as_str(), needed), ("shard-a", 3));
                    answers
                }
                other => panic!("expected NoQuorum as the last error, got {other:?}"),
            }
        }
        other => panic!("expected FailoverTimeout, got {other:?}"),
    };
    let mut answers: Vec<SentinelAnswer> = answers;
    answers.sort_by(|a, b| a.sentinel.cmp(&b.sentinel));
    let mut expected: Vec<SentinelAnswer> = topo
        .sentinel_addrs()
        .into_iter()
        .map(|s| SentinelAnswer { sentinel: s, said: Ok(real.clone()) })
        .chain([SentinelAnswer { sentinel: fake.addr.clone(), said: Ok(stale.clone()) }])
        .collect();
    expected.sort_by(|a, b| a.sentinel.cmp(&b.sentinel));
    assert_eq!(answers, expected);
    assert_eq!(on(&topo, &real, &key), None);
    assert_eq!(on(&topo, &stale, &key), None);
    // The shard they agree on keeps working.
    let other = keys_on(&client, "shard-b", "nq", 1).remove(0);
    con.set::<_, _, ()>(&other, 2).await.unwrap();
}
