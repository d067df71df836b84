//! The blocking client on real processes: `redis::Commands`, pipelines (plain and
//! atomic, which travel as packed bytes), `redis::Iter`, failover under a writer,
//! malformed bytes, clones, `from_url`; inside tokio runtimes in [`runtime`].

mod runtime;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use disredis::Error;
use disredis::blocking::DisredisClient;
use redis::{Commands, ConnectionLike, ErrorKind};

use crate::support::{Spec, Topology, info_field, keys_on};

fn client(topo: &Topology) -> DisredisClient {
    DisredisClient::connect(topo.sentinel_addrs()).unwrap()
}

/// Polls `cond` every 10 ms until it holds; panics with `what` after `within`.
fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn generation(client: &DisredisClient, shard: &str) -> u64 {
    let topo = client.topology();
    topo.shards.iter().find(|s| s.name == shard).unwrap().generation
}

#[test]
fn commands_land_on_the_master_shard_for_names_on_both_shards() {
    let topo = Topology::start(Spec::default());
    let names = topo.master_names();
    let mut c = disredis::Builder::default().sentinels(topo.sentinel_addrs()).connect_blocking().unwrap();
    assert_eq!(c.shard_names(), names.as_slice());
    assert!(c.is_open());
    assert!(c.check_connection(), "{:?}", c.topology());
    assert_eq!(c.get_db(), 0);
    assert_eq!(c.sentinels().len(), 2);

    for shard in &names {
        let other = names.iter().find(|n| *n != shard).unwrap();
        let mut owner = topo.conn(&topo.master_addr(shard));
        let mut elsewhere = topo.conn(&topo.master_addr(other));
        for key in keys_on(&c, shard, "cmd", 5) {
            c.set::<_, _, ()>(&key, "v").unwrap();
            assert_eq!(c.get::<_, String>(&key).unwrap(), "v");
            assert_eq!(owner.get::<_, Option<String>>(&key).unwrap().as_deref(), Some("v"));
            assert_eq!(elsewhere.get::<_, Option<String>>(&key).unwrap(), None, "{key} on {other}");

            let counter = format!("{key}:n");
            let counter_shard = c.shard_for(&counter).to_owned();
            assert_eq!(c.incr::<_, _, i64>(&counter, 5).unwrap(), 5);
            assert_eq!(c.incr::<_, _, i64>(&counter, 2).unwrap(), 7);
            let mut counter_master = topo.conn(&topo.master_addr(&counter_shard));
            assert_eq!(counter_master.get::<_, i64>(&counter).unwrap(), 7);

            assert_eq!(c.del::<_, i64>(&key).unwrap(), 1);
            assert!(!owner.exists::<_, bool>(&key).unwrap());
            assert_eq!(c.get::<_, Option<String>>(&key).unwrap(), None);
        }
    }
    // Cmd::query goes through req_command.
    let key = keys_on(&c, &names[1], "q", 1).remove(0);
    let () = redis::cmd("SET").arg(&key).arg(b"\x00bin\r\n").query(&mut c).unwrap();
    let back: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut c).unwrap();
    assert_eq!(back, b"\x00bin\r\n");
}

