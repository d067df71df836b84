//! Unit tests for planning and merging.

use super::pipeline::{PipelinePlan, plan_pipeline};
use super::step::Options;
use super::transaction::{Transaction, transaction_shard};
use super::*;
use crate::hashing::Rendezvous;
use crate::request::cmd_args;
use crate::routes::Route;
use redis::Value;

pub(super) fn ring() -> Rendezvous {
    Rendezvous::new(["shard-a", "shard-b"]).unwrap()
}

/// Keys that the two-shard ring puts on shard 0 and shard 1.
pub(super) fn keys_on(ring: &Rendezvous, shard: usize, n: usize) -> Vec<String> {
    (0..).map(|i| format!("k{i}")).filter(|k| ring.shard_index(k.as_bytes()) == shard).take(n).collect()
}

fn args<'a>(v: &'a [&'a str]) -> Vec<&'a [u8]> {
    v.iter().map(|s| s.as_bytes()).collect()
}

fn planned(ring: &Rendezvous, a: &[&str]) -> Plan {
    match plan(ring, &args(a)).unwrap() {
        Routed::Plan(p) => p,
        Routed::One { .. } => panic!("single shard"),
        Routed::Scan(_) | Routed::Channel(_) => panic!("scan or channel"),
    }
}

pub(super) fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn packed(cmd: &Cmd) -> Vec<String> {
    cmd_args(cmd).iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

#[test]
fn single_shard_commands_go_unchanged() {
    let r = ring();
    let a = keys_on(&r, 1, 2);
    match plan(&r, &args(&["MGET", &a[0], &a[1]])).unwrap() {
        Routed::One { route, info } => assert_eq!((route.index(), info.name), (1, "MGET")),
        _ => panic!("a one-shard MGET was split"),
    }
    let mut pipe = redis::pipe();
    pipe.set(&a[0], 1).get(&a[1]);
    match plan_pipeline(&r, &pipe, Options::default()).unwrap() {
        PipelinePlan::One { route, call } => {
            assert_eq!((route.index(), call.write, call.idempotent), (1, true, true))
        }
        PipelinePlan::Split { .. } | PipelinePlan::Lookup(_) => panic!("a one-shard pipeline was split"),
    }
}

#[test]
fn mget_splits_and_merges_in_caller_order() {
    let r = ring();
    let (a, b) = (keys_on(&r, 0, 2), keys_on(&r, 1, 2));
    let p = planned(&r, &["MGET", &a[0], &b[0], &a[1], &b[1]]);
    assert_eq!(p.parts.len(), 2);
    assert_eq!(packed(p.parts[0].cmd.as_ref().unwrap()), ["MGET", &a[0], &a[1]]);
    assert_eq!(packed(p.parts[1].cmd.as_ref().unwrap()), ["MGET", &b[0], &b[1]]);
    let replies =
        vec![Value::Array(vec![bulk("a0"), Value::Nil]), Value::Array(vec![bulk("b0"), bulk("b1")])];
    let merged = merge(&p.merge, replies).unwrap();
    assert_eq!(merged, Value::Array(vec![bulk("a0"), bulk("b0"), Value::Nil, bulk("b1")]));
}

#[test]
fn mset_keeps_pairs_together_and_del_sums() {
    let r = ring();
    let (a, b) = (keys_on(&r, 0, 1), keys_on(&r, 1, 1));
    let p = planned(&r, &["MSET", &a[0], "1", &b[0], "2"]);
    assert_eq!(packed(p.parts[0].cmd.as_ref().unwrap()), ["MSET", &a[0], "1"]);
    assert_eq!(packed(p.parts[1].cmd.as_ref().unwrap()), ["MSET", &b[0], "2"]);
    assert_eq!(merge(&p.merge, vec![Value::Okay, Value::Okay]).unwrap(), Value::Okay);
    let p = planned(&r, &["del", &a[0], &b[0]]);
    assert_eq!(merge(&p.merge, vec![Value::Int(1), Value::Int(0)]).unwrap(), Value::Int(1));
}

/// Every part holds exactly the keys (and values) its shard owns, in the
/// caller's order, whichever key first leaves the first key's shard (the split
/// reuses the routes `plan` computed while it looked for that key).
#[test]
fn each_part_holds_its_shards_keys_wherever_the_keys_start_to_span() {
    let r = Rendezvous::new(["s1", "s2", "s3", "s4", "s5"]).unwrap();
    let keys: Vec<String> = (0..200).map(|i| format!("key:{i}")).collect();
    for start in [1, 2, 7, 40] {
        // `start` keys on one shard, then keys anywhere.
        let first = r.shard_index(keys[0].as_bytes());
        let same: Vec<&String> =
            keys.iter().filter(|k| r.shard_index(k.as_bytes()) == first).take(start).collect();
        let rest: Vec<&String> = keys.iter().filter(|k| !same.contains(k)).take(60).collect();
        let all: Vec<&str> = same.iter().chain(&rest).map(|k| k.as_str()).collect();
        for (name, step) in [("MGET", 1), ("DEL", 1), ("MSET", 2)] {
            let mut a = vec![name];
            for k in &all {
                a.push(k);
                if step == 2 {
                    a.push("v");
                }
            }
            let p = planned(&r, &a);
            let mut seen = 0;
            for part in &p.parts {
                let got = packed(part.cmd.as_ref().unwrap());
                assert_eq!(got[0], name);
                let part_keys: Vec<&String> = got[1..].iter().step_by(step).collect();
                let want: Vec<&&str> =
                    all.iter().filter(|k| r.shard_index(k.as_bytes()) == part.route.index()).collect();
                assert_eq!(part_keys.len(), want.len(), "{name}, span from key {start}");
                assert!(part_keys.iter().zip(&want).all(|(g, w)| g.as_str() == **w));
                seen += part_keys.len();
            }
            assert_eq!(seen, all.len());
        }
    }
}

#[test]
fn other_multi_key_commands_across_shards_are_refused() {
    let r = ring();
    let (a, b) = (keys_on(&r, 0, 1), keys_on(&r, 1, 1));
    for cmd in [
        vec!["MSETNX", &a[0], "1", &b[0], "2"],
        // NX / XX apply to the whole group: never split.
        vec!["MSETEX", "2", &a[0], "1", &b[0], "2", "NX"],
        vec!["MSETEX", "2", &a[0], "1", &b[0], "2", "EX", "10"],
        vec!["RENAME", &a[0], &b[0]],
        vec!["SUNIONSTORE", &a[0], &b[0]],
        vec!["EVAL", "return 1", "2", &a[0], &b[0]],
    ] {
        match plan(&r, &args(&cmd)) {
            Err(Error::CrossShard { shards, .. }) => assert_eq!(shards, ["shard-a", "shard-b"]),
            _ => panic!("{cmd:?} was not refused"),
        }
    }
}

#[test]
fn keyless_commands_fan_out_or_are_refused() {
    let r = ring();
    assert_eq!(planned(&r, &["DBSIZE"]).merge, Merge::Sum);
    assert_eq!(planned(&r, &["ping"]).parts.len(), 2);
    assert_eq!(planned(&r, &["SCRIPT", "EXISTS", "abc"]).merge, Merge::AndEach);
    assert!(matches!(plan(&r, &args(&["SCAN", "0"])).unwrap(), Routed::Scan(_)));
    for cmd in [vec!["INFO"], vec!["CONFIG", "GET", "x"], vec!["EVAL", "return 1", "0"], vec!["NOSUCH.CMD"]] {
        assert!(matches!(plan(&r, &args(&cmd)), Err(Error::NoKey { .. })), "{cmd:?}");
    }
}

#[test]
fn merges() {
    let ints = |v: &[i64]| Value::Array(v.iter().map(|i| Value::Int(*i)).collect());
    assert_eq!(merge(&Merge::AndEach, vec![ints(&[1, 1, 0]), ints(&[1, 0, 1])]).unwrap(), ints(&[1, 0, 0]));
    assert_eq!(merge(&Merge::Min, vec![Value::Int(2), Value::Int(1)]).unwrap(), Value::Int(1));
    let keys =
        merge(&Merge::Concat, vec![Value::Array(vec![bulk("a")]), Value::Array(vec![bulk("b")])]).unwrap();
    assert_eq!(keys, Value::Array(vec![bulk("a"), bulk("b")]));
    let rk = merge(&Merge::FirstNonNil { start: 1 }, vec![bulk("x"), Value::Nil]).unwrap();
    assert_eq!(rk, bulk("x"));
    assert!(merge(&Merge::Sum, vec![Value::Okay]).is_err());
    assert!(merge(&Merge::AllOk, vec![Value::Int(1)]).is_err());
    let err = redis::parse_redis_value(b"-WRONGTYPE bad\r\n").unwrap();
    assert_eq!(merge(&Merge::Sum, vec![Value::Int(1), err.clone()]).unwrap(), err);
}

#[test]
fn pipelines_split_and_reassemble() {
    let r = ring();
    let (a, b) = (keys_on(&r, 0, 1), keys_on(&r, 1, 1));
    let mut pipe = redis::pipe();
    pipe.set(&a[0], 1).get(&b[0]).mget(&[&a[0], &b[0]]).cmd("DBSIZE");
    let PipelinePlan::Split { subs, replies: order } = plan_pipeline(&r, &pipe, Options::default()).unwrap()
    else {
        panic!("not split")
    };
    assert_eq!(subs.len(), 2);
    let by_shard: Vec<usize> = subs.iter().map(|s| s.route.index() * 100 + s.pieces.len()).collect();
    assert_eq!(by_shard, [3, 103], "shard-a: SET, MGET part, DBSIZE; shard-b: GET, MGET part, DBSIZE");
    let replies = vec![
        vec![Value::Okay, Value::Array(vec![bulk("1")]), Value::Int(5)],
        vec![bulk("vb"), Value::Array(vec![bulk("vb")]), Value::Int(7)],
    ];
    let out = order.assemble(replies).unwrap();
    assert_eq!(out, vec![Value::Okay, bulk("vb"), Value::Array(vec![bulk("1"), bulk("vb")]), Value::Int(12)]);
}

#[test]
fn session_commands_are_refused_anywhere_in_a_split_pipeline() {
    let r = ring();
    let (a, b) = (keys_on(&r, 0, 1), keys_on(&r, 1, 1));
    for session in ["WATCH", "MULTI", "EXEC"] {
        let mut pipe = redis::pipe();
        pipe.get(&a[0]).get(&b[0]).cmd(session).arg(&a[0]);
        assert!(
            matches!(plan_pipeline(&r, &pipe, Options::default()), Err(Error::BadCommand { .. })),
            "{session} after the commands that split the pipeline"
        );
    }
}

#[test]
fn a_shard_with_too_few_pipeline_replies_is_an_error() {
    let r = ring();
    let (a, b) = (keys_on(&r, 0, 2), keys_on(&r, 1, 1));
    let mut pipe = redis::pipe();
    pipe.get(&a[0]).get(&b[0]).get(&a[1]);
    let PipelinePlan::Split { subs, replies: order } = plan_pipeline(&r, &pipe, Options::default()).unwrap()
    else {
        panic!("not split")
    };
    let sizes: Vec<usize> = subs.iter().map(|s| s.pieces.len()).collect();
    assert_eq!(sizes, [2, 1]);
    let short = vec![vec![bulk("a0")], vec![bulk("b0")]];
    assert!(matches!(order.assemble(short), Err(Error::Redis(_))));
}

#[test]
fn transactions_must_stay_on_one_shard() {
    let r = ring();
    let (a, b) = (keys_on(&r, 0, 2), keys_on(&r, 1, 1));
    let mut ok = redis::pipe();
    ok.atomic().set(&a[0], 1).incr(&a[1], 1);
    let Transaction::On(route, call) = transaction_shard(&r, &ok, &[]).unwrap() else {
        panic!("not on a shard")
    };
    assert_eq!((route.index(), call.idempotent, call.write), (0, false, true), "INCR is not idempotent");
    let mut cross = redis::pipe();
    cross.atomic().set(&a[0], 1).set(&b[0], 1);
    assert!(matches!(transaction_shard(&r, &cross, &[]), Err(Error::CrossShard { .. })));
    let mut keyless = redis::pipe();
    keyless.atomic().set(&a[0], 1).cmd("DBSIZE");
    assert!(matches!(transaction_shard(&r, &keyless, &[]), Err(Error::NoKey { .. })));
}

#[test]
fn scan_cursor_walks_every_shard_once() {
    assert_eq!(scan::decode(b"0", 3).unwrap(), Some((0, 0)));
    assert_eq!(scan::next_cursor(0, 0, 3).unwrap(), 1);
    assert_eq!(scan::decode(b"1", 3).unwrap(), Some((1, 0)));
    let c = scan::next_cursor(1, 17, 3).unwrap();
    assert_eq!(scan::decode(c.to_string().as_bytes(), 3).unwrap(), Some((1, 17)));
    assert_eq!(scan::next_cursor(2, 0, 3).unwrap(), 0);
    assert_eq!(scan::decode(b"5", 3).unwrap(), None, "past the last shard: the walk is over");
    assert!(scan::decode(b"x", 3).is_err());
    assert!(scan::next_cursor(0, u64::MAX, 3).is_err());
    let reply = Value::Array(vec![bulk("17"), Value::Array(vec![bulk("k"), bulk("__disredis__:moved:3")])]);
    let out = scan::rewrite_reply(reply, 1, 3).unwrap();
    assert_eq!(
        out,
        Value::Array(vec![bulk(&(17u64 << 16 | 1).to_string()), Value::Array(vec![bulk("k")])]),
        "the cursor combined, a ring change's tombstone hash hidden"
    );
    let cmd = scan::shard_command(&args(&["SCAN", "65537", "MATCH", "a*", "COUNT", "10"]), 1);
    assert_eq!(packed(&cmd), ["SCAN", "1", "MATCH", "a*", "COUNT", "10"]);
}

#[test]
fn gather_says_what_took_effect() {
    let names: Vec<String> = ["shard-a", "shard-b", "shard-c"].map(String::from).to_vec();
    let down = || Error::NoReplica { shard: "x".into() };
    let ok = gather("MSET", &names, vec![(Route::at(0), true, Ok(1)), (Route::at(2), true, Ok(2))]).unwrap();
    assert_eq!(ok, vec![1, 2]);
    // Nothing ran anywhere: the first error, as it is.
    let e = gather::<i32>(
        "MSET",
        &names,
        vec![(Route::at(0), true, Err(down())), (Route::at(1), true, Err(down()))],
    );
    assert!(matches!(e, Err(Error::NoReplica { .. })), "{e:?}");
    // A read that failed on one shard changed nothing.
    let e = gather("MGET", &names, vec![(Route::at(0), false, Ok(1)), (Route::at(1), false, Err(down()))]);
    assert!(matches!(e, Err(Error::NoReplica { .. })), "{e:?}");
    // A write that ran on two shards and failed on one.
    match gather(
        "DEL",
        &names,
        vec![(Route::at(2), true, Ok(1)), (Route::at(1), true, Err(down())), (Route::at(0), true, Ok(1))],
    ) {
        Err(Error::PartiallyApplied { command, applied, failed }) => {
            assert_eq!(command, "DEL");
            assert_eq!(applied, ["shard-a", "shard-c"]);
            assert_eq!(failed.len(), 1);
            assert_eq!(failed[0].shard, "shard-b");
        }
        other => panic!("{other:?}"),
    }
}

/// The split's own cost, no I/O: plan a pipeline of 100 GET/SETs over 2 and 8
/// shards and assemble its replies. A measurement, not a check (ignored; run
/// with `cargo test --release --lib measure_split -- --ignored --nocapture`);
/// docs/performance.md quotes it.
#[test]
#[ignore]
fn measure_split_pipeline() {
    for n in [2usize, 8] {
        let r = Rendezvous::new((0..n).map(|i| format!("shard-{i:02}"))).unwrap();
        let mut pipe = redis::pipe();
        for i in 0..100 {
            let key = format!("key:{i:012}");
            if i % 2 == 0 {
                pipe.get(key)
            } else {
                pipe.set(key, [7u8; 64].as_slice())
            };
        }
        let rounds = 20_000;
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            for _ in 0..rounds {
                let PipelinePlan::Split { subs, replies: order } =
                    plan_pipeline(&r, std::hint::black_box(&pipe), Options::default()).unwrap()
                else {
                    panic!("not split")
                };
                let replies = subs.iter().map(|s| vec![Value::Okay; s.pieces.len()]).collect();
                std::hint::black_box(order.assemble(replies).unwrap());
            }
            best = best.min(t.elapsed().as_nanos() as f64 / rounds as f64);
        }
        println!(
            "split pipeline of 100, {n} shards: plan + assemble {:.0} ns ({:.0} ns per command)",
            best,
            best / 100.0
        );
    }
}
