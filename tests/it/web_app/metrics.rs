//! The example's `GET /metrics` scraped before, during and after a SIGKILL of
//! the session's master: the master connection drops out, the failover is
//! counted once under the new master, the session's requests move to it, and
//! the other shard gets none of them.

use std::time::{Duration, Instant};

use disredis::sessions::DisredisStore;

use super::{Site, app};
use crate::metrics::{FAILOVERS, REQUESTS, connections, port, recorder, sum};

/// The lines of a scrape about the masters on `ports`, for the log.
fn excerpt(text: &str, ports: &[&str]) -> String {
    let wanted = |l: &&str| ports.iter().any(|p| l.contains(&format!("server_port=\"{p}\"")));
    let lines: Vec<&str> = text.lines().filter(wanted).filter(|l| !l.contains("_bucket{")).collect();
    lines.join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_show_a_failover_of_the_sessions_master() {
    let prom = recorder().clone();
    let (topo, client) = super::durable().await;
    let site = Site::serve(app::router_with_metrics(DisredisStore::new(client.clone()), prom)).await;

    site.scrape().await;
    assert_eq!(site.session_id(), None, "a scrape must not create a session");
    assert_eq!(site.post("login", &[("name", "ann")]).await.0, 200);
    let key = format!("session:{}", site.session_id().unwrap());
    let shard = client.shard_for(&key).to_owned();
    let other = client.shard_names().into_iter().find(|n| *n != shard).unwrap();
    let old = topo.master_addr(&shard);
    let (po, pother) = (port(&old), port(&topo.master_addr(&other)));
    let mut count = 0;
    for _ in 0..3 {
        count += 1;
        assert_eq!(site.get().await, (200, format!("hello ann, visit {count}\n")));
    }
    let before = site.scrape().await;
    assert!(sum(&before, REQUESTS, &[("disredis_shard", &shard), ("server_port", &po)]) >= 4.0, "{before}");
    let master = |text: &str, port: &str| connections(text, port, "master");
    assert_eq!(master(&before, &po), 1.0);

    topo.kill(&old);
    let killed = Instant::now();
    // A visit during the outage waits for the failover; meanwhile /metrics
    // (no Redis behind it) answers and shows the master connection gone.
    let (http, url) = (site.http.clone(), site.base.clone());
    let visit = tokio::spawn(async move { http.get(url).send().await.unwrap().text().await.unwrap() });
    let during = loop {
        assert!(killed.elapsed() < Duration::from_secs(30), "the dead master's connection is still counted");
        let text = site.scrape().await;
        if master(&text, &po) == 0.0 {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    count += 1;
    assert_eq!(visit.await.unwrap(), format!("hello ann, visit {count}\n"));

    let new = loop {
        assert!(killed.elapsed() < Duration::from_secs(30), "no failover of {shard} within 30 s");
        count += 1;
        assert_eq!(site.get().await, (200, format!("hello ann, visit {count}\n")));
        let now = client.topology().shards.into_iter().find(|s| s.name == shard).unwrap().master;
        if let Some(m) = now.filter(|m| *m != old) {
            break m;
        }
    };
    let pn = port(&new);
    for _ in 0..5 {
        count += 1;
        assert_eq!(site.get().await, (200, format!("hello ann, visit {count}\n")));
    }
    let after = site.scrape().await;
    let delta = |name: &str, labels: &[(&str, &str)]| sum(&after, name, labels) - sum(&before, name, labels);
    assert_eq!(delta(FAILOVERS, &[("disredis_shard", &shard), ("server_port", &pn)]), 1.0, "{after}");
    // A delta: the recorder is the test binary's, and a port a dropped
    // topology released may be this one's now, with that test's failovers.
    assert_eq!(delta(FAILOVERS, &[("server_port", &pother)]), 0.0);
    assert!(delta(REQUESTS, &[("disredis_shard", &shard), ("server_port", &pn), ("error_type", "")]) >= 5.0);
    assert_eq!((master(&after, &po), master(&after, &pn)), (0.0, 1.0));
    let other_requests = |text: &str| sum(text, REQUESTS, &[("server_port", &pother)]);
    // (Since the login: it deletes the session under the id before it, a key
    // that may live on the other shard.)
    assert_eq!(other_requests(&after), other_requests(&before), "session requests counted on {other}");
    eprintln!(
        "web_app metrics: {shard} {old} -> {new}\n--- during the outage ---\n{}\n--- after ---\n{}",
        excerpt(&during, &[&po, &pn]),
        excerpt(&after, &[&po, &pn])
    );
}
