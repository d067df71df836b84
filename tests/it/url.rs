//! `DisredisClient::from_url` on real processes: every setting that a topology can show,
//! credentials from the URL, and a typed error for each kind of bad URL.

use disredis::{Builder, DisredisClient, Error};
use redis::AsyncCommands;

use crate::support::{Access, Spec, Topology};

fn url_of(topo: &Topology, userinfo: &str, rest: &str) -> String {
    format!("redis+sentinel://{userinfo}{}{rest}", topo.sentinel_addrs().join(","))
}

#[tokio::test(flavor = "multi_thread")]
async fn connects_with_masters_and_db_from_the_url() {
    let topo = Topology::start(Spec::default());
    let names = topo.master_names();
    let url = url_of(&topo, "", &format!("/?masters={}&db=3&failover_deadline=5000", names[1]));
    let client = DisredisClient::from_url(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(client.shard_names(), &names[1..], "masters= limits the shards");
    let mut con = client.clone();
    con.set::<_, _, ()>("url:key", "in-db-3").await.unwrap();
    assert_eq!(client.shard_for("url:key"), names[1]);

    // The key is in database 3 of that shard's master, not in database 0.
    let mut node = topo.conn(&topo.master_addr(&names[1]));
    let in_db0: Option<String> = redis::cmd("GET").arg("url:key").query(&mut node).unwrap();
    assert_eq!(in_db0, None);
    redis::cmd("SELECT").arg(3).exec(&mut node).unwrap();
    let in_db3: Option<String> = redis::cmd("GET").arg("url:key").query(&mut node).unwrap();
    assert_eq!(in_db3.as_deref(), Some("in-db-3"));

    // The path form of the database number, and a builder that takes more settings.
    let url = url_of(&topo, "", "/3");
    let client = Builder::from_url(&url).unwrap().read_from(disredis::ReadFrom::Master).connect().await;
    let got: Option<String> = client.unwrap().get("url:key").await.unwrap();
    assert_eq!(got.as_deref(), Some("in-db-3"));
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_from_the_url_reach_data_nodes_and_sentinels() {
    let access = Access {
        password: Some("data p@ss/w:rd".into()),
        sentinel_password: Some("sen&tinel#pw".into()),
        ..Access::default()
    };
    let topo = Topology::start_with(Spec::default(), access);
    let good = url_of(&topo, ":data%20p%40ss%2Fw%3Ard@", "/?sentinel_password=sen%26tinel%23pw");
    let mut client = DisredisClient::from_url(&good).await.unwrap_or_else(|e| panic!("{e}"));
    client.set::<_, _, ()>("auth:k", "v").await.unwrap();
    let v: String = client.get("auth:k").await.unwrap();
    assert_eq!(v, "v");

    // A wrong Sentinel password is refused by the Sentinels, and no password is echoed.
    let wrong = url_of(&topo, ":data%20p%40ss%2Fw%3Ard@", "/?sentinel_password=WRONG-pw");
    let err = DisredisClient::from_url(&wrong).await.expect_err("wrong Sentinel password");
    let text = err.to_string();
    assert!(!text.contains("WRONG-pw") && !text.contains("p@ss"), "{text}");
    assert!(
        matches!(&err, Error::Auth { role: "sentinel", .. })
            || matches!(&err, Error::NoSentinel { tried } if tried.iter().all(|t| t.cause.contains("sentinel"))),
        "{err:?}"
    );

    // A wrong data-node password is refused by the masters.
    let wrong = url_of(&topo, ":WRONG-pw@", "/?sentinel_password=sen%26tinel%23pw");
    let err = DisredisClient::from_url(&wrong).await.expect_err("wrong data password");
    assert!(matches!(&err, Error::Auth { role: "master", .. }), "{err:?}");
    assert!(!err.to_string().contains("WRONG-pw"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_urls_fail_with_the_part_named_before_connecting() {
    let topo = Topology::start(Spec::default());
    let hosts = topo.sentinel_addrs().join(",");
    let cases = [
        (format!("redis://{hosts}"), "scheme"),
        (format!("redis+sentinel://u:pw-SECRET%zz@{hosts}"), "userinfo"),
        (format!("redis+sentinel://u:pw/SECRET@{hosts}"), "userinfo"),
        (format!("redis+sentinel://{hosts},127.0.0.1:"), "host list"),
        (format!("redis+sentinel://{hosts},,"), "host list"),
        (format!("redis+sentinel://{hosts},localhost:99999"), "host list"),
        (format!("redis+sentinel://{hosts}/x"), "path"),
        (format!("redis+sentinel://{hosts}/?db=one"), "db"),
        (format!("redis+sentinel://{hosts}/?masters="), "masters"),
        (format!("redis+sentinel://{hosts}/?connect_timeout=1s"), "connect_timeout"),
        (format!("redis+sentinel://{hosts}/?read_from=slave"), "read_from"),
        (format!("redis+sentinel://{hosts}/?wait_replicas=1"), "wait_timeout"),
        (format!("redis+sentinel://{hosts}/?retry_non_idempotent=1"), "retry_non_idempotent"),
        (format!("redis+sentinel://{hosts}/?sentinel_password=pw-SECRET&bogus=1"), "query"),
        (format!("redis+sentinel://{hosts}/?sentinel_password=pw&-SECRET"), "query"),
    ];
    for (url, want) in cases {
        let started = std::time::Instant::now();
        match DisredisClient::from_url(&url).await {
            Err(e @ Error::BadUrl { .. }) => {
                let text = e.to_string();
                assert!(!text.contains("SECRET"), "{url}: echoed the password: {text}");
                assert!(text.starts_with("bad Sentinel URL: "), "{text}");
                let Error::BadUrl { part, .. } = e else { unreachable!() };
                assert_eq!(part, want, "{url}: {text}");
            }
            other => panic!("{url}: expected BadUrl({want}), got {other:?}"),
        }
        assert!(started.elapsed().as_millis() < 100, "{url}: a bad URL must fail before any I/O");
    }

    // A well-formed URL naming a master the Sentinels don't monitor is the usual typed error.
    let err = DisredisClient::from_url(&format!("redis+sentinel://{hosts}/?masters=shard-a,nope")).await;
    assert!(matches!(&err, Err(Error::UnknownMaster { missing, .. }) if missing == &["nope"]), "{err:?}");
}
