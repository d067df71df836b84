//! The blocking client: a thin wrapper over the async [`crate::DisredisClient`].
//!
//! Every call is handed to the async client's `redis::aio::ConnectionLike`
//! methods and waited for on a tokio runtime this module owns, so routing,
//! failover and retries exist once, in the async client. The only code here is
//! what the sync trait forces on us: redis-rs's sync `ConnectionLike` sends most
//! requests as packed RESP bytes (`Pipeline::query`, the follow-up pages of
//! `redis::Iter`), so those bytes are parsed back into `Cmd`s and `Pipeline`s.
//! The bytes don't carry a pipeline's `ignore_errors()`: here a command the
//! client refuses refuses the whole pipeline, where the async client fails it
//! in its own slot (the README's semantics table).
//!
//! ```no_run
//! # fn demo() -> disredis::Result<()> {
//! use redis::Commands;
//! let mut client = disredis::blocking::DisredisClient::connect(["127.0.0.1:26381"])?;
//! client.set::<_, _, ()>("user:42", "ann")?;
//! let name: String = client.get("user:42")?;
//! # Ok(()) }
//! ```
//!
//! ## Where it may be called
//!
//! On any thread that runs no tokio runtime, and inside
//! [`tokio::task::spawn_blocking`] (or `tokio::task::block_in_place`), tokio's
//! place for blocking code in an async program:
//!
//! ```no_run
//! # async fn demo(client: disredis::blocking::DisredisClient) -> Result<(), Box<dyn std::error::Error>> {
//! let mut con = client.clone();
//! let name: Option<String> =
//!     tokio::task::spawn_blocking(move || redis::Commands::get(&mut con, "user:42")).await??;
//! # Ok(()) }
//! ```
//!
//! Called directly in an async task or a runtime's `block_on` (the body of
//! `#[tokio::main]`) it returns [`Error::InsideRuntime`](crate::Error::InsideRuntime)
//! instead of blocking the thread that drives the runtime: use the async
//! client there ([`DisredisClient::as_async`] shares this client's
//! connections). A plain thread holding a runtime's `Handle::enter` guard
//! looks like a `block_on` body to the check and is refused too.

use std::sync::Arc;

use redis::aio::ConnectionLike as _;
use redis::{Arg, Cmd, ErrorKind, Pipeline, RedisError, RedisResult, Value};

use crate::config::{Builder, Config};
use crate::error::Result;
use crate::topology::Topology;

mod driver;
mod pubsub;
use driver::Driver;
pub use pubsub::PubSub;

/// The blocking sharding client: [`crate::DisredisClient`] behind the sync
/// [`redis::ConnectionLike`], so every [`redis::Commands`] method,
/// `redis::cmd(..).query(&mut c)` and single-shard `redis::pipe()` pipelines
/// work on it.
///
/// Cheap to clone: clones share the async client (its shard connections) and the
/// runtime. For where it may be called (not in an async task), see
/// [the module docs](self#where-it-may-be-called).
#[derive(Clone)]
pub struct DisredisClient {
    client: crate::DisredisClient,
    driver: Arc<Driver>,
}

impl std::fmt::Debug for DisredisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("blocking::DisredisClient").field(&self.client).finish()
    }
}

impl Builder {
    /// Like [`Builder::connect`], for the blocking client: validates the
    /// settings, discovers the masters and connects to every shard.
    pub fn connect_blocking(self) -> Result<DisredisClient> {
        DisredisClient::with_config(self.build()?)
    }
}

