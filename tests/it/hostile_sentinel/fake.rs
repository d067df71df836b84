//! The fake Sentinel of `hostile_sentinel.rs`, and the RESP it is scripted with.
//!
//! The fake is a std TCP server on 127.0.0.1:0 with a thread per connection. It
//! speaks just enough RESP: it reads command arrays, answers the connection setup
//! (redis-rs 1.8 pipelines `CLIENT SETINFO LIB-NAME` / `LIB-VER` and ignores their
//! replies; no `HELLO`, `AUTH` or `SELECT` without a password or db; disredis then
//! sends a `PING`) and hands every other command to the test's script.
//! Dropping it stops and joins every thread.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the fake does with one command.
#[derive(Clone)]
pub enum Act {
    /// Send these bytes.
    Reply(Vec<u8>),
    /// Send nothing, keep the connection open.
    Silence,
    /// Send these bytes, then close the connection.
    ReplyAndClose(Vec<u8>),
    /// Send these bytes after a pause (a slow Sentinel; the connection's
    /// later commands wait behind it).
    Later(Duration, Vec<u8>),
}

type Script = dyn Fn(&[String]) -> Act + Send + Sync;

pub struct FakeSentinel {
    pub addr: String,
    stop: Arc<AtomicBool>,
    /// Every command received, upper-cased words joined by spaces.
    log: Arc<Mutex<Vec<String>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeSentinel {
    /// A fake that answers the connection setup (`CLIENT SETINFO` with `+OK`,
    /// and the `PING` disredis sends to detect `requirepass` with `+PONG`) and
    /// everything else with `script`.
    pub fn start(script: impl Fn(&[String]) -> Act + Send + Sync + 'static) -> FakeSentinel {
        Self::start_raw(move |cmd| match cmd {
            [c, s, ..] if c == "CLIENT" && s == "SETINFO" => Act::Reply(b"+OK\r\n".to_vec()),
            [p] if p == "PING" => Act::Reply(b"+PONG\r\n".to_vec()),
            _ => script(cmd),
        })
    }

    /// A fake whose script sees every command, connection setup included.
    pub fn start_raw(script: impl Fn(&[String]) -> Act + Send + Sync + 'static) -> FakeSentinel {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let acceptor = {
            let (stop, log) = (stop.clone(), log.clone());
            std::thread::spawn(move || {
                let mut handlers = Vec::new();
                while !stop.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (stop, log, script) = (stop.clone(), log.clone(), script.clone());
                            handlers.push(std::thread::spawn(move || serve(stream, &stop, &log, &*script)));
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        Err(e) => panic!("fake sentinel accept: {e}"),
                    }
                }
                for h in handlers {
                    h.join().expect("fake sentinel connection thread panicked");
                }
            })
        };
        FakeSentinel { addr, stop, log, acceptor: Some(acceptor) }
    }

    pub fn commands(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.commands().iter().filter(|c| c.starts_with(prefix)).count()
    }
}

impl Drop for FakeSentinel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(a) = self.acceptor.take() {
            let joined = a.join();
            if !std::thread::panicking() {
                joined.expect("fake sentinel thread panicked");
            }
        }
    }
}

/// One connection: read commands, answer per script, until closed or stopped.
fn serve(mut stream: TcpStream, stop: &AtomicBool, log: &Mutex<Vec<String>>, script: &Script) {
    stream.set_nonblocking(false).expect("blocking stream");
    stream.set_read_timeout(Some(Duration::from_millis(20))).expect("read timeout");
    stream.set_write_timeout(Some(Duration::from_secs(5))).expect("write timeout");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while !stop.load(Ordering::Acquire) {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        }
        while let Some((cmd, used)) = parse_command(&buf) {
            buf.drain(..used);
            log.lock().unwrap().push(cmd.join(" ").to_uppercase());
            let upper: Vec<String> = cmd.iter().map(|w| w.to_uppercase()).collect();
            match script(&upper) {
                Act::Reply(bytes) => {
                    if stream.write_all(&bytes).is_err() {
                        return;
                    }
                }
                Act::Later(pause, bytes) => {
                    std::thread::sleep(pause);
                    if stream.write_all(&bytes).is_err() {
                        return;
                    }
                }
                Act::Silence => {}
                Act::ReplyAndClose(bytes) => {
                    let _ = stream.write_all(&bytes);
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
    }
}

/// One RESP command (an array of bulk strings) from the front of `buf`, and the
/// bytes it used; `None` until it is complete.
fn parse_command(buf: &[u8]) -> Option<(Vec<String>, usize)> {
    fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let end = buf.get(at..)?.windows(2).position(|w| w == b"\r\n")? + at;
        Some((&buf[at..end], end + 2))
    }
    let (head, mut at) = line(buf, 0)?;
    let n: usize =
        std::str::from_utf8(head.strip_prefix(b"*").expect("client sent an array")).ok()?.parse().ok()?;
    let mut words = Vec::with_capacity(n);
    for _ in 0..n {
        let (len, next) = line(buf, at)?;
        let len: usize =
            std::str::from_utf8(len.strip_prefix(b"$").expect("bulk string")).ok()?.parse().ok()?;
        let word = buf.get(next..next + len)?;
        words.push(String::from_utf8_lossy(word).into_owned());
        at = next + len + 2;
        if buf.len() < at {
            return None;
        }
    }
    Some((words, at))
}

// --- RESP encoding -----------------------------------------------------------

pub fn bulk(s: &str) -> Vec<u8> {
    format!("${}\r\n{s}\r\n", s.len()).into_bytes()
}

pub fn array(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for i in items {
        out.extend_from_slice(i);
    }
    out
}

pub fn record(fields: &[(&str, &str)]) -> Vec<u8> {
    array(&fields.iter().flat_map(|(k, v)| [bulk(k), bulk(v)]).collect::<Vec<_>>())
}

pub fn master(name: &str, ip: &str, port: &str, flags: &str) -> Vec<u8> {
    record(&[("name", name), ("ip", ip), ("port", port), ("flags", flags)])
}

/// A script that answers `SENTINEL MASTERS` with `reply` and every other
/// `SENTINEL` subcommand with an empty array.
pub fn masters_reply(reply: Vec<u8>) -> impl Fn(&[String]) -> Act + Send + Sync + 'static {
    move |cmd| match cmd {
        [s, m] if s == "SENTINEL" && m == "MASTERS" => Act::Reply(reply.clone()),
        _ => Act::Reply(b"*0\r\n".to_vec()),
    }
}
