//! A [`tower_sessions`](https://docs.rs/tower-sessions) session store on
//! [`DisredisClient`] (cargo feature `sessions`).
//!
//! [`DisredisStore`] implements [`SessionStore`], so an axum (or any tower) app
//! keeps its sessions sharded over the Sentinel-managed masters and they survive
//! a master failover:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get};
//! use disredis::sessions::DisredisStore;
//! use tower_sessions::{Expiry, Session, SessionManagerLayer};
//!
//! async fn visits(session: Session) -> String {
//!     let n: u64 = session.get("visits").await.ok().flatten().unwrap_or(0) + 1;
//!     let _ = session.insert("visits", n).await;
//!     format!("visit {n}")
//! }
//!
//! let client = disredis::DisredisClient::connect(["127.0.0.1:26381", "127.0.0.1:26382"]).await?;
//! // Keys are `myapp:session:<session id>`; the default prefix is `session`.
//! let store = DisredisStore::new(client).with_prefix("myapp:session");
//! let sessions = SessionManagerLayer::new(store)
//!     .with_secure(false) // plain HTTP in this demo
//!     .with_expiry(Expiry::OnInactivity(time::Duration::hours(1)));
//! let app: Router = Router::new().route("/", get(visits)).layer(sessions);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! ## How sessions are stored
//! - **Key**: `<prefix>:<session id>` (like Django's `SESSION_REDIS_PREFIX`;
//!   default prefix `session`, an empty prefix gives the bare id). The key is
//!   hashed to a shard like any other; don't put a `{hash tag}` in the prefix, or
//!   every session lands on one master.
//! - **Value**: the whole [`Record`] (id, data, expiry date) as MessagePack
//!   (`rmp_serde::to_vec`), the encoding tower-sessions' own stores use (the
//!   Redis, SQL and MongoDB stores), so a record written by them decodes here and
//!   the other way round; it is also smaller and faster to parse than JSON.
//! - **Expiry**: the record's `expiry_date` becomes the key's Redis TTL
//!   (`SET … PXAT <unix ms>`), so Redis drops expired sessions by itself and no
//!   cleanup task is needed. A record whose expiry date has passed is never
//!   stored: `save` deletes its key, `create` writes nothing. `load` also treats
//!   a record past its expiry date as absent (the app's and Redis' clocks may
//!   differ by a little).
//! - **`create` never overwrites** another session: it writes with
//!   `SET key value NX PXAT …` and, when the key exists, draws a new id and tries
//!   again (up to [`CREATE_ATTEMPTS`] times; with 128-bit random ids a collision
//!   is practically never seen). If the connection fails after the `SET NX` was
//!   sent ([`Error::Ambiguous`]: it may or may not have
//!   run), the store reads the key back: our own bytes mean it ran, no key means
//!   write again, anything else is someone else's session and a new id is drawn.
//!
//! ## Failover and durability
//! Every command goes through [`DisredisClient`], so a request during a failover
//! waits for the promoted replica (up to the client's failover deadline) instead
//! of failing. Replication is asynchronous, though: a session written to a master
//! that is killed before its replica got the write is lost, and the user is
//! logged out. Build the client with
//! [`wait_replicas(1, …)`](crate::Builder::wait_replicas) to make every session
//! write wait for a replica's acknowledgement. Keep its timeout below the
//! client's response timeout (the `WAIT` runs on the same connection; the web
//! example uses `wait_replicas(1, Duration::from_millis(400))`). A shard then
//! needs a replica also after a failover, when its only replica has become the
//! master: give each shard two replicas, or bring the old master back as a
//! replica; until then every session write on that shard is reported as failed
//! after the `WAIT` timeout (it did run on the master).
//!
//! `examples/session_store/` is a small login / visit-counter site on this store;
//! the repository's `docs/sessions.md` walks through it, a failover included.
//!
//! ## Errors
//! Failures of the client (including Redis errors) become
//! [`session_store::Error::Backend`] with the operation and shard in the text;
//! a value that is not a valid record is [`session_store::Error::Decode`]. The
//! session id is never put in an error text: it is the user's credential.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use redis::{Cmd, Value};
use tower_sessions_core::SessionStore;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store;

use crate::{DisredisClient, Error};

/// The default key prefix: keys are `session:<session id>`.
pub const DEFAULT_PREFIX: &str = "session";

/// How many `SET NX` attempts [`SessionStore::create`] makes (a new id after each
/// collision) before it gives up with a [`session_store::Error::Backend`].
pub const CREATE_ATTEMPTS: usize = 8;

