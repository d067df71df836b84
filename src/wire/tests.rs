//! A connection cut mid-reply and mid-write: every waiter gets an answer (its
//! own reply, or an error saying whether it may have run), none hangs, none
//! gets another request's reply. These need a server that stops at a chosen
//! byte, which a real one can't be made to do: the peer here is a listener
//! in the test that speaks just enough RESP. Everything else the connection
//! does is tested through the client on real servers (tests/it).

use std::time::Duration;

use redis::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Hello, Limits, Settings, Wire, open};
use crate::config::{Auth, NodeAddr};
use crate::retry::{Fate, classify_error};

const PATIENCE: Duration = Duration::from_secs(10);

fn settings() -> Settings {
    Settings {
        connect_timeout: Duration::from_secs(2),
        response_timeout: Some(PATIENCE),
        nodelay: true,
        keepalive: None,
        limits: Limits::default(),
    }
}

/// A listener, and a connection to it whose handshake (the two `CLIENT
/// SETINFO`s) it answered; the test continues on the server side's socket.
async fn connected() -> (Wire, TcpStream) {
    connected_with(Hello::default()).await
}

/// [`connected`] with `hello`: a `HELLO 3` (a push sink) is answered too.
async fn connected_with(hello: Hello<'static>) -> (Wire, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = NodeAddr::parse(&listener.local_addr().unwrap().to_string()).unwrap();
    let resp3 = hello.push.is_some();
    let server = tokio::spawn(async move {
        let (mut peer, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        while count(&got, b"SETINFO") < 2 {
            read_some(&mut peer, &mut got).await;
        }
        assert_eq!(count(&got, b"HELLO") == 1, resp3);
        if resp3 {
            peer.write_all(b"%1\r\n+proto\r\n:3\r\n").await.unwrap();
        }
        peer.write_all(b"+OK\r\n+OK\r\n").await.unwrap();
        peer
    });
    let (wire, _) = open::open(&addr, &Auth::default(), 0, &settings(), hello).await.unwrap();
    (wire, server.await.unwrap())
}

async fn read_some(peer: &mut TcpStream, into: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    let n = peer.read(&mut chunk).await.unwrap();
    assert!(n > 0, "client closed");
    into.extend_from_slice(&chunk[..n]);
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

fn get(key: String) -> redis::Cmd {
    let mut c = redis::cmd("GET");
    c.arg(key);
    c
}

#[tokio::test]
async fn cut_mid_reply_each_waiter_gets_its_own_reply_or_an_error_of_unknown_fate() {
    let (wire, mut peer) = connected().await;
    let asks: Vec<_> = (0..10)
        .map(|i| {
            let w = wire.clone();
            tokio::spawn(async move { w.send_cmd(&get(format!("key{i}")), None).await })
        })
        .collect();
    let mut got = Vec::new();
    while count(&got, b"GET") < 10 {
        read_some(&mut peer, &mut got).await;
    }
    // The replies in the order the requests were written, each naming its
    // key; the fourth cut after its first bytes.
    let order: Vec<usize> = (0..10)
        .filter_map(|i| got.windows(4).position(|w| w == format!("key{i}").as_bytes()).map(|p| (p, i)))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_values()
        .collect();
    assert_eq!(order.len(), 10);
    for &i in &order[..3] {
        peer.write_all(format!("$4\r\nkey{i}\r\n").as_bytes()).await.unwrap();
    }
    peer.write_all(b"$4\r\nke").await.unwrap();
    drop(peer);
    let mut answered = 0;
    for (i, ask) in asks.into_iter().enumerate() {
        let outcome = tokio::time::timeout(PATIENCE, ask).await.expect("no waiter hangs").unwrap();
        match outcome {
            Ok(Value::BulkString(v)) => {
                assert_eq!(v, format!("key{i}").into_bytes(), "another request's reply");
                assert!(order[..3].contains(&i));
                answered += 1;
            }
            Ok(other) => panic!("{other:?}"),
            Err(e) => {
                assert!(!order[..3].contains(&i), "{i}: {e}");
                assert_eq!(classify_error(&e), Some(Fate::Unknown), "{e}");
            }
        }
    }
    assert_eq!(answered, 3);
    // The connection is gone: a new request is refused unsent.
    let e = wire.send_cmd(&get("later".into()), None).await.unwrap_err();
    assert_eq!(classify_error(&e), Some(Fate::NotRun), "{e}");
    assert!(wire.is_broken());
}

#[tokio::test]
async fn cut_mid_write_what_no_write_took_is_not_run() {
    let (wire, peer) = connected().await;
    // A request larger than the socket buffers, which the peer never reads.
    let big = wire.clone();
    let set = tokio::spawn(async move {
        let mut c = redis::cmd("SET");
        c.arg("big").arg(vec![b'x'; 64 << 20]);
        big.send_cmd(&c, None).await
    });
    // Wait until a write holds it, stuck on the full socket.
    let shared = wire.owner.shared.clone();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !{
        let st = shared.state.lock();
        st.writing && st.out.is_empty() && st.waiters.len() == 1
    } {
        assert!(tokio::time::Instant::now() < deadline, "the big write never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Queued behind it: no write took their bytes.
    let small: Vec<_> = (0..5)
        .map(|i| {
            let w = wire.clone();
            tokio::spawn(async move { w.send_cmd(&get(format!("small{i}")), None).await })
        })
        .collect();
    while shared.state.lock().waiters.len() < 6 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(peer);
    let e = tokio::time::timeout(PATIENCE, set).await.expect("no hang").unwrap().unwrap_err();
    assert_eq!(classify_error(&e), Some(Fate::Unknown), "partly written: may have run: {e}");
    for s in small {
        let e = tokio::time::timeout(PATIENCE, s).await.expect("no hang").unwrap().unwrap_err();
        assert_eq!(classify_error(&e), Some(Fate::NotRun), "never written: {e}");
    }
}

#[tokio::test]
async fn a_full_queue_makes_requests_wait_for_room_not_fail() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = NodeAddr::parse(&listener.local_addr().unwrap().to_string()).unwrap();
    let server = tokio::spawn(async move {
        let (mut peer, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut answered = 0;
        loop {
            let mut chunk = [0u8; 4096];
            let n = peer.read(&mut chunk).await.unwrap();
            if n == 0 {
                return answered;
            }
            got.extend_from_slice(&chunk[..n]);
            // One reply per command seen (each starts with "*").
            let seen = got.iter().filter(|&&b| b == b'*').count();
            while answered < seen {
                peer.write_all(b"+OK\r\n").await.unwrap();
                answered += 1;
            }
        }
    });
    let limits = Limits { requests: 4, bytes: 1 << 20 };
    let (wire, _) =
        open::open(&addr, &Auth::default(), 0, &Settings { limits, ..settings() }, Hello::default())
            .await
            .unwrap();
    let asks: Vec<_> = (0..64)
        .map(|_| {
            let w = wire.clone();
            tokio::spawn(async move { w.send_cmd(&redis::cmd("PING"), None).await })
        })
        .collect();
    for ask in asks {
        assert_eq!(tokio::time::timeout(PATIENCE, ask).await.unwrap().unwrap().unwrap(), Value::Okay);
        assert!(wire.owner.shared.state.lock().waiters.len() <= 4);
    }
    drop(wire);
    assert_eq!(server.await.unwrap(), 66, "2 for the handshake, 64 pings");
}

#[tokio::test]
async fn a_wake_up_the_writer_task_was_not_handed_takes_nothing_from_a_writing_caller() {
    let (wire, _peer) = connected().await;
    let shared = wire.owner.shared.clone();
    // As if a caller were inside its own write: it owns the write side.
    shared.state.lock().writing = true;
    shared.writer.notify_one();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let st = shared.state.lock();
    assert!(st.writing && !st.handed, "the writer task took the write side from its owner");
}

#[tokio::test]
async fn pushes_go_to_the_sink_and_never_answer_a_request() {
    let seen = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let push: super::PushSink = std::sync::Arc::new(move |p: redis::PushInfo| sink.lock().push(p));
    let (wire, mut peer) = connected_with(Hello { push: Some(push), ..Hello::default() }).await;
    let ask = {
        let w = wire.clone();
        tokio::spawn(async move { w.send_cmd(&get("k".into()), None).await })
    };
    let mut got = Vec::new();
    while count(&got, b"GET") < 1 {
        read_some(&mut peer, &mut got).await;
    }
    // A message before the reply and one split around it: neither is the reply.
    peer.write_all(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\na\r\n>3\r\n$7\r\nmess").await.unwrap();
    peer.write_all(b"age\r\n$2\r\nch\r\n$1\r\nb\r\n$5\r\nvalue\r\n").await.unwrap();
    let reply = tokio::time::timeout(PATIENCE, ask).await.expect("answered").unwrap().unwrap();
    assert_eq!(reply, Value::BulkString(b"value".to_vec()));
    let pushes: Vec<_> = seen.lock().iter().map(|p| (p.kind.clone(), p.data.clone())).collect();
    let message = |m: &[u8]| {
        (redis::PushKind::Message, vec![Value::BulkString(b"ch".to_vec()), Value::BulkString(m.to_vec())])
    };
    assert_eq!(pushes, vec![message(b"a"), message(b"b")]);
    // The end of the connection is the last push.
    drop(peer);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while seen.lock().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no Disconnection push");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(seen.lock()[2].kind, redis::PushKind::Disconnection);
    assert_eq!(seen.lock().len(), 3, "one Disconnection");
}

/// Keepalive as `open` sets it: the idle time given, then probes every
/// 10 s, 3 at most (read back from the socket).
#[cfg(target_os = "linux")]
#[test]
fn keepalive_probes_every_ten_seconds_three_at_most() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    super::open::keep_alive(socket2::SockRef::from(&tcp), Duration::from_secs(30)).unwrap();
    let sock = socket2::SockRef::from(&tcp);
    assert!(sock.keepalive().unwrap());
    assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(30));
    assert_eq!(sock.tcp_keepalive_interval().unwrap(), Duration::from_secs(10));
    assert_eq!(sock.tcp_keepalive_retries().unwrap(), 3);
}

/// A request behind one with a longer patience (a `WAIT`) is not timed out
/// while that one may still be answered: its reply can only come after. Once
/// nothing is ahead of it, its own timeout holds.
#[tokio::test]
async fn a_request_behind_a_patient_one_waits_as_long_as_it() {
    let (wire, mut peer) = connected().await;
    let short = Some(Some(Duration::from_millis(50)));
    let w = wire.clone();
    let patient = tokio::spawn(async move { w.send_cmd(&redis::cmd("WAIT"), Some(Some(PATIENCE))).await });
    let mut got = Vec::new();
    while count(&got, b"WAIT") < 1 {
        read_some(&mut peer, &mut got).await;
    }
    let w = wire.clone();
    let behind = tokio::spawn(async move { w.send_cmd(&get("k".into()), short).await });
    while count(&got, b"GET") < 1 {
        read_some(&mut peer, &mut got).await;
    }
    // Well past the GET's own 50 ms, the WAIT answers, then the GET.
    tokio::time::sleep(Duration::from_millis(300)).await;
    peer.write_all(b":1\r\n$1\r\nv\r\n").await.unwrap();
    assert_eq!(patient.await.unwrap().unwrap(), Value::Int(1));
    assert_eq!(behind.await.unwrap().unwrap(), Value::BulkString(b"v".to_vec()));
    // Nothing ahead: 50 ms it is.
    let alone = wire.send_cmd(&get("k".into()), short).await.unwrap_err();
    assert_eq!(alone.kind(), redis::ErrorKind::Io, "{alone}");
}

/// A request whose caller gave up extends nothing: the one behind it keeps
/// its own timeout (a hung connection is still noticed).
#[tokio::test]
async fn a_request_abandoned_ahead_extends_no_timeout() {
    let (wire, mut peer) = connected().await;
    let w = wire.clone();
    let patient = tokio::spawn(async move { w.send_cmd(&redis::cmd("WAIT"), Some(Some(PATIENCE))).await });
    let mut got = Vec::new();
    while count(&got, b"WAIT") < 1 {
        read_some(&mut peer, &mut got).await;
    }
    patient.abort();
    let _ = patient.await;
    let started = std::time::Instant::now();
    let behind = wire.send_cmd(&get("k".into()), Some(Some(Duration::from_millis(50)))).await.unwrap_err();
    assert_eq!(behind.kind(), redis::ErrorKind::Io, "{behind}");
    assert!(started.elapsed() < PATIENCE, "waited on an abandoned request");
}
