//! Authentication on real processes: data-node and Sentinel passwords (kept apart), ACL users,
//! typed `Error::Auth` naming the node for refused credentials, and no password anywhere in
//! logs, `Debug` or error text.
//!
//! Every client log line of this module's tests goes to one in-memory buffer (a global
//! `tracing-subscriber` at TRACE that keeps only the events of these tests' threads; see
//! [`logs`] and [`run`]), so every test here also feeds the leak check.

use std::cell::Cell;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use disredis::{DisredisClient, Error};
use redis::AsyncCommands;
use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::layer::{Layer, SubscriberExt};

use crate::support::{Access, Spec, Topology};

/// Distinctive, so a leak can't hide behind a common word.
const DATA_PW: &str = "Dpw-7f3kQz9-data";
const SENTINEL_PW: &str = "Spw-m2X8vL4-sentinel";
const WRONG_PW: &str = "Wpw-q9R1tY6-wrong";
const ACL_PW: &str = "Apw-c5N0bJ7-acl";
const SECRETS: [&str; 4] = [DATA_PW, SENTINEL_PW, WRONG_PW, ACL_PW];

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// Whether this thread's events go to the log buffer: set on the threads of [`run`] only.
    static CAPTURE: Cell<bool> = const { Cell::new(false) };
}

/// The log buffer. On first use, installs the test binary's global subscriber: every event at
/// TRACE into the buffer, but only events on threads of [`run`]. Filtered, because every module
/// shares the process and the other modules' clients log "connected to master" too, which would
/// pass the leak check's assertions for these tests. Global, not a scoped default per thread:
/// while only one dispatcher exists, tracing decides a callsite's interest with the default of
/// the thread that hits it first, and a callsite first hit on another module's thread (no
/// subscriber) would stay disabled for these tests too. A dynamic filter for the same reason:
/// `filter_fn`'s answer is cached per callsite, by whichever thread hits it first.
fn logs() -> &'static Buffer {
    static LOGS: OnceLock<Buffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .with_filter(dynamic_filter_fn(|_, _| CAPTURE.get()));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("auth installs the test binary's only global subscriber");
        buffer
    })
}

/// Clears [`CAPTURE`] on the test thread when the test ends, also when it panics.
struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        CAPTURE.set(false);
    }
}

/// Runs one test as `#[tokio::test(flavor = "multi_thread")]` would, with the events of the
/// test thread and of every runtime thread (workers and blocking pool: the tasks the client
/// spawns) going to the log buffer.
fn run(test: impl Future<Output = ()>) {
    logs();
    CAPTURE.set(true);
    let _capturing = Capturing;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(|| CAPTURE.set(true))
        .build()
        .expect("tokio runtime");
    runtime.block_on(test);
}

fn captured() -> String {
    String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned()
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} contains a password ({s}):\n{text}");
    }
}

fn auth_topology() -> Topology {
    let access = Access {
        password: Some(DATA_PW.into()),
        sentinel_password: Some(SENTINEL_PW.into()),
        ..Access::default()
    };
    Topology::start_with(Spec::default(), access)
}

fn builder(topo: &Topology) -> disredis::Builder {
    DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .password(DATA_PW)
        .sentinel_password(SENTINEL_PW)
        .failover_deadline(Duration::from_secs(10))
}

/// Keys that `client` puts on `shard`.
fn key_on(client: &DisredisClient, shard: &str, prefix: &str) -> String {
    (0..).map(|i| format!("{prefix}:{i}")).find(|k| client.shard_for(k) == shard).unwrap()
}

