//! The `metrics` feature on real processes, read back through the Prometheus
//! recorder the session example installs: requests by shard, master, command
//! and outcome; connections; a failover's counters and outage.
//!
//! One global recorder serves the whole test binary ([`recorder`]), so other
//! tests' clients report to it too: every assertion is filtered by the ports
//! of the test's own topology (shard names repeat across topologies) and made
//! on differences between two scrapes.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use disredis::DisredisClient;
use metrics_exporter_prometheus::PrometheusHandle;
use redis::AsyncCommands;

use crate::support::{Spec, Topology, keys_on, shard_info};

/// Sample names as the Prometheus exporter writes them (dots to underscores,
/// `_seconds` on durations, `_total` on counters).
pub const REQUESTS: &str = "db_client_operation_duration_seconds_count";
pub const CONNECTIONS: &str = "db_client_connection_count";
pub const FAILOVERS: &str = "disredis_failovers_total";

/// The process's one recorder, installed on first use (before the caller
/// connects its client): the session example's, when it is built.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        #[cfg(feature = "sessions")]
        let builder = crate::web_app::app::prometheus();
        #[cfg(not(feature = "sessions"))]
        let builder = metrics_exporter_prometheus::PrometheusBuilder::new().with_recommended_naming(true);
        let handle = builder.install_recorder().expect("no other global metrics recorder in tests/it");
        disredis::metrics::describe();
        handle
    })
}

/// The sum of the samples `name` in the Prometheus text `text` whose labels
/// include every `(key, value)` of `labels`; a value `""` means "label absent".
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (sample, label_text) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let found: Vec<(&str, &str)> = label_text
                .split("\",")
                .filter(|p| !p.is_empty())
                .filter_map(|p| p.split_once("=\"").map(|(k, v)| (k, v.trim_end_matches('"'))))
                .collect();
            let wanted = labels.iter().all(|(k, v)| match found.iter().find(|(fk, _)| fk == k) {
                Some((_, fv)) => fv == v,
                None => v.is_empty(),
            });
            (sample == name && wanted).then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// The port of `host:port`.
pub fn port(addr: &str) -> String {
    addr.rsplit_once(':').expect("host:port").1.to_owned()
}

