//! Opening a connection to a node: connection settings (credentials, database,
//! TLS) for data nodes and Sentinels alike, and the `ROLE` check for masters and
//! replicas. The only place a connection is configured.
//!
//! Data nodes get a connection of our own ([`crate::wire`]) — subscribers
//! too, speaking RESP3 for their pushes; Sentinels keep redis-rs's
//! `MultiplexedConnection` (a few commands a second, off the request path,
//! and their `+switch-master` subscription is redis-rs's `PubSub`). Never
//! redis-rs's `ConnectionManager`: it reconnects to the address it started
//! with, which after a failover is the old (possibly restarted, empty,
//! writable) master — measured here, 4 acknowledged writes were lost that
//! way. Here every (re)connect goes to the address Sentinel names *now* and
//! must answer `ROLE master` before any command is sent over it.

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo, Value};
use tracing::debug;

use crate::config::{Auth, Config, NodeAddr};
use crate::error::{Error, Result};
use crate::metrics::{self, Stamp};
use crate::wire::{self, Wire};

/// Connection settings for a node, with its credentials, database and (feature
/// `tls`) TLS settings. Used for every connection the client opens, so data nodes
/// always get `Builder::username`/`password` and Sentinels the sentinel ones.
pub(crate) fn connection_info(addr: &NodeAddr, auth: &Auth, db: i64) -> redis::RedisResult<ConnectionInfo> {
    let mut redis = RedisConnectionInfo::default().set_db(db);
    if let Some(user) = &auth.username {
        redis = redis.set_username(user);
    }
    if let Some(pass) = &auth.password {
        redis = redis.set_password(pass.expose());
    }
    #[cfg(feature = "tls")]
    if let Some(tls) = &auth.tls {
        return tls_connection_info(addr, tls, redis);
    }
    let info = ConnectionAddr::Tcp(addr.host().to_owned(), addr.port()).into_connection_info()?;
    Ok(info.set_redis_settings(redis))
}

/// A `rediss://` connection info. redis-rs only turns PEM certificates into its
/// (crate-private) TLS parameters inside `Client::build_with_tls`, so the client
/// built there is taken apart again for its `ConnectionInfo`; callers can then
/// keep using `Client::open(info)` for plain and TLS nodes alike.
#[cfg(feature = "tls")]
fn tls_connection_info(
    addr: &NodeAddr,
    tls: &crate::config::TlsConfig,
    redis: RedisConnectionInfo,
) -> redis::RedisResult<ConnectionInfo> {
    install_crypto_provider();
    let tcp = ConnectionAddr::TcpTls {
        host: addr.host().to_owned(),
        port: addr.port(),
        insecure: tls.is_insecure(),
        tls_params: None,
    };
    let info = tcp.into_connection_info()?.set_redis_settings(redis);
    match tls.certificates() {
        Some(certs) => Ok(Client::build_with_tls(info, certs)?.get_connection_info().clone()),
        None => Ok(info),
    }
}

/// rustls needs a process-wide crypto provider. It picks one by itself only when
/// exactly one provider feature is enabled in the whole build; installing `ring`
/// here (once, and only if the application has not installed its own) keeps TLS
/// working when some other crate also enables `aws-lc-rs`.
#[cfg(feature = "tls")]
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Err means another thread installed one first: that one is used.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

/// `Some(detail)` when `e` says the node refused our credentials. Measured with
/// redis-rs 1.8.1 against Redis/Sentinel 7.0.15: a refused `AUTH` during the
/// connection handshake (wrong password, unknown user, or a password sent to a
/// node without one) is `ErrorKind::AuthenticationFailed` with the fixed text
/// "Password authentication failed" and no server code (redis-rs drops the
/// server's `WRONGPASS …` message); with no password configured the connect
/// succeeds and the first command gets a `NOAUTH` server error
/// (`code() == Some("NOAUTH")`). Neither text ever contains the password.
pub(crate) fn auth_failure(e: &redis::RedisError) -> Option<String> {
    if e.kind() == redis::ErrorKind::AuthenticationFailed {
        return Some(format!(
            "{e} (the node refused the username/password: wrong password, unknown user, or a password \
             sent to a node that has none)"
        ));
    }
    match e.code() {
        Some("NOAUTH") => Some(format!("{e} (no password is configured, but the node requires one)")),
        Some("WRONGPASS") => Some(e.to_string()),
        _ => None,
    }
}