#[test]
fn right_credentials_reach_every_shard_and_each_kind_gets_its_own() {
    run(async {
        let topo = auth_topology();
        let client = builder(&topo).connect().await.unwrap();
        let mut con = client.clone();
        for shard in topo.master_names() {
            let key = key_on(&client, &shard, "auth");
            con.set::<_, _, ()>(&key, &shard).await.unwrap();
            assert_eq!(con.get::<_, String>(&key).await.unwrap(), shard);
            // A dedicated connection (blocking command) authenticates too.
            let list = key_on(&client, &shard, "auth-list");
            con.rpush::<_, _, ()>(&list, 1).await.unwrap();
            let popped: Option<(String, String)> = con.blpop(&list, 0.2).await.unwrap();
            assert_eq!(popped.unwrap().1, "1");
        }
        // The two passwords are not interchangeable: swapping them is refused on both sides.
        let swapped = DisredisClient::builder()
            .sentinels(topo.sentinel_addrs())
            .password(SENTINEL_PW)
            .sentinel_password(DATA_PW)
            .connect()
            .await
            .unwrap_err();
        assert!(
            matches!(&swapped, Error::NoSentinel { tried } if tried.iter().all(|t| t.cause.contains("authentication failed"))),
            "{swapped:?}"
        );
    });
}

#[test]
fn wrong_or_missing_data_password_is_auth_naming_the_master_at_once() {
    run(async {
        let topo = auth_topology();
        let masters: Vec<String> = topo.master_names().iter().map(|n| topo.master_addr(n)).collect();
        for (label, b) in [
            ("wrong password", builder(&topo).password(WRONG_PW)),
            (
                "no password",
                DisredisClient::builder().sentinels(topo.sentinel_addrs()).sentinel_password(SENTINEL_PW),
            ),
            ("unknown user", builder(&topo).username("nobody")),
        ] {
            let started = std::time::Instant::now();
            let err = b.connect().await.unwrap_err();
            match &err {
                Error::Auth { node, role, detail } => {
                    assert_eq!(*role, "master", "{label}");
                    assert!(masters.contains(node), "{label}: {node} is not one of {masters:?}");
                    // The text names the data nodes' settings, not the Sentinels'.
                    assert!(detail.contains("Builder::password / Builder::username"), "{label}: {detail}");
                    assert!(detail.contains("user:password@"), "{label}: {detail}");
                    assert!(!detail.contains("sentinel_password"), "{label}: {detail}");
                }
                other => panic!("{label}: expected Error::Auth, got {other:?}"),
            }
            // Returned at once, not after a failover deadline of retries.
            assert!(started.elapsed() < Duration::from_secs(3), "{label}: took {:?}", started.elapsed());
            let r: redis::RedisError = err.clone().into();
            assert!(matches!(Error::from(r.clone()), Error::Auth { role: "master", .. }), "{label}: {r}");
            assert_no_secret(label, &format!("{err} {err:?} {r} {r:?}"));
        }
    });
}

#[test]
fn wrong_or_missing_sentinel_password_says_authentication_failed_for_each_sentinel() {
    run(async {
        let topo = auth_topology();
        for (label, b) in [
            ("wrong sentinel password", builder(&topo).sentinel_password(WRONG_PW)),
            (
                "no sentinel password",
                DisredisClient::builder().sentinels(topo.sentinel_addrs()).password(DATA_PW),
            ),
        ] {
            let err = b.connect().await.unwrap_err();
            let Error::NoSentinel { tried } = &err else {
                panic!("{label}: expected NoSentinel, got {err:?}")
            };
            let addrs: Vec<&str> = tried.iter().map(|t| t.addr.as_str()).collect();
            assert_eq!(addrs, topo.sentinel_addrs(), "{label}");
            // A refused AUTH is typed in the handshake; with no password at all the Sentinel's own
            // NOAUTH reply to the first command is the cause. Both name the Sentinels' settings.
            let says =
                if label.starts_with("wrong") { "authentication failed at sentinel" } else { "NOAUTH" };
            for t in tried {
                assert!(t.cause.contains(says), "{label}: {t}");
                assert!(t.cause.contains("authentication failed at sentinel"), "{label}: {t}");
                assert!(
                    t.cause.contains("Builder::sentinel_password / Builder::sentinel_username"),
                    "{label}: {t}"
                );
                assert!(t.cause.contains("sentinel_password="), "{label}: {t}");
            }
            assert!(err.to_string().contains(says), "{label}: {err}");
            assert_no_secret(label, &format!("{err} {err:?}"));
        }
    });
}

