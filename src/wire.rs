//! The connection of our own to a data node (DESIGN §10), in place of
//! redis-rs's `MultiplexedConnection` under every shard.
//!
//! - **Pack once.** A command is packed by `Cmd::write_packed_command` straight
//!   into the connection's write buffer, under the lock that orders it with
//!   its waiter; a split pipeline's part packs the caller's own commands, so
//!   nothing is cloned on the way.
//! - **Coalesced writes, no timer.** The task that finds the socket idle
//!   writes the buffer at once with a non-blocking `write` from its own task
//!   (one task pays no latency and no task hop); requests queued while a write
//!   is under way go out together in the next one. What the socket won't take
//!   is left to a writer task, and TLS is always written there.
//! - **One reader** per connection decodes replies ([`resp`]) and answers the
//!   waiters in order ([`reply`]); the answer travels in a oneshot, the one
//!   allocation per request.
//! - **Bounded.** At most [`Limits::requests`] requests unanswered and
//!   [`Limits::bytes`] bytes queued per connection; a request finding it full
//!   waits for room (within its response timeout), so 1,024 tasks can't grow
//!   memory without limit.
//! - **Exact fate.** When the connection fails, a request none of whose bytes
//!   a write took surely did not run: its error carries
//!   [`NotSent`](crate::retry::NotSent), which the retry judgement treats as
//!   "not run" whatever the command. Only requests written and unanswered are
//!   of unknown fate.
//! - **Pushes.** A connection opened with a [`PushSink`] speaks RESP3
//!   (`HELLO 3` in its handshake): push frames (pub/sub messages, and later
//!   client-side caching's invalidations) never answer a request; they go to
//!   the sink, in the order they arrive, and a `Disconnection` push follows
//!   the last of them when the connection fails or is closed.

use std::io;

use redis::RedisError;

use crate::retry::NotSent;

mod conn;
mod like;
mod open;
pub(crate) mod reply;
pub(crate) mod resp;
mod socket;
#[cfg(feature = "tls")]
mod tls;

pub(crate) use conn::Wire;
pub(crate) use open::{Hello, Settings, open};

/// Where a RESP3 connection's push frames go (called on the reader task, so
/// it must not block: pub/sub hands each message to a bounded channel).
pub(crate) type PushSink = std::sync::Arc<dyn Fn(redis::PushInfo) + Send + Sync>;

/// How much one connection queues (defaults: [`DEFAULT_MAX_REQUESTS`],
/// [`DEFAULT_MAX_BYTES`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Requests sent or queued and not yet answered.
    pub(crate) requests: usize,
    /// Bytes queued and not yet taken by a write (a single larger request
    /// still goes when the queue is empty).
    pub(crate) bytes: usize,
}

/// Unanswered requests per connection before new ones wait: far above what
/// a server answers in one round trip (a pipeline counts once).
pub(crate) const DEFAULT_MAX_REQUESTS: usize = 4096;

/// Queued bytes per connection before new requests wait: a few socket
/// buffers' worth.
pub(crate) const DEFAULT_MAX_BYTES: usize = 1 << 20;

impl Default for Limits {
    fn default() -> Limits {
        Limits { requests: DEFAULT_MAX_REQUESTS, bytes: DEFAULT_MAX_BYTES }
    }
}

/// The error of a request its connection never wrote: marked [`NotSent`].
fn not_sent(addr: &str, why: &io::Error) -> RedisError {
    unsent(addr, format!("the connection failed before writing it ({why})"))
}

/// A request that found its connection's queue full for its whole response
/// timeout: never written, marked [`NotSent`].
fn no_room(addr: &str) -> RedisError {
    unsent(addr, "no room in the connection's queue within the response timeout".into())
}

fn unsent(addr: &str, why: String) -> RedisError {
    io::Error::new(io::ErrorKind::NotConnected, NotSent(format!("not sent to {addr}: {why}"))).into()
}

/// The error of a request written (at least in part) and unanswered when the
/// connection failed: it may have run.
fn lost(addr: &str, why: &io::Error) -> RedisError {
    let kind = match why.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::InvalidData => why.kind(),
        _ => io::ErrorKind::ConnectionReset,
    };
    io::Error::new(kind, format!("connection to {addr} lost after sending: {why}")).into()
}

#[cfg(test)]
mod tests;