#[test]
fn pipelines_plain_and_atomic_and_their_errors() {
    let topo = Topology::start(Spec::default());
    let mut c = client(&topo);
    let shard = c.shard_for("{p}").to_owned();
    let mut master = topo.conn(&topo.master_addr(&shard));

    let (n, b): (i64, Option<String>) = redis::pipe()
        .set("{p}:a", 40)
        .ignore()
        .set("{p}:b", "bee")
        .ignore()
        .incr("{p}:a", 2)
        .get("{p}:b")
        .query(&mut c)
        .unwrap();
    assert_eq!((n, b.as_deref()), (42, Some("bee")));
    assert_eq!(master.get::<_, i64>("{p}:a").unwrap(), 42);

    let (n, len): (i64, i64) =
        redis::pipe().atomic().incr("{p}:a", 1).rpush("{p}:list", &[1, 2, 3]).query(&mut c).unwrap();
    assert_eq!((n, len), (43, 3));
    assert_eq!(master.llen::<_, i64>("{p}:list").unwrap(), 3);
    // It really is MULTI/EXEC: a command refused while queueing (wrong arity)
    // aborts the whole transaction, so the INCR before it does not run...
    let e =
        redis::pipe().atomic().incr("{p}:a", 100).cmd("SET").arg("{p}:x").query::<()>(&mut c).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Server(redis::ServerErrorKind::ExecAbort), "{e}");
    assert_eq!(master.get::<_, i64>("{p}:a").unwrap(), 43);
    // ...while one failing at run time does not stop the others.
    let e = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("{p}:b")
        .incr("{p}:a", 1)
        .query::<(i64, i64)>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("not an integer"), "{e}");
    assert_eq!(master.get::<_, i64>("{p}:a").unwrap(), 44);

    let names = topo.master_names();
    let k0 = keys_on(&c, &names[0], "x", 1).remove(0);
    let k1 = keys_on(&c, &names[1], "x", 1).remove(0);
    let e = redis::pipe().atomic().set(&k0, 1).set(&k1, 1).query::<()>(&mut c).unwrap_err();
    assert!(matches!(Error::from(e.clone()), Error::CrossShard { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains(&names[0]) && text.contains(&names[1]), "{text}");
    for k in [&k0, &k1] {
        assert!(!c.exists::<_, bool>(k).unwrap(), "{k} written by a refused transaction");
    }

    // INFO has no key: refused, not sent to some shard.
    let e = redis::cmd("INFO").query::<String>(&mut c).unwrap_err();
    assert!(matches!(Error::from(e.clone()), Error::NoKey { command } if command == "INFO"), "{e}");
    assert!(e.to_string().contains("no key"), "{e}");
}

#[test]
fn hscan_follow_up_pages_keep_their_arguments() {
    let topo = Topology::start(Spec::default());
    let mut c = client(&topo);
    let fields: Vec<(String, String)> = (0..300).map(|i| (format!("f{i}"), format!("v{i}"))).collect();
    c.hset_multiple::<_, _, _, ()>("scan:h", &fields).unwrap();
    // HSCAN pages come 10 fields at a time: every page after the first is sent
    // as packed bytes carrying the cursor and MATCH.
    let mut got: Vec<(String, String)> =
        c.hscan_match("scan:h", "f1*").unwrap().collect::<redis::RedisResult<_>>().unwrap();
    got.sort();
    let mut want: Vec<(String, String)> = fields.into_iter().filter(|(f, _)| f.starts_with("f1")).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn sigkill_of_a_master_under_a_writer_loses_no_request_and_no_key() {
    let topo = Topology::start(Spec::default());
    let c = client(&topo);
    let victim = topo.master_names()[0].clone();
    let old = topo.master_addr(&victim);

    let stop = Arc::new(AtomicBool::new(false));
    let on_victim = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (mut con, stop, on_victim) = (c.clone(), stop.clone(), on_victim.clone());
        let victim = victim.clone();
        thread::spawn(move || {
            let (mut written, mut errors) = (Vec::new(), Vec::new());
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("w:{n}");
                match con.set::<_, _, ()>(&key, n) {
                    Ok(()) => {
                        if con.shard_for(&key) == victim {
                            on_victim.fetch_add(1, Ordering::Relaxed);
                        }
                        written.push((key, n));
                    }
                    Err(e) => errors.push(format!("{key}: {e}")),
                }
                n += 1;
            }
            (written, errors)
        })
    };
    let writes = || on_victim.load(Ordering::Relaxed);
    wait_until("writes before the kill", Duration::from_secs(10), || writes() >= 50);
    topo.kill(&old);
    let new = topo.wait_for_failover(&victim, &old, Duration::from_secs(20));
    wait_until("the client to switch", Duration::from_secs(20), || generation(&c, &victim) >= 2);
    let switched = writes();
    wait_until("writes after the switch", Duration::from_secs(10), || writes() >= switched + 50);
    stop.store(true, Ordering::Relaxed);
    let (written, errors) = writer.join().unwrap();

    assert!(errors.is_empty(), "errors reached the writer: {:?}", &errors[..errors.len().min(5)]);
    let shard = c.topology().shards.into_iter().find(|s| s.name == victim).unwrap();
    assert_eq!(shard.master.as_deref(), Some(new.as_str()));
    let mut con = c.clone();
    let missing: Vec<&String> = written
        .iter()
        .filter(|(k, n)| con.get::<_, Option<u64>>(k).unwrap() != Some(*n))
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} keys missing: {:?}",
        missing.len(),
        written.len(),
        &missing[..missing.len().min(5)]
    );
    let mut promoted = topo.conn(&new);
    let (k, n) = written.iter().rev().find(|(k, _)| c.shard_for(k) == victim).unwrap();
    assert_eq!(promoted.get::<_, Option<u64>>(k).unwrap(), Some(*n));
}