#[test]
fn sum_reads_prometheus_text() {
    let text = "# HELP x help\n# TYPE x counter\nx{a=\"1\",b=\"2\"} 3\nx{a=\"1\"} 4\nx 5\ny{a=\"1\"} 6\n";
    assert_eq!(sum(text, "x", &[("a", "1")]), 7.0);
    assert_eq!(sum(text, "x", &[("a", "1"), ("b", "")]), 4.0);
    assert_eq!(sum(text, "x", &[]), 12.0);
    assert_eq!(sum(text, "x", &[("a", "2")]), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_connections_and_a_failover_are_counted_per_shard_and_master() {
    let prom = recorder();
    let topo = Topology::start(Spec { replicas: 2, ..Spec::default() });
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let (a, b) = ("shard-a", "shard-b");
    let (old, pb) = (topo.master_addr(a), port(&topo.master_addr(b)));
    let pa = port(&old);
    let on_a = keys_on(&client, a, "metrics", 10);
    let on_b = keys_on(&client, b, "metrics", 4);
    let mut con = client.clone();

    let before = prom.render();
    for k in &on_a {
        con.set::<_, _, ()>(k, "v").await.unwrap();
    }
    for k in &on_b {
        let _: Option<String> = con.get(k).await.unwrap();
    }
    con.lpush::<_, _, ()>(&on_a[0], "x").await.unwrap_err(); // a string: WRONGTYPE
    let after = prom.render();
    let delta = |name: &str, labels: &[(&str, &str)]| sum(&after, name, labels) - sum(&before, name, labels);
    fn ok<'a>(port: &'a str, command: &'a str) -> [(&'a str, &'a str); 3] {
        [("server_port", port), ("db_operation_name", command), ("error_type", "")]
    }
    assert_eq!(
        delta(
            REQUESTS,
            &[&ok(&pa, "SET")[..], &[("disredis_shard", a), ("db_system_name", "redis")]].concat()
        ),
        10.0
    );
    assert_eq!(delta(REQUESTS, &ok(&pb, "GET")), 4.0);
    assert_eq!(
        delta(REQUESTS, &[("server_port", &pa), ("db_operation_name", "GET")]),
        0.0,
        "b's reads counted on a"
    );
    assert_eq!(
        delta(REQUESTS, &[("server_port", &pb), ("db_operation_name", "SET")]),
        0.0,
        "a's writes counted on b"
    );
    let wrongtype =
        [("server_port", &*pa), ("error_type", "WRONGTYPE"), ("db_response_status_code", "WRONGTYPE")];
    assert_eq!(delta(REQUESTS, &wrongtype), 1.0, "{after}");
    let master = |port: &str, text: &str| connections(text, port, "master");
    assert_eq!((master(&pa, &after), master(&pb, &after)), (1.0, 1.0));
    let created = [("db_client_connection_pool_name", a), ("server_port", &*pa)];
    assert!(sum(&after, "db_client_connection_create_time_seconds_count", &created) >= 1.0);
    assert!(sum(&after, "disredis_ring_version", &[]) >= 1.0);

    // A blocking command holds a dedicated connection while it waits.
    con.del::<_, ()>(&on_a[1]).await.unwrap();
    let list = on_a[1].clone();
    let mut blocked = client.clone();
    let pop = tokio::spawn(async move { blocked.blpop::<_, Option<(String, String)>>(&list, 20.0).await });
    let dedicated = |text: &str| connections(text, &pa, "dedicated");
    poll(Duration::from_secs(10), "a dedicated connection counted", || dedicated(&prom.render()) == 1.0)
        .await;
    con.rpush::<_, _, ()>(&on_a[1], "item").await.unwrap();
    assert_eq!(pop.await.unwrap().unwrap(), Some((on_a[1].clone(), "item".to_owned())));
    poll(Duration::from_secs(10), "the dedicated connection uncounted", || dedicated(&prom.render()) == 0.0)
        .await;

    // SIGKILL a's master and keep writing through the failover, with a
    // subscription on a channel of a's.
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe(&on_a[3]).await.unwrap();
    let mut events = client.events();
    let before = prom.render();
    topo.kill(&old);
    let killed = Instant::now();
    while shard_info(&client, a).master.as_deref() == Some(old.as_str()) {
        assert!(killed.elapsed() < Duration::from_secs(30), "no failover of {a} within 30 s");
        con.set::<_, _, ()>(&on_a[2], "w").await.unwrap();
    }
    let new = shard_info(&client, a).master.unwrap();
    let pn = port(&new);
    for k in &on_a {
        con.set::<_, _, ()>(k, "after").await.unwrap();
    }
    let after = prom.render();
    let delta = |name: &str, labels: &[(&str, &str)]| sum(&after, name, labels) - sum(&before, name, labels);
    assert_eq!(delta(FAILOVERS, &[("disredis_shard", a), ("server_port", &pn)]), 1.0, "{after}");
    assert_eq!(delta(FAILOVERS, &[("server_port", &pb)]), 0.0);
    assert!(delta("disredis_re_resolves_total", &[("disredis_shard", a), ("server_port", &pa)]) >= 1.0);
    let retries = delta("disredis_retries_total", &[("server_port", &pa)])
        + delta("disredis_retries_total", &[("server_port", &pn)]);
    assert!(retries >= 1.0, "the write during the outage was not retried:\n{after}");
    assert_eq!(delta("disredis_shard_outage_duration_seconds_count", &[("server_port", &pa)]), 1.0);
    assert_eq!((master(&pa, &after), master(&pn, &after)), (0.0, 1.0));
    assert!(delta(REQUESTS, &ok(&pn, "SET")) >= on_a.len() as f64);
    assert_eq!(delta(REQUESTS, &[("server_port", &pb)]), 0.0, "a's requests counted on b");

    // The subscription's gap is counted before the event is sent.
    let gap = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.recv().await {
                Ok(disredis::Event::PubSubGap { shard, .. }) if shard == a => break,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("events: {e}"),
            }
        }
    });
    gap.await.expect("no pub/sub gap on the failed-over shard within 20 s");
    let gaps = "disredis_pubsub_gap_duration_seconds_count";
    assert!(
        sum(&prom.render(), gaps, &[("disredis_shard", a)]) > sum(&before, gaps, &[("disredis_shard", a)])
    );
    drop(sub);

    // A Sentinel that dies is counted under its address.
    let sentinel = topo.sentinel_addrs()[1].clone();
    topo.kill(&sentinel);
    let errors =
        |text: &str| sum(text, "disredis_sentinel_errors_total", &[("server_port", &port(&sentinel))]);
    poll(Duration::from_secs(20), "the dead Sentinel counted", || errors(&prom.render()) >= 1.0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replica_connections_are_counted_per_replica_and_none_after_the_client_drops() {
    let prom = recorder();
    let topo = Topology::start(Spec { replicas: 2, ..Spec::default() });
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .read_from(disredis::ReadFrom::PreferReplica)
        .connect()
        .await
        .unwrap();
    let a = "shard-a";
    let replicas = topo.replica_addrs(a);
    let open = |text: &str, addr: &str| connections(text, &port(addr), "replica");
    let before = prom.render();
    assert!(replicas.iter().all(|r| open(&before, r) == 0.0), "replica connections before any read");
    let mut con = client.clone();
    for k in keys_on(&client, a, "replica", 4) {
        let _: Option<String> = con.get(k).await.unwrap();
    }
    let after = prom.render();
    assert_eq!(replicas.iter().map(|r| open(&after, r)).collect::<Vec<_>>(), vec![1.0; replicas.len()]);
    // The reads are labelled with the replicas that answered them, not the
    // master. Deltas: the recorder is the test binary's, and a port a dropped
    // topology released may be this one's now, with that test's requests.
    let reads = |addr: &str| {
        let labels = [("server_port", port(addr)), ("db_operation_name", "GET".to_owned())];
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        sum(&after, REQUESTS, &labels) - sum(&before, REQUESTS, &labels)
    };
    assert_eq!(reads(&topo.master_addr(a)), 0.0);
    assert_eq!(replicas.iter().map(|r| reads(r)).sum::<f64>(), 4.0);

    // A dropped client counts none of its connections any more: the gauges
    // are the process's, and a count left behind would be another client's
    // the next time a topology gets the same port.
    let masters: Vec<String> = ["shard-a", "shard-b"].iter().map(|s| port(&topo.master_addr(s))).collect();
    let master = |text: &str, p: &str| connections(text, p, "master");
    assert_eq!(masters.iter().map(|p| master(&after, p)).collect::<Vec<_>>(), vec![1.0, 1.0]);
    drop((con, client));
    poll(Duration::from_secs(10), "a dropped client's connections uncounted", || {
        let text = prom.render();
        masters.iter().all(|p| master(&text, p) == 0.0) && replicas.iter().all(|r| open(&text, r) == 0.0)
    })
    .await;
}

/// The open connections of `kind` (`master`, `replica`, `dedicated`) to the
/// node on `port` in the Prometheus text `text`.
pub fn connections(text: &str, port: &str, kind: &str) -> f64 {
    sum(text, CONNECTIONS, &[("server_port", port), ("disredis_connection_kind", kind)])
}

/// Waits until `done` (checked every 50 ms), failing after `within`.
pub async fn poll(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
