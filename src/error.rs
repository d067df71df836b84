//! The crate's error type. What each variant means, when it happens and how it
//! crosses the `redis` traits is documented once, on [`enum@Error`].

use std::fmt;
use std::time::Duration;

use redis::RedisError;

mod classify;
mod parts;
mod redis_error;

pub use parts::{SentinelAnswer, SentinelFailure, ShardFailure};
#[cfg(feature = "tls")]
pub(crate) use redis_error::find_in;
pub(crate) use redis_error::is_carried;

/// `Result` with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `disredis`.
///
/// Every failure the client itself detects has its own variant with the context a
/// person needs to act on it (which value, which Sentinel, which shard). Errors
/// from Redis or the connection that the client passes through unchanged stay
/// `redis::RedisError`s inside [`Error::Redis`]. There is deliberately no
/// free-form catch-all variant. No error text contains a password.
///
/// # Through the `redis` traits
///
/// `AsyncCommands`, `Commands`, `ConnectionLike` and `redis::pipe()` return a
/// [`redis::RedisError`]. [`Error::Redis`] becomes the error it holds; every other
/// variant travels *inside* the `RedisError` (as the payload of an I/O error, the
/// one way redis-rs carries a foreign error) and comes back exactly, with every
/// field, from `disredis::Error::from(redis_error)`; its text is this error's
/// `Display`. So you can `match` on what happened:
///
/// ```no_run
/// # async fn demo(mut con: disredis::DisredisClient) {
/// use redis::AsyncCommands;
///
/// match con.rename::<_, _, ()>("a", "b").await.map_err(disredis::Error::from) {
///     Err(disredis::Error::CrossShard { shards, .. }) => eprintln!("use a hash tag: {shards:?}"),
///     Err(disredis::Error::FailoverTimeout { shard, last, .. }) => eprintln!("{shard} is down: {last}"),
///     Err(other) => eprintln!("{other}"),
///     Ok(()) => {}
/// }
/// # }
/// ```
///
/// Only the client makes such a payload (its type is private): a server error,
/// or any text, can never turn into one of these variants.
///
/// The carrier is an I/O error, so on the `RedisError` `kind()` is
/// `ErrorKind::Io` for every variant except `Redis` (use
/// `Error::from(e).kind()`, the column below, to classify by kind). Its I/O
/// error kind is chosen so that redis-rs's predicates tell a retry layer
/// (yours, or one built on `retry_method()` / `is_unrecoverable_error()`) the
/// truth, the last column: a refused command never looks like a dropped
/// connection, and an error after which a command may have run never says
/// "retry":
///
/// - **`NoRetry`** (I/O `Unsupported`; `Auth`: `PermissionDenied`): nothing a
///   retry fixes, or a command that may have run (`Ambiguous`,
///   `NotReplicated`, `PartiallyApplied`).
/// - **`Reconnect`** (I/O `NotConnected`: `is_connection_dropped()`): the
///   shard had no usable master or replica; a new attempt later may find one.
/// - **`RetryImmediately`**: `FailoverTimeout` (I/O `TimedOut`, so
///   `is_timeout()`; it is only ever returned for a request that was safe to
///   retry), `RingChanged` (I/O `Interrupted`: send it again),
///   `SentinelReply` (I/O `InvalidData`).
///
/// | variant | when | [`kind()`](Error::kind) | `retry_method()` through the traits |
/// |---|---|---|---|
/// | [`Config`](Error::Config) | `Builder::build` / `connect`: a setting is invalid | `InvalidClientConfig` | `NoRetry` |
/// | [`BadUrl`](Error::BadUrl) | `from_url`, [`SentinelUrl::parse`](crate::url::SentinelUrl::parse): a `redis+sentinel://` URL can't be used, before any connection | `InvalidClientConfig` | `NoRetry` |
/// | [`NoSentinel`](Error::NoSentinel) | no Sentinel answered: at connect, or (as the `last` error of `FailoverTimeout`) when a shard needs a re-resolve | `Io` | `Reconnect` |
/// | [`NoQuorum`](Error::NoQuorum) | [`sentinel_quorum`](crate::Builder::sentinel_quorum) above 1: fewer Sentinels than that name the same master; names what each said. Retried, so it usually shows up as the `last` error of `FailoverTimeout` | `Io` | `Reconnect` |
/// | [`UnknownMaster`](Error::UnknownMaster) | connect: the `masters` filter names a master the Sentinel does not monitor | `MasterNameNotFoundBySentinel` | `NoRetry` |
/// | [`NoMasters`](Error::NoMasters) | connect: the Sentinel monitors no master | `MasterNameNotFoundBySentinel` | `NoRetry` |
/// | [`SentinelReply`](Error::SentinelReply) | a Sentinel answered garbage; the next Sentinel is tried, so it usually shows up as a cause inside `NoSentinel` | `Parse` | `RetryImmediately` |
/// | [`NotMaster`](Error::NotMaster) | the node Sentinel names does not say `ROLE master` (mid-failover); retried, so it usually shows up as the `last` error of `FailoverTimeout` | `Server(ReadOnly)` | `Reconnect` |
/// | [`FailoverTimeout`](Error::FailoverTimeout) | a shard had no usable master for the whole `failover_deadline`; `last` says why (also a master refusing writes with `NOREPLICAS` the whole time) | `Io` | `RetryImmediately` |
/// | [`CrossShard`](Error::CrossShard) | before sending: a multi-key command (other than the split ones), an atomic pipeline or a `WATCH` transaction whose keys are on several shards, or a keyed command sent with `on_shard` to a shard that doesn't own its keys | `Client` | `NoRetry` |
/// | [`NoKey`](Error::NoKey) | before sending: a keyless command without a cross-shard merge (`INFO`, `CONFIG`, …); use `on_shard` | `Client` | `NoRetry` |
/// | [`UnknownShard`](Error::UnknownShard) | `on_shard` with a name that is not one of the client's shards | `Client` | `NoRetry` |
/// | [`BadCommand`](Error::BadCommand) | before sending: arguments without the shape Redis expects, so the keys can't be found | `Client` | `NoRetry` |
/// | [`Ambiguous`](Error::Ambiguous) | the connection failed after a non-idempotent command was sent (unless `retry_non_idempotent`) | `Io` | `NoRetry` |
/// | [`InsideRuntime`](Error::InsideRuntime) | the blocking client was used on a thread running a tokio runtime | `Client` | `NoRetry` |
/// | [`NotReplicated`](Error::NotReplicated) | durability mode (`wait_replicas`): too few replicas acknowledged a write in time | `Io` | `NoRetry` |
/// | [`Auth`](Error::Auth) | a data node refused the credentials (at connect or on a reconnect; never retried); a refusing Sentinel is skipped and appears as a cause inside `NoSentinel` | `AuthenticationFailed` | `NoRetry` |
/// | [`Tls`](Error::Tls) | feature `tls`: a data node's TLS handshake failed on the configuration (certificate not trusted or not for that address, no common protocol; at connect or on a reconnect; never retried); a refusing Sentinel is skipped and appears as a cause inside `NoSentinel` | `InvalidClientConfig` | `NoRetry` |
/// | [`NoReplica`](Error::NoReplica) | `ReadFrom::Replica`: the shard has no healthy replica | `Io` | `Reconnect` |
/// | [`PartiallyApplied`](Error::PartiallyApplied) | a split write (`MSET`, `DEL`, … across shards, a fan-out such as `FLUSHDB`, a pipeline with writes across shards) ran on some shards and failed on others; names both | the first failed part's kind | `NoRetry` |
/// | [`BadRing`](Error::BadRing) | connect: a master holds a ring record that does not parse | `Parse` | `NoRetry` |
/// | [`Reshard`](Error::Reshard) | `reshard`: a change is in progress, the new master holds keys, a member can't be read | `Client` | `NoRetry` |
/// | [`RingChanged`](Error::RingChanged) | the client adopted a newer ring while a split command, `WATCH` session or `on_shard` request was being retried; send it again (single-shard requests are re-planned silently) | `Io` | `RetryImmediately` |
/// | [`Redis`](Error::Redis) | any other error from Redis or the connection (`WRONGTYPE`, `ERR …`, I/O) | the inner error's kind | the inner error's |
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

    /// [`Builder::sentinel_quorum`](crate::Builder::sentinel_quorum): fewer than
    /// `needed` Sentinels named the same master for `shard` (a Sentinel cut off
    /// from the others may still name an old master). No master is used on a
    /// minority's word.
    #[error("shard {shard}: no {needed} Sentinels name the same master: {}", join(answers))]
    NoQuorum {
        /// The shard (master name).
        shard: String,
        /// How many Sentinels must agree (the `sentinel_quorum` setting).
        needed: usize,
        /// What each Sentinel asked said, in the order they were asked.
        answers: Vec<SentinelAnswer>,
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
    /// fewer replicas than required acknowledged it in time (see
    /// `Builder::wait_replicas` for when `WAIT` is sent again), so a failover now
    /// could lose it.
    #[error("{command} on shard {shard} reached {acked} of {wanted} replicas in time (it ran on the master)")]
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

    /// Feature `tls`: the TLS handshake with a node failed in a way only a change
    /// of configuration fixes: the node's certificate is not signed by a trusted
    /// CA, has expired, or does not name the address Sentinel reports; the node
    /// refused the client certificate; or the two sides share no protocol
    /// version. Returned at once, never retried (a failover does not change a
    /// certificate). The text names the node and what rustls said.
    #[error(
        "TLS handshake with {role} {node} failed: {detail}; check the TlsConfig (trusted CA, client certificate) and the node's certificate"
    )]
    Tls {
        /// The node's address, `host:port`.
        node: String,
        /// `"master"` for data nodes (`Builder::tls`) or `"sentinel"`
        /// (`Builder::sentinel_tls`).
        role: &'static str,
        /// What rustls reported.
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
    Redis(RedisError),
}

fn join(items: &[impl fmt::Display]) -> String {
    let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests;
