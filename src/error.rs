//! The crate's error type. What each variant means, when it happens and how it
//! crosses the `redis` traits is documented once, on [`enum@Error`].

use std::fmt;
use std::time::Duration;

use redis::{ErrorKind, RedisError};

/// `Result` with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One Sentinel that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelFailure {
    /// The Sentinel's address, `host:port`.
    pub addr: String,
    /// What went wrong (connection refused, timed out, malformed reply, ...).
    pub cause: String,
}

impl fmt::Display for SentinelFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.addr, self.cause)
    }
}

/// One shard's part of a command or pipeline that failed, in
/// [`Error::PartiallyApplied`].
#[derive(Debug, Clone)]
pub struct ShardFailure {
    /// The shard (master name).
    pub shard: String,
    /// What went wrong there.
    pub error: Error,
}

impl fmt::Display for ShardFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.shard, self.error)
    }
}

/// Everything that can go wrong in `disredis`.
///
/// Every failure the client itself detects has its own variant with the context a
/// person needs to act on it (which value, which Sentinel, which shard). Errors
/// from Redis or the connection that the client passes through unchanged stay
/// `redis::RedisError`s inside [`Error::Redis`]. There is deliberately no
/// free-form catch-all variant. No error text contains a password.
///
/// | variant | when | [`kind()`](Error::kind) |
/// |---|---|---|
/// | [`Config`](Error::Config) | `Builder::build` / `connect`: a setting is invalid | `InvalidClientConfig` |
/// | [`BadUrl`](Error::BadUrl) | `from_url`, [`SentinelUrl::parse`](crate::url::SentinelUrl::parse): a `redis+sentinel://` URL can't be used, before any connection | `InvalidClientConfig` |
/// | [`NoSentinel`](Error::NoSentinel) | no Sentinel answered: at connect, or (as the `last` error of `FailoverTimeout`) when a shard needs a re-resolve | `Io` |
/// | [`UnknownMaster`](Error::UnknownMaster) | connect: the `masters` filter names a master the Sentinel does not monitor | `MasterNameNotFoundBySentinel` |
/// | [`NoMasters`](Error::NoMasters) | connect: the Sentinel monitors no master | `MasterNameNotFoundBySentinel` |
/// | [`SentinelReply`](Error::SentinelReply) | a Sentinel answered garbage; the next Sentinel is tried, so it usually shows up as a cause inside `NoSentinel` | `Parse` |
/// | [`NotMaster`](Error::NotMaster) | the node Sentinel names does not say `ROLE master` (mid-failover); retried, so it usually shows up as the `last` error of `FailoverTimeout` | `Server(ReadOnly)` |
/// | [`FailoverTimeout`](Error::FailoverTimeout) | a shard had no usable master for the whole `failover_deadline`; `last` says why | `Io` |
/// | [`CrossShard`](Error::CrossShard) | before sending: a multi-key command (other than the split ones), an atomic pipeline or a `WATCH` transaction whose keys are on several shards, or a keyed command sent with `on_shard` to a shard that doesn't own its keys | `Client` |
/// | [`NoKey`](Error::NoKey) | before sending: a keyless command without a cross-shard merge (`INFO`, `CONFIG`, …); use `on_shard` | `Client` |
/// | [`UnknownShard`](Error::UnknownShard) | `on_shard` with a name that is not one of the client's shards | `Client` |
/// | [`BadCommand`](Error::BadCommand) | before sending: arguments without the shape Redis expects, so the keys can't be found | `Client` |
/// | [`Ambiguous`](Error::Ambiguous) | the connection failed after a non-idempotent command was sent (unless `retry_non_idempotent`) | `Io` |
/// | [`InsideRuntime`](Error::InsideRuntime) | the blocking client was used on a thread running a tokio runtime | `Client` |
/// | [`NotReplicated`](Error::NotReplicated) | durability mode (`wait_replicas`): too few replicas acknowledged a write in time | `Io` |
/// | [`Auth`](Error::Auth) | a data node refused the credentials (at connect or on a reconnect; never retried); a refusing Sentinel is skipped and appears as a cause inside `NoSentinel` | `AuthenticationFailed` |
/// | [`NoReplica`](Error::NoReplica) | `ReadFrom::Replica`: the shard has no healthy replica | `Io` |
/// | [`PartiallyApplied`](Error::PartiallyApplied) | a split write (`MSET`, `DEL`, … across shards, a fan-out such as `FLUSHDB`, a pipeline with writes across shards) ran on some shards and failed on others; names both | the first failed part's kind |
/// | [`BadRing`](Error::BadRing) | connect: a master holds a ring record that does not parse | `Parse` |
/// | [`Reshard`](Error::Reshard) | `reshard`: a change is in progress, the new master holds keys, a member can't be read | `Client` |
/// | [`RingChanged`](Error::RingChanged) | the client adopted a newer ring while a split command, `WATCH` session or `on_shard` request was being retried; send it again (single-shard requests are re-planned silently) | `Io` |
/// | [`Redis`](Error::Redis) | any other error from Redis or the connection (`WRONGTYPE`, `ERR …`, I/O) | the inner error's kind |
///
/// Through the `redis` traits (`AsyncCommands`, `Commands`, `ConnectionLike`) an
/// `Error` surfaces as a [`redis::RedisError`]: `Error::Redis` as the error it
/// holds, every other variant with [`Error::kind`] as its kind, a fixed
/// `"disredis: …"` description and this error's `Display` text (with the same
/// context) as its detail.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is invalid. `value` never holds a secret.
    #[error("invalid configuration: {field} = {value:?}: {reason}")]
    Config {
        /// The builder setting, e.g. `"sentinels"`.
        field: &'static str,
        /// The offending value as given (secrets are never echoed).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A `redis+sentinel://` URL (`DisredisClient::from_url`) could not be used.
    /// `detail` never holds a password.
    #[error("bad Sentinel URL: {part}: {detail}")]
    BadUrl {
        /// The offending part: `"scheme"`, `"userinfo"`, `"host list"`, `"path"`,
        /// `"fragment"`, a parameter name such as `"db"`, or `"query"` for an
        /// unknown or malformed parameter.
        part: &'static str,
        /// What is wrong and what is expected.
        detail: String,
    },

    /// No Sentinel could be reached or gave a usable answer.
    #[error("no Sentinel answered: {}", join(tried))]
    NoSentinel {
        /// Each Sentinel tried, in order, with its cause.
        tried: Vec<SentinelFailure>,
    },

    /// A master name given to the builder is not monitored by the Sentinel.
    #[error("Sentinel {sentinel} does not monitor master(s) {missing:?}; it monitors {known:?}")]
    UnknownMaster {
        /// The Sentinel that was asked.
        sentinel: String,
        /// The requested names it does not know.
        missing: Vec<String>,
        /// The names it does know.
        known: Vec<String>,
    },

    /// The Sentinel monitors no master at all, so there is nothing to shard over.
    #[error("Sentinel {sentinel} monitors no masters")]
    NoMasters {
        /// The Sentinel that was asked.
        sentinel: String,
    },

    /// A Sentinel answered something that is not a valid reply to the command.
    #[error("Sentinel {sentinel} sent a malformed reply to {command}: {detail}")]
    SentinelReply {
        /// The Sentinel that answered.
        sentinel: String,
        /// The command it was answering.
        command: &'static str,
        /// What was wrong with the reply.
        detail: String,
    },

    /// The node Sentinel named as a shard's master does not say `ROLE master`
    /// (it was demoted, or the failover is not finished).
    #[error("shard {shard}: {addr} is not a master (ROLE says {role})")]
    NotMaster {
        /// The shard (master name).
        shard: String,
        /// The node's address.
        addr: String,
        /// What `ROLE` said.
        role: String,
    },

    /// A shard had no usable master for the whole failover deadline.
    #[error("shard {shard}: no usable master within the failover deadline ({elapsed:?}); last error: {last}")]
    FailoverTimeout {
        /// The shard (master name).
        shard: String,
        /// How long the client kept trying.
        elapsed: Duration,
        /// The last error seen.
        last: Box<Error>,
    },

    /// A command (or atomic pipeline) whose keys live on several shards.
    #[error(
        "{command} touches keys on several shards {shards:?}; put the keys under one {{hash tag}} to keep them together"
    )]
    CrossShard {
        /// The command, upper case.
        command: String,
        /// The shards its keys map to.
        shards: Vec<String>,
    },

    /// A command with no key (and no cross-shard merge), so it cannot be routed.
    #[error(
        "{command} has no key, so it cannot be routed to a shard; send it to one with client.on_shard(name)"
    )]
    NoKey {
        /// The command, upper case (or as sent, when unknown).
        command: String,
    },

    /// `on_shard` was given a name that is not one of the client's shards.
    #[error("no shard named {name:?}; the shards are {known:?}")]
    UnknownShard {
        /// The name asked for.
        name: String,
        /// The client's shards.
        known: Vec<String>,
    },

    /// The command's arguments do not have the shape Redis expects (for example a
    /// `numkeys` that is not a number), so its keys cannot be found.
    #[error("malformed {command}: {detail}")]
    BadCommand {
        /// The command, upper case.
        command: String,
        /// What is wrong.
        detail: String,
    },

    /// The connection failed after a non-idempotent command was sent: it may or may
    /// not have run, so it was not retried (see `Builder::retry_non_idempotent`).
    #[error(
        "{command} on shard {shard} may or may not have run (connection failed after sending: {cause}); not retried because it is not idempotent"
    )]
    Ambiguous {
        /// The command, upper case.
        command: String,
        /// The shard (master name).
        shard: String,
        /// The connection error.
        cause: RedisError,
    },

    /// A method of the blocking client (`disredis::blocking`) was called, or the
    /// client built, on a thread that is running a tokio runtime. Blocking there
    /// would stall (or, on a single-threaded runtime, deadlock) that runtime.
    #[error("the blocking client was called inside a tokio runtime; use the async DisredisClient there")]
    InsideRuntime,

    /// Durability mode (`Builder::wait_replicas`): the write ran on the master but
    /// fewer replicas than required acknowledged it within the timeout, so a
    /// failover now could lose it.
    #[error("{command} on shard {shard} reached {acked} of {wanted} replicas within the WAIT timeout")]
    NotReplicated {
        /// The command, upper case.
        command: String,
        /// The shard (master name).
        shard: String,
        /// Replicas that acknowledged.
        acked: i64,
        /// Replicas required.
        wanted: usize,
    },

    /// A node refused the configured credentials (`WRONGPASS`: wrong password or
    /// unknown user; or `NOAUTH`: it requires a password and none is configured).
    /// Returned at once, never retried: waiting does not fix a password. The text
    /// names the node, never the password.
    #[error("authentication failed at {role} {node}: {detail}")]
    Auth {
        /// The node's address, `host:port`.
        node: String,
        /// `"master"` for data nodes (credentials from `Builder::username` /
        /// `password`) or `"sentinel"` (`sentinel_username` / `sentinel_password`).
        role: &'static str,
        /// What the server or redis-rs said, and which setting to check.
        detail: String,
    },

    /// `ReadFrom::Replica`: the shard has no healthy replica to read from.
    #[error("shard {shard} has no healthy replica to read from (ReadFrom::Replica)")]
    NoReplica {
        /// The shard (master name).
        shard: String,
    },

    /// A command that changes data and was split over shards (`MSET`, `DEL`,
    /// `UNLINK`, `TOUCH` across shards, a fan-out such as `FLUSHDB` or `SCRIPT
    /// LOAD`, or a pipeline with writes across shards) ran on some shards and
    /// failed on others. Redis has no cross-shard atomicity, so the parts on
    /// `applied` took effect and stay; nothing was undone. Each failed part's own
    /// error (e.g. [`Error::Ambiguous`], [`Error::FailoverTimeout`]) says whether
    /// it may have run. When every part fails, the first part's error is returned
    /// instead (nothing happened); a read (`MGET`, `EXISTS`) that fails on one
    /// shard returns that shard's error.
    #[error("{command} took effect on shard(s) {applied:?} but failed on {}", join(failed))]
    PartiallyApplied {
        /// The command, upper case, or `"pipeline"`.
        command: String,
        /// The shards where the part ran, sorted.
        applied: Vec<String>,
        /// The shards where it failed, with each error.
        failed: Vec<ShardFailure>,
    },

    /// A master holds a ring record (the `disredis_ring` function library, see
    /// [`Ring`](crate::Ring)) that does not parse or is in a phase this client
    /// can't follow. Nothing is routed on a guess: fix or delete the library
    /// (`FUNCTION DELETE disredis_ring`).
    #[error("master {master} holds a ring record that can't be used: {detail}")]
    BadRing {
        /// The master (name) holding it.
        master: String,
        /// What is wrong with it.
        detail: String,
    },

    /// The client adopted a newer ring while this request was being retried
    /// (a failover at the same time as a ring change): it was not sent again
    /// under the old ring. A single-shard command or pipeline is re-planned
    /// under the new ring without showing this; a split command, a `WATCH`
    /// session or `on_shard` returns it — send it again.
    #[error("the ring changed while a request to shard {shard} was being retried; send it again")]
    RingChanged {
        /// The shard (master name) under the old ring.
        shard: String,
    },

    /// A ring change (`reshard`) can't be made or continued: a change is in
    /// progress already (its phase is named), the new master holds keys, or a
    /// member can't be read. Nothing was changed by the refused step.
    #[error("can't change the ring: {reason}")]
    Reshard {
        /// Why.
        reason: String,
    },

    /// An error from Redis or from the connection, passed through unchanged.
    #[error(transparent)]
    Redis(#[from] RedisError),
}

