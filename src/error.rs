//! The crate's error type. What each variant means, when it happens and how it
//! crosses the `redis` traits is documented once, on [`enum@Error`].

use std::fmt;
use std::time::Duration;

use redis::RedisError;

mod classify;
mod parts;
mod redis_error;

pub use parts::{SentinelAnswer, SentinelFailure, ShardFailure};
pub(crate) use redis_error::find_in;
pub(crate) use redis_error::is_carried;

/// `Result` with [`enum@Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[doc = include_str!("error/about.md")]
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

    /// The shard has had no usable master for a while and Sentinel names no
    /// promotion under way: requests fail at once with this instead of each
    /// waiting out the failover deadline, while a background probe keeps
    /// looking and ends it as soon as a master answers `ROLE master` (see
    /// [`Builder::shard_down_after`](crate::Builder::shard_down_after) and
    /// docs/failover.md, "A dead shard"). Other shards are not affected.
    #[error("shard {shard} is down: no usable master for {down_for:.1?}; last error: {last}")]
    ShardDown {
        /// The shard (master name).
        shard: String,
        /// How long the shard had had no usable master when this error was
        /// made (counted from the first failure of the outage).
        down_for: Duration,
        /// The last error the probe or a request saw.
        last: Box<Error>,
    },

    /// The client was closed with
    /// [`DisredisClient::close`](crate::DisredisClient::close): its connections
    /// are closed and its background tasks stopped; make a new client.
    #[error("the client was closed (DisredisClient::close)")]
    Closed,

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
    /// The text says what to do instead: `PUBLISH` in a pipeline is sent on its
    /// own (it is routed by its channel), a script names its keys in `KEYS`,
    /// anything else keyless goes to one shard through `on_shard`.
    #[error("{command} has no key, so it cannot be routed to a shard; {}", no_key_hint(command))]
    NoKey {
        /// The command, upper case (or as sent, when unknown).
        command: String,
    },

    /// A command that changes the state of the connection it runs on (`SELECT`,
    /// `CLIENT SETNAME`, `HELLO`, `SUBSCRIBE`, `MONITOR`, …), refused before
    /// sending on every path (the client, pipelines, `on_shard`, `WATCH`
    /// sessions): every connection is shared by all requests to its shard, so it
    /// would change what every other request sees. `instead` names the setting
    /// or API that does the job. The table of these commands is on
    /// [`ShardHandle`](crate::ShardHandle).
    #[error("{command} changes the state of a connection that every request to its shard shares; {instead}")]
    SharedConnection {
        /// The command, upper case (`CLIENT SETNAME`).
        command: String,
        /// What to do instead.
        instead: &'static str,
    },

    /// A keyed command sent through [`on_shard`](crate::DisredisClient::on_shard)
    /// to a shard that does not own its key(s): it would read or write the
    /// wrong master.
    #[error(
        "{command}: its key(s) belong to shard {owner}, not {shard}; send it through the client (it routes by key) or on_shard({owner:?})"
    )]
    WrongShard {
        /// The command, upper case.
        command: String,
        /// The shard the handle is for.
        shard: String,
        /// A shard that owns one of its keys.
        owner: String,
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
    /// client built, inside an async task or a runtime's `block_on` body.
    /// Blocking there would stall (or, on a single-threaded runtime, deadlock)
    /// that runtime. Inside `tokio::task::spawn_blocking` or `block_in_place`
    /// it works.
    #[error(
        "the blocking client was called inside an async task or a tokio runtime's block_on; use the async DisredisClient there, or call it from tokio::task::spawn_blocking"
    )]
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

    /// [`PubSub::ping`](crate::PubSub::ping): a master did not answer the
    /// subscriber's `PING` in time, or the subscriber has no subscription
    /// connection on that shard right now (its master failed and the
    /// subscriptions are being made again; [`Event::PubSubGap`](crate::Event::PubSubGap)
    /// says when they are). The subscriber keeps trying on its own: ping again later.
    #[error("pub/sub on shard {shard}: {detail}")]
    PubSubShard {
        /// The shard (master name).
        shard: String,
        /// What happened there.
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

/// What to do with a keyless command instead (the text of [`Error::NoKey`]).
fn no_key_hint(command: &str) -> &'static str {
    let name = command.split(" (").next().unwrap_or(command);
    match name {
        "PUBLISH" | "SPUBLISH" => {
            "send it on its own: it is routed by its channel, to where the channel's subscribers are"
        }
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO" => {
            "declare the keys it touches as KEYS (numkeys) so it is routed by them; a script that touches no key goes to one shard with client.on_shard(name)"
        }
        _ => "send it to one with client.on_shard(name)",
    }
}

fn join(items: &[impl fmt::Display]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests;
