//! Code written for one redis-rs connection behaves the same on the client, side
//! by side with a bare `MultiplexedConnection` to a master: an empty command or
//! pipeline, a command no server knows (alone, in a pipeline, in MULTI/EXEC), and
//! `ignore_errors()` pipelines, where a command the client refuses fails in its
//! own slot and the rest runs (without it, nothing is sent).

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Cmd, Pipeline, RedisResult, Value};

use disredis::{DisredisClient, Error};

use crate::support::{Spec, Topology, client, keys_on};

async fn bare(topo: &Topology, shard: &str) -> MultiplexedConnection {
    let url = format!("redis://{}/", topo.master_addr(shard));
    redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// What a caller can tell apart about an outcome: the value, or the error's
/// kind, code and text.
fn seen<T: std::fmt::Debug>(r: &RedisResult<T>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({:?}, {:?}, {e})", e.kind(), e.code()),
    }
}

fn slots(r: &RedisResult<Vec<RedisResult<Value>>>) -> Vec<String> {
    match r {
        Ok(v) => v.iter().map(seen).collect(),
        Err(e) => vec![seen::<()>(&Err(e.clone()))],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_commands_and_pipelines_answer_as_one_connection() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let mut one = bare(&topo, &topo.master_names()[0]).await;
    let mut con = client(&topo).await;

    let expected = seen(&Cmd::new().query_async::<String>(&mut one).await);
    assert!(expected.contains("Client") && expected.contains("empty command"), "{expected}");
    assert_eq!(seen(&Cmd::new().query_async::<String>(&mut con).await), expected, "an empty command");
    assert_eq!(
        seen(&Pipeline::new().query_async::<String>(&mut con).await),
        seen(&Pipeline::new().query_async::<String>(&mut one).await),
        "an empty pipeline"
    );
    let empty_tx = || {
        let mut p = Pipeline::new();
        p.atomic();
        p
    };
    let expected = seen(&empty_tx().query_async::<Vec<Value>>(&mut one).await);
    assert_eq!(expected, "Ok([])");
    assert_eq!(seen(&empty_tx().query_async::<Vec<Value>>(&mut con).await), expected, "an empty MULTI/EXEC");
    // Through on_shard too (it sends on the shard's shared connection).
    let mut handle = con.on_shard(&topo.master_names()[1]).unwrap();
    assert_eq!(
        seen(&Cmd::new().query_async::<String>(&mut handle).await),
        seen(&Cmd::new().query_async::<String>(&mut one).await)
    );

    // The blocking twin, against a blocking connection.
    let (addr, sentinels) = (topo.master_addr(&topo.master_names()[0]), topo.sentinel_addrs());
    tokio::task::spawn_blocking(move || {
        let mut one = redis::Client::open(format!("redis://{addr}/")).unwrap().get_connection().unwrap();
        let mut con = disredis::blocking::DisredisClient::connect(sentinels).unwrap();
        assert_eq!(seen(&Cmd::new().query::<String>(&mut con)), seen(&Cmd::new().query::<String>(&mut one)));
        assert_eq!(
            seen(&Pipeline::new().query::<String>(&mut con)),
            seen(&Pipeline::new().query::<String>(&mut one))
        );
        assert_eq!(
            seen(&empty_tx().query::<Vec<Value>>(&mut con)),
            seen(&empty_tx().query::<Vec<Value>>(&mut one))
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_no_server_knows_gets_the_servers_answer() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let mut one = bare(&topo, &names[0]).await;
    let mut con = client(&topo).await;
    let (a, b) = (keys_on(&con, &names[0], "din", 1).remove(0), keys_on(&con, &names[1], "din", 1).remove(0));
    let _: () = one.set(&a, "42").await.unwrap();
    let _: () = con.set(&b, "43").await.unwrap();

    // Alone: the server's own error, not a routing refusal.
    let alone = redis::cmd("JSON.GET").arg(&a).arg(".path").clone();
    let expected = seen(&alone.query_async::<Value>(&mut one).await);
    assert!(expected.contains("unknown command"), "{expected}");
    assert_eq!(seen(&alone.query_async::<Value>(&mut con).await), expected);

    // In an ignore_errors() pipeline: the error in its slot, the rest runs
    // (redis-rs's own test, with only the connection swapped).
    let mut p = redis::pipe();
    p.ping().cmd("JSON.GET").arg("x").arg(".path").get(&a);
    p.ignore_errors();
    let expected = slots(&p.query_async(&mut one).await);
    assert_eq!(expected.len(), 3, "{expected:?}");
    assert!(expected[0].contains("PONG") && expected[1].contains("unknown command"), "{expected:?}");
    assert_eq!(slots(&p.query_async(&mut con).await), expected);
    // The same over both shards: the unknown command rides with one of them.
    let mut p = redis::pipe();
    p.get(&a).cmd("NOSUCH.CMD").arg(&b).get(&b);
    p.ignore_errors();
    let got = slots(&p.query_async(&mut con).await);
    assert!(got[0].contains("42") && got[1].contains("unknown command") && got[2].contains("43"), "{got:?}");

    // The server is asked about an unknown name once per pipeline, not once per command.
    let info_calls = || {
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut topo.conn(&topo.master_addr(&names[0])))
            .unwrap();
        let line = stats.lines().find(|l| l.starts_with("cmdstat_command|info:")).map(str::to_owned);
        line.and_then(|l| l.split(['=', ',']).nth(1).and_then(|n| n.parse::<u64>().ok())).unwrap_or(0)
    };
    let before = info_calls();
    let mut p = redis::pipe();
    p.cmd("NOSUCH.CMD").arg(&a).cmd("nosuch.cmd").arg(&b).cmd("NOSUCH.CMD").arg("x").get(&b);
    p.ignore_errors();
    let got = slots(&p.query_async(&mut con).await);
    assert!(got[..3].iter().all(|s| s.contains("unknown command")) && got[3].contains("43"), "{got:?}");
    assert_eq!(info_calls() - before, 1, "COMMAND INFO once for the three");

    // Without ignore_errors(): the pipeline's error, as redis-rs makes it from the replies.
    let mut p = redis::pipe();
    p.ping().cmd("JSON.GET").arg("x").arg(".path").get(&a);
    assert_eq!(seen(&p.query_async::<Value>(&mut con).await), seen(&p.query_async::<Value>(&mut one).await));

    // In MULTI/EXEC: the server refuses it when queued and aborts the transaction.
    // The same kind and code as the bare connection's error, and the same list
    // of refused commands in its text; redis-rs's `TransactionAborted` (whose
    // text starts "Transaction aborted: ") has no public constructor, so the
    // client's is the EXECABORT server error carrying that list.
    let mut tx = redis::pipe();
    tx.atomic().set(&a, "44").cmd("NOSUCH.CMD").arg("x");
    let (bare, ours) = (tx.query_async::<Value>(&mut one).await, tx.query_async::<Value>(&mut con).await);
    let (bare, ours) = (bare.unwrap_err(), ours.unwrap_err());
    assert_eq!((ours.kind(), ours.code()), (bare.kind(), bare.code()));
    assert_eq!(ours.code(), Some("EXECABORT"));
    let list = |e: &redis::RedisError| e.to_string().split_once(": [").map(|(_, l)| l.to_owned());
    assert_eq!(list(&ours), list(&bare), "{ours} vs {bare}");
    assert!(list(&bare).is_some_and(|l| l.starts_with("(Index 1, error: ")), "{bare}");
    assert_eq!(con.get::<_, String>(&a).await.unwrap(), "42", "the aborted transaction wrote nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn ignore_errors_fails_a_refused_command_in_its_own_slot() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let mut con: DisredisClient = client(&topo).await;
    let a = keys_on(&con, &names[0], "slot", 2);
    let b = keys_on(&con, &names[1], "slot", 1).remove(0);
    let _: () = con.set(&b, "b").await.unwrap();

    let mut p = redis::pipe();
    p.set(&a[0], "a")
        .cmd("SELECT")
        .arg(1) // SharedConnection
        .cmd("EVAL")
        .arg("return 1")
        .arg(0) // NoKey: a script without keys
        .rename(&a[1], &b) // CrossShard
        .get(&b)
        .set(&a[1], "later");
    // Without ignore_errors(): refused whole, nothing sent.
    let whole = p.query_async::<Value>(&mut con).await.map_err(Error::from);
    assert!(matches!(whole, Err(Error::SharedConnection { .. })), "{whole:?}");
    assert!(!con.exists::<_, bool>(&a[0]).await.unwrap(), "nothing ran");

    p.ignore_errors();
    let got: Vec<RedisResult<Value>> = p.query_async(&mut con).await.unwrap();
    let codes: Vec<Option<&str>> = got.iter().map(|r| r.as_ref().err().and_then(|e| e.code())).collect();
    assert_eq!(codes, [None, Some("SHAREDCONNECTION"), Some("NOKEY"), Some("CROSSSHARD"), None, None]);
    let cross = got[3].as_ref().unwrap_err().to_string();
    assert!(
        cross.contains(&names[0]) && cross.contains(&names[1]),
        "the slot's text names the shards: {cross}"
    );
    assert_eq!(got[4].as_ref().unwrap(), &Value::BulkString(b"b".to_vec()));
    // The rest ran, on the database the shared connection was on all along.
    assert_eq!(con.get::<_, String>(&a[0]).await.unwrap(), "a");
    assert_eq!(con.get::<_, String>(&a[1]).await.unwrap(), "later");
    assert_eq!(con.get::<_, String>(&b).await.unwrap(), "b", "RENAME did not run");

    // ignore() still drops the replies it names, refused or not.
    let mut p = redis::pipe();
    p.get(&a[0]).ignore().cmd("SELECT").arg(1).ignore().get(&b).ignore_errors();
    let got: Vec<RedisResult<Value>> = p.query_async(&mut con).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].as_ref().unwrap(), &Value::BulkString(b"b".to_vec()));

    // Through on_shard the same: a key of another shard fails in its slot.
    let mut handle = con.on_shard(&names[0]).unwrap();
    let mut p = redis::pipe();
    p.get(&a[0]).get(&b).cmd("SELECT").arg(1).get(&a[1]).ignore_errors();
    let got: Vec<RedisResult<Value>> = p.query_async(&mut handle).await.unwrap();
    let codes: Vec<Option<&str>> = got.iter().map(|r| r.as_ref().err().and_then(|e| e.code())).collect();
    assert_eq!(codes, [None, Some("WRONGSHARD"), Some("SHAREDCONNECTION"), None]);
    assert_eq!(got[3].as_ref().unwrap(), &Value::BulkString(b"later".to_vec()));
    let whole = redis::pipe().get(&b).query_async::<Value>(&mut handle).await.map_err(Error::from);
    assert!(matches!(whole, Err(Error::WrongShard { .. })), "{whole:?}");

    // A transaction is all or nothing: ignore_errors() doesn't split it.
    let mut tx = redis::pipe();
    tx.atomic().set(&a[0], "tx").cmd("SELECT").arg(1).ignore_errors();
    let refused = tx.query_async::<Value>(&mut con).await.map_err(Error::from);
    assert!(matches!(refused, Err(Error::SharedConnection { .. })), "{refused:?}");
    assert_eq!(con.get::<_, String>(&a[0]).await.unwrap(), "a");
}

/// A command the static table doesn't know but the server does (Redis 7.4+'s
/// `HEXPIRE`, learned through `COMMAND INFO`) is routed by its key inside a
/// pipeline too; where the server doesn't have it, its error is in the slot.
#[tokio::test(flavor = "multi_thread")]
async fn a_learned_command_in_a_pipeline_goes_to_its_keys_shard() {
    let topo = Topology::start(Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let names = topo.master_names();
    let mut con = client(&topo).await;
    let mut probe = topo.conn(&topo.master_addr(&names[0]));
    let info: Vec<Value> = redis::cmd("COMMAND").arg("INFO").arg("HEXPIRE").query(&mut probe).unwrap();
    let known = !matches!(info.first(), None | Some(Value::Nil));
    let keys = [keys_on(&con, &names[0], "hx", 1).remove(0), keys_on(&con, &names[1], "hx", 1).remove(0)];
    let mut p = redis::pipe();
    for k in &keys {
        p.hset(k, "f", "v").cmd("HEXPIRE").arg(k).arg(100).arg("FIELDS").arg(1).arg("f");
    }
    p.ignore_errors();
    let got: Vec<RedisResult<Value>> = p.query_async(&mut con).await.unwrap();
    for (i, k) in keys.iter().enumerate() {
        let hexpire = &got[2 * i + 1];
        match known {
            true => assert_eq!(hexpire.as_ref().unwrap(), &Value::Array(vec![Value::Int(1)]), "{k}"),
            false => {
                let e = hexpire.as_ref().unwrap_err().to_string().to_lowercase();
                assert!(e.contains("unknown command"), "{k}: {e}");
            }
        }
    }
    if known {
        // Each ran on the master that holds its key (nothing is on the other one).
        for (owner, k) in names.iter().zip(&keys) {
            let mut m = topo.conn(&topo.master_addr(owner));
            let ttl: Vec<i64> =
                redis::cmd("HTTL").arg(k).arg("FIELDS").arg(1).arg("f").query(&mut m).unwrap();
            assert!(ttl[0] > 0 && ttl[0] <= 100, "{owner}: {ttl:?}");
        }
    }
}
