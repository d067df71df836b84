//! One shard's connection to its master: connecting, and the `ROLE` check.
//!
//! A plain `redis::aio::MultiplexedConnection` per shard, not redis-rs's
//! `ConnectionManager`: the manager reconnects to the address it started with,
//! which after a failover is the old (possibly restarted, empty, writable)
//! master — measured here, 4 acknowledged writes were lost that way. Here every
//! (re)connect goes to the address Sentinel names *now* and must answer
//! `ROLE master` before any command is sent over it.

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo,
    Value,
};
use tracing::debug;

use crate::config::{Auth, Config, NodeAddr};
use crate::error::{Error, Result};

/// Connection settings for a node, with its credentials and database.
pub(crate) fn connection_info(addr: &NodeAddr, auth: &Auth, db: i64) -> redis::RedisResult<ConnectionInfo> {
    let mut redis = RedisConnectionInfo::default().set_db(db);
    if let Some(user) = &auth.username {
        redis = redis.set_username(user);
    }
    if let Some(pass) = &auth.password {
        redis = redis.set_password(pass.expose());
    }
    let info = ConnectionAddr::Tcp(addr.host().to_owned(), addr.port()).into_connection_info()?;
    Ok(info.set_redis_settings(redis))
}

/// Opens a connection to the master of `shard` at `addr` and checks that the node
/// says `ROLE master`; a replica or a Sentinel there is [`Error::NotMaster`].
/// `response_timeout` is the connection's (the configured one for the shared
/// connection, `None` for a blocking command's own); `ROLE` itself is always
/// bounded by the connect timeout, so a frozen node can't hang the connect.
pub(crate) async fn connect_master(
    shard: &str,
    addr: &NodeAddr,
    config: &Config,
    response_timeout: Option<std::time::Duration>,
) -> Result<MultiplexedConnection> {
    let client = Client::open(connection_info(addr, &config.redis_auth, config.db)?)?;
    let settings = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(response_timeout);
    let mut con = client.get_multiplexed_async_connection_with_config(&settings).await?;
    let role: Value = tokio::time::timeout(config.connect_timeout, redis::cmd("ROLE").query_async(&mut con))
        .await
        .map_err(|_| redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))??;
    match role_name(&role) {
        Some("master") => {
            debug!(shard, %addr, "connected; ROLE master");
            Ok(con)
        }
        other => Err(Error::NotMaster {
            shard: shard.to_owned(),
            addr: addr.to_string(),
            role: other.unwrap_or("an unreadable reply").to_owned(),
        }),
    }
}

/// The first element of a `ROLE` reply: `master`, `slave` or `sentinel`.
fn role_name(v: &Value) -> Option<&str> {
    let Value::Array(items) = v else { return None };
    match items.first()? {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn role_names() {
        let arr = |s: &str| Value::Array(vec![Value::BulkString(s.as_bytes().to_vec()), Value::Int(0)]);
        assert_eq!(role_name(&arr("master")), Some("master"));
        assert_eq!(role_name(&arr("slave")), Some("slave"));
        assert_eq!(role_name(&Value::Array(vec![])), None);
        assert_eq!(role_name(&Value::Okay), None);
    }

    #[test]
    fn connection_info_carries_auth_and_db() {
        let auth = Auth { username: Some("app".into()), password: Some(Secret::new("pw")) };
        let info = connection_info(&NodeAddr::parse("[::1]:7000").unwrap(), &auth, 3).unwrap();
        assert_eq!(info.addr(), &ConnectionAddr::Tcp("::1".into(), 7000));
        assert_eq!(info.redis_settings().db(), 3);
        assert_eq!(info.redis_settings().username(), Some("app"));
    }
}
