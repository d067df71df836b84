//! How an [`Error`] crosses the `redis` traits and comes back: the typed error
//! rides inside the `RedisError` as the payload of an I/O error (the only
//! foreign error redis-rs carries for any caller), and [`From<RedisError>`]
//! takes it out again. The payload type is private, so nothing but this crate
//! can make one: a server reply or a text never turns into a typed variant.
//!
//! The I/O error kind of the carrier decides what redis-rs's predicates
//! (`is_connection_dropped`, `is_timeout`, `retry_method`, …) report; the
//! table on [`enum@Error`] lists it per variant.

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;

use redis::RedisError;

use super::Error;

/// The payload: a typed error inside an `io::Error` inside a `RedisError`.
/// No `source`: the carried error's text already is this one's.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Carrier(Error);

impl Error {
    /// The I/O error kind of the carrier, chosen for what redis-rs derives
    /// from it (redis-rs 1.8 `RedisError::retry_method` for `ErrorKind::Io`):
    /// `Unsupported` and `PermissionDenied` are `NoRetry` and not a dropped
    /// connection; `NotConnected` is a dropped connection (`Reconnect`);
    /// `TimedOut` is `is_timeout()`; the rest are `RetryImmediately`.
    fn io_kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self {
            Error::Auth { .. } => K::PermissionDenied,
            Error::NoSentinel { .. }
            | Error::NoQuorum { .. }
            | Error::NotMaster { .. }
            | Error::NoReplica { .. }
            | Error::PubSubShard { .. }
            | Error::ShardDown { .. } => K::NotConnected,
            Error::FailoverTimeout { .. } => K::TimedOut,
            Error::RingChanged { .. } => K::Interrupted,
            Error::SentinelReply { .. } => K::InvalidData,
            Error::Config { .. }
            | Error::BadUrl { .. }
            | Error::UnknownMaster { .. }
            | Error::NoMasters { .. }
            | Error::CrossShard { .. }
            | Error::NoKey { .. }
            | Error::SharedConnection { .. }
            | Error::WrongShard { .. }
            | Error::Closed
            | Error::UnknownShard { .. }
            | Error::BadCommand { .. }
            | Error::Ambiguous { .. }
            | Error::InsideRuntime
            | Error::NotReplicated { .. }
            | Error::Tls { .. }
            | Error::PartiallyApplied { .. }
            | Error::BadRing { .. }
            | Error::Reshard { .. }
            | Error::Redis(_) => K::Unsupported,
        }
    }
}

/// How an [`Error`] crosses the `redis` traits: `Error::Redis` is returned as it
/// was; every other variant rides inside the `RedisError` (see the module docs)
/// with its own `Display` text, and [`Error::from`] gives it back whole.
impl From<Error> for RedisError {
    fn from(e: Error) -> Self {
        match e {
            Error::Redis(inner) => inner,
            other => {
                let kind = other.io_kind();
                RedisError::from(io::Error::new(kind, Carrier(other)))
            }
        }
    }
}

/// The way back: the typed error a `RedisError` from this crate carries, or
/// [`Error::Redis`] for any other.
impl From<RedisError> for Error {
    fn from(e: RedisError) -> Self {
        match find_in::<Carrier>(&e) {
            Some(Carrier(typed)) => typed.clone(),
            None => Error::Redis(e),
        }
    }
}

/// Whether `e` carries one of this crate's typed errors.
pub(crate) fn is_carried(e: &RedisError) -> bool {
    find_in::<Carrier>(e).is_some()
}

/// The first `T` in `e`'s chain of causes, looking inside the `io::Error`s and
/// the shared (`Arc`) errors redis-rs wraps foreign errors in.
pub(crate) fn find_in<T: StdError + 'static>(e: &RedisError) -> Option<&T> {
    let mut next = e.source();
    // A cause chain is finite, but a hostile one must not hang us.
    for _ in 0..16 {
        let cur = next?;
        if let Some(found) = inside::<T>(cur) {
            return Some(found);
        }
        next = cur.source();
    }
    None
}

/// `cur` itself as a `T`, or the `T` directly inside it (an `io::Error`'s
/// payload, an `Arc`'s target).
fn inside<'a, T: StdError + 'static>(cur: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cur = cur;
    for _ in 0..4 {
        if let Some(found) = cur.downcast_ref::<T>() {
            return Some(found);
        }
        cur = match cur.downcast_ref::<Arc<dyn StdError + Send + Sync>>() {
            Some(arc) => &**arc,
            None => cur.downcast_ref::<io::Error>()?.get_ref()?,
        };
    }
    None
}

#[cfg(test)]
mod tests;
