//! Opening a [`Wire`]: TCP (TCP_NODELAY on, keepalive), TLS with feature
//! `tls`, and the handshake in one round trip — `AUTH`, `HELLO 3` for a
//! connection that takes pushes, `SELECT`, the
//! library's name (`CLIENT SETINFO`), the connection's name (`CLIENT
//! SETNAME`) and `ROLE`, written together and read back in order.

use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use parking_lot::Mutex;
use redis::{ErrorKind, RedisError, RedisResult, ServerError, Value};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::conn::{Owner, Shared, State, Wire};
use super::socket::{self, ReadSide, Socket, WriteSide};
use super::{Limits, PushSink};
use crate::config::{Auth, NodeAddr};

/// How a connection is opened and kept (from the client's `Config`).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// Bound on TCP connect (and TLS handshake).
    pub(crate) connect_timeout: Duration,
    /// Bound on each request's answer unless it brings its own; `None`: none.
    pub(crate) response_timeout: Option<Duration>,
    /// TCP_NODELAY (default on: a request is one small write that must not
    /// wait for the previous one's acknowledgement).
    pub(crate) nodelay: bool,
    /// TCP keepalive idle time (`None`: the OS default, off).
    pub(crate) keepalive: Option<Duration>,
    /// What one connection queues.
    pub(crate) limits: Limits,
}

/// Seconds between keepalive probes once a connection was idle for
/// `Builder::tcp_keepalive`, and how many may go unanswered before the kernel
/// closes it: 10 s and 3, so a peer gone silent is noticed within the idle
/// time + 30 s (60 s by default) rather than the idle time + 11 min of
/// Linux's own 75 s × 9 probes.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_PROBES: u32 = 3;

/// Turns keepalive on: probes after `idle`, then every
/// [`KEEPALIVE_INTERVAL`], [`KEEPALIVE_PROBES`] at most (where the OS lets
/// them be set). `TCP_USER_TIMEOUT` is not set: a request already has the
/// response timeout, after which the connection is dropped, so no unanswered
/// bytes outlive it (docs/reliability.md).
pub(crate) fn keep_alive(socket: socket2::SockRef<'_>, idle: Duration) -> io::Result<()> {
    let keepalive = socket2::TcpKeepalive::new().with_time(idle);
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos", target_os = "freebsd"))]
    let keepalive = keepalive.with_interval(KEEPALIVE_INTERVAL).with_retries(KEEPALIVE_PROBES);
    socket.set_tcp_keepalive(&keepalive)
}

/// What the handshake says besides authenticating and selecting the database.
#[derive(Clone, Default)]
pub(crate) struct Hello<'a> {
    /// `CLIENT SETNAME` (a refusal only leaves the connection unnamed).
    pub(crate) name: Option<&'a str>,
    /// Ask `ROLE` in the same round trip.
    pub(crate) role: bool,
    /// Speak RESP3 (`HELLO 3`) and hand push frames here; `None`: RESP2,
    /// which has no pushes.
    pub(crate) push: Option<PushSink>,
    /// `CLIENT TRACKING ON` (with `push` only): the server tells this
    /// connection when a key it read changes (client-side caching). A
    /// refusal (an ACL without `client|tracking`) leaves the connection
    /// usable and not tracking ([`Wire::cache_epoch`] 0).
    pub(crate) tracking: bool,
}

/// What the node answered to the handshake's questions.
#[derive(Debug, Default)]
pub(crate) struct Greeting {
    /// The `ROLE` reply, when asked (an error reply stays a `ServerError`).
    pub(crate) role: Option<Value>,
    /// Why `CLIENT SETNAME` was refused, if it was.
    pub(crate) name_refused: Option<ServerError>,
    /// Why `CLIENT TRACKING ON` was refused, if it was asked and refused.
    pub(crate) tracking_refused: Option<ServerError>,
}

const LIB_NAME: &str = "disredis";

