//! Parsing `redis+sentinel://` URLs into a `Config`, and every kind of bad URL.

use std::time::Duration;

use super::text::decode;
use super::*;
use crate::config::Config;

fn config(url: &str) -> Config {
    Builder::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}")).build().expect("valid")
}

/// The `part` of the `BadUrl` error for `url`, after checking its text.
fn part_of(url: &str) -> &'static str {
    match Builder::from_url(url) {
        Err(e @ Error::BadUrl { .. }) => {
            let text = e.to_string();
            assert!(!text.contains("pw-SECRET"), "{url} echoed a password: {text}");
            let Error::BadUrl { part, .. } = e else { unreachable!() };
            part
        }
        other => panic!("{url}: expected BadUrl, got {other:?}"),
    }
}

#[test]
fn every_parameter_reaches_the_config() {
    let c = config(
        "redis+sentinel://app:p%40ss%3Aw0rd@10.0.0.1:26379,host2:26380,[::1]:26381/\
         ?masters=shard-a,shard-b&db=3&sentinel_username=sen&sentinel_password=s%26p\
         &connect_timeout=1500&response_timeout=700&sentinel_timeout=300&sentinel_quorum=2&failover_deadline=20000&shard_down_after=4000\
         &read_from=prefer-replica&wait_replicas=1&wait_timeout=250&retry_non_idempotent=true",
    );
    let sentinels: Vec<String> = c.sentinels.iter().map(ToString::to_string).collect();
    assert_eq!(sentinels, ["10.0.0.1:26379", "host2:26380", "[::1]:26381"]);
    assert_eq!(c.masters, Some(vec!["shard-a".to_owned(), "shard-b".to_owned()]));
    assert_eq!(c.db, 3);
    assert_eq!(c.redis_auth.username.as_deref(), Some("app"));
    assert_eq!(c.redis_auth.password.as_ref().map(|p| p.expose()), Some("p@ss:w0rd"));
    assert_eq!(c.sentinel_auth.username.as_deref(), Some("sen"));
    assert_eq!(c.sentinel_auth.password.as_ref().map(|p| p.expose()), Some("s&p"));
    assert_eq!(c.connect_timeout, Duration::from_millis(1500));
    assert_eq!(c.response_timeout, Some(Duration::from_millis(700)));
    assert_eq!(c.sentinel_timeout, Duration::from_millis(300));
    assert_eq!(c.sentinel_quorum, 2);
    assert_eq!(c.failover_deadline, Duration::from_secs(20));
    assert_eq!(c.shard_down_after, Some(Duration::from_secs(4)));
    assert_eq!(config("redis+sentinel://h:1?shard_down_after=none").shard_down_after, None);
    assert_eq!(c.read_from, ReadFrom::PreferReplica);
    assert_eq!(c.wait_replicas, Some((1, Duration::from_millis(250))));
    assert!(c.retry_non_idempotent);
}

#[test]
fn defaults_when_the_url_says_nothing() {
    let c = config("redis+sentinel://h1");
    assert_eq!(c.sentinels[0].to_string(), "h1:26379", "default Sentinel port");
    assert_eq!(c.masters, None);
    assert_eq!(c.db, 0);
    assert!(c.redis_auth.password.is_none() && c.sentinel_auth.password.is_none());
    assert_eq!(c.response_timeout, Some(crate::DEFAULT_RESPONSE_TIMEOUT));
    assert_eq!(c.read_from, ReadFrom::Master);
    assert_eq!(c.wait_replicas, None);
    assert_eq!(c.sentinel_quorum, crate::DEFAULT_SENTINEL_QUORUM);
    assert!(!c.retry_non_idempotent);
    assert_eq!(config("REDIS+SENTINEL://[::1]/").sentinels[0].to_string(), "[::1]:26379");
}

