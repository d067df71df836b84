//! The blocking client's runtime and how a caller waits on it: where a call
//! may block (a plain thread, a `spawn_blocking` closure) and where it must
//! not (an async task, a runtime's `block_on`).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{JoinHandle, Thread};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// A tokio runtime that is always running, shared by every clone of a client.
///
/// Why a runtime that runs between calls: each shard's connection has a
/// reader task (and a writer task), spawned on the runtime, that reads replies
/// and notices a closed socket; timers (response timeouts, backoff) and any background task of
/// the async client must fire too. A `current_thread` runtime only makes
/// progress while some thread is inside `Runtime::block_on`, so one thread (this
/// struct's) sits in `block_on` until the last clone is dropped, driving I/O,
/// timers and spawned tasks. A caller polls its own future on its own thread
/// ([`Driver::block_on`]) and sleeps while it is pending; the runtime's thread
/// wakes it. That is what a one-worker `multi_thread` runtime does, without
/// needing tokio's `rt-multi-thread` feature; it also lets several threads call
/// clones at once (each polls its own future) and lets futures borrow the
/// caller's `&Cmd`.
pub(super) struct Driver {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Driver {
    /// Starts the runtime's thread. Refuses where [`Driver::block_on`] would
    /// (before starting anything, so nothing is left behind).
    pub(super) fn start() -> Result<Driver> {
        if !may_block_here() {
            return Err(Error::InsideRuntime);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Redis(e.into()))?;
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("disredis-blocking".into())
            .spawn(move || {
                // Runs tasks until the last client is dropped (or the sender is
                // dropped), then drops the runtime here: outside any async context.
                let _ = rt.block_on(stopped);
            })
            .map_err(|e| Error::Redis(e.into()))?;
        Ok(Driver { handle, stop: Some(stop), thread: Some(thread) })
    }

    /// Runs `fut` to completion on the calling thread, which sleeps while `fut`
    /// is pending; the runtime's thread drives its I/O and timers and wakes it.
    ///
    /// [`Error::InsideRuntime`] where blocking would stall a runtime (see
    /// [`may_block_here`]). Not tokio's `Handle::block_on`: that one panics when
    /// the thread runs a runtime, and whether it does cannot be asked without
    /// the panic, so a wrong guess here would be a panic. This loop never
    /// panics and never needs the caller's runtime: `handle.enter()` makes
    /// whatever `fut` creates (timers, spawned tasks) belong to this runtime,
    /// and `unconstrained` keeps the caller's task budget (if any) from making
    /// tokio resources return `Pending` forever.
    pub(super) fn block_on<F: Future>(&self, fut: F) -> Result<F::Output> {
        if !may_block_here() {
            return Err(Error::InsideRuntime);
        }
        let _enter = self.handle.enter();
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(tokio::task::unconstrained(fut));
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return Ok(out);
            }
            // Returns at once when woken since the poll; a spurious return
            // only costs another poll.
            std::thread::park();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Never join ourselves (a task of this runtime dropping the last clone).
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// Wakes a thread sleeping in [`Driver::block_on`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Whether a blocking call may wait on this thread: true on a thread without a
/// tokio runtime and inside `tokio::task::spawn_blocking` (or
/// `block_in_place`), false inside an async task or a runtime's `block_on`
/// (`#[tokio::main]`, `#[tokio::test]`), where waiting would stall the runtime.
///
/// tokio has no public "may I block here?" (tokio-rs/tokio#3559, #7769), and
/// `Handle::try_current()` answers `Ok` in all of these places (a
/// `spawn_blocking` thread has the runtime's handle), so three public facts
/// decide:
/// 1. no current handle: no runtime on this thread;
/// 2. `task::try_id()` is `None` outside tasks, and "calls to `block_on` do
///    not have task IDs" (its docs): with a handle but no task, this is a
///    `block_on` body — or a plain thread holding a `Handle::enter` guard,
///    which looks the same and is refused too;
/// 3. a `spawn_blocking` closure is a task too (it has an id), so an async
///    task is told apart by [`scheduler_here`].
fn may_block_here() -> bool {
    if Handle::try_current().is_err() {
        return true;
    }
    if tokio::task::try_id().is_none() {
        return false;
    }
    !scheduler_here()
}

/// Whether a tokio scheduler is running tasks on this thread right now: polls
/// `tokio::task::yield_now()` once with a waker of our own. A scheduler keeps
/// the waker to wake after its other ready tasks ran; without one (a plain
/// thread, `spawn_blocking`, `block_in_place`) tokio wakes it during the poll
/// ("When polled from outside a Tokio runtime, the waker is woken
/// immediately", tokio 1.54 `task/yield_now.rs`). The kept waker fires later
/// and only sets a flag nobody reads. Pinned by the tests in
/// `tests/it/blocking/runtime.rs` for the locked tokio: tasks on both runtime
/// flavors are refused, `spawn_blocking` and `block_in_place` work. If tokio
/// ever woke immediately inside tasks too, a task would block its worker (no
/// panic: [`Driver::block_on`] does not need the runtime it stalls).
fn scheduler_here() -> bool {
    struct Woken(AtomicBool);
    impl Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::Release);
        }
    }
    let woken = Arc::new(Woken(AtomicBool::new(false)));
    let waker = Waker::from(woken.clone());
    let mut yielded = pin!(tokio::task::yield_now());
    let _ = yielded.as_mut().poll(&mut Context::from_waker(&waker));
    !woken.0.load(Ordering::Acquire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_thread_may_block() {
        assert!(may_block_here());
        assert!(!scheduler_here());
    }

    #[test]
    fn where_blocking_is_allowed_on_each_runtime_flavor() {
        for rt in [
            tokio::runtime::Builder::new_current_thread().build().unwrap(),
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap(),
        ] {
            let flavor = rt.handle().runtime_flavor();
            let (body, task, blocking) = rt.block_on(async {
                let body = may_block_here();
                let task = tokio::spawn(async { may_block_here() }).await.unwrap();
                let blocking = tokio::task::spawn_blocking(may_block_here).await.unwrap();
                (body, task, blocking)
            });
            assert!(!body, "{flavor:?}: a block_on body must be refused");
            assert!(!task, "{flavor:?}: an async task must be refused");
            assert!(blocking, "{flavor:?}: spawn_blocking may block");
            let _enter = rt.enter();
            assert!(!may_block_here(), "{flavor:?}: an enter guard looks like a block_on body");
        }
    }
}
