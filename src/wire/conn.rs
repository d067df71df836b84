//! [`Wire`]'s request side: packing a request into the connection's write
//! buffer in the order of its waiter, writing it at once when the socket is
//! idle (the caller's own task does the `write`, no task hop) or leaving it for
//! whoever is writing (coalescing), bounding what is queued, and answering
//! every waiter when the connection fails, with the fate its bytes had.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use redis::{RedisError, RedisResult};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::reply::{Answer, Expect, Gather};
use super::socket::Socket;
use super::{Limits, PushSink, lost, no_room, not_sent};

/// A connection of our own to one data node. Cheap to clone (one `Arc`); the
/// connection closes when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Wire {
    pub(super) owner: Arc<Owner>,
}

/// Held only by [`Wire`]s: dropping the last one closes the connection (the
/// reader and writer tasks hold [`Shared`], not this).
pub(super) struct Owner {
    pub(super) shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.fail(io::Error::new(io::ErrorKind::NotConnected, "connection closed by the client"));
    }
}

/// What the handles and the two tasks share.
pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) socket: Socket,
    /// Wakes the writer task when a caller leaves bytes to it.
    pub(super) writer: Notify,
    /// Wakes requests waiting for room in a full queue.
    pub(super) room: Notify,
    pub(super) limits: Limits,
    /// `host:port`, for errors.
    pub(super) addr: Arc<str>,
    pub(super) db: i64,
    /// The response timeout of requests sent without one of their own.
    pub(super) timeout: Option<Duration>,
    /// Where push frames go (RESP3 connections only).
    pub(super) push: Option<PushSink>,
    /// The tracking epoch (see [`Wire::cache_epoch`]); 0 while the
    /// connection is not tracking or has failed.
    pub(super) epoch: AtomicU64,
}

/// The queue, behind one lock: bytes not yet taken by a writer, and the
/// waiters of every request not yet answered, in the order of their bytes.
pub(super) struct State {
    pub(super) out: Vec<u8>,
    /// The buffer a writer hands back, reused so a write allocates nothing.
    pub(super) spare: Vec<u8>,
    pub(super) waiters: VecDeque<Waiter>,
    /// A writer (a caller or the writer task) owns the socket's write side.
    pub(super) writing: bool,
    /// That writer is the writer task: it was handed the write side (a wake-up
    /// without this set, say after `fail`, is not a licence to write).
    pub(super) handed: bool,
    /// Bytes ever queued: a waiter's `start` is this count when it was
    /// queued, so `queued - out.len()` is where the written (or being
    /// written) bytes end.
    pub(super) queued: u64,
    /// Set once, when the connection failed or was closed.
    pub(super) broken: Option<Arc<io::Error>>,
    /// Requests waiting for room.
    pub(super) waiting_for_room: usize,
}

/// One request waiting for its replies.
pub(super) struct Waiter {
    pub(super) start: u64,
    /// When its caller stops waiting (`None`: never).
    pub(super) deadline: Option<Instant>,
    pub(super) gather: Gather,
    pub(super) tx: oneshot::Sender<RedisResult<Answer>>,
}

impl State {
    fn full(&self, limits: &Limits) -> bool {
        self.waiters.len() >= limits.requests || (!self.out.is_empty() && self.out.len() >= limits.bytes)
    }

    /// The queued bytes, for a write; the spare buffer takes their place.
    pub(super) fn take_out(&mut self) -> Vec<u8> {
        let spare = std::mem::take(&mut self.spare);
        std::mem::replace(&mut self.out, spare)
    }

    /// A written buffer back, emptied, as the spare.
    pub(super) fn give_back(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        self.spare = buf;
    }

    /// What a write did not send (`buf` after its first `done` bytes) goes
    /// back in front of the queue: its requests stay "not sent" until a write
    /// takes them.
    pub(super) fn put_back(&mut self, mut buf: Vec<u8>, done: usize) {
        buf.drain(..done);
        buf.extend_from_slice(&self.out);
        self.out = buf;
    }
}

/// Epochs are unique in the process, so an entry stored under one connection's
/// epoch never matches another connection's.
static EPOCHS: AtomicU64 = AtomicU64::new(1);

impl Shared {
    /// Starts a new tracking epoch, unless the connection is not tracking
    /// (or failed): the server said to forget everything (a null
    /// invalidation, after `FLUSHALL`), or the client flushed it.
    pub(super) fn renew_epoch(&self) {
        let _ = self.epoch.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |e| {
            (e != 0).then(|| EPOCHS.fetch_add(1, Ordering::Relaxed))
        });
    }

    /// The connection tracks the keys it reads (`CLIENT TRACKING ON` was
    /// accepted): its first epoch.
    pub(super) fn start_tracking(&self) {
        // Under the lock `fail` takes: a connection that failed already stays at 0.
        let st = self.state.lock();
        if st.broken.is_none() {
            self.epoch.store(EPOCHS.fetch_add(1, Ordering::Relaxed), Ordering::SeqCst);
        }
    }
}