#[test]
fn userinfo_forms_and_db_in_the_path() {
    let c = config("redis+sentinel://:only-pass@h:1/5");
    assert_eq!((c.redis_auth.username.as_deref(), c.db), (None, 5));
    assert_eq!(c.redis_auth.password.as_ref().map(|p| p.expose()), Some("only-pass"));
    let c = config("redis+sentinel://only-user@h:1/?");
    assert_eq!(c.redis_auth.username.as_deref(), Some("only-user"));
    assert!(c.redis_auth.password.is_none());
    // An unencoded '@' inside the password: the last '@' before the host list splits.
    let c = config("redis+sentinel://u:a@b@h:1");
    assert_eq!(c.redis_auth.password.as_ref().map(|p| p.expose()), Some("a@b"));
    assert_eq!(config("redis+sentinel://h:1?response_timeout=none").response_timeout, None);
    assert_eq!(config("redis+sentinel://h:1?read_from=replica").read_from, ReadFrom::Replica);
    assert_eq!(config("redis+sentinel://h:1?read_from=master&&db=1").db, 1, "empty segments are skipped");
}

#[test]
fn sentinel_url_exposes_sentinels_and_their_credentials() {
    let u = SentinelUrl::parse("redis+sentinel://h:1,h:2?sentinel_username=s&sentinel_password=pw-SECRET")
        .expect("valid");
    assert_eq!(u.sentinels(), ["h:1", "h:2"]);
    assert_eq!((u.sentinel_username(), u.sentinel_password()), (Some("s"), Some("pw-SECRET")));
    let debug = format!("{u:?}");
    assert!(!debug.contains("pw-SECRET") && debug.contains("<redacted>"), "{debug}");
}

#[test]
fn each_bad_part_is_named() {
    let cases: &[(&str, &str)] = &[
        ("redis://h:1", "scheme"),
        ("h:1,h:2", "scheme"),
        ("redis+sentinel://", "host list"),
        ("redis+sentinel://h:1,,h:2", "host list"),
        ("redis+sentinel://h:0", "host list"),
        ("redis+sentinel://h:port", "host list"),
        ("redis+sentinel://::1:26379", "host list"),
        ("redis+sentinel://[nope]:1", "host list"),
        ("redis+sentinel://h%41:1", "host list"),
        ("redis+sentinel://u%zz:x@h:1", "userinfo"),
        ("redis+sentinel://h:1/x", "path"),
        ("redis+sentinel://h:1/-1", "path"),
        ("redis+sentinel://h:1#shard-a", "fragment"),
        ("redis+sentinel://h:1?mastrs=a", "query"),
        ("redis+sentinel://h:1?masters=a,,b", "masters"),
        ("redis+sentinel://h:1?masters=a%20b", "masters"),
        ("redis+sentinel://h:1?masters", "masters"),
        ("redis+sentinel://h:1?db=x", "db"),
        ("redis+sentinel://h:1?db=-2", "db"),
        ("redis+sentinel://h:1?db=1&db=2", "db"),
        ("redis+sentinel://h:1/1?db=1", "db"),
        ("redis+sentinel://h:1?connect_timeout=0", "connect_timeout"),
        ("redis+sentinel://h:1?response_timeout=1s", "response_timeout"),
        ("redis+sentinel://h:1?sentinel_timeout=+5", "sentinel_timeout"),
        ("redis+sentinel://h:1?failover_deadline=-1", "failover_deadline"),
        ("redis+sentinel://h:1?read_from=replicas", "read_from"),
        ("redis+sentinel://h:1?sentinel_quorum=0", "sentinel_quorum"),
        ("redis+sentinel://h:1?sentinel_quorum=+2", "sentinel_quorum"),
        ("redis+sentinel://h:1?sentinel_quorum=majority", "sentinel_quorum"),
        ("redis+sentinel://h:1?wait_replicas=0&wait_timeout=1", "wait_replicas"),
        ("redis+sentinel://h:1?wait_replicas=1", "wait_timeout"),
        ("redis+sentinel://h:1?wait_timeout=10", "wait_replicas"),
        ("redis+sentinel://h:1?retry_non_idempotent=yes", "retry_non_idempotent"),
        ("redis+sentinel://h:1?sentinel_username=%", "sentinel_username"),
    ];
    for (url, part) in cases {
        assert_eq!(part_of(url), *part, "{url}");
    }
    let Err(e) = Builder::from_url("redis+sentinel://h:1?mastrs=a") else { panic!() };
    assert!(e.to_string().contains("\"mastrs\"") && e.to_string().contains("masters"), "{e}");
    assert_eq!(e.kind(), redis::ErrorKind::InvalidClientConfig);
    let Err(e) = Builder::from_url("redis+sentinel://h:1,h:port") else { panic!() };
    assert!(e.to_string().contains("entry 2 \"h:port\""), "{e}");
}

