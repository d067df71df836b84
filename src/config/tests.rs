//! Unit tests for the builder and its validation.
use super::*;
use crate::error::{Error, Result};

fn field_of(r: Result<Config>) -> &'static str {
    match r {
        Err(Error::Config { field, .. }) => field,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn build_validates_each_setting() {
    let ok = || Builder::default().sentinels(["127.0.0.1:26379"]);
    assert!(ok().build().is_ok());
    assert_eq!(field_of(Builder::default().build()), "sentinels");
    assert_eq!(field_of(ok().sentinels(["127.0.0.1"]).build()), "sentinels");
    assert_eq!(field_of(ok().masters(Vec::<String>::new()).build()), "masters");
    assert_eq!(field_of(ok().masters(["a b"]).build()), "masters");
    assert_eq!(field_of(ok().db(-1).build()), "db");
    assert_eq!(field_of(ok().connect_timeout(Duration::ZERO).build()), "connect_timeout");
    assert_eq!(field_of(ok().response_timeout(Some(Duration::ZERO)).build()), "response_timeout");
    assert_eq!(field_of(ok().failover_deadline(Duration::ZERO).build()), "failover_deadline");
    assert_eq!(field_of(ok().sentinel_quorum(0).build()), "sentinel_quorum");
    assert_eq!(ok().sentinel_quorum(2).build().unwrap().sentinel_quorum, 2);
    let inverted = ok().backoff(Duration::from_secs(2), Duration::from_secs(1));
    assert_eq!(field_of(inverted.build()), "backoff");
    assert!(ok().response_timeout(None).build().is_ok());
}

#[test]
fn defaults_are_the_named_constants() {
    let c = Builder::default().sentinels(["h:1", "h:1", "h:2"]).build().unwrap();
    assert_eq!(c.sentinels.len(), 2, "duplicates are dropped, order kept");
    assert_eq!(c.sentinels[1].to_string(), "h:2");
    assert_eq!(c.response_timeout, Some(DEFAULT_RESPONSE_TIMEOUT));
    assert_eq!(c.failover_deadline, DEFAULT_FAILOVER_DEADLINE);
    assert_eq!(c.sentinel_quorum, DEFAULT_SENTINEL_QUORUM);
    assert_eq!((c.backoff_min, c.backoff_max), (DEFAULT_BACKOFF_MIN, DEFAULT_BACKOFF_MAX));
    assert_eq!(c.db, 0);
    assert!(!c.retry_non_idempotent);
}

#[test]
fn passwords_never_appear_in_debug() {
    let b =
        Builder::default().sentinels(["h:1"]).password("hunter2-data").sentinel_password("hunter2-sentinel");
    let c = b.clone().build().unwrap();
    for text in [format!("{b:?}"), format!("{c:?}")] {
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"));
    }
}