/// Turns an error from `addr` that only a change of configuration fixes into its
/// typed error: refused credentials into [`Error::Auth`] (its detail ends with
/// the settings to check, [`credentials_for`]), (feature `tls`) a rejected TLS
/// handshake into [`Error::Tls`]. Both are fatal for the retry loop
/// (`retry::is_fatal`). Any other error stays [`Error::Redis`].
pub(crate) fn refusal(e: redis::RedisError, addr: &NodeAddr, role: &'static str) -> Error {
    if let Some(said) = auth_failure(&e) {
        let detail = format!("{said}; check {}", credentials_for(role));
        return Error::Auth { node: addr.to_string(), role, detail };
    }
    #[cfg(feature = "tls")]
    if let Some(detail) = crate::tls::rejection(&e) {
        return Error::Tls { node: addr.to_string(), role, detail };
    }
    Error::Redis(e)
}

/// Where the credentials a node of `role` (`"master"`: any data node;
/// `"sentinel"`) gets are set, for the text of [`Error::Auth`]: data nodes and
/// Sentinels have settings of their own, and a password put in the wrong one is
/// the usual mistake.
fn credentials_for(role: &str) -> &'static str {
    match role {
        "sentinel" => {
            "the Sentinels' credentials: Builder::sentinel_password / Builder::sentinel_username \
             (in a URL the sentinel_password= / sentinel_username= parameters)"
        }
        _ => {
            "the data nodes' credentials: Builder::password / Builder::username (in a URL the \
             user:password@ part)"
        }
    }
}

/// The `ROLE` a node must answer before a connection to it is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// `master`: a shard's shared, dedicated and subscription connections.
    Master,
    /// `slave`: a replica that serves reads (`ReadFrom`).
    Replica,
}

/// How [`connect_node`] opens a connection beyond the configured settings
/// (which [`Dial::new`] starts from).
pub(crate) struct Dial<'a> {
    /// The `ROLE` the node must answer.
    pub(crate) role: Role,
    /// `CLIENT SETNAME` (default none): the ring version followed, which the
    /// reshard fence counts; the ring tool's own connections stay unnamed.
    pub(crate) name: Option<&'a str>,
    /// The configured one; `None` for a blocking command's own connection.
    pub(crate) response_timeout: Option<Duration>,
    /// The configured one; shorter for a subscriber that lost its connection.
    pub(crate) connect_timeout: Duration,
}

impl<'a> Dial<'a> {
    /// The defaults for a node that must answer `role`.
    pub(crate) fn new(config: &Config, role: Role) -> Dial<'a> {
        let (response_timeout, connect_timeout) = (config.response_timeout, config.connect_timeout);
        Dial { role, name: None, response_timeout, connect_timeout }
    }
}

/// Opens a connection of our own ([`Wire`]) to `shard`'s node at `addr`,
/// names it and checks that it answers `dial.role`, all in the handshake's
/// one round trip: the one way a connection for commands to a data node is
/// opened. Another role is [`Error::NotMaster`] (for a replica, a client
/// error: it only leaves the read set); refused credentials are
/// [`Error::Auth`], a rejected TLS handshake [`Error::Tls`]. The handshake is
/// bounded by the response timeout (or the connect timeout), so a frozen node
/// can't hang the connect or hold up a switch. A refused `CLIENT SETNAME` (an
/// ACL without `client|setname`) leaves the connection unnamed: the ring tool
/// can't see it.
pub(crate) async fn connect_node(
    shard: &str,
    addr: &NodeAddr,
    config: &Config,
    dial: Dial<'_>,
) -> Result<Wire> {
    open_node(shard, addr, config, dial, None, false).await
}

