use std::borrow::Cow;

use super::Failure;
use crate::error::Error;

fn labels(f: &Failure) -> (&str, Option<&str>) {
    (&f.error_type, f.status_code.as_deref())
}

#[test]
fn an_error_reply_is_labelled_by_its_prefix() {
    assert_eq!(labels(&Failure::reply(Some("WRONGTYPE"))), ("WRONGTYPE", Some("WRONGTYPE")));
    assert_eq!(labels(&Failure::reply(Some("READONLY"))), ("READONLY", Some("READONLY")));
    let redis::Value::ServerError(reply) = redis::parse_redis_value(b"-NOPERM denied\r\n").unwrap() else {
        panic!("not an error reply")
    };
    let server = redis::RedisError::from(reply);
    assert_eq!(labels(&Failure::of(&Error::Redis(server))).1, Some("NOPERM"));
}

#[test]
fn an_odd_or_long_prefix_becomes_err_so_labels_stay_bounded() {
    for code in [None, Some(""), Some("lower"), Some("A-B"), Some("X".repeat(25).as_str())] {
        assert_eq!(labels(&Failure::reply(code)), ("ERR", Some("ERR")), "{code:?}");
    }
    assert_eq!(Failure::reply(Some("X".repeat(24).as_str())).error_type.len(), 24);
}

#[test]
fn client_errors_are_labelled_by_kind_or_variant() {
    let io: redis::RedisError = std::io::Error::from(std::io::ErrorKind::ConnectionReset).into();
    assert_eq!(labels(&Failure::of(&Error::Redis(io))), ("io", None));
    let timeout: redis::RedisError = std::io::Error::from(std::io::ErrorKind::TimedOut).into();
    assert_eq!(labels(&Failure::of(&Error::Redis(timeout))), ("timeout", None));
    let parse: redis::RedisError = (redis::ErrorKind::Parse, "bad").into();
    assert_eq!(labels(&Failure::of(&Error::Redis(parse))), ("redis", None));
    let cross = Error::CrossShard { command: "MSET".into(), shards: vec!["a".into(), "b".into()] };
    assert_eq!(Failure::of(&cross).error_type, Cow::Borrowed("CrossShard"));
    assert_eq!(
        Failure::of(&Error::InsideRuntime),
        Failure { error_type: "InsideRuntime".into(), status_code: None }
    );
}
