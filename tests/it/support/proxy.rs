//! A fault-injecting TCP proxy for partition tests: one listener in front of
//! one node, forwarding every connection made to it, with a fault settable
//! per direction at any time. No network namespaces or `tc` here (the suite
//! runs unprivileged), so the faults are what a proxy can do and TCP would
//! show:
//!
//! - **blackhole**: the direction stops delivering — bytes sent wait in the
//!   proxy's (and then the sender's) buffers, no RST, no FIN; a connection
//!   made meanwhile is accepted (the kernel answers the SYN) but nothing
//!   reaches the node. On heal everything waiting is delivered, as TCP's
//!   retransmissions would after a real partition (the stream is never
//!   corrupted: a byte is late, never lost). One direction blackholed is a
//!   half-open connection.
//! - **delay**: every chunk is delivered `d` after it was read, in order.
//! - **reset**: every connection through the proxy is closed with an RST,
//!   and new ones are reset at once, until the fault is lifted.
//!
//! A fault is set for every connection through the proxy, or only for those
//! one process opened ([`Proxy::set_from`]): the proxy finds a connection's
//! process in `/proc` (Linux) when such a fault is set (or, for a connection
//! opened later, when it first carries bytes), which is how a test cuts one
//! pair of processes while the others sharing the proxy still pass.
//!
//! The proxies run on a runtime of their own (two workers: all the
//! proxies of the tests running at once share it), so a test's blocking
//! harness calls and its client's runtime don't starve them.

use std::collections::HashMap;
use std::fs;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// What one direction of a proxied link does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Bytes go through at once.
    Pass,
    /// Bytes go through `d` late.
    Delay(Duration),
    /// Bytes wait until the fault is lifted (no RST, no FIN).
    Blackhole,
    /// Connections are reset (both directions; set on either).
    Reset,
}

/// The faults of both directions: `to_node` (requests), `from_node` (replies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults {
    pub to_node: Fault,
    pub from_node: Fault,
}

impl Faults {
    pub const PASS: Faults = Faults { to_node: Fault::Pass, from_node: Fault::Pass };
    pub const BLACKHOLE: Faults = Faults { to_node: Fault::Blackhole, from_node: Fault::Blackhole };
    pub const RESET: Faults = Faults { to_node: Fault::Reset, from_node: Fault::Reset };

    fn resets(&self) -> bool {
        self.to_node == Fault::Reset || self.from_node == Fault::Reset
    }
}

/// The faults of a proxy: for every connection, except those a given
/// process opened.
#[derive(Clone, Debug)]
struct Rules {
    all: Faults,
    /// By the pid of the process that opened the connection.
    from: Vec<(u32, Faults)>,
}

impl Rules {
    const PASS: Rules = Rules { all: Faults::PASS, from: Vec::new() };

    /// The faults of a connection `source` opened.
    fn of(&self, source: &Source) -> Faults {
        self.from.iter().find(|(pid, _)| source.is(*pid)).map_or(self.all, |(_, f)| *f)
    }
}

/// Who opened a proxied connection (`127.0.0.1:peer` to the proxy's
/// `port`), found out in `/proc` only when a fault by source asks — the
/// socket's inode from `/proc/net/tcp`, then whether the process holds it
/// among `/proc/PID/fd` (our own children and ourselves: same user) — so
/// tests that cut no single process pay nothing.
struct Source {
    peer: u16,
    port: u16,
    inode: OnceLock<Option<String>>,
    known: Mutex<Vec<(u32, bool)>>,
}

impl Source {
    fn new(peer: u16, port: u16) -> Source {
        Source { peer, port, inode: OnceLock::new(), known: Mutex::new(Vec::new()) }
    }