/// A subscriber's connection to `shard`'s node at `addr`: a [`Wire`] as
/// [`connect_node`]'s, speaking RESP3 (`HELLO 3` in the same handshake) so
/// its pushes — messages, and a `Disconnection` when it fails or is closed —
/// go to `push`.
pub(crate) async fn connect_subscriber(
    shard: &str,
    addr: &NodeAddr,
    config: &Config,
    dial: Dial<'_>,
    push: wire::PushSink,
) -> Result<Wire> {
    open_node(shard, addr, config, dial, Some(push), false).await
}

async fn open_node(
    shard: &str,
    addr: &NodeAddr,
    config: &Config,
    dial: Dial<'_>,
    push: Option<wire::PushSink>,
    tracking: bool,
) -> Result<Wire> {
    let settings = wire::Settings {
        connect_timeout: dial.connect_timeout,
        response_timeout: dial.response_timeout,
        nodelay: config.tcp_nodelay,
        keepalive: config.tcp_keepalive,
        limits: wire::Limits::default(),
    };
    let hello = wire::Hello { name: dial.name, role: true, push, tracking };
    let (con, greeting) = wire::open(addr, &config.redis_auth, config.db, &settings, hello)
        .await
        .map_err(|e| refusal(e, addr, "master"))?;
    if let Some(e) = greeting.name_refused {
        debug!(shard, %addr, error = ?e, "CLIENT SETNAME refused; the connection stays unnamed");
    }
    if let Some(e) = greeting.tracking_refused {
        tracing::warn!(shard, %addr, error = ?e, "CLIENT TRACKING refused; nothing read over this connection is cached");
    }
    judge_role(shard, addr, &dial, greeting.role.unwrap_or(Value::Nil))?;
    Ok(con)
}

/// Whether `role` (a `ROLE` reply) is what `dial` wants: an error reply is
/// judged as the connect's own error would be ([`refusal`]).
fn judge_role(shard: &str, addr: &NodeAddr, dial: &Dial<'_>, role: Value) -> Result<()> {
    if let Value::ServerError(e) = role {
        return Err(refusal(e.into(), addr, "master"));
    }
    let said = role_name(&role).unwrap_or("an unreadable reply").to_owned();
    match (dial.role, said.as_str()) {
        (Role::Master, "master") | (Role::Replica, "slave") => {
            debug!(shard, %addr, role = %said, name = dial.name, "connected; ROLE checked");
            Ok(())
        }
        (Role::Master, _) => {
            Err(Error::NotMaster { shard: shard.to_owned(), addr: addr.to_string(), role: said })
        }
        (Role::Replica, _) => {
            Err(Error::Redis((redis::ErrorKind::Client, "disredis: not a replica (ROLE)", said).into()))
        }
    }
}

/// A client for the data node at `addr`, with the data nodes' credentials,
/// database and TLS, for a connection that needs no `ROLE` check: the ring
/// channel's pub/sub (a wrong node there only delays an announcement the
/// ring poll also finds). Connections for commands and subscriptions go
/// through [`connect_node`].
pub(crate) fn data_client(addr: &NodeAddr, config: &Config) -> redis::RedisResult<Client> {
    Client::open(connection_info(addr, &config.redis_auth, config.db)?)
}

/// Names an open connection (`CLIENT SETNAME`); a refusal is only logged.
pub(crate) async fn set_name(con: &mut impl ConnectionLike, name: &str) {
    let outcome: redis::RedisResult<Value> =
        redis::cmd("CLIENT").arg("SETNAME").arg(name).query_async(con).await;
    if let Err(e) = outcome {
        debug!(name, error = %e, "CLIENT SETNAME refused; the connection stays unnamed");
    }
}

