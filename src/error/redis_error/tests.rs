//! Every variant across the `redis` traits and back, and what redis-rs's
//! predicates say about each on the way.
use std::time::Duration;

use redis::{ErrorKind, RedisError};

use super::super::{SentinelAnswer, SentinelFailure, ShardFailure};
use super::*;

fn io(kind: io::ErrorKind) -> RedisError {
    io::Error::from(kind).into()
}

/// One value of every variant (a new one must be added here), with the
/// `retry_method()` its `RedisError` reports.
fn samples() -> Vec<(Error, &'static str)> {
    let s = |v: &str| v.to_owned();
    let cross = Error::CrossShard { command: s("RENAME"), shards: vec![s("shard-a"), s("shard-b")] };
    vec![
        (Error::Config { field: "db", value: s("-1"), reason: "database numbers start at 0" }, "NoRetry"),
        (Error::BadUrl { part: "scheme", detail: s("not redis+sentinel") }, "NoRetry"),
        (
            Error::NoSentinel {
                tried: vec![SentinelFailure { addr: s("127.0.0.1:1"), cause: s("connection refused") }],
            },
            "Reconnect",
        ),
        (
            Error::NoQuorum {
                shard: s("shard-a"),
                needed: 2,
                answers: vec![
                    SentinelAnswer { sentinel: s("127.0.0.1:1"), said: Ok(s("127.0.0.1:7000")) },
                    SentinelAnswer { sentinel: s("127.0.0.1:2"), said: Err(s("timed out")) },
                ],
            },
            "Reconnect",
        ),
        (
            Error::UnknownMaster { sentinel: s("127.0.0.1:1"), missing: vec![s("x")], known: vec![s("y")] },
            "NoRetry",
        ),
        (Error::NoMasters { sentinel: s("127.0.0.1:1") }, "NoRetry"),
        (
            Error::SentinelReply {
                sentinel: s("127.0.0.1:1"),
                command: "SENTINEL MASTERS",
                detail: s("nil"),
            },
            "RetryImmediately",
        ),
        (Error::NotMaster { shard: s("shard-a"), addr: s("127.0.0.1:7000"), role: s("slave") }, "Reconnect"),
        (
            Error::FailoverTimeout {
                shard: s("shard-a"),
                elapsed: Duration::from_millis(1500),
                last: Box::new(Error::Redis(io(io::ErrorKind::ConnectionRefused))),
            },
            "RetryImmediately",
        ),
        (cross.clone(), "NoRetry"),
        (Error::NoKey { command: s("INFO") }, "NoRetry"),
        (Error::SharedConnection { command: s("SELECT"), instead: "use Builder::db" }, "NoRetry"),
        (Error::WrongShard { command: s("GET"), shard: s("shard-a"), owner: s("shard-b") }, "NoRetry"),
        (
            Error::ShardDown {
                shard: s("shard-b"),
                down_for: Duration::from_millis(2500),
                last: Box::new(Error::Redis(io(io::ErrorKind::ConnectionRefused))),
            },
            "Reconnect",
        ),
        (Error::Closed, "NoRetry"),
        (Error::UnknownShard { name: s("z"), known: vec![s("shard-a")] }, "NoRetry"),
        (Error::BadCommand { command: s("EVAL"), detail: s("numkeys is not a number") }, "NoRetry"),
        (
            Error::Ambiguous {
                command: s("INCR"),
                shard: s("shard-a"),
                cause: io(io::ErrorKind::ConnectionReset),
            },
            "NoRetry",
        ),
        (Error::InsideRuntime, "NoRetry"),
        (Error::NotReplicated { command: s("SET"), shard: s("shard-a"), acked: 0, wanted: 1 }, "NoRetry"),
        (Error::Auth { node: s("127.0.0.1:7000"), role: "master", detail: s("WRONGPASS") }, "NoRetry"),
        (Error::Tls { node: s("127.0.0.1:7000"), role: "master", detail: s("UnknownIssuer") }, "NoRetry"),
        (Error::NoReplica { shard: s("shard-a") }, "Reconnect"),
        (Error::PubSubShard { shard: s("shard-a"), detail: s("PING: no answer within 1s") }, "Reconnect"),
        (
            Error::PartiallyApplied {
                command: s("MSET"),
                applied: vec![s("shard-a")],
                failed: vec![ShardFailure { shard: s("shard-b"), error: cross }],
            },
            "NoRetry",
        ),
        (Error::BadRing { master: s("shard-a"), detail: s("version x") }, "NoRetry"),
        (Error::RingChanged { shard: s("shard-a") }, "RetryImmediately"),
        (Error::Reshard { reason: s("a change is in progress") }, "NoRetry"),
        (Error::Redis(io(io::ErrorKind::BrokenPipe)), "Reconnect"),
    ]
}

#[test]
fn every_variant_comes_back_whole() {
    let all = samples();
    let mut names: Vec<&str> = all.iter().map(|(e, _)| e.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 29, "one sample per variant: {names:?}");
    for (e, _) in &all {
        let r = RedisError::from(e.clone());
        assert_eq!(r.to_string(), e.to_string(), "{}: the text is the error's own", e.name());
        // Twice across, as a value passed through two layers of `redis` traits would be.
        let back = Error::from(RedisError::from(Error::from(r.clone())));
        assert_eq!(format!("{back:?}"), format!("{e:?}"), "{}", e.name());
        assert_eq!(back.kind(), e.kind(), "{}", e.name());
    }
}

#[test]
fn predicates_say_what_a_retry_layer_may_do() {
    for (e, method) in samples() {
        let r = RedisError::from(e.clone());
        assert_eq!(format!("{:?}", r.retry_method()), method, "{}", e.name());
        if method == "NoRetry" {
            assert!(!r.is_connection_dropped() && !r.is_unrecoverable_error(), "{}", e.name());
            assert!(!r.is_timeout() && !r.is_connection_refusal(), "{}", e.name());
        }
        if !matches!(e, Error::Redis(_)) {
            assert_eq!(r.kind(), ErrorKind::Io, "{}: the carrier is an I/O error", e.name());
        }
    }
    let timeout = RedisError::from(samples().swap_remove(8).0);
    assert!(timeout.is_timeout() && !timeout.is_connection_dropped());
}

#[test]
fn no_text_becomes_a_typed_error() {
    let cross = Error::CrossShard { command: "RENAME".into(), shards: vec!["a".into(), "b".into()] };
    let text = cross.to_string();
    let server = redis::make_extension_error("CROSSSHARD".into(), Some(text.clone()));
    let general = RedisError::from((ErrorKind::Client, "disredis: cross-shard command", text.clone()));
    let io_text = RedisError::from(io::Error::other(text.clone()));
    for fake in [server, general, io_text] {
        assert!(matches!(Error::from(fake), Error::Redis(_)));
    }
}

#[test]
fn a_redis_error_inside_a_typed_one_stays_a_redis_error() {
    let cause = io(io::ErrorKind::ConnectionReset);
    let e = Error::Ambiguous { command: "INCR".into(), shard: "s".into(), cause };
    match Error::from(RedisError::from(e)) {
        Error::Ambiguous { cause, .. } => assert!(cause.is_connection_dropped()),
        other => panic!("{other:?}"),
    }
}
