//! What the property tests share (proptest, a dev-dependency): the number of
//! cases and the string strategies. The properties themselves live beside the
//! code they test, each in a `prop` module: addresses (`addr/prop.rs`), the
//! hash-tag rule and the rendezvous ring (`hashing/prop.rs`), and the Sentinel
//! reply parsers (`sentinel/reply/prop.rs`, with the reply generators in
//! `sentinel/reply/prop/replies.rs`).
//!
//! Each property runs [`DEFAULT_CASES`] cases; set `PROPTEST_CASES` for a longer
//! campaign, e.g. `PROPTEST_CASES=200000 cargo test --release --lib ::prop::`.
//! Failures are not persisted to files: a failing input found here belongs in a
//! named regression test next to the property that found it (see the end of
//! `sentinel/reply/prop.rs`).

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
pub(crate) const DEFAULT_CASES: u32 = 2_000;

/// A string strategy, its regex compiled once (a `&str` strategy recompiles it
/// for every case).
pub(crate) fn re(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    proptest::string::string_regex(pattern).expect("valid regex")
}

/// Up to `max` arbitrary chars, any Unicode scalar value (cheaper to generate
/// than a regex, and control characters included).
pub(crate) fn chars(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

pub(crate) fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_CASES);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}