/// A connection to the master of `shard` as [`connect_node`] opens one, its
/// time recorded (the `CONNECTION_CREATE_TIME` metric), tracking keys for the
/// client cache when given `tracking` (a shard's shared connection with the
/// cache on: RESP3, `CLIENT TRACKING` in the same handshake, pushes to
/// `tracking`): a replica or a Sentinel there is
/// [`Error::NotMaster`], refused credentials [`Error::Auth`] (which the retry
/// loop treats as fatal).
pub(crate) async fn connect_master(
    shard: &str,
    addr: &NodeAddr,
    config: &Config,
    response_timeout: Option<Duration>,
    name: Option<&str>,
    tracking: Option<&wire::PushSink>,
) -> Result<Wire> {
    let since = Stamp::now();
    let dial = Dial { name, response_timeout, ..Dial::new(config, Role::Master) };
    // With the cache on: RESP3, `CLIENT TRACKING`, its pushes to the cache.
    let con = open_node(shard, addr, config, dial, tracking.cloned(), tracking.is_some()).await?;
    metrics::connection_created(shard, addr, since);
    Ok(con)
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
    use crate::secret::Secret;

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
        let auth = Auth {
            username: Some("app".into()),
            password: Some(Secret::new("pw")),
            #[cfg(feature = "tls")]
            tls: None,
        };
        let info = connection_info(&NodeAddr::parse("[::1]:7000").unwrap(), &auth, 3).unwrap();
        assert_eq!(info.addr(), &ConnectionAddr::Tcp("::1".into(), 7000));
        assert_eq!(info.redis_settings().db(), 3);
        assert_eq!(info.redis_settings().username(), Some("app"));
        assert_eq!(info.redis_settings().password(), Some("pw"));
    }

    #[test]
    fn refused_credentials_become_auth_errors_naming_the_node() {
        let addr = NodeAddr::parse("127.0.0.1:7000").unwrap();
        let refused = redis::RedisError::from((
            redis::ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        match refusal(refused, &addr, "master") {
            Error::Auth { node, role, detail } => {
                assert_eq!((node.as_str(), role), ("127.0.0.1:7000", "master"));
                assert!(detail.contains("wrong password"), "{detail}");
                assert!(detail.ends_with("; check the data nodes' credentials: Builder::password / Builder::username (in a URL the user:password@ part)"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        // What redis-rs 1.8.1 gives for a NOAUTH reply (kind Extension, code NOAUTH).
        let noauth = redis::make_extension_error("NOAUTH".into(), Some("Authentication required.".into()));
        assert_eq!(noauth.code(), Some("NOAUTH"));
        match refusal(noauth, &addr, "sentinel") {
            Error::Auth { role: "sentinel", detail, .. } => {
                assert!(detail.contains("NOAUTH"), "{detail}");
                assert!(detail.contains("Builder::sentinel_password"), "{detail}");
                assert!(!detail.contains("Builder::password"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        let other = redis::RedisError::from((redis::ErrorKind::Io, "connection refused"));
        assert!(matches!(refusal(other, &addr, "master"), Error::Redis(_)));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_connection_info_is_rediss_with_the_certificates() {
        use crate::config::TlsConfig;
        let auth = Auth { tls: Some(TlsConfig::new()), ..Auth::default() };
        let info = connection_info(&NodeAddr::parse("127.0.0.1:7000").unwrap(), &auth, 0).unwrap();
        assert!(matches!(
            info.addr(),
            ConnectionAddr::TcpTls { port: 7000, insecure: false, tls_params: None, .. }
        ));
        let plain =
            connection_info(&NodeAddr::parse("127.0.0.1:7000").unwrap(), &Auth::default(), 0).unwrap();
        assert!(matches!(plain.addr(), ConnectionAddr::Tcp(..)));
    }
}