#[test]
fn malformed_bytes_are_errors_and_the_client_keeps_working() {
    let topo = Topology::start(Spec::default());
    let mut c = client(&topo);
    let bad: [&[u8]; 6] = [
        b"",
        b"not resp",
        b"*2\r\n$3\r\nGET\r\n",
        b"*0\r\n",
        b"*1\r\n:1\r\n",
        b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n",
    ];
    for b in bad {
        let e = c.req_packed_command(b).unwrap_err();
        assert_eq!(Error::from(e.clone()).kind(), ErrorKind::Client, "{:?}: {e}", String::from_utf8_lossy(b));
    }
    let get = redis::cmd("GET").arg("k").get_packed_command();
    let e = c.req_packed_commands(&get, 0, 2).unwrap_err();
    assert!(e.to_string().contains("malformed"), "{e}");
    assert!(c.req_packed_commands(b"*1\r\n$3\r\nGET", 0, 1).is_err());

    c.set::<_, _, ()>("k", "still fine").unwrap();
    assert_eq!(c.req_packed_command(&get).unwrap(), redis::Value::BulkString(b"still fine".to_vec()));
}

#[test]
fn clones_share_connections_and_the_runtime() {
    let topo = Topology::start(Spec::default());
    let names = topo.master_names();
    let mut first = client(&topo);
    let key = keys_on(&first, &names[0], "clone", 1).remove(0);
    let mut probe = topo.conn(&topo.master_addr(&names[0]));
    let clients = |p: &mut redis::Connection| -> String {
        let info: String = redis::cmd("INFO").arg("clients").query(p).unwrap();
        info_field(&info, "connected_clients").unwrap().to_owned()
    };

    first.set::<_, _, ()>(&key, 1).unwrap();
    let before = clients(&mut probe);
    let mut second = first.clone();
    assert_eq!(second.incr::<_, _, i64>(&key, 1).unwrap(), 2);
    assert_eq!(first.incr::<_, _, i64>(&key, 1).unwrap(), 3);
    assert_eq!(clients(&mut probe), before, "a clone opened its own connection");
    assert_eq!(generation(&second, &names[0]), 1);

    // The runtime lives as long as any clone: dropping the first stops nothing.
    drop(first);
    assert_eq!(second.get::<_, i64>(&key).unwrap(), 3);
    let from_thread = {
        let mut third = second.clone();
        let key = key.clone();
        thread::spawn(move || third.incr::<_, _, i64>(&key, 1).unwrap())
    };
    assert_eq!(from_thread.join().unwrap(), 4);
    assert_eq!(second.get::<_, i64>(&key).unwrap(), 4);
    assert_eq!(clients(&mut probe), before);
}

#[test]
fn from_url_applies_the_url_and_refuses_a_bad_one_before_connecting() {
    let topo = Topology::start(Spec::default());
    let names = topo.master_names();
    let url = format!("redis+sentinel://{}/3?masters={}", topo.sentinel_addrs().join(","), names.join(","));
    let mut c = DisredisClient::from_url(&url).unwrap();
    assert_eq!(c.shard_names(), names.as_slice());
    assert_eq!(c.get_db(), 3);
    let key = keys_on(&c, &names[1], "url", 1).remove(0);
    c.set::<_, _, ()>(&key, "in db 3").unwrap();
    let mut master = topo.conn(&topo.master_addr(&names[1]));
    assert_eq!(master.get::<_, Option<String>>(&key).unwrap(), None, "written to db 0");
    let () = redis::cmd("SELECT").arg(3).query(&mut master).unwrap();
    assert_eq!(master.get::<_, Option<String>>(&key).unwrap().as_deref(), Some("in db 3"));

    let bad = format!("redis+sentinel://{}/?mastrs=a", topo.sentinel_addrs()[0]);
    match DisredisClient::from_url(&bad) {
        Err(Error::BadUrl { part: "query", detail }) => assert!(detail.contains("masters"), "{detail}"),
        other => panic!("expected BadUrl, got {other:?}"),
    }
}
