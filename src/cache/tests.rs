use std::time::{Duration, Instant};

use redis::{PushInfo, PushKind, Value};

use super::*;
use crate::config::CacheConfig;

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn cache() -> ClientCache {
    ClientCache::new(&CacheConfig::new())
}

const GET_A: &[&[u8]] = &[b"GET", b"a"];

#[test]
fn the_cacheable_commands_are_sorted_known_single_key_reads() {
    assert!(CACHEABLE.windows(2).all(|w| w[0] < w[1]), "sorted, for binary_search");
    for name in CACHEABLE {
        let mut args: Vec<&[u8]> = vec![name.as_bytes(), b"k"];
        // Enough arguments for each shape; only the key position matters.
        args.extend([b"0".as_slice(), b"1", b"2"]);
        let mut keys = Vec::new();
        let info =
            crate::keys::visit_keys(&args, |k| keys.push(k)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(info.name, *name);
        assert!(info.read_only && !info.blocking, "{name} is a non-blocking read");
        assert_eq!(keys.first(), Some(&b"k".as_slice()), "{name}'s key is its first argument");
    }
    for name in ["TTL", "PTTL", "SRANDMEMBER", "HRANDFIELD", "SSCAN", "BLPOP", "SET", "MGET"] {
        assert!(!cacheable_command(name), "{name}");
    }
}

#[test]
fn only_one_key_reads_under_the_prefixes_are_cacheable() {
    let all = cache();
    assert_eq!(all.cacheable("GET", GET_A), Some(b"a".as_slice()));
    assert_eq!(all.cacheable("EXISTS", &[b"EXISTS", b"a"]), Some(b"a".as_slice()));
    assert_eq!(all.cacheable("EXISTS", &[b"EXISTS", b"a", b"b"]), None, "two keys");
    assert_eq!(all.cacheable("SET", &[b"SET", b"a", b"1"]), None);
    let some = ClientCache::new(&CacheConfig::new().prefixes(["user:"]));
    assert_eq!(some.cacheable("GET", &[b"GET", b"user:1"]), Some(b"user:1".as_slice()));
    assert_eq!(some.cacheable("GET", GET_A), None);
}

#[test]
fn a_stored_reply_is_served_for_the_same_command_epoch_and_time_only() {
    let c = cache();
    let now = Instant::now();
    assert_eq!(c.get(b"a", GET_A, 7, now), None);
    assert!(c.store(b"a", GET_A, &bulk("1"), 7, c.stamp(b"a"), now));
    assert_eq!(c.get(b"a", GET_A, 7, now), Some(bulk("1")));
    assert_eq!(c.get(b"a", &[b"get", b"a"], 7, now), Some(bulk("1")), "the name in any case");
    assert_eq!(c.get(b"a", GET_A, 8, now), None, "another connection's epoch");
    assert_eq!(c.get(b"a", GET_A, 0, now), None, "no tracking connection");
    assert_eq!(c.get(b"a", &[b"STRLEN", b"a"], 7, now), None, "another command");
    assert_eq!(c.get(b"a", GET_A, 7, now + DEFAULT_TTL_FOR_TESTS), None, "past the client TTL");
    // Another command on the same key is kept beside it; the same one replaced.
    let hget: &[&[u8]] = &[b"HGET", b"a", b"f"];
    assert!(c.store(b"a", hget, &bulk("x"), 7, c.stamp(b"a"), now));
    assert!(c.store(b"a", GET_A, &bulk("2"), 7, c.stamp(b"a"), now));
    assert_eq!((c.get(b"a", GET_A, 7, now), c.get(b"a", hget, 7, now)), (Some(bulk("2")), Some(bulk("x"))));
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.entries), (4, 5, 1));
}

const DEFAULT_TTL_FOR_TESTS: Duration = crate::config::DEFAULT_CACHE_TTL;

#[test]
fn a_read_crossed_by_an_invalidation_of_its_key_is_not_stored() {
    let c = cache();
    let now = Instant::now();
    let before = c.stamp(b"a");
    c.evict(b"a"); // the invalidation arrives while the read is in flight
    assert!(!c.store(b"a", GET_A, &bulk("old"), 7, before, now));
    assert_eq!(c.get(b"a", GET_A, 7, now), None);
    // A read noted after it is stored.
    assert!(c.store(b"a", GET_A, &bulk("new"), 7, c.stamp(b"a"), now));
    assert_eq!(c.get(b"a", GET_A, 7, now), Some(bulk("new")));
}

#[test]
fn an_invalidation_evicts_every_key_it_names_and_a_null_one_counts_a_flush() {
    let c = cache();
    let now = Instant::now();
    for k in ["a", "b", "c"] {
        let args: &[&[u8]] = &[b"GET", k.as_bytes()];
        assert!(c.store(k.as_bytes(), args, &bulk(k), 7, c.stamp(k.as_bytes()), now));
    }
    let push = |data| PushInfo { kind: PushKind::Invalidate, data };
    c.on_push(&push(vec![Value::Array(vec![bulk("a"), bulk("b")])]));
    assert_eq!(c.get(b"a", GET_A, 7, now), None);
    assert_eq!(c.get(b"b", &[b"GET", b"b"], 7, now), None);
    assert_eq!(c.get(b"c", &[b"GET", b"c"], 7, now), Some(bulk("c")));
    c.on_push(&push(vec![Value::Nil]));
    c.on_push(&PushInfo { kind: PushKind::Disconnection, data: vec![] });
    c.on_push(&PushInfo { kind: PushKind::Message, data: vec![bulk("ch"), bulk("m")] });
    let s = c.stats();
    assert_eq!((s.invalidations, s.flushes), (2, 2));
}

#[test]
fn the_bytes_stay_within_the_bound() {
    let c = ClientCache::new(&CacheConfig::new().max_bytes(64 << 10));
    let now = Instant::now();
    let value = bulk(&"v".repeat(100));
    for i in 0..10_000 {
        let key = format!("key:{i}");
        let args: &[&[u8]] = &[b"GET", key.as_bytes()];
        c.store(key.as_bytes(), args, &value, 7, c.stamp(key.as_bytes()), now);
    }
    let s = c.stats();
    assert!(s.bytes <= 64 << 10, "{s:?}");
    assert!(s.entries > 100, "most of the bound is used: {s:?}");
}

#[test]
fn value_sizes_count_every_element() {
    let flat = value_size(&bulk("abcd"));
    let nested = value_size(&Value::Array(vec![bulk("abcd"), bulk("abcd")]));
    assert!(flat >= 4 && nested >= 2 * flat, "{flat} {nested}");
    let map = value_size(&Value::Map(vec![(bulk("k"), bulk("v"))]));
    assert!(map >= 2, "{map}");
}

#[test]
fn an_entry_answers_exactly_its_command() {
    let args: &[&[u8]] = &[b"HGET", b"key", b"field"];
    let e = Entry { args: pack_args(args), value: Value::Nil, epoch: 1, until: Instant::now(), weight: 0 };
    assert!(e.answers(args));
    assert!(e.answers(&[b"hget", b"other key is not compared", b"field"]));
    assert!(!e.answers(&[b"HGET", b"key", b"fiel"]));
    assert!(!e.answers(&[b"HGET", b"key", b"field", b""]));
    assert!(!e.answers(&[b"HGET", b"key"]));
    assert!(!e.answers(&[b"HGETX", b"key", b"field"]));
}