    /// Records what [`Proxy::set_from`] found out for the process `pid`
    /// (`table`: `/proc/net/tcp` read once; `held`: the inodes `pid` holds).
    fn learn(&self, pid: u32, table: &Sockets, held: &[String]) {
        let inode = self.inode.get_or_init(|| table.get(&(self.peer, self.port)).cloned());
        let holds = inode.as_ref().is_some_and(|i| held.contains(i));
        let mut known = self.known.lock().unwrap();
        known.retain(|(p, _)| *p != pid);
        known.push((pid, holds));
    }

    /// Whether the process `pid` opened the connection.
    fn is(&self, pid: u32) -> bool {
        if let Some((_, known)) = self.known.lock().unwrap().iter().find(|(p, _)| *p == pid) {
            return *known;
        }
        // A connection opened after the fault was set: found out here, once.
        let inode = self.inode.get_or_init(|| sockets().remove(&(self.peer, self.port)));
        let holds = inode.as_ref().is_some_and(|i| held_by(pid).contains(i));
        self.known.lock().unwrap().push((pid, holds));
        holds
    }
}

/// `socket:[inode]` of every IPv4 loopback socket, by (local port, remote port).
type Sockets = HashMap<(u16, u16), String>;

/// `/proc/net/tcp`, read once.
fn sockets() -> Sockets {
    let table = fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port = |field: &str| field.strip_prefix("0100007F:").and_then(|p| u16::from_str_radix(p, 16).ok());
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(((port(f.get(1)?)?, port(f.get(2)?)?), format!("socket:[{}]", f.get(9)?)))
        })
        .collect()
}

/// The `socket:[inode]`s the process `pid` holds open.
fn held_by(pid: u32) -> Vec<String> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    fds.flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok()?.into_os_string().into_string().ok())
        .collect()
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("proxy")
            .enable_all()
            .build()
            .expect("the proxies' runtime")
    })
}