impl DisredisClient {
    /// Connects with default settings; see [`crate::DisredisClient::connect`].
    pub fn connect<I, S>(sentinels: I) -> Result<DisredisClient>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Builder::default().sentinels(sentinels).connect_blocking()
    }

    /// Connects with the settings of a `redis+sentinel://` (or, feature `tls`,
    /// `rediss+sentinel://`) URL: [`Builder::from_url`], then
    /// [`Builder::connect_blocking`]. Every part and parameter of the URL is in
    /// the [`url`](crate::url) module docs; a URL that can't be used is
    /// [`Error::BadUrl`](crate::Error::BadUrl) before any connection.
    ///
    /// ```no_run
    /// # fn demo() -> disredis::Result<()> {
    /// let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis+sentinel://127.0.0.1:26381".into());
    /// let mut client = disredis::blocking::DisredisClient::from_url(&url)?;
    /// redis::Commands::set::<_, _, ()>(&mut client, "user:42", "ann")?;
    /// # Ok(()) }
    /// ```
    pub fn from_url(url: &str) -> Result<DisredisClient> {
        Builder::from_url(url)?.connect_blocking()
    }

    /// Connects with a validated [`Config`]; see
    /// [`crate::DisredisClient::with_config`] for the errors.
    pub fn with_config(config: Config) -> Result<DisredisClient> {
        let driver = Driver::start()?;
        let client = driver.block_on(crate::DisredisClient::with_config(config))??;
        Ok(DisredisClient { client, driver: Arc::new(driver) })
    }

    /// The async client inside (shares connections with this one), for code
    /// that runs in a tokio runtime.
    pub fn as_async(&self) -> &crate::DisredisClient {
        &self.client
    }

    /// The master name that owns `key`; see [`crate::DisredisClient::shard_for`].
    pub fn shard_for(&self, key: impl AsRef<[u8]>) -> &str {
        self.client.shard_for(key)
    }

    /// The shards' master names, sorted.
    pub fn shard_names(&self) -> Vec<String> {
        self.client.shard_names()
    }

    /// A snapshot of every shard; see [`crate::DisredisClient::topology`].
    pub fn topology(&self) -> Topology {
        self.client.topology()
    }

    /// What the client cache did and holds (feature `cache`); see
    /// [`crate::DisredisClient::cache_stats`].
    #[cfg(feature = "cache")]
    pub fn cache_stats(&self) -> Option<crate::CacheStats> {
        self.client.cache_stats()
    }

    /// The known Sentinels; see [`crate::DisredisClient::sentinels`].
    pub fn sentinels(&self) -> Vec<String> {
        self.client.sentinels()
    }

    /// A handle with its own failover deadline; see
    /// [`crate::DisredisClient::with_failover_deadline`].
    pub fn with_failover_deadline(&self, deadline: std::time::Duration) -> DisredisClient {
        DisredisClient { client: self.client.with_failover_deadline(deadline), driver: self.driver.clone() }
    }

    /// A handle with its own at-least-once choice; see
    /// [`crate::DisredisClient::with_retry_non_idempotent`].
    pub fn with_retry_non_idempotent(&self, retry: bool) -> DisredisClient {
        DisredisClient { client: self.client.with_retry_non_idempotent(retry), driver: self.driver.clone() }
    }

    /// Closes the client for every handle; see [`crate::DisredisClient::close`].
    pub fn close(&self) -> Result<()> {
        self.driver.block_on(self.client.close())
    }
}

impl redis::ConnectionLike for DisredisClient {
    /// A packed single command: only `redis::Iter` sends these (its follow-up
    /// pages, with the cursor written in), so the bytes are parsed back into the
    /// exact same arguments.
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        let mut cmds = parse_commands(cmd)?;
        match (cmds.pop(), cmds.is_empty()) {
            (Some(one), true) => self.req_command(&one),
            (None, _) => Err(malformed("no command in the request")),
            (Some(_), false) => Err(malformed(format!("{} commands where one was expected", cmds.len() + 1))),
        }
    }

    /// A packed pipeline (`Pipeline::query`). An atomic pipeline arrives as
    /// `MULTI`, its commands, `EXEC` with `offset = n + 1, count = 1`: that shape
    /// becomes an atomic `Pipeline` again (the async client keeps it on one
    /// shard and sends its own MULTI/EXEC). Anything else is forwarded as is.
    fn req_packed_commands(&mut self, cmd: &[u8], offset: usize, count: usize) -> RedisResult<Vec<Value>> {
        let mut cmds = parse_commands(cmd)?;
        let total = cmds.len();
        if offset.checked_add(count).is_none_or(|n| n > total) {
            // The connection would wait for replies that never come.
            return Err(malformed(format!(
                "{total} commands cannot give replies {offset}..{offset}+{count}"
            )));
        }
        let transaction = total >= 2
            && offset == total - 1
            && count == 1
            && is_bare(&cmds[0], b"MULTI")
            && is_bare(&cmds[total - 1], b"EXEC");
        let mut pipe = Pipeline::with_capacity(total);
        if transaction {
            cmds.pop();
            cmds.remove(0);
            pipe.atomic();
        }
        for c in cmds {
            pipe.add_command(c);
        }
        self.driver.block_on(self.client.req_packed_commands(&pipe, offset, count))?
    }

    /// `Cmd::query` and `Cmd::iter` come here: the `Cmd` goes to the async client
    /// unchanged (no packing and re-parsing; a scan cursor stays a cursor).
    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        self.driver.block_on(self.client.req_packed_command(cmd))?
    }

    fn get_db(&self) -> i64 {
        self.client.get_db()
    }

    /// True when every shard has a ROLE-checked master connection installed
    /// ([`Topology`]'s `connected`). No I/O: a probe would need a keyless command
    /// on every shard, and the client re-resolves a failed shard on the next
    /// command anyway, so `false` means "a failover or reconnect is pending".
    fn check_connection(&mut self) -> bool {
        self.topology().shards.iter().all(|s| s.connected)
    }

    /// Always true: the client has no single connection that could be closed;
    /// shards reconnect on demand for as long as the client exists.
    fn is_open(&self) -> bool {
        true
    }
}

