//! Unit tests for the error type: texts and kinds (every variant across the
//! redis traits: `redis_error/tests.rs`).
use super::*;
use redis::ErrorKind;

#[test]
fn cross_shard_names_command_and_shards_and_converts() {
    let e = Error::CrossShard { command: "RENAME".into(), shards: vec!["shard-a".into(), "shard-b".into()] };
    let text = e.to_string();
    assert!(text.contains("RENAME") && text.contains("shard-a") && text.contains("shard-b"));
    let r: RedisError = e.into();
    assert!(r.to_string().contains("shard-b"), "{r}");
    assert!(matches!(Error::from(r), Error::CrossShard { shards, .. } if shards.len() == 2));
}

#[test]
fn no_sentinel_lists_every_address_and_cause() {
    let e = Error::NoSentinel {
        tried: vec![
            SentinelFailure { addr: "127.0.0.1:1".into(), cause: "connection refused".into() },
            SentinelFailure { addr: "[::1]:2".into(), cause: "timed out".into() },
        ],
    };
    assert_eq!(e.to_string(), "no Sentinel answered: 127.0.0.1:1: connection refused; [::1]:2: timed out");
}

#[test]
fn auth_names_node_and_role_and_keeps_its_kind() {
    let e = Error::Auth { node: "127.0.0.1:7000".into(), role: "sentinel", detail: "WRONGPASS".into() };
    assert_eq!(e.to_string(), "authentication failed at sentinel 127.0.0.1:7000: WRONGPASS");
    assert_eq!(e.kind(), ErrorKind::AuthenticationFailed);
    let r: RedisError = e.into();
    assert!(r.to_string().contains("127.0.0.1:7000"), "{r}");
    assert_eq!(Error::from(r).kind(), ErrorKind::AuthenticationFailed);
}

#[test]
fn partially_applied_names_every_shard() {
    let e = Error::PartiallyApplied {
        command: "MSET".into(),
        applied: vec!["shard-a".into()],
        failed: vec![ShardFailure {
            shard: "shard-b".into(),
            error: Error::NoReplica { shard: "shard-b".into() },
        }],
    };
    let text = e.to_string();
    assert!(text.starts_with("MSET took effect on shard(s) [\"shard-a\"] but failed on shard-b: "), "{text}");
    assert_eq!(e.kind(), ErrorKind::Io);
    let r: RedisError = e.into();
    assert!(r.to_string().contains("shard-b"), "{r}");
}

#[test]
fn redis_errors_pass_through_unchanged() {
    let inner = RedisError::from((ErrorKind::Io, "boom"));
    let back: RedisError = Error::from(inner).into();
    assert_eq!(back.kind(), ErrorKind::Io);
    assert!(back.to_string().contains("boom"));
}