impl Wire {
    /// The connection's client-side caching epoch: a number unique in the
    /// process that stays the same while the server's invalidations on this
    /// connection cover everything read over it since the epoch began; a new
    /// one after a null invalidation (`FLUSHALL`) or [`Wire::renew_cache_epoch`];
    /// 0 when the connection does not track keys or has failed (set before
    /// its waiters hear of the failure). A cached reply is served only while
    /// the epoch it was read under is the shard connection's current one.
    #[cfg(feature = "cache")]
    pub(crate) fn cache_epoch(&self) -> u64 {
        self.owner.shared.epoch.load(Ordering::SeqCst)
    }

    /// Ends the current epoch (a tracking connection only): everything
    /// cached under it is no longer served (the client's own `FLUSHALL`,
    /// whose null invalidation the server sends only after the reply).
    #[cfg(feature = "cache")]
    pub(crate) fn renew_cache_epoch(&self) {
        self.owner.shared.renew_epoch();
    }

    /// Sends what `pack` writes (whole commands whose replies `expect` says)
    /// and waits for the answer, at most `timeout` (default: the
    /// connection's response timeout; `Some(None)`: no limit) — or longer
    /// while a request queued before it may still be waiting within its own
    /// (a `WAIT`, a `MIGRATE`): replies come in order, so this one can't come
    /// sooner, and a healthy connection must not count as hung for it.
    pub(crate) async fn request(
        &self,
        pack: impl FnOnce(&mut Vec<u8>),
        expect: Expect,
        timeout: Option<Option<Duration>>,
    ) -> RedisResult<Answer> {
        let shared = &self.owner.shared;
        let timeout = timeout.unwrap_or(shared.timeout);
        let deadline = timeout.map(|t| Instant::now() + t);
        let (start, mut rx) = match shared.enqueue(pack, expect, deadline, false) {
            Ok(queued) => queued,
            Err(Refused::Broken(e)) => return Err(e),
            Err(Refused::Full(pack)) => match deadline {
                Some(d) => tokio::time::timeout_at(d, shared.enqueue_when_room(pack, expect, deadline))
                    .await
                    .map_err(|_| no_room(&shared.addr))??,
                None => shared.enqueue_when_room(pack, expect, deadline).await?,
            },
        };
        let answer = match deadline {
            Some(mut until) => loop {
                match tokio::time::timeout_at(until, &mut rx).await {
                    Ok(answer) => break answer,
                    Err(_) => match shared.waited_on_before(start) {
                        Some(Some(later)) if later > until => until = later,
                        Some(None) => break rx.await,
                        _ => return Err(timed_out()),
                    },
                }
            },
            None => rx.await,
        };
        // A sender dropped unanswered: the waiter was dropped with the state
        // of a failed connection (answered there first; never seen).
        answer.unwrap_or_else(|_| Err(lost(&shared.addr, &io::Error::from(io::ErrorKind::ConnectionAborted))))
    }

    /// Whether the connection failed or was closed (a new request on it would
    /// fail at once, unsent).
    #[cfg(test)]
    pub(crate) fn is_broken(&self) -> bool {
        self.owner.shared.state.lock().broken.is_some()
    }
}

fn timed_out() -> RedisError {
    io::Error::from(io::ErrorKind::TimedOut).into()
}

/// One caller counted among those waiting for room, until it stops waiting
/// (woken, or its future dropped).
struct Counted<'a>(&'a Shared);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.state.lock().waiting_for_room -= 1;
    }
}

/// A queued request: where its bytes start in the stream, and its answer to come.
pub(super) type Queued = (u64, oneshot::Receiver<RedisResult<Answer>>);

/// Why [`Shared::enqueue`] did not queue a request.
pub(super) enum Refused<P> {
    /// The connection is gone: the request was not sent.
    Broken(RedisError),
    /// The queue is full: try again when there is room (the packer is handed back).
    Full(P),
}

impl Shared {
    /// Queues the request; if no one is writing, writes the queue at once.
    /// `wait`: when the queue is full, count the caller among those waiting
    /// for room (under the same lock as the check, so no wake-up is lost).
    pub(super) fn enqueue<P: FnOnce(&mut Vec<u8>)>(
        &self,
        pack: P,
        expect: Expect,
        deadline: Option<Instant>,
        wait: bool,
    ) -> Result<Queued, Refused<P>> {
        let mut st = self.state.lock();
        if let Some(e) = &st.broken {
            return Err(Refused::Broken(not_sent(&self.addr, e)));
        }
        if st.full(&self.limits) {
            st.waiting_for_room += usize::from(wait);
            return Err(Refused::Full(pack));
        }
        let before = st.out.len();
        pack(&mut st.out);
        let start = st.queued;
        st.queued += (st.out.len() - before) as u64;
        let (tx, rx) = oneshot::channel();
        st.waiters.push_back(Waiter { start, deadline, gather: Gather::new(expect), tx });
        if st.writing {
            return Ok((start, rx));
        }
        st.writing = true;
        if st.waiters.len() > 1 {
            // Others are waiting for replies: the writer task, run after the
            // tasks ready now, writes what they all queue in one go.
            self.hand_over(st);
            return Ok((start, rx));
        }
        let buf = st.take_out();
        drop(st);
        self.write_now(buf);
        Ok((start, rx))
    }