/// A [`SessionStore`] backed by a [`DisredisClient`]; see the
/// [module docs](self) for the storage format.
///
/// Cheap to clone (the client is an `Arc` inside).
#[derive(Clone, Debug)]
pub struct DisredisStore {
    prefix: Arc<str>,
    client: DisredisClient,
}

impl DisredisStore {
    /// A store on `client` with the default prefix [`DEFAULT_PREFIX`].
    pub fn new(client: DisredisClient) -> DisredisStore {
        DisredisStore { client, prefix: DEFAULT_PREFIX.into() }
    }

    /// Keys become `<prefix>:<session id>`; an empty prefix gives the bare id.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> DisredisStore {
        self.prefix = prefix.into().into();
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of session `id`: `<prefix>:<id>`. With
    /// [`DisredisClient::shard_for`] it tells which master holds a session.
    pub fn key(&self, id: &Id) -> String {
        session_key(&self.prefix, id)
    }

    /// The client the store uses.
    pub fn client(&self) -> &DisredisClient {
        &self.client
    }

    async fn run(&self, op: &'static str, key: &str, cmd: &Cmd) -> session_store::Result<Value> {
        self.client.clone().query_cmd(cmd).await.map_err(|e| self.backend(op, key, e))
    }

    fn backend(&self, op: &'static str, key: &str, e: impl fmt::Display) -> session_store::Error {
        backend_error(op, self.client.shard_for(key), e)
    }

    /// One `SET key value NX PXAT at`.
    async fn set_nx(&self, key: &str, value: &[u8], at_ms: i64) -> session_store::Result<SetNx> {
        let set = redis::cmd("SET").arg(key).arg(value).arg("NX").arg("PXAT").arg(at_ms).take();
        match self.client.clone().query_cmd(&set).await {
            Ok(Value::Okay) => Ok(SetNx::Stored),
            Ok(Value::Nil) => Ok(SetNx::Taken),
            Ok(other) => Err(self.backend("create", key, format!("unexpected reply to SET NX: {other:?}"))),
            Err(Error::Ambiguous { .. }) => {
                // The SET NX may or may not have run. Ids are random, so if the key
                // holds exactly our bytes, it was our write.
                Ok(
                    match self
                        .run("create (read back after an ambiguous SET NX)", key, &Cmd::get(key))
                        .await?
                    {
                        Value::BulkString(stored) if stored == value => SetNx::Stored,
                        Value::Nil => SetNx::NotRun,
                        _ => SetNx::Taken,
                    },
                )
            }
            Err(e) => Err(self.backend("create", key, e)),
        }
    }
}

/// What one `SET NX` did.
#[derive(Debug, PartialEq)]
enum SetNx {
    /// Our record is stored.
    Stored,
    /// The key belongs to another session.
    Taken,
    /// The connection failed after sending and the key is absent: it did not
    /// run (or ran and expired at once); try the same id again.
    NotRun,
}

#[async_trait::async_trait]
impl SessionStore for DisredisStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let Some(at_ms) = expire_at_ms(record.expiry_date.unix_timestamp_nanos(), now_unix_nanos()) else {
            // Expired already: there is nothing to keep.
            return Ok(());
        };
        for _ in 0..CREATE_ATTEMPTS {
            let key = self.key(&record.id);
            match self.set_nx(&key, &encode(record)?, at_ms).await? {
                SetNx::Stored => return Ok(()),
                SetNx::Taken => record.id = Id::default(),
                SetNx::NotRun => {}
            }
        }
        Err(session_store::Error::Backend(format!(
            "disredis session store: create: no free session id after {CREATE_ATTEMPTS} attempts"
        )))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let key = self.key(&record.id);
        match expire_at_ms(record.expiry_date.unix_timestamp_nanos(), now_unix_nanos()) {
            Some(at_ms) => {
                let set = redis::cmd("SET").arg(&key).arg(encode(record)?).arg("PXAT").arg(at_ms).take();
                self.run("save", &key, &set).await?
            }
            None => self.run("save (delete expired)", &key, &Cmd::del(&key)).await?,
        };
        Ok(())
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let key = self.key(session_id);
        let bytes = match self.run("load", &key, &Cmd::get(&key)).await? {
            Value::Nil => return Ok(None),
            Value::BulkString(bytes) => bytes,
            other => return Err(self.backend("load", &key, format!("unexpected reply to GET: {other:?}"))),
        };
        let record = decode(&bytes)?;
        // Past its expiry date: absent (see the module docs).
        Ok(expire_at_ms(record.expiry_date.unix_timestamp_nanos(), now_unix_nanos()).map(|_| record))
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        let key = self.key(session_id);
        self.run("delete", &key, &Cmd::del(&key)).await.map(drop)
    }
}