#[test]
fn passwords_are_never_echoed() {
    // `part_of` asserts that the error text has no "pw-SECRET" in it.
    let cases: &[(&str, &str)] = &[
        ("redis+sentinel://u:pw-SECRET%zz@h:1", "userinfo"),
        ("redis+sentinel://u:pw-SECRET%C3@h:1", "userinfo"),
        // Unencoded '/', '?', '#' in the password put its '@' after the host list.
        ("redis+sentinel://u:pw-SECRET/x@h:1", "userinfo"),
        ("redis+sentinel://u:pw/SECRET@h:1", "userinfo"),
        ("redis+sentinel://u:pw?-SECRET@h:1", "userinfo"),
        ("redis+sentinel://u:pw#-SECRET@h:1", "userinfo"),
        ("pw-SECRET@h:1", "scheme"),
        ("redis+sentinel:/u:pw-SECRET@h:1", "scheme"),
        ("redis+sentinel://u:pw-SECRET@h:0", "host list"),
        ("redis+sentinel://u:pw-SECRET@h:1?bogus=1", "query"),
        ("redis+sentinel://u:pw-SECRET@h:1?db=pw-SECRET", "db"),
        ("redis+sentinel://h:1?sentinel_password=pw-SECRET%zz", "sentinel_password"),
        ("redis+sentinel://h:1?sentinel_password=pw-SECRET&sentinel_password=pw-SECRET", "sentinel_password"),
        ("redis+sentinel://h:1?sentinel_password=pw&-SECRET", "query"),
        ("redis+sentinel://h:1?sentinel_password=pw-SEC#RET", "fragment"),
        ("redis+sentinel://h:1?sentinel_password=pw-SECRET&masters=a%20b", "masters"),
    ];
    for (url, part) in cases {
        assert_eq!(part_of(url), *part, "{url}");
    }
}

#[test]
fn decode_handles_escapes_and_refuses_bad_ones() {
    assert_eq!(decode("a%20b%2Fc+d").as_deref(), Some("a b/c+d"));
    assert_eq!(decode("%E2%82%AC").as_deref(), Some("€"));
    for bad in ["%", "%2", "%g0", "%+1", "%FF"] {
        assert_eq!(decode(bad), None, "{bad}");
    }
}

#[test]
fn the_client_cache_parameters() {
    assert_eq!(part_of("redis+sentinel://h:1?client_cache_ttl=100"), "client_cache_ttl");
    assert_eq!(part_of("redis+sentinel://h:1?client_cache=12"), "client_cache");
    assert_eq!(part_of("redis+sentinel://h:1?client_cache=yes"), "client_cache");
    #[cfg(feature = "cache")]
    {
        use crate::config::{CacheConfig, DEFAULT_CACHE_TTL};
        assert_eq!(config("redis+sentinel://h:1?client_cache=on").client_cache, Some(CacheConfig::new()));
        let c = config("redis+sentinel://h:1?client_cache=4096&client_cache_ttl=250").client_cache.unwrap();
        assert_eq!((c.max_bytes, c.ttl), (4096, Duration::from_millis(250)));
        assert_ne!(c.ttl, DEFAULT_CACHE_TTL);
        // With durability mode: refused, naming the setting.
        assert_eq!(
            part_of("redis+sentinel://h:1?client_cache=on&wait_replicas=1&wait_timeout=10"),
            "client_cache"
        );
    }
    #[cfg(not(feature = "cache"))]
    assert_eq!(part_of("redis+sentinel://h:1?client_cache=on"), "client_cache");
}