    /// The latest deadline among the requests still unanswered and still
    /// awaited (a caller that gave up extends nothing) that were queued before
    /// the one at `start` (`Some(None)`: one waits without limit; `None`: none
    /// is left).
    fn waited_on_before(&self, start: u64) -> Option<Option<Instant>> {
        let st = self.state.lock();
        let mut latest: Option<Instant> = None;
        for w in st.waiters.iter().take_while(|w| w.start < start).filter(|w| !w.tx.is_closed()) {
            let Some(d) = w.deadline else { return Some(None) };
            latest = Some(latest.map_or(d, |l| l.max(d)));
        }
        latest.map(Some)
    }

    /// [`Shared::enqueue`] once the queue has room (the reader and the
    /// writers wake those waiting when they make some).
    async fn enqueue_when_room<P: FnOnce(&mut Vec<u8>)>(
        &self,
        mut pack: P,
        expect: Expect,
        deadline: Option<Instant>,
    ) -> RedisResult<Queued> {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.enqueue(pack, expect, deadline, true) {
                Ok(queued) => return Ok(queued),
                Err(Refused::Broken(e)) => return Err(e),
                Err(Refused::Full(p)) => pack = p,
            }
            let _counted = Counted(self);
            room.await;
        }
    }

    /// Whether requests wait for room and there is some now.
    pub(super) fn room_made(&self, st: &State) -> bool {
        st.waiting_for_room > 0 && !st.full(&self.limits)
    }

    /// The caller's task writes `buf` (and what is queued meanwhile, once)
    /// with non-blocking writes; what the socket won't take now is left to
    /// the writer task, which then owns the write side until the queue is empty.
    fn write_now(&self, mut buf: Vec<u8>) {
        for round in 0..2 {
            let mut done = 0;
            let outcome = loop {
                if done == buf.len() {
                    break Ok(());
                }
                match self.socket.try_write(&buf[done..]) {
                    Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                    Ok(n) => done += n,
                    Err(e) => break Err(e),
                }
            };
            let mut st = self.state.lock();
            match outcome {
                Ok(()) if st.out.is_empty() || st.broken.is_some() => {
                    st.writing = false;
                    st.give_back(buf);
                    return;
                }
                Ok(()) if round == 0 => {
                    st.give_back(buf);
                    buf = st.take_out();
                }
                Ok(()) => {
                    st.give_back(buf);
                    self.hand_over(st);
                    return;
                }
                Err(e) => {
                    st.put_back(buf, done);
                    if e.kind() == io::ErrorKind::WouldBlock {
                        self.hand_over(st);
                    } else {
                        drop(st);
                        self.fail(e);
                    }
                    return;
                }
            }
        }
    }

    /// Hands the write side (`writing`, set) to the writer task.
    fn hand_over(&self, mut st: parking_lot::MutexGuard<'_, State>) {
        st.handed = true;
        drop(st);
        self.writer.notify_one();
    }

    /// Marks the connection failed (once) and answers every waiter: a request
    /// none of whose bytes were taken by a write surely did not run
    /// (retryable whatever it is), any other may have.
    pub(super) fn fail(&self, why: io::Error) {
        let why = Arc::new(why);
        let (waiters, taken) = {
            let mut st = self.state.lock();
            if st.broken.is_some() {
                return;
            }
            st.broken = Some(why.clone());
            // Before any waiter hears of it: nothing read over this
            // connection may be served from a cache any more.
            self.epoch.store(0, Ordering::SeqCst);
            let taken = st.queued - st.out.len() as u64;
            st.out = Vec::new();
            st.spare = Vec::new();
            (std::mem::take(&mut st.waiters), taken)
        };
        tracing::debug!(node = %self.addr, error = %why, "connection failed");
        for w in waiters {
            let e = if w.start >= taken { not_sent(&self.addr, &why) } else { lost(&self.addr, &why) };
            let _ = w.tx.send(Err(e));
        }
        self.socket.shutdown();
        self.writer.notify_one();
        self.room.notify_waiters();
        if let Some(push) = &self.push {
            push(redis::PushInfo { kind: redis::PushKind::Disconnection, data: Vec::new() });
        }
    }
}