#[test]
fn acl_users_for_data_nodes_and_sentinels() {
    run(async {
        let topo = auth_topology();
        let acl = |addr: &str| {
            let mut c = topo.conn(addr);
            let _: () = redis::cmd("ACL")
                .arg("SETUSER")
                .arg("app")
                .arg("on")
                .arg(format!(">{ACL_PW}"))
                .arg("~*")
                .arg("&*")
                .arg("+@all")
                .query(&mut c)
                .unwrap_or_else(|e| panic!("ACL SETUSER on {addr}: {e}"));
        };
        for name in topo.master_names() {
            acl(&topo.master_addr(&name));
        }
        for s in topo.sentinel_addrs() {
            acl(&s);
        }
        let client = DisredisClient::builder()
            .sentinels(topo.sentinel_addrs())
            .username("app")
            .password(ACL_PW)
            .sentinel_username("app")
            .sentinel_password(ACL_PW)
            .connect()
            .await
            .unwrap();
        let mut con = client.clone();
        for shard in topo.master_names() {
            let key = key_on(&client, &shard, "acl");
            con.set::<_, _, ()>(&key, 7).await.unwrap();
            assert_eq!(con.get::<_, i64>(&key).await.unwrap(), 7);
        }
        // The ACL user with the default user's password: refused, typed.
        let err = DisredisClient::builder()
            .sentinels(topo.sentinel_addrs())
            .username("app")
            .password(DATA_PW)
            .sentinel_username("app")
            .sentinel_password(ACL_PW)
            .connect()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Auth { role: "master", .. }), "{err:?}");
    });
}

#[test]
fn passwords_appear_in_no_log_debug_or_error_text() {
    run(async {
        let topo = auth_topology();
        let b = builder(&topo);
        let config = b.clone().build().unwrap();
        let client = b.connect().await.unwrap();
        let mut con = client.clone();
        for shard in topo.master_names() {
            let key = key_on(&client, &shard, "leak");
            con.set::<_, _, ()>(&key, 1).await.unwrap();
        }
        // A re-resolve without a failover: the master drops every client connection, the next
        // command reconnects (through Sentinel, with both passwords).
        let shard = topo.master_names()[0].clone();
        let before = client.topology().shards.iter().find(|s| s.name == shard).unwrap().generation;
        let mut master = topo.conn(&topo.master_addr(&shard));
        let _: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal").query(&mut master).unwrap();
        let key = key_on(&client, &shard, "leak");
        assert_eq!(con.get::<_, i64>(&key).await.unwrap(), 1);
        let after = client.topology().shards.iter().find(|s| s.name == shard).unwrap().generation;
        assert!(after > before, "the connection was re-made: generation {before} -> {after}");
        // Refused credentials of both kinds.
        let data_err = builder(&topo).password(WRONG_PW).connect().await.unwrap_err();
        let sentinel_err = builder(&topo).sentinel_password(WRONG_PW).connect().await.unwrap_err();
        assert!(matches!(data_err, Error::Auth { .. }), "{data_err:?}");

        for (what, text) in [
            ("client Debug", format!("{client:?}")),
            ("config Debug", format!("{config:?}")),
            ("data error", format!("{data_err} {data_err:?} {}", redis::RedisError::from(data_err.clone()))),
            ("sentinel error", format!("{sentinel_err} {sentinel_err:?}")),
        ] {
            assert_no_secret(what, &text);
        }
        let logs = captured();
        assert!(logs.contains("connected to master"), "the subscriber captured the client's events:\n{logs}");
        assert!(logs.contains("authentication failed"), "the refused connects were logged:\n{logs}");
        assert_no_secret("captured tracing output", &logs);
        eprintln!(
            "leak check: {} bytes of TRACE logs, {} lines, no password",
            logs.len(),
            logs.lines().count()
        );
    });
}
