//! Properties of the decoder over generated replies: it reads what redis-rs's
//! parser reads from the same bytes, every proper prefix of a frame is
//! incomplete (never an error, never a wrong value) with a `Need` it can
//! make progress on, and it never panics on arbitrary bytes.

use proptest::prelude::*;
use redis::Value;

use super::{Decoded, decode};
use crate::prop::config;

/// A reply and its RESP bytes: every RESP2 and RESP3 type, aggregates
/// (arrays, sets, maps, attributes, pushes) nested up to 4 deep.
fn reply() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(b"+OK\r\n".to_vec()),
        "[a-zA-Z0-9 ]{0,12}".prop_map(|s| format!("+{s}\r\n").into_bytes()),
        any::<i64>().prop_map(|n| format!(":{n}\r\n").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| {
            let mut out = format!("${}\r\n", b.len()).into_bytes();
            out.extend(b);
            out.extend(b"\r\n");
            out
        }),
        Just(b"$-1\r\n".to_vec()),
        Just(b"_\r\n".to_vec()),
        (-1e9f64..1e9).prop_map(|d| format!(",{d}\r\n").into_bytes()),
        any::<bool>().prop_map(|t| if t { b"#t\r\n".to_vec() } else { b"#f\r\n".to_vec() }),
        "[0-9]{1,40}".prop_map(|s| format!("({s}\r\n").into_bytes()),
        "[a-z ]{0,10}".prop_map(|s| format!("={}\r\ntxt:{s}\r\n", s.len() + 4).into_bytes()),
        "[A-Z]{1,8}( [a-z ]{0,10})?".prop_map(|s| format!("-{s}\r\n").into_bytes()),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            agg(b'*', inner.clone(), 1),
            agg(b'~', inner.clone(), 1),
            agg(b'%', inner.clone(), 2),
            // An attribute: a map of metadata, then the value it is about.
            (agg(b'%', inner.clone(), 2), inner.clone()).prop_map(|(mut map, data)| {
                map[0] = b'|';
                [map, data].concat()
            }),
            agg(b'>', inner, 1).prop_map(|mut b| {
                // A push's first element is its kind.
                let n: usize = std::str::from_utf8(&b[1..b.iter().position(|&c| c == b'\r').unwrap()])
                    .unwrap()
                    .parse()
                    .unwrap();
                let head = format!(">{}\r\n$7\r\nmessage\r\n", n + 1).into_bytes();
                let body = b.split_off(b.iter().position(|&c| c == b'\n').unwrap() + 1);
                [head, body].concat()
            }),
        ]
    })
}

/// An aggregate of `kind` over up to 6 elements (`per` values each).
fn agg(kind: u8, inner: impl Strategy<Value = Vec<u8>>, per: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(inner, 0..6 * per).prop_map(move |mut items| {
        items.truncate(items.len() / per * per);
        let mut out = vec![kind];
        out.extend(format!("{}\r\n", items.len() / per).into_bytes());
        out.extend(items.concat());
        out
    })
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits() || x == y,
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reads_what_redis_rs_reads(bytes in reply()) {
        let theirs = redis::parse_redis_value(&bytes).expect("redis-rs parses the generated reply");
        match decode(&bytes) {
            Ok(Decoded::Done(ours, used)) => {
                prop_assert_eq!(used, bytes.len());
                prop_assert!(same(&ours, &theirs), "{:?} vs {:?}", ours, theirs);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn every_prefix_is_incomplete_and_says_how_far_to_read(bytes in reply()) {
        for cut in 0..bytes.len() {
            match decode(&bytes[..cut]) {
                Ok(Decoded::Need(n)) => prop_assert!(n > cut && n <= bytes.len(), "cut {} need {} of {}", cut, n, bytes.len()),
                other => prop_assert!(false, "cut at {}: {:?}", cut, other),
            }
        }
    }

    #[test]
    fn a_stream_of_replies_splits_back_into_them(replies in prop::collection::vec(reply(), 1..6)) {
        let stream = replies.concat();
        let mut at = 0;
        for r in &replies {
            match decode(&stream[at..]) {
                Ok(Decoded::Done(_, used)) => prop_assert_eq!(used, r.len()),
                other => prop_assert!(false, "{:?}", other),
            }
            at += r.len();
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode(&bytes);
    }
}

#[test]
fn a_64_mib_bulk_string_is_read_once_it_is_all_there() {
    let len = 64 << 20;
    let mut bytes = format!("${len}\r\n").into_bytes();
    let head = bytes.len();
    bytes.resize(head + len, b'x');
    bytes.extend(b"\r\n");
    assert_eq!(decode(&bytes[..head + 1000]), Ok(Decoded::Need(bytes.len())));
    match decode(&bytes) {
        Ok(Decoded::Done(Value::BulkString(b), used)) => assert_eq!((b.len(), used), (len, bytes.len())),
        other => panic!("{:?}", other.map(|_| ())),
    }
}
