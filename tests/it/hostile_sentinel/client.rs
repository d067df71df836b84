//! The client side of `hostile_sentinel.rs`: connecting to fakes within a time
//! limit, and what a refused connection must look like.

use std::time::Duration;

use disredis::{DisredisClient, Error, SentinelFailure};

use super::fake::FakeSentinel;

/// The Sentinel timeout of most tests: long enough that even a busy machine
/// gets the fake's hostile reply rather than a timeout (tests of the default
/// 250 ms timeout say so).
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Never a hang: every connect gets this long (plus its `sentinel_timeout`
/// when a test raises it).
pub const LIMIT: Duration = Duration::from_secs(10);

pub async fn connect(addrs: &[&str], sentinel_timeout: Option<Duration>) -> disredis::Result<DisredisClient> {
    let mut b = DisredisClient::builder().sentinels(addrs);
    if let Some(t) = sentinel_timeout {
        b = b.sentinel_timeout(t);
    }
    let limit = LIMIT + sentinel_timeout.unwrap_or_default();
    tokio::time::timeout(limit, b.connect())
        .await
        .unwrap_or_else(|_| panic!("connect to {addrs:?} did not return within {limit:?}"))
}

/// Connects to `fake` alone and expects `NoSentinel` naming it; returns the cause.
pub async fn expect_no_sentinel(fake: &FakeSentinel, sentinel_timeout: Option<Duration>) -> String {
    let r = connect(&[&fake.addr], sentinel_timeout).await;
    match r {
        Err(Error::NoSentinel { tried }) => {
            let [SentinelFailure { addr, cause }] = tried.as_slice() else {
                panic!("expected one failure, got {tried:?}")
            };
            assert_eq!(addr, &fake.addr);
            eprintln!("NoSentinel cause: {}", cause.chars().take(300).collect::<String>());
            cause.clone()
        }
        Err(other) => panic!("expected NoSentinel, got {other:?}"),
        Ok(c) => panic!("connected to a hostile Sentinel: shards {:?}", c.shard_names()),
    }
}

/// Expects `NoSentinel` with a cause that is a malformed `SENTINEL MASTERS` reply
/// from the fake mentioning every one of `details`.
pub async fn expect_malformed_masters(fake: &FakeSentinel, details: &[&str]) {
    let cause = expect_no_sentinel(fake, Some(TIMEOUT)).await;
    let wanted = format!("Sentinel {} sent a malformed reply to SENTINEL MASTERS", fake.addr);
    assert!(cause.starts_with(&wanted), "cause {cause:?} is not {wanted:?}…");
    for d in details {
        assert!(cause.contains(d), "cause {cause:?} does not mention {d:?}");
    }
    assert_eq!(fake.count("SENTINEL MASTERS"), 1, "{:?}", fake.commands());
}