/// Whether `cmd` is exactly `name` with no arguments (any case).
fn is_bare(cmd: &Cmd, name: &[u8]) -> bool {
    let mut args = cmd.args_iter();
    args.len() == 1 && matches!(args.next(), Some(Arg::Simple(a)) if a.eq_ignore_ascii_case(name))
}

fn malformed(detail: impl Into<String>) -> RedisError {
    RedisError::from((ErrorKind::Client, "disredis: malformed packed request", detail.into()))
}

/// Splits packed RESP (what `Cmd`/`Pipeline` write: arrays of bulk strings, back
/// to back) into `Cmd`s with byte-identical arguments. Each command must re-pack
/// to exactly the bytes it came from, so nothing is lost or reinterpreted, and a
/// truncated, non-array or otherwise malformed request is an error, not a panic.
fn parse_commands(bytes: &[u8]) -> RedisResult<Vec<Cmd>> {
    let mut cmds = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let at = bytes.len() - rest.len();
        let items = match redis::parse_redis_value(rest) {
            Ok(Value::Array(items)) if !items.is_empty() => items,
            Ok(other) => {
                return Err(malformed(format!(
                    "at byte {at}: expected a non-empty array of bulk strings, got {other:?}"
                )));
            }
            Err(e) => return Err(malformed(format!("at byte {at}: {e}"))),
        };
        let mut cmd = Cmd::new();
        for item in items {
            match item {
                Value::BulkString(arg) => cmd.arg(arg.as_slice()),
                other => {
                    return Err(malformed(format!(
                        "at byte {at}: a command argument must be a bulk string, got {other:?}"
                    )));
                }
            };
        }
        let packed = cmd.get_packed_command();
        if !rest.starts_with(&packed) {
            return Err(malformed(format!("at byte {at}: not in the RESP form redis-rs writes")));
        }
        rest = &rest[packed.len()..];
        cmds.push(cmd);
    }
    Ok(cmds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_commands_parse_back_to_identical_arguments() {
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(b"k\r\n\0".as_slice()).arg(7).cmd("hscan").arg("h").arg(42);
        let cmds = parse_commands(&pipe.get_packed_pipeline()).unwrap();
        let repacked: Vec<Vec<u8>> = cmds.iter().map(Cmd::get_packed_command).collect();
        let original: Vec<Vec<u8>> = pipe.cmd_iter().map(Cmd::get_packed_command).collect();
        assert_eq!(repacked, original);
    }

    #[test]
    fn malformed_requests_are_client_errors() {
        let bad: [&[u8]; 7] = [
            b"garbage",
            b"*2\r\n$3\r\nGET\r\n",
            b"*1\r\n$99\r\nab\r\n",
            b"*0\r\n",
            b":1\r\n",
            b"*1\r\n:5\r\n",
            b"*1\r\n$4\r\nPING\r\nxx",
        ];
        for b in bad {
            let e = parse_commands(b).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Client, "{e}");
            assert!(e.to_string().contains("malformed packed request"), "{e}");
        }
        assert!(parse_commands(b"").unwrap().is_empty());
    }

    #[test]
    fn multi_and_exec_are_recognised_in_any_case() {
        assert!(is_bare(&redis::cmd("multi"), b"MULTI"));
        assert!(!is_bare(redis::cmd("MULTI").arg(1), b"MULTI"));
        assert!(!is_bare(&redis::cmd("EXEC"), b"MULTI"));
    }
}