/// One listener on 127.0.0.1 forwarding to `target`; stops (and closes every
/// connection through it) on drop.
pub struct Proxy {
    port: u16,
    faults: watch::Sender<Rules>,
    /// The connections accepted, to find out who opened them when a fault by
    /// source is set.
    sources: Arc<Mutex<Vec<Weak<Source>>>>,
    /// Bytes read from clients (requests), for tests that check a path was used.
    to_node: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy on the free `port` (0: one the system picks) in front of
    /// `127.0.0.1:target`.
    pub fn start(port: u16, target: u16) -> std::io::Result<Proxy> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let (faults, rx) = watch::channel(Rules::PASS);
        let to_node = Arc::new(AtomicUsize::new(0));
        let counted = to_node.clone();
        let sources = Arc::new(Mutex::new(Vec::new()));
        let accepted = sources.clone();
        let task = runtime().spawn(async move {
            let listener = TcpListener::from_std(listener).expect("a tokio listener");
            accept(listener, port, target, rx, counted, accepted).await
        });
        Ok(Proxy { port, faults, sources, to_node, task })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Bytes clients sent through the proxy so far (requests, not
    /// connections: a client may reuse a connection opened earlier).
    pub fn sent_to_node(&self) -> usize {
        self.to_node.load(Ordering::SeqCst)
    }

    /// Sets both directions' faults for every connection, open or new
    /// (they follow at once), and lifts those set with [`set_from`](Self::set_from).
    pub fn set(&self, faults: Faults) {
        self.faults.send_replace(Rules { all: faults, from: Vec::new() });
    }

    /// Sets both directions' faults for the connections the process `pid`
    /// opened (open or new), the others keeping theirs.
    pub fn set_from(&self, pid: u32, faults: Faults) {
        // Who opened each open connection, found out here (one read of
        // /proc/net/tcp) rather than by each connection on the proxies' runtime,
        // which would stall every proxied link meanwhile.
        let (table, held) = (sockets(), held_by(pid));
        let mut sources = self.sources.lock().unwrap();
        sources.retain(|s| s.strong_count() > 0);
        for source in sources.iter().filter_map(Weak::upgrade) {
            source.learn(pid, &table, &held);
        }
        drop(sources);
        self.faults.send_modify(|rules| {
            rules.from.retain(|(p, _)| *p != pid);
            rules.from.push((pid, faults));
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        // Closing the sender ends every pump (they watch it).
        let (gone, _) = watch::channel(Rules::PASS);
        drop(std::mem::replace(&mut self.faults, gone));
    }
}

async fn accept(
    listener: TcpListener,
    port: u16,
    target: u16,
    faults: watch::Receiver<Rules>,
    sent: Arc<AtomicUsize>,
    sources: Arc<Mutex<Vec<Weak<Source>>>>,
) {
    loop {
        let Ok((client, peer)) = listener.accept().await else { continue };
        let (faults, sent) = (faults.clone(), sent.clone());
        let source = Arc::new(Source::new(peer.port(), port));
        sources.lock().unwrap().push(Arc::downgrade(&source));
        tokio::spawn(async move {
            let _ = link(client, target, source, faults, &sent).await;
        });
    }
}

/// One proxied connection: held while its first direction is blackholed or
/// reset, then connected to the node and pumped both ways until both ends
/// closed or a reset is set.
async fn link(
    client: TcpStream,
    target: u16,
    source: Arc<Source>,
    mut faults: watch::Receiver<Rules>,
    sent: &AtomicUsize,
) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    loop {
        let now = faults.borrow_and_update().of(&source);
        if now.resets() {
            return reset(&client);
        }
        if now.to_node != Fault::Blackhole {
            break;
        }
        if faults.changed().await.is_err() {
            return Ok(());
        }
    }
    let mut node = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], target))).await?;
    node.set_nodelay(true)?;
    let mut client = client;
    let reset_now = {
        // Borrowed halves: dropping them sends nothing (an owned write half
        // would send a FIN, which a reset must not).
        let ((cr, cw), (nr, nw)) = (client.split(), node.split());
        let (up, down) = (faults.clone(), faults.clone());
        tokio::select! {
            r = faults.wait_for(|r| r.of(&source).resets()) => r.is_ok(),
            _ = async {
                tokio::join!(
                    pump(cr, nw, up, |r| r.of(&source).to_node, Some(sent)),
                    pump(nr, cw, down, |r| r.of(&source).from_node, None)
                )
            } => false,
        }
    };
    if reset_now {
        reset(&client)?;
        reset(&node)?;
    }
    Ok(())
}

/// Makes `stream` close with an RST (SO_LINGER 0) when it is dropped.
fn reset(stream: &TcpStream) -> std::io::Result<()> {
    socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO))
}

/// Copies `from` to `to` under `which` direction's fault until `from`
/// closes (then closes `to`'s direction: a FIN for a FIN) or the proxy stops;
/// adds what it reads to `count`, if given.
async fn pump(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    mut faults: watch::Receiver<Rules>,
    which: impl Fn(&Rules) -> Fault,
    count: Option<&AtomicUsize>,
) {
    // Delayed chunks wait in a queue for the writing half, so a delay is
    // added once per chunk, not summed over them.
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let write = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    let read = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // Blackholed: read nothing until the fault changes.
            loop {
                let now = which(&faults.borrow_and_update());
                if now != Fault::Blackhole {
                    break;
                }
                if faults.changed().await.is_err() {
                    return;
                }
            }
            let n = tokio::select! {
                r = from.read(&mut buf) => match r {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                },
                // A fault set while waiting for bytes applies to the next ones.
                r = faults.changed() => {
                    if r.is_err() {
                        return;
                    }
                    continue;
                }
            };
            if let Some(count) = count {
                count.fetch_add(n, Ordering::SeqCst);
            }
            let now = which(&faults.borrow());
            let delay = match now {
                Fault::Delay(d) => d,
                _ => Duration::ZERO,
            };
            if tx.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                return;
            }
        }
    };
    tokio::join!(read, write);
}
