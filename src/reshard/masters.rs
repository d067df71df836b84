//! The ring tool's own connections: one per master name, resolved through
//! Sentinel and `ROLE`-checked, unnamed (the tool is not a client the fence
//! waits for), re-resolved and retried through a failover.

use std::collections::HashMap;
use std::time::Duration;

use crate::wire::Wire;
use redis::{Cmd, Pipeline, Value};
use tracing::info;

use crate::config::NodeAddr;
use crate::connect::connect_master;
use crate::error::{Error, Result};
use crate::execute::Executor;
use crate::request::Reply;
use crate::retry::{Deadline, Verdict, failure, is_fatal, judge};

/// How long one reply may take (a `MIGRATE` of a batch, a `WAIT`).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections to masters by name.
pub(crate) struct Masters<'a> {
    pub(crate) exec: &'a Executor,
    conns: HashMap<String, (NodeAddr, Wire)>,
}

impl<'a> Masters<'a> {
    pub(crate) fn new(exec: &'a Executor) -> Masters<'a> {
        Masters { exec, conns: HashMap::new() }
    }

    /// The master of `name` now and a connection to it.
    pub(crate) async fn conn(&mut self, name: &str) -> Result<(NodeAddr, Wire)> {
        if let Some(found) = self.conns.get(name) {
            return Ok(found.clone());
        }
        let addr = self.exec.sentinels.master_addr(name).await?;
        let conn = connect_master(name, &addr, &self.exec.config, Some(RESPONSE_TIMEOUT), None, None).await?;
        self.conns.insert(name.to_owned(), (addr.clone(), conn.clone()));
        Ok((addr, conn))
    }

    /// [`Masters::conn`], carried through a failover like [`Masters::query`]:
    /// a connection not made yet (or forgotten after a failure) is made with
    /// the retries of a `PING`; a cached one is returned as it is (its user
    /// forgets it when it fails).
    pub(crate) async fn reach(&mut self, name: &str) -> Result<(NodeAddr, Wire)> {
        if !self.conns.contains_key(name) {
            self.query(name, &redis::cmd("PING")).await?;
        }
        self.conn(name).await
    }

    /// Forgets `name`'s connection (its master failed or moved).
    pub(crate) fn forget(&mut self, name: &str) {
        self.conns.remove(name);
    }

    /// One command on `name`'s master, carried through a failover (until the
    /// client's failover deadline after the first failure). Only for commands
    /// that are safe to repeat.
    pub(crate) async fn query(&mut self, name: &str, cmd: &Cmd) -> Result<Value> {
        self.attempt(name, |c| async move { c.send_cmd(cmd, None).await.map(Reply::One) }).await
    }

    /// A transaction on `name`'s master: `EXEC`'s reply (see [`Masters::query`]).
    pub(crate) async fn transaction(&mut self, name: &str, pipe: &Pipeline) -> Result<Value> {
        let offset = pipe.len() + 1;
        self.attempt(name, |c| async move { c.send_pipe(pipe, offset, 1, None).await.map(Reply::Many) }).await
    }

    /// Sends until the reply is the answer ([`judge`]: every command here is
    /// safe to repeat), re-resolving `name` between attempts: the one reply.
    async fn attempt<F, Fut>(&mut self, name: &str, send: F) -> Result<Value>
    where
        F: Fn(Wire) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<Reply>>,
    {
        let mut deadline = Deadline::new(self.exec.config.failover_deadline, &self.exec.config);
        loop {
            let failure = match self.conn(name).await {
                Ok((_, conn)) => {
                    let outcome = send(conn).await;
                    match judge(&outcome, true, false) {
                        Verdict::Done => return outcome.map_err(Error::Redis).and_then(Reply::only),
                        _ => Error::Redis(failure(outcome)),
                    }
                }
                Err(e) if is_fatal(&e) => return Err(e),
                Err(e) => e,
            };
            self.forget(name);
            info!(master = %name, error = %failure, "ring tool: master not reachable; retrying");
            deadline.failed(failure);
            tokio::time::sleep(deadline.pause(name)?).await;
        }
    }
}

/// `SCAN` over one master, a page (`COUNT 1000`) at a time, carried through
/// a failover like [`Masters::query`].
pub(crate) struct Scan {
    name: String,
    pattern: Option<String>,
    /// `None` once the walk is over.
    cursor: Option<Vec<u8>>,
}

impl Scan {
    /// Every key of `name`'s master, or those matching `pattern`.
    pub(crate) fn new(name: &str, pattern: Option<String>) -> Scan {
        Scan { name: name.to_owned(), pattern, cursor: Some(b"0".to_vec()) }
    }

    /// The next page of keys; `None` when the walk is over.
    pub(crate) async fn next(&mut self, masters: &mut Masters<'_>) -> Result<Option<Vec<Vec<u8>>>> {
        let Some(cursor) = self.cursor.take() else { return Ok(None) };
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(&cursor);
        if let Some(pattern) = &self.pattern {
            cmd.arg("MATCH").arg(pattern);
        }
        cmd.arg("COUNT").arg(1000);
        let bad = || {
            Error::Redis(
                (redis::ErrorKind::Parse, "disredis: unexpected SCAN reply from", self.name.clone()).into(),
            )
        };
        let Value::Array(mut parts) = masters.query(&self.name, &cmd).await? else { return Err(bad()) };
        let (Some(Value::Array(keys)), Some(Value::BulkString(next))) = (parts.pop(), parts.pop()) else {
            return Err(bad());
        };
        if next != b"0" {
            self.cursor = Some(next);
        }
        Ok(Some(
            keys.into_iter()
                .filter_map(|k| if let Value::BulkString(k) = k { Some(k) } else { None })
                .collect(),
        ))
    }
}
