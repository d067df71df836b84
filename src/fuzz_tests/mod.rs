//! Property-based fuzzing of the pure parsers: addresses ([`NodeAddr`], in
//! `addr.rs`), the hash-tag rule and the rendezvous ring ([`crate::hashing`], in
//! `hashing.rs`), and the Sentinel reply parsers (`sentinel/reply.rs`, in
//! `reply.rs`, with the reply generators in `reply_gen.rs`).
//!
//! Each property runs [`DEFAULT_CASES`] cases; set `PROPTEST_CASES` for a longer
//! campaign, e.g. `PROPTEST_CASES=200000 cargo test --lib fuzz_tests --release`.
//! Failures are not persisted to files: a failing input found here belongs in a
//! named regression test next to the property that found it (see the end of
//! `reply.rs`).
//!
//! This module holds what the properties share: the config, the string
//! strategies, and what a parsed address promises.

mod addr;
mod hashing;
mod reply;
mod reply_gen;

use std::net::Ipv6Addr;

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

use crate::addr::NodeAddr;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 2_000;

/// A string strategy, its regex compiled once (a `&str` strategy recompiles it
/// for every case).
fn re(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    proptest::string::string_regex(pattern).expect("valid regex")
}

/// Up to `max` arbitrary chars, any Unicode scalar value (cheaper to generate
/// than a regex, and control characters included).
fn chars(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_CASES);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Everything a successfully parsed address promises.
fn check_well_formed(a: &NodeAddr) -> Result<(), TestCaseError> {
    prop_assert!(!a.host().is_empty(), "empty host in {a:?}");
    prop_assert_ne!(a.port(), 0);
    prop_assert!(
        !a.host().bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'/' || b == b'@'),
        "forbidden byte in host {:?}",
        a.host()
    );
    if a.host().contains(':') {
        prop_assert!(a.host().parse::<Ipv6Addr>().is_ok(), "host with ':' is not IPv6: {:?}", a.host());
    }
    // Display -> parse gives the same value back.
    let shown = a.to_string();
    match NodeAddr::parse(&shown) {
        Ok(b) => prop_assert_eq!(&b, a, "{:?} did not round-trip", shown),
        Err(e) => prop_assert!(false, "{a:?} displays as {shown:?}, which does not parse: {e}"),
    }
    Ok(())
}
