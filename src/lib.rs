//! # disredis
//!
//! A sharding Redis client over several master/replica groups watched by Redis
//! Sentinel: one keyspace over many masters, without Redis Cluster.
//!
//! ```no_run
//! # async fn demo() -> disredis::Result<()> {
//! use redis::AsyncCommands;
//!
//! // The first Sentinel that answers is asked for its masters (SENTINEL MASTERS).
//! let client = disredis::DisredisClient::connect(["127.0.0.1:26381", "127.0.0.1:26382"]).await?;
//! let mut con = client.clone(); // cheap: an Arc inside
//! con.set::<_, _, ()>("user:42", "ann").await?; // any redis::AsyncCommands method
//! let name: String = con.get("user:42").await?;
//! assert_eq!(client.shard_for("user:42"), client.shard_for("{user:42}:cart"));
//! # Ok(()) }
//! ```
//!
//! ## Sharding
//! Every key is hashed (Redis Cluster `{hash tag}` rule, crc32, rendezvous hashing
//! over the Sentinel **master names**) to one master; see [`hashing`]. A failover
//! changes a master's address, never its name, so no key moves; adding a master
//! moves about 1/(N+1) of the keys. Multi-key commands run when all their keys are
//! on one shard (use a hash tag); otherwise they fail with [`Error::CrossShard`]
//! rather than being routed by their first key. Keyless commands (PING, DBSIZE,
//! …) are [`Error::NoKey`].
//!
//! ## Failover semantics
//! On a refused or dropped connection, a response timeout, or a `READONLY`,
//! `LOADING` or `MASTERDOWN` reply, the client asks Sentinel
//! (`SENTINEL GET-MASTER-ADDR-BY-NAME`) for that shard's master, connects, checks
//! `ROLE` says `master`, and retries with jittered backoff (10 ms growing to
//! 100 ms) until [`failover_deadline`](Builder::failover_deadline) (15 s) after the
//! first failure, then returns [`Error::FailoverTimeout`]. Only the failing shard
//! waits; one Sentinel query serves every request waiting on it.
//!
//! A command that surely did not run (connection refused, `READONLY`, `LOADING`,
//! `MASTERDOWN`) is always retried. One whose fate is unknown (the connection
//! dropped or timed out after it was sent) is retried only when it is idempotent
//! (reads, `SET k v`, `EXPIRE`…); `INCR`, `LPUSH`, `SET … NX` and the like get
//! [`Error::Ambiguous`] instead, unless
//! [`retry_non_idempotent(true)`](Builder::retry_non_idempotent) opts in to
//! at-least-once. Plain server errors (`WRONGTYPE`, `ERR …`) return at once.
//!
//! ## Layout
//! - `addr`: [`NodeAddr`], parsing `host:port` / `[v6]:port`; pure.
//! - `config`: [`Builder`] and validated [`Config`], defaults as named consts; pure.
//! - `error`: [`enum@Error`], one variant per failure the client detects.
//! - [`hashing`]: hash-tag rule and rendezvous hashing over master names; pure.
//! - `keys`: the command table (where the keys are, read-only/idempotent); pure.
//! - `retry`: failure → retry decision, backoff; pure.
//! - `sentinel`: discovery, master lookup, learning Sentinels.
//! - `shard`: connecting to a master and the `ROLE` check.
//! - `topology`: the shard table and single-flight re-resolve.
//! - `client`: [`DisredisClient`]: discovery at connect, routing, `ConnectionLike`.
//! - `execute`: sending a routed request and the one retry loop.
//! - [`blocking`]: the blocking client, a thin wrapper over the async one.
#![deny(missing_docs)]

mod addr;
pub mod blocking;
mod client;
mod config;
mod dispatch;
mod error;
mod execute;
mod fanout;
pub mod hashing;
pub mod keys;
mod modules;
mod on_shard;
mod retry;
mod sentinel;
mod session;
mod shard;
mod topology;

pub use client::DisredisClient;
pub use config::{
    Builder, Config, DEFAULT_BACKOFF_MAX, DEFAULT_BACKOFF_MIN, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_FAILOVER_DEADLINE, DEFAULT_RESPONSE_TIMEOUT, DEFAULT_SENTINEL_TIMEOUT, NodeAddr,
};
pub use error::{Error, Result, SentinelFailure};
pub use on_shard::ShardHandle;
pub use topology::{ShardInfo, Topology};