/// Connects to `addr` and says hello; the handshake is bounded by the
/// response timeout (or the connect timeout when there is none). Refused
/// credentials are `ErrorKind::AuthenticationFailed` with the server's words.
pub(crate) async fn open(
    addr: &NodeAddr,
    auth: &Auth,
    db: i64,
    settings: &Settings,
    hello: Hello<'_>,
) -> RedisResult<(Wire, Greeting)> {
    let timed_out = || RedisError::from(io::Error::from(io::ErrorKind::TimedOut));
    let connect = TcpStream::connect((addr.host(), addr.port()));
    let tcp = tokio::time::timeout(settings.connect_timeout, connect).await.map_err(|_| timed_out())??;
    tcp.set_nodelay(settings.nodelay)?;
    if let Some(idle) = settings.keepalive {
        keep_alive(socket2::SockRef::from(&tcp), idle)?;
    }
    let shutter = tcp.into_std()?;
    let tcp = TcpStream::from_std(shutter.try_clone()?)?;
    #[cfg(feature = "tls")]
    let parts = match &auth.tls {
        Some(tls) => {
            let handshake = super::tls::handshake(tcp, addr.host(), tls);
            let stream = tokio::time::timeout(settings.connect_timeout, handshake)
                .await
                .map_err(|_| timed_out())??;
            socket::tls(stream, shutter)
        }
        None => socket::tcp(tcp, shutter),
    };
    #[cfg(not(feature = "tls"))]
    let parts = socket::tcp(tcp, shutter);
    let wire = start(parts, addr, db, settings, hello.push.clone());
    let (hello, said) = handshake(auth, db, &hello);
    let patience = Some(settings.response_timeout.unwrap_or(settings.connect_timeout));
    let replies = wire.send_pipe(&hello, 0, hello.len(), Some(patience)).await?;
    let greeting = greeting(replies, &said)?;
    if said.contains(&Said::Tracking) && greeting.tracking_refused.is_none() {
        wire.owner.shared.start_tracking();
    }
    Ok((wire, greeting))
}

/// The connection's shared state and its two tasks.
fn start(
    (socket, read, write): (Socket, ReadSide, WriteSide),
    addr: &NodeAddr,
    db: i64,
    settings: &Settings,
    push: Option<PushSink>,
) -> Wire {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            out: Vec::with_capacity(4096),
            spare: Vec::with_capacity(4096),
            waiters: Default::default(),
            writing: false,
            handed: false,
            queued: 0,
            broken: None,
            waiting_for_room: 0,
        }),
        socket,
        writer: Notify::new(),
        room: Notify::new(),
        limits: settings.limits,
        addr: addr.to_string().into(),
        db,
        timeout: settings.response_timeout,
        push,
        epoch: AtomicU64::new(0),
    });
    tokio::spawn(socket::reader(shared.clone(), read));
    tokio::spawn(socket::writer(shared.clone(), write));
    Wire { owner: Arc::new(Owner { shared }) }
}

/// Which handshake command a reply answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Said {
    Auth,
    Resp3,
    Select,
    LibInfo,
    Name,
    Role,
    Tracking,
}

/// The handshake's commands, and which is which.
fn handshake(auth: &Auth, db: i64, hello: &Hello<'_>) -> (redis::Pipeline, Vec<Said>) {
    let mut p = redis::pipe();
    let mut said = Vec::new();
    if let Some(password) = &auth.password {
        let c = p.cmd("AUTH");
        if let Some(user) = &auth.username {
            c.arg(user.as_str());
        }
        c.arg(password.expose());
        said.push(Said::Auth);
    }
    if hello.push.is_some() {
        // After AUTH: a server with a password refuses HELLO before it.
        p.cmd("HELLO").arg(3);
        said.push(Said::Resp3);
        if hello.tracking {
            p.cmd("CLIENT").arg("TRACKING").arg("ON").arg("NOLOOP");
            said.push(Said::Tracking);
        }
    }
    if db != 0 {
        p.cmd("SELECT").arg(db);
        said.push(Said::Select);
    }
    p.cmd("CLIENT").arg("SETINFO").arg("LIB-NAME").arg(LIB_NAME);
    p.cmd("CLIENT").arg("SETINFO").arg("LIB-VER").arg(env!("CARGO_PKG_VERSION"));
    said.extend([Said::LibInfo, Said::LibInfo]);
    if let Some(name) = hello.name {
        p.cmd("CLIENT").arg("SETNAME").arg(name);
        said.push(Said::Name);
    }
    if hello.role {
        p.cmd("ROLE");
        said.push(Said::Role);
    }
    (p, said)
}

/// Reads the handshake's replies (one per command, as `send_pipe` gives
/// them): a refused `AUTH`, `HELLO 3` or `SELECT` fails the
/// connect; the library name is best effort (Redis before 7.2 has no
/// `CLIENT SETINFO`).
fn greeting(replies: Vec<Value>, said: &[Said]) -> RedisResult<Greeting> {
    let mut out = Greeting::default();
    for (reply, what) in replies.into_iter().zip(said) {
        match (what, reply) {
            (Said::Auth, Value::ServerError(e)) => {
                let detail = e.to_string();
                return Err(
                    (ErrorKind::AuthenticationFailed, "Password authentication failed", detail).into()
                );
            }
            (Said::Resp3, Value::ServerError(e)) => {
                let detail = format!("HELLO 3 refused ({e}); pushes need Redis 6 or later");
                return Err((ErrorKind::Client, "disredis: the server does not speak RESP3", detail).into());
            }
            (Said::Select, Value::ServerError(e)) => return Err(e.into()),
            (Said::Name, Value::ServerError(e)) => out.name_refused = Some(e),
            (Said::Tracking, Value::ServerError(e)) => out.tracking_refused = Some(e),
            (Said::Role, v) => out.role = Some(v),
            _ => {}
        }
    }
    Ok(out)
}