/// `<prefix>:<id>`, or the bare id for an empty prefix.
fn session_key(prefix: &str, id: &Id) -> String {
    if prefix.is_empty() { id.to_string() } else { format!("{prefix}:{id}") }
}

/// The `PXAT` argument (Unix time in ms) for a record that expires at
/// `expiry_nanos` (Unix ns), or `None` when it has expired by `now_nanos`.
/// Rounded down to the millisecond, so the key never outlives the record.
fn expire_at_ms(expiry_nanos: i128, now_nanos: i128) -> Option<i64> {
    if expiry_nanos <= now_nanos {
        return None;
    }
    let at_ms = expiry_nanos.div_euclid(1_000_000);
    if at_ms <= now_nanos.div_euclid(1_000_000) {
        // Less than a millisecond left: PXAT would already be in the past.
        return None;
    }
    Some(i64::try_from(at_ms).unwrap_or(i64::MAX))
}

fn now_unix_nanos() -> i128 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    }
}

fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(format!("session record: {e}")))
}

fn decode(bytes: &[u8]) -> session_store::Result<Record> {
    rmp_serde::from_slice(bytes).map_err(|e| {
        session_store::Error::Decode(format!(
            "stored session ({} bytes) is not a valid record: {e}",
            bytes.len()
        ))
    })
}

fn backend_error(op: &str, shard: &str, e: impl fmt::Display) -> session_store::Error {
    session_store::Error::Backend(format!("disredis session store: {op} on shard {shard}: {e}"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const MS: i128 = 1_000_000;

    fn record(id: i128, expiry_unix_s: i64) -> Record {
        let mut data = HashMap::new();
        data.insert("name".to_owned(), serde_json::json!("ann"));
        data.insert("visits".to_owned(), serde_json::json!(3));
        Record {
            id: Id(id),
            data,
            expiry_date: time::OffsetDateTime::from_unix_timestamp(expiry_unix_s).unwrap(),
        }
    }

    #[test]
    fn records_round_trip_as_messagepack() {
        let r = record(-42, 1_900_000_000);
        let bytes = encode(&r).unwrap();
        assert_eq!(decode(&bytes).unwrap(), r);
        // The same bytes tower-sessions' own Redis store writes.
        assert_eq!(bytes, rmp_serde::to_vec(&r).unwrap());
    }

    #[test]
    fn corrupt_values_are_decode_errors() {
        for bad in [&b""[..], b"not a record", &[0x93, 0x01]] {
            match decode(bad) {
                Err(session_store::Error::Decode(text)) => {
                    assert!(text.contains("not a valid record"), "{text}")
                }
                other => panic!("{bad:?}: expected a Decode error, got {other:?}"),
            }
        }
    }

    #[test]
    fn backend_errors_name_operation_and_shard() {
        let e = Error::NoKey { command: "X".into() };
        let session_store::Error::Backend(text) = backend_error("load", "shard-b", &e) else {
            panic!("not a Backend error")
        };
        assert!(text.contains("load on shard shard-b") && text.contains("has no key"), "{text}");
    }

    #[test]
    fn key_is_prefix_colon_id() {
        let id = Id(1);
        assert_eq!(session_key("session", &id), format!("session:{id}"));
        assert_eq!(session_key("myapp:sess", &id), format!("myapp:sess:{id}"));
        assert_eq!(session_key("", &id), id.to_string());
        // The id is tower-sessions' 22-character base64url form.
        assert_eq!(id.to_string().len(), 22);
    }

    #[test]
    fn expiry_in_the_future_is_its_unix_millisecond() {
        let now = 1_700_000_000_000 * MS;
        assert_eq!(expire_at_ms(now + 60_000 * MS, now), Some(1_700_000_060_000));
        // Rounded down: never outlives the record.
        assert_eq!(expire_at_ms(now + 1_500 * MS + 999_999, now), Some(1_700_000_001_500));
    }

    #[test]
    fn expired_or_sub_millisecond_records_get_no_ttl() {
        let now = 1_700_000_000_000 * MS + 300_000;
        assert_eq!(expire_at_ms(now, now), None);
        assert_eq!(expire_at_ms(now - 1, now), None);
        assert_eq!(expire_at_ms(now - 3_600_000 * MS, now), None);
        // In the future by less than the rest of this millisecond.
        assert_eq!(expire_at_ms(now + 500_000, now), None);
        assert_eq!(expire_at_ms(now + 700_000, now), Some(1_700_000_000_001));
    }

    #[test]
    fn far_future_saturates_instead_of_wrapping() {
        assert_eq!(expire_at_ms(i128::MAX, 0), Some(i64::MAX));
    }
}
