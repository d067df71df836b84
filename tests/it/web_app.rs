//! The session example (`examples/session_store/`) over HTTP with a cookie jar,
//! on real processes: log in, count visits, SIGKILL the session's master, keep
//! counting — still logged in, no visit lost or counted twice, no error.

#[path = "../../examples/session_store/app.rs"]
pub mod app;

use std::sync::Arc;
use std::time::{Duration, Instant};

use disredis::DisredisClient;
use disredis::sessions::DisredisStore;
use reqwest::cookie::{CookieStore, Jar};

use crate::support::{Spec, Topology};

struct Site {
    base: reqwest::Url,
    http: reqwest::Client,
    jar: Arc<Jar>,
}

impl Site {
    /// Serves `app::router(store)` on a free loopback port.
    async fn start(store: DisredisStore) -> Site {
        Site::serve(app::router(store)).await
    }

    /// Serves `router` on a free loopback port.
    async fn serve(router: axum::Router) -> Site {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base: reqwest::Url = format!("http://{}/", listener.local_addr().unwrap()).parse().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Site::browser(base)
    }

    /// An HTTP client with a cookie jar of its own. The timeout is above the
    /// client's 15 s failover deadline: a hung request fails the test instead of
    /// hanging it.
    fn browser(base: reqwest::Url) -> Site {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Site { base, http, jar }
    }

    /// `(status, body)` of a request; panics on a transport error.
    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, String) {
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn get(&self) -> (u16, String) {
        self.send(self.http.get(self.base.clone())).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        self.send(self.http.post(self.base.join(path).unwrap()).form(form)).await
    }

    /// `GET /metrics`: its body, after checking the status.
    #[cfg(feature = "metrics")]
    async fn scrape(&self) -> String {
        let (status, text) = self.send(self.http.get(self.base.join("metrics").unwrap())).await;
        assert_eq!(status, 200, "{text}");
        text
    }

    /// The session id in the cookie jar (cookie `id`).
    fn session_id(&self) -> Option<String> {
        let header = self.jar.cookies(&self.base)?;
        header.to_str().unwrap().split("; ").find_map(|c| c.strip_prefix("id=")).map(str::to_owned)
    }
}

/// Two shards with two replicas each, and a client whose every write waits
/// for one replica (as the example's `--wait-replicas 1` does).
async fn durable() -> (Topology, DisredisClient) {
    let topo = Topology::start(Spec { replicas: 2, ..Spec::default() });
    let client = DisredisClient::builder()
        .sentinels(topo.sentinel_addrs())
        .wait_replicas(1, Duration::from_millis(400))
        .connect()
        .await
        .unwrap();
    (topo, client)
}

#[tokio::test(flavor = "multi_thread")]
async fn visits_keep_counting_through_a_failover_of_the_sessions_master() {
    // Two replicas per shard, and every session write waits for one of them (as
    // `--wait-replicas 1` does): otherwise the last visit before the kill could
    // be acknowledged by the master and never reach the replica that takes over,
    // and the count would go back. After the failover the promoted master still
    // has a replica to wait for.
    let (topo, client) = durable().await;
    let store = DisredisStore::new(client.clone());
    let site = Site::start(store.clone()).await;

    assert_eq!(site.get().await, (200, "not logged in\n".to_owned()));
    assert_eq!(site.session_id(), None, "an anonymous visit must not create a session");
    assert_eq!(site.post("login", &[("name", "")]).await.0, 400);
    assert_eq!(site.post("login", &[("name", "ann")]).await, (200, "logged in as ann\n".to_owned()));
    let id = site.session_id().expect("a session cookie after login");
    let key = format!("session:{id}");
    let mut count = 0;
    for _ in 0..5 {
        count += 1;
        assert_eq!(site.get().await, (200, format!("hello ann, visit {count}\n")));
    }

    let shard = client.shard_for(&key).to_owned();
    let old = topo.master_addr(&shard);
    topo.kill(&old);
    let killed = Instant::now();

    // Keep visiting while the shard fails over: every request succeeds (the ones
    // during the outage wait), and the count goes on from where it was.
    let mut slowest = Duration::ZERO;
    let mut failed_over = false;
    let mut after_switch = 0;
    while after_switch < 10 {
        assert!(killed.elapsed() < Duration::from_secs(30), "no failover of {shard} within 30 s");
        count += 1;
        let started = Instant::now();
        let reply = site.get().await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(
            reply,
            (200, format!("hello ann, visit {count}\n")),
            "visit {count}, {:?} after the kill",
            killed.elapsed()
        );
        if !failed_over {
            let master = client.topology().shards.into_iter().find(|s| s.name == shard).unwrap().master;
            failed_over = master.is_some_and(|m| m != old);
        }
        if failed_over {
            after_switch += 1;
        }
    }
    assert_eq!(site.session_id().as_deref(), Some(id.as_str()), "the session id changed");
    let new = topo.wait_for_failover(&shard, &old, Duration::from_secs(20));
    let exists: bool = redis::cmd("EXISTS").arg(&key).query(&mut topo.conn(&new)).unwrap();
    assert!(exists, "the session is not on the new master {new}");
    eprintln!("web_app: {count} visits, slowest request {slowest:?}, {shard} {old} -> {new}");

    assert_eq!(site.post("logout", &[]).await, (200, "logged out\n".to_owned()));
    assert_eq!(site.get().await, (200, "not logged in\n".to_owned()));
    let exists: bool = redis::cmd("EXISTS").arg(&key).query(&mut topo.conn(&new)).unwrap();
    assert!(!exists, "logout must delete the session");
}