fn join(items: &[impl fmt::Display]) -> String {
    let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

impl Error {
    /// The `redis` error kind this error maps to when it crosses the `redis` traits.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config { .. } | Error::BadUrl { .. } => ErrorKind::InvalidClientConfig,
            Error::NoSentinel { .. }
            | Error::FailoverTimeout { .. }
            | Error::Ambiguous { .. }
            | Error::NotReplicated { .. }
            | Error::NoReplica { .. }
            | Error::RingChanged { .. } => ErrorKind::Io,
            // What the first failed part saw (usually a connection error).
            Error::PartiallyApplied { failed, .. } => {
                failed.first().map_or(ErrorKind::Io, |f| f.error.kind())
            }
            Error::UnknownMaster { .. } | Error::NoMasters { .. } => ErrorKind::MasterNameNotFoundBySentinel,
            Error::SentinelReply { .. } | Error::BadRing { .. } => ErrorKind::Parse,
            Error::NotMaster { .. } => ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
            Error::CrossShard { .. }
            | Error::NoKey { .. }
            | Error::BadCommand { .. }
            | Error::UnknownShard { .. }
            | Error::InsideRuntime
            | Error::Reshard { .. } => ErrorKind::Client,
            Error::Auth { .. } => ErrorKind::AuthenticationFailed,
            Error::Redis(e) => e.kind(),
        }
    }

    fn description(&self) -> &'static str {
        match self {
            Error::Config { .. } => "disredis: invalid configuration",
            Error::BadUrl { .. } => "disredis: bad Sentinel URL",
            Error::NoSentinel { .. } => "disredis: no Sentinel answered",
            Error::UnknownMaster { .. } => "disredis: unknown master",
            Error::NoMasters { .. } => "disredis: Sentinel monitors no masters",
            Error::SentinelReply { .. } => "disredis: malformed Sentinel reply",
            Error::NotMaster { .. } => "disredis: node is not a master",
            Error::FailoverTimeout { .. } => "disredis: failover deadline exceeded",
            Error::CrossShard { .. } => "disredis: cross-shard command",
            Error::NoKey { .. } => "disredis: command has no key",
            Error::BadCommand { .. } => "disredis: malformed command",
            Error::UnknownShard { .. } => "disredis: unknown shard",
            Error::Ambiguous { .. } => "disredis: ambiguous failure, not retried",
            Error::InsideRuntime => "disredis: blocking client called inside a tokio runtime",
            Error::NotReplicated { .. } => "disredis: write not acknowledged by enough replicas",
            Error::NoReplica { .. } => "disredis: no replica to read from",
            Error::Auth { .. } => "disredis: authentication failed",
            Error::PartiallyApplied { .. } => "disredis: applied on some shards only",
            Error::BadRing { .. } => "disredis: unusable ring record",
            Error::RingChanged { .. } => "disredis: the ring changed during a retry",
            Error::Reshard { .. } => "disredis: ring change refused",
            Error::Redis(_) => "disredis: redis error",
        }
    }
}

/// How an [`Error`] crosses the `redis` traits: `Error::Redis` is returned as it
/// was; every other variant becomes a `RedisError` with [`Error::kind`] as its kind,
/// a fixed `"disredis: …"` description and this error's `Display` text as detail.
impl From<Error> for RedisError {
    fn from(e: Error) -> Self {
        match e {
            Error::Redis(inner) => inner,
            other => RedisError::from((other.kind(), other.description(), other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests;
