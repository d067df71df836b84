//! Frames decoded one by one, compared with what redis-rs's parser makes of
//! the same bytes; the malformed ones a server should never send.

use redis::{PushKind, Value, VerbatimFormat};

use super::{Decoded, ProtocolError, decode};

/// Decodes a whole frame, checks it took every byte and that redis-rs reads
/// the same value from it.
fn whole(bytes: &[u8]) -> Value {
    match decode(bytes) {
        Ok(Decoded::Done(v, used)) => {
            assert_eq!(used, bytes.len(), "{:?}", String::from_utf8_lossy(bytes));
            assert_eq!(Ok(v.clone()), redis::parse_redis_value(bytes).map_err(|e| e.to_string()));
            v
        }
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bytes)),
    }
}

fn bad(bytes: &[u8]) -> ProtocolError {
    match decode(bytes) {
        Err(e) => e,
        other => panic!("{:?} decoded: {other:?}", String::from_utf8_lossy(bytes)),
    }
}

#[test]
fn every_type_of_resp2_and_resp3() {
    assert_eq!(whole(b"+OK\r\n"), Value::Okay);
    assert_eq!(whole(b"+PONG\r\n"), Value::SimpleString("PONG".into()));
    assert_eq!(whole(b":-42\r\n"), Value::Int(-42));
    assert_eq!(whole(b": 7 \r\n"), Value::Int(7));
    assert_eq!(whole(b":+7\r\n"), Value::Int(7));
    assert_eq!(whole(b":9223372036854775807\r\n"), Value::Int(i64::MAX));
    assert_eq!(whole(b":-9223372036854775808\r\n"), Value::Int(i64::MIN));
    assert_eq!(whole(b"$5\r\nhe\r\no\r\n"), Value::BulkString(b"he\r\no".to_vec()));
    assert_eq!(whole(b"$0\r\n\r\n"), Value::BulkString(vec![]));
    assert_eq!(whole(b"$-1\r\n"), Value::Nil);
    assert_eq!(whole(b"*-1\r\n"), Value::Nil);
    assert_eq!(whole(b"*0\r\n"), Value::Array(vec![]));
    assert_eq!(
        whole(b"*2\r\n:1\r\n*1\r\n$1\r\nx\r\n"),
        Value::Array(vec![Value::Int(1), Value::Array(vec![Value::BulkString(b"x".to_vec())])])
    );
    assert_eq!(whole(b"_\r\n"), Value::Nil);
    assert_eq!(whole(b",3.5\r\n"), Value::Double(3.5));
    assert_eq!(whole(b",inf\r\n"), Value::Double(f64::INFINITY));
    assert_eq!(whole(b",-inf\r\n"), Value::Double(f64::NEG_INFINITY));
    assert_eq!(whole(b"#t\r\n"), Value::Boolean(true));
    assert_eq!(whole(b"#f\r\n"), Value::Boolean(false));
    assert!(matches!(whole(b"(3492890328409238509324850943850943825024385\r\n"), Value::BigNumber(_)));
    assert_eq!(
        whole(b"=15\r\ntxt:Some string\r\n"),
        Value::VerbatimString { format: VerbatimFormat::Text, text: "Some string".into() }
    );
    assert_eq!(
        whole(b"=7\r\nmkd:a:b\r\n"),
        Value::VerbatimString { format: VerbatimFormat::Markdown, text: "a:b".into() }
    );
    assert_eq!(whole(b"~2\r\n:1\r\n:2\r\n"), Value::Set(vec![Value::Int(1), Value::Int(2)]));
    assert_eq!(
        whole(b"%1\r\n+k\r\n:1\r\n"),
        Value::Map(vec![(Value::SimpleString("k".into()), Value::Int(1))])
    );
    assert_eq!(
        whole(b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n"),
        Value::Attribute {
            data: Box::new(Value::BulkString(b"v".to_vec())),
            attributes: vec![(Value::SimpleString("ttl".into()), Value::Int(3))]
        }
    );
    assert_eq!(
        whole(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n"),
        Value::Push {
            kind: PushKind::Invalidate,
            data: vec![Value::Array(vec![Value::BulkString(b"key".to_vec())])]
        }
    );
    assert_eq!(
        whole(b">1\r\n+custom\r\n"),
        Value::Push { kind: PushKind::Other("custom".into()), data: vec![] }
    );
    assert_eq!(whole(b">0\r\n"), Value::Push { kind: PushKind::Other(String::new()), data: vec![] });
}

#[test]
fn errors_are_redis_rs_server_errors() {
    for line in [
        &b"-ERR unknown command 'X'\r\n"[..],
        b"-READONLY You can't write\r\n",
        b"-MASTERDOWN\r\n",
        b"-BUSYKEY Target key name already exists.\r\n",
    ] {
        assert!(matches!(whole(line), Value::ServerError(_)));
    }
    // A RESP3 blob error is the same error as its RESP2 line.
    let blob = decode(b"!21\r\nSYNTAX invalid syntax\r\n").unwrap();
    let line = redis::parse_redis_value(b"-SYNTAX invalid syntax\r\n").unwrap();
    assert_eq!(blob, Decoded::Done(line, 28));
    match decode(b"-LOADING Redis is loading\r\n") {
        Ok(Decoded::Done(Value::ServerError(e), _)) => {
            assert_eq!((e.code(), e.details()), ("LOADING", Some("Redis is loading")));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_frame_is_taken_alone_from_a_longer_buffer() {
    let two = b"$3\r\nfoo\r\n:1\r\n";
    assert_eq!(decode(two), Ok(Decoded::Done(Value::BulkString(b"foo".to_vec()), 9)));
    assert_eq!(decode(&two[9..]), Ok(Decoded::Done(Value::Int(1), 4)));
}

#[test]
fn an_incomplete_frame_says_how_much_it_needs() {
    assert_eq!(decode(b""), Ok(Decoded::Need(1)));
    assert_eq!(decode(b"+O"), Ok(Decoded::Need(3)));
    // Once a bulk string's header is read, the whole of it.
    assert_eq!(decode(b"$10\r\nab"), Ok(Decoded::Need(17)));
    assert_eq!(decode(b"*2\r\n$3\r\nfoo\r\n$100\r\nx"), Ok(Decoded::Need(121)));
    // A header claiming more than any buffer holds reserves nothing.
    assert_eq!(decode(b"*4000000000\r\n:1\r\n"), Ok(Decoded::Need(18)));
}

#[test]
fn bytes_that_are_not_resp_are_a_protocol_error() {
    assert_eq!(bad(b"?x\r\n").what, "an unknown type byte");
    assert_eq!(bad(b"+OK\n").what, "a line not ended by CRLF");
    assert_eq!(bad(b":12a\r\n").what, "expected an integer");
    assert_eq!(bad(b"$3\r\nfooXX").what, "a bulk string not ended by CRLF");
    assert_eq!(bad(b"#x\r\n").what, "expected a boolean");
    assert_eq!(bad(b",pi\r\n").what, "expected a double");
    assert_eq!(bad(b"%-1\r\n").what, "a map of negative length");
    assert_eq!(bad(b"=3\r\nabc\r\n").what, "a verbatim string without format");
    assert_eq!(bad(b">1\r\n:1\r\n").what, "a push whose kind is not a string");
    assert_eq!(bad(b"+\xff\r\n").what, "a line that is not UTF-8");
    let deep = format!("{}:1\r\n", "*1\r\n".repeat(100));
    assert_eq!(bad(deep.as_bytes()).what, "nested deeper than 100");
    let ok = format!("{}:1\r\n", "*1\r\n".repeat(99));
    assert!(matches!(decode(ok.as_bytes()), Ok(Decoded::Done(..))));
    // The error names the offending frame's offset.
    assert_eq!(bad(b"*2\r\n:1\r\n?\r\n").at, 8);
    let e: redis::RedisError = bad(b"?").into();
    assert_eq!(e.kind(), redis::ErrorKind::Parse);
}