#[cfg(feature = "metrics")]
mod metrics;

#[tokio::test(flavor = "multi_thread")]
async fn login_gives_a_new_session_id_and_sessions_are_per_client() {
    let topo = Topology::start(Spec::default());
    let client = DisredisClient::connect(topo.sentinel_addrs()).await.unwrap();
    let store = DisredisStore::new(client.clone()).with_prefix("web");
    let ann = Site::start(store.clone()).await;
    let bob = Site::browser(ann.base.clone());

    assert_eq!(ann.post("login", &[("name", "ann")]).await.0, 200);
    let first = ann.session_id().unwrap();
    assert_eq!(ann.get().await.1, "hello ann, visit 1\n");
    assert_eq!(bob.get().await.1, "not logged in\n");
    assert_eq!(bob.post("login", &[("name", "bob <b>")]).await.0, 200);
    assert_eq!(bob.get().await.1, "hello bob <b>, visit 1\n");
    assert_eq!(ann.get().await.1, "hello ann, visit 2\n");

    // Logging in again (as someone else) replaces the session: new id, old key gone.
    assert_eq!(ann.post("login", &[("name", "carol")]).await.0, 200);
    let second = ann.session_id().unwrap();
    assert_ne!(first, second);
    let mut con = client.clone();
    let old_exists: bool = redis::AsyncCommands::exists(&mut con, format!("web:{first}")).await.unwrap();
    let new_exists: bool = redis::AsyncCommands::exists(&mut con, format!("web:{second}")).await.unwrap();
    assert!(!old_exists && new_exists);
    assert_eq!(ann.get().await.1, "hello carol, visit 1\n");

    let long = "x".repeat(65);
    assert_eq!(ann.post("login", &[("name", &long)]).await.0, 400);
}

#[test]
fn options_from_args_and_environment() {
    let parse = |args: &[&str], env: Option<&str>| {
        app::Options::parse(args.iter().map(|s| s.to_string()), env.map(str::to_owned))
    };
    let defaults = parse(&[], None).unwrap();
    assert_eq!(defaults.sentinels, ["127.0.0.1:26381", "127.0.0.1:26382"]);
    assert_eq!(defaults.listen.to_string(), "127.0.0.1:3000");
    assert_eq!(defaults.prefix, "session");
    assert_eq!(defaults.wait_replicas, 0);

    let env = parse(&[], Some("10.0.0.1:26379, 10.0.0.2:26379")).unwrap();
    assert_eq!(env.sentinels, ["10.0.0.1:26379", "10.0.0.2:26379"]);
    let args = parse(
        &["--listen", "[::1]:8080", "--prefix", "app:s", "--wait-replicas", "1", "h1:1", "h2:2"],
        Some("ignored:1"),
    )
    .unwrap();
    assert_eq!(args.sentinels, ["h1:1", "h2:2"]);
    assert_eq!(args.listen.to_string(), "[::1]:8080");
    assert_eq!((args.prefix.as_str(), args.wait_replicas), ("app:s", 1));

    assert!(parse(&["--listen", "0.0.0.0:3000"], None).unwrap_err().contains("loopback"));
    assert!(parse(&["--listen", "nope"], None).unwrap_err().contains("--listen"));
    assert!(parse(&["--wait-replicas"], None).unwrap_err().contains("needs a value"));
    assert!(parse(&["--bogus"], None).unwrap_err().contains("unknown option --bogus"));
    assert_eq!(parse(&["--help"], None).unwrap_err(), app::USAGE);
}
