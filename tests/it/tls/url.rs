//! `rediss+sentinel://` URLs on the TLS topology: the test CA from `ca=` reaches data
//! nodes and Sentinels, `sentinel_tls=off` with plain-TCP Sentinels, and a CA that did not
//! sign the servers' certificates is `Error::Tls` at connect.

use std::path::{Path, PathBuf};

use disredis::{DisredisClient, Error};
use redis::AsyncCommands;

use super::{DATA_PW, SENTINEL_PW, key_on};
use crate::support::{Access, Spec, Topology};

fn ca_file(topo: &Topology) -> PathBuf {
    topo.dir().join("tls").join("ca.crt")
}

/// A CA of its own (made with the `openssl` CLI) that signed none of the servers' certificates.
pub fn other_ca(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-keyout", "other-ca.key", "-out", "other-ca.crt", "-days", "2", "-subj", "/CN=other test CA"])
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    dir.join("other-ca.crt")
}

async fn round_trip(client: &DisredisClient, topo: &Topology) {
    let mut con = client.clone();
    for shard in topo.master_names() {
        let key = key_on(client, &shard, "url-tls");
        con.set::<_, _, ()>(&key, &shard).await.unwrap();
        assert_eq!(con.get::<_, String>(&key).await.unwrap(), shard);
        // Directly on that shard's master, over TLS with the test CA: the write is there.
        let mut node = topo.conn(&topo.master_addr(&shard));
        let direct: String = redis::cmd("GET").arg(&key).query(&mut node).unwrap();
        assert_eq!(direct, shard);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rediss_url_with_the_ca_connects_to_tls_data_nodes_and_sentinels() {
    let access = Access::tls_everywhere(DATA_PW, SENTINEL_PW);
    let topo = Topology::start_with(Spec::default(), access);
    let url = format!(
        "rediss+sentinel://:{DATA_PW}@{}/?ca={}&sentinel_password={SENTINEL_PW}",
        topo.sentinel_addrs().join(","),
        ca_file(&topo).display()
    );
    let client = DisredisClient::from_url(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(client.shard_names(), topo.master_names());
    round_trip(&client, &topo).await;

    // The same URL without sentinel TLS: the Sentinels listen on TLS only, so none answers.
    let plain_sentinels = format!("{url}&sentinel_tls=off&connect_timeout=500");
    match DisredisClient::from_url(&plain_sentinels).await {
        Err(Error::NoSentinel { .. }) => {}
        other => panic!("expected NoSentinel with plain TCP to TLS Sentinels, got {other:?}"),
    }

    // A CA that did not sign the Sentinels' certificates: no Sentinel is trusted.
    let wrong = other_ca(&topo.dir().join("wrong-ca"));
    let url = format!(
        "rediss+sentinel://:{DATA_PW}@{}/?ca={}&sentinel_password={SENTINEL_PW}&failover_deadline=60000",
        topo.sentinel_addrs().join(","),
        wrong.display()
    );
    match DisredisClient::from_url(&url).await {
        Err(e @ Error::NoSentinel { .. }) => {
            let text = e.to_string();
            assert!(text.contains("UnknownIssuer") || text.contains("unknown issuer"), "{text}");
        }
        other => panic!("expected NoSentinel naming the rejected certificates, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_tls_off_and_a_wrong_ca_for_the_data_nodes_is_error_tls() {
    let topo = Topology::start_with(Spec::default(), Access { tls: true, ..Access::default() });
    let base = format!("rediss+sentinel://{}/?sentinel_tls=off", topo.sentinel_addrs().join(","));
    let client = DisredisClient::from_url(&format!("{base}&ca={}", ca_file(&topo).display())).await.unwrap();
    round_trip(&client, &topo).await;

    // The Sentinels (plain TCP) answer; the masters' certificates are not signed by this CA.
    let wrong = other_ca(&topo.dir().join("wrong-ca"));
    let masters: Vec<String> = topo.master_names().iter().map(|n| topo.master_addr(n)).collect();
    let url = format!("{base}&ca={}&failover_deadline=60000", wrong.display());
    match DisredisClient::from_url(&url).await {
        Err(Error::Tls { node, role: "master", detail }) => {
            assert!(masters.contains(&node), "{node} is not one of {masters:?}");
            assert!(detail.contains("UnknownIssuer") || detail.contains("unknown issuer"), "{detail}");
        }
        other => panic!("expected Error::Tls, got {other:?}"),
    }

    // A CA file that is not there: BadUrl naming the parameter and the path, before any connection.
    let missing = topo.dir().join("no-such-ca.crt");
    match DisredisClient::from_url(&format!("{base}&ca={}", missing.display())).await {
        Err(Error::BadUrl { part: "ca", detail }) => {
            assert!(detail.contains(&missing.display().to_string()), "{detail}")
        }
        other => panic!("expected BadUrl for ca, got {other:?}"),
    }
}
