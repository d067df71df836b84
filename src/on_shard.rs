//! [`ShardHandle`]: commands aimed at one shard by name.

use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::client::DisredisClient;
use crate::dispatch::{many, one, pipeline_call};
use crate::error::{Error, Result};
use crate::execute::{Call, Request};
use crate::fanout::cmd_args;
use crate::keys::{self, KeyError};

/// Sends every command to one shard, from [`DisredisClient::on_shard`].
///
/// For what has no key or is about one node (`INFO`, `CONFIG GET`, `CLIENT LIST`,
/// `EVAL` with no keys, module commands). A keyed command must belong to this
/// shard, otherwise it is [`Error::CrossShard`] (it would read or write the wrong
/// master). Failover and retries work as for the client; commands the key table
/// doesn't know are treated as not idempotent.
#[derive(Clone, Debug)]
pub struct ShardHandle {
    client: DisredisClient,
    idx: usize,
}

impl ShardHandle {
    pub(crate) fn new(client: DisredisClient, idx: usize) -> ShardHandle {
        ShardHandle { client, idx }
    }

    /// The shard's master name.
    pub fn name(&self) -> &str {
        &self.client.shard_names()[self.idx]
    }

    /// Checks the command's keys belong to this shard and describes it.
    fn call(&self, cmd: &Cmd) -> Result<Call> {
        let args = cmd_args(cmd);
        crate::session::refuse_outside_session(&args)?;
        let ring = &self.client.inner().shards.ring;
        let mut foreign = None;
        let info = keys::visit_keys(&args, |k| {
            let i = ring.shard_index(k);
            if i != self.idx {
                foreign = Some(i);
            }
        });
        let call = match info {
            Ok(info) => Call::of(&info),
            Err(KeyError::Unknown(_)) => Call {
                command: "unknown command",
                idempotent: false,
                dedicated: false,
                write: true,
                patience: None,
            },
            Err(KeyError::Malformed { command, detail }) => {
                return Err(Error::BadCommand { command: command.to_owned(), detail });
            }
        };
        if let Some(other) = foreign {
            let names = ring.names();
            let mut shards = vec![names[self.idx].clone(), names[other].clone()];
            shards.sort();
            return Err(Error::CrossShard { command: format!("{} (on_shard)", call.command), shards });
        }
        Ok(call)
    }

    async fn query(&self, cmd: &Cmd) -> Result<Value> {
        let call = self.call(cmd)?;
        one(self.client.inner().execute(self.idx, call, Request::Cmd(cmd)).await?)
    }

    async fn query_pipeline(&self, pipe: &Pipeline, offset: usize, count: usize) -> Result<Vec<Value>> {
        for cmd in pipe.cmd_iter() {
            self.call(cmd)?;
        }
        let call = pipeline_call("pipeline (on_shard)", pipe);
        many(self.client.inner().execute(self.idx, call, Request::Pipe { pipe, offset, count }).await?)
    }
}

impl redis::aio::ConnectionLike for ShardHandle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move { self.query(cmd).await.map_err(Into::into) })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move { self.query_pipeline(pipeline, offset, count).await.map_err(Into::into) })
    }

    fn get_db(&self) -> i64 {
        self.client.inner().config.db
    }
}
