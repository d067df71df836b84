//! Properties of the hash-tag rule and the rendezvous ring ([`crate::hashing`]).

use proptest::prelude::*;

use crate::hashing::{Rendezvous, hash_tag, key_crc, score};
use crate::prop::{chars, config, re};

/// Keys with many braces, plus fully arbitrary bytes.
fn key_bytes() -> impl Strategy<Value = Vec<u8>> {
    let braces = prop::collection::vec(
        prop_oneof![3 => Just(b'{'), 3 => Just(b'}'), 2 => Just(b'a'), 1 => Just(0u8), 1 => any::<u8>()],
        0..24,
    );
    prop_oneof![braces, prop::collection::vec(any::<u8>(), 0..64)]
}

/// An independent statement of the Redis Cluster rule: split at the first `{`;
/// if a `}` follows, the part before it is the tag when non-empty.
fn model_hash_tag(key: &[u8]) -> &[u8] {
    let mut halves = key.splitn(2, |&b| b == b'{');
    let _before = halves.next();
    if let Some(after) = halves.next()
        && after.contains(&b'}')
    {
        let inner = after.split(|&b| b == b'}').next().unwrap_or_default();
        if !inner.is_empty() {
            return inner;
        }
    }
    key
}

/// Whether `key` has a `{`, then a later `}`, with at least one byte between.
fn has_braced_content(key: &[u8]) -> bool {
    key.iter().enumerate().any(|(i, &b)| b == b'{' && key[i + 1..].iter().skip(1).any(|&c| c == b'}'))
}

/// Master names with plenty of collisions, so duplicates are common.
fn names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop_oneof![re("shard-[a-e]"), re("[a-z]{0,3}"), chars(6)], 1..12)
}

proptest! {
    #![proptest_config(config())]

    /// `hash_tag` never panics, returns a sub-slice of the key, agrees with the
    /// model, is idempotent, and is the whole key unless there is `{…}` content.
    #[test]
    fn hash_tag_is_a_sub_slice_and_matches_the_model(key in key_bytes()) {
        let tag = hash_tag(&key);
        let (base, end) = (key.as_ptr() as usize, key.as_ptr() as usize + key.len());
        let start = tag.as_ptr() as usize;
        prop_assert!(start >= base && start + tag.len() <= end, "not a sub-slice of the key");
        prop_assert_eq!(tag, model_hash_tag(&key));
        prop_assert_eq!(hash_tag(tag), tag, "not idempotent");
        if tag.len() != key.len() {
            prop_assert!(has_braced_content(&key));
            let at = start - base;
            prop_assert!(!tag.is_empty());
            prop_assert_eq!(key[at - 1], b'{');
            prop_assert_eq!(key[at + tag.len()], b'}');
            prop_assert!(!key[..at - 1].contains(&b'{'), "not the first '{{'");
            prop_assert!(!tag.contains(&b'}'), "not the first '}}' after it");
        }
        if !has_braced_content(&key) {
            prop_assert_eq!(tag, &key[..]);
        }
    }

    /// `prefix{tag}suffix` hashes exactly `tag` when the prefix has no `{` and the
    /// tag is non-empty without `}`: keys under one tag share a shard.
    #[test]
    fn a_braced_tag_is_what_is_hashed(
        prefix in prop::collection::vec(any::<u8>().prop_filter("no '{'", |b| *b != b'{'), 0..8),
        tag in prop::collection::vec(any::<u8>().prop_filter("no '}'", |b| *b != b'}'), 1..12),
        suffix in key_bytes(),
        names in names(),
    ) {
        let key = [&prefix[..], b"{", &tag[..], b"}", &suffix[..]].concat();
        prop_assert_eq!(hash_tag(&key), &tag[..]);
        let ring = Rendezvous::new(names).expect("non-empty");
        prop_assert_eq!(ring.shard_for(&key), ring.shard_for(&tag));
    }

    /// The shard of a key depends on the *set* of names only (not their order
    /// or repetitions), is always a valid index, and is the highest-scoring name
    /// (ties to the smaller name).
    #[test]
    fn ring_is_order_and_duplicate_independent(
        (names, shuffled) in names().prop_flat_map(|names| {
            let dups = prop::collection::vec(prop::sample::select(names.clone()), 0..6);
            (Just(names.clone()), dups.prop_map(move |d| [names.clone(), d].concat()).prop_shuffle())
        }),
        keys in prop::collection::vec(key_bytes(), 1..8),
    ) {
        let a = Rendezvous::new(names.clone()).expect("non-empty");
        let b = Rendezvous::new(shuffled).expect("non-empty");
        prop_assert_eq!(a.names(), b.names());
        let mut distinct = names.clone();
        distinct.sort();
        distinct.dedup();
        prop_assert_eq!(a.names(), &distinct[..]);
        for key in &keys {
            let i = a.shard_index(key);
            prop_assert!(i < a.names().len());
            prop_assert_eq!(i, b.shard_index(key));
            prop_assert_eq!(a.shard_for(key), b.shard_for(key));
            let k = key_crc(key);
            let best = distinct
                .iter()
                .max_by(|x, y| {
                    let on = |n: &String| score(k, crc32fast::hash(n.as_bytes()));
                    on(x).cmp(&on(y)).then_with(|| y.cmp(x))
                })
                .expect("non-empty");
            prop_assert_eq!(a.shard_for(key), best.as_str());
        }
    }
}
