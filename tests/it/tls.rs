//! TLS on real processes (feature `tls`): data nodes on `tls-port` only, replicating over TLS,
//! Sentinels on TLS or on plain TCP, a CA and server certificate made at test time with the
//! `openssl` CLI (IP SAN 127.0.0.1), passwords on both kinds, and a SIGKILL failover under a
//! writer with no failed request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use disredis::{DisredisClient, Error, TlsConfig};
use redis::AsyncCommands;

use crate::support::{self, Access, Spec, Topology};

const DATA_PW: &str = "tls-data-pw";
const SENTINEL_PW: &str = "tls-sentinel-pw";

fn key_on(client: &DisredisClient, shard: &str, prefix: &str) -> String {
    (0..).map(|i| format!("{prefix}:{i}")).find(|k| client.shard_for(k) == shard).unwrap()
}

/// Reads and writes on every shard, then SIGKILLs one master under a writer and checks that
/// no request failed and every acknowledged write is on the new master.
async fn read_write_and_failover(topo: &Topology, client: DisredisClient) {
    let mut con = client.clone();
    for shard in topo.master_names() {
        let key = key_on(&client, &shard, "tls");
        con.set::<_, _, ()>(&key, &shard).await.unwrap();
        assert_eq!(con.get::<_, String>(&key).await.unwrap(), shard);
    }
    let victim = topo.master_names()[0].clone();
    let old = topo.master_addr(&victim);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (mut con, stop, client) = (client.clone(), stop.clone(), client.clone());
        let victim = victim.clone();
        tokio::spawn(async move {
            let (mut acked, mut errors, mut slowest) = (Vec::new(), Vec::new(), Duration::ZERO);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = key_on(&client, &victim, &format!("w{n}"));
                let started = Instant::now();
                match con.set::<_, _, ()>(&key, n).await {
                    Ok(()) => acked.push((key, n)),
                    Err(e) => errors.push(format!("{key}: {e}")),
                }
                slowest = slowest.max(started.elapsed());
                n += 1;
            }
            (acked, errors, slowest)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = Instant::now();
    topo.kill(&old);
    let new = topo.wait_for_failover(&victim, &old, Duration::from_secs(20));
    support::wait_generation(&client, &victim, 2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (acked, errors, slowest) = writer.await.unwrap();
    eprintln!(
        "tls failover: {} writes acknowledged, {} errors, slowest write {:.3} s, new master {new} \
         answered {:.3} s after SIGKILL",
        acked.len(),
        errors.len(),
        slowest.as_secs_f64(),
        killed.elapsed().as_secs_f64()
    );
    assert!(errors.is_empty(), "{} failed writes: {:?}", errors.len(), &errors[..errors.len().min(5)]);
    assert_eq!(client.topology().shards.iter().find(|s| s.name == victim).unwrap().master, Some(new.clone()));
    // Everything acknowledged after the switch is on the new master (earlier writes may be lost
    // with the old master: replication is asynchronous).
    let mut check = topo.conn(&new);
    let last = &acked.last().expect("writes after the failover").0;
    let v: Option<u64> = redis::cmd("GET").arg(last).query(&mut check).unwrap();
    assert!(v.is_some(), "the last acknowledged write {last} is on the new master");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_everywhere_with_passwords_reads_writes_and_fails_over_without_errors() {
    let started = Instant::now();
    let access = Access::tls_everywhere(DATA_PW, SENTINEL_PW);
    let topo = Topology::start_with(Spec::default(), access);
    let tls = TlsConfig::new().root_certificates(topo.ca_pem());
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .password(DATA_PW)
        .sentinel_password(SENTINEL_PW)
        .tls(tls.clone())
        .sentinel_tls(tls)
        .connect()
        .await
        .unwrap();
    read_write_and_failover(&topo, client).await;
    eprintln!("tls everywhere: {:.3} s including topology start", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_data_nodes_with_plain_tcp_sentinels() {
    let started = Instant::now();
    let topo = Topology::start_with(Spec::default(), Access { tls: true, ..Access::default() });
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .tls(TlsConfig::new().root_certificates(topo.ca_pem()))
        .connect()
        .await
        .unwrap();
    read_write_and_failover(&topo, client).await;
    eprintln!(
        "tls data nodes, plain sentinels: {:.3} s including topology start",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn bad_pem_is_a_config_error_at_build() {
    let b = || DisredisClient::builder().sentinels(["127.0.0.1:1"]);
    let err = b().tls(TlsConfig::new().root_certificates("not a certificate")).build().unwrap_err();
    assert!(matches!(err, Error::Config { field: "tls", .. }), "{err:?}");
    let err = b().sentinel_tls(TlsConfig::new().root_certificates(Vec::new())).build().unwrap_err();
    assert!(matches!(err, Error::Config { field: "sentinel_tls", .. }), "{err:?}");
    let key = "-----BEGIN PRIVATE KEY-----\nsecret-key-material\n-----END PRIVATE KEY-----\n";
    let tls = TlsConfig::new().client_certificate("nope", key);
    assert!(!format!("{tls:?}").contains("secret-key-material"));
    let err = b().tls(tls).build().unwrap_err();
    assert!(!format!("{err} {err:?}").contains("secret-key-material"));
}

/// A certificate the client does not trust is a configuration error: `Error::Tls` naming the
/// node, at once, not a failover retried until the deadline (before: `connect` succeeded with
/// the shards unconnected and every request ended in `FailoverTimeout`).
#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_certificate_is_a_typed_error_at_connect() {
    let topo = Topology::start_with(Spec::default(), Access { tls: true, ..Access::default() });
    let masters: Vec<String> = topo.master_names().iter().map(|n| topo.master_addr(n)).collect();
    // The system trust store does not hold the test CA.
    let err = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .tls(TlsConfig::new())
        .failover_deadline(Duration::from_secs(60))
        .connect()
        .await
        .unwrap_err();
    match &err {
        Error::Tls { node, role, detail } => {
            assert_eq!(*role, "master");
            assert!(masters.contains(node), "{node} is not one of {masters:?}");
            assert!(detail.contains("UnknownIssuer") || detail.contains("unknown issuer"), "{detail}");
        }
        other => panic!("expected Error::Tls, got {other:?}"),
    }
    assert!(matches!(Error::from(redis::RedisError::from(err)), Error::Tls { .. }));
}

/// A master whose certificate changes to one the client does not trust (here: self-signed,
/// set with `CONFIG SET` while running) fails the next request that must reconnect with
/// `Error::Tls`, through `AsyncCommands`, instead of retrying for the whole failover deadline.
#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_rejected_on_reconnect_is_not_retried() {
    let topo = Topology::start_with(Spec::default(), Access { tls: true, ..Access::default() });
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .tls(TlsConfig::new().root_certificates(topo.ca_pem()))
        .failover_deadline(Duration::from_secs(60))
        .connect()
        .await
        .unwrap();
    let shard = topo.master_names()[0].clone();
    let key = key_on(&client, &shard, "cert");
    let mut con = client.clone();
    con.set::<_, _, ()>(&key, 1).await.unwrap();

    let master = topo.master_addr(&shard);
    let dir = topo.dir().join("untrusted");
    std::fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-keyout", "other.key", "-out", "other.crt", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .current_dir(&dir)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    let mut admin = topo.conn(&master);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("tls-cert-file")
        .arg(dir.join("other.crt").to_str().unwrap())
        .arg("tls-key-file")
        .arg(dir.join("other.key").to_str().unwrap())
        .query(&mut admin)
        .unwrap();
    // Drop the client's connections only (Sentinel's and the replica's links stay up, so no
    // failover starts): the next request must reconnect.
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
    let ours: Vec<&str> = list
        .lines()
        .filter(|l| l.contains(" name=disredis:"))
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .collect();
    assert!(!ours.is_empty(), "the client's connections are named: {list}");
    for id in ours {
        let _: redis::Value = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id).query(&mut admin).unwrap();
    }
    let err = con.get::<_, Option<i64>>(&key).await.unwrap_err();
    match Error::from(err) {
        Error::Tls { node, role: "master", detail } => {
            assert_eq!(node, master);
            assert!(detail.contains("invalid peer certificate"), "{detail}");
        }
        other => panic!("expected Error::Tls (not retried), got {other:?}"),
    }
}

pub mod url;
