//! Configuration from a `redis+sentinel://` or `rediss+sentinel://` URL. No
//! network I/O; the only files read are the PEM files TLS parameters name.
//!
//! ```text
//! redis[s]+sentinel://[user[:password]@]host1[:port][,host2[:port]…][/db][?name=value[&name=value…]]
//! ```
//!
//! ```no_run
//! # async fn demo() -> disredis::Result<()> {
//! let url = "redis+sentinel://app:s3cret@10.0.0.1:26379,10.0.0.2:26379,[fd00::3]:26379/?masters=shard-a,shard-b&db=2";
//! let client = disredis::DisredisClient::from_url(url).await?;
//! // or, to add settings a URL cannot carry (address_map, …):
//! let client = disredis::Builder::from_url(url)?.failover_deadline(std::time::Duration::from_secs(30)).connect().await?;
//! # Ok(()) }
//! ```
//!
//! - **scheme**: `redis+sentinel`, or `rediss+sentinel` for TLS to the data
//!   nodes and the Sentinels (feature `tls`; see [TLS](#tls) below). Any case.
//! - **userinfo** `user:password@`: ACL credentials for the **data nodes** (masters
//!   and replicas), [`Builder::username`] / [`Builder::password`]. `:password@`
//!   gives a password only, `user@` a user only. Sentinel credentials are separate
//!   query parameters (below), because Sentinels usually have their own.
//! - **host list**: Sentinel addresses separated by `,`: `host:port`, `[v6]:port`;
//!   a missing port is [`DEFAULT_SENTINEL_PORT`]. Tried in this order.
//! - **path**: empty, `/`, or `/N` for the database number (same as `db=N`).
//!
//! Query parameters (each at most once; durations are whole milliseconds greater
//! than 0). Anything not given keeps its default, listed with every setting in the
//! [`Builder`] docs:
//!
//! | parameter | builder setting | example |
//! |---|---|---|
//! | `masters` | [`Builder::masters`] (comma-separated) | `masters=shard-a,shard-b` |
//! | `db` | [`Builder::db`] | `db=2` |
//! | `sentinel_username` | [`Builder::sentinel_username`] | `sentinel_username=sentinel-user` |
//! | `sentinel_password` | [`Builder::sentinel_password`] (the Sentinels' own `requirepass`) | `sentinel_password=s%26cret` |
//! | `connect_timeout` | [`Builder::connect_timeout`] | `connect_timeout=2000` |
//! | `response_timeout` | [`Builder::response_timeout`]; `none` waits forever | `response_timeout=1000` |
//! | `tcp_nodelay` | [`Builder::tcp_nodelay`]: `true` or `false` | `tcp_nodelay=false` |
//! | `fence_writes` | [`Builder::fence_writes`]: `true` or `false` | `fence_writes=false` |
//! | `tcp_keepalive` | [`Builder::tcp_keepalive`]; `none` turns it off | `tcp_keepalive=60000` |
//! | `sentinel_timeout` | [`Builder::sentinel_timeout`] | `sentinel_timeout=100` |
//! | `sentinel_quorum` | [`Builder::sentinel_quorum`] (a number >= 1) | `sentinel_quorum=2` |
//! | `failover_deadline` | [`Builder::failover_deadline`] | `failover_deadline=30000` |
//! | `shard_down_after` | [`Builder::shard_down_after`]; `none` turns it off | `shard_down_after=5000` |
//! | `read_from` | [`Builder::read_from`]: `master`, `prefer-replica`, `replica` | `read_from=prefer-replica` |
//! | `wait_replicas`, `wait_timeout` | [`Builder::wait_replicas`] (replicas, timeout in ms); both or neither | `wait_replicas=1&wait_timeout=500` |
//! | `retry_non_idempotent` | [`Builder::retry_non_idempotent`]: `true`, `false` | `retry_non_idempotent=true` |
//! | `client_cache` | `Builder::client_cache` (feature `cache`): `on` (default size) or the size bound in bytes (`CacheConfig::max_bytes`) | `client_cache=268435456` |
//! | `client_cache_ttl` | `CacheConfig::ttl` (needs `client_cache`) | `client_cache_ttl=30000` |
//!
//! ## TLS
//!
//! `rediss+sentinel://` is TLS to the data nodes and (unless `sentinel_tls=off`)
//! the Sentinels; `ca=`, `cert=`, `key=` and their `sentinel_` twins name PEM
//! files. Every TLS parameter, with its default, is in the [`TlsParams`] docs.
//!
//! Percent-encoding (`%40` for `@`) is decoded in the user name, the passwords and
//! every parameter value; `+` is a plus, not a space. Write `@ : / ? # & , %` inside
//! a user name, password or value as `%40 %3A %2F %3F %23 %26 %2C %25`: an `@`
//! anywhere but before the host list is refused, so a password with an unencoded
//! `/`, `?` or `#` is never taken apart into host names.
//!
//! A bad URL fails before any connection with [`Error::BadUrl`] naming the part
//! (`scheme`, `userinfo`, `host list`, `path`, `fragment`, the parameter's name
//! such as `db` or `read_from`, or `query` for an unknown or malformed parameter;
//! an unknown parameter's text lists the known ones, [`PARAMETERS`]). Its text
//! never contains a password:
//!
//! ```text
//! bad Sentinel URL: host list: entry 2 "h:port": port is not a number from 1 to 65535
//! bad Sentinel URL: userinfo: the password has a malformed %-escape (password not shown)
//! ```
//!
//! [`SentinelUrl::parse`] gives the same settings plus the Sentinel addresses and
//! credentials, for tools that talk to Sentinels themselves (the `disredis` CLI).

use std::time::Duration;

use crate::addr::NodeAddr;
use crate::config::{Builder, ReadFrom};
use crate::error::{Error, Result};
use crate::secret::Secret;

mod parsed;
mod text;
mod tls;

pub use parsed::SentinelUrl;
use text::{decode, showable};
pub use tls::{TLS_PARAMETERS, TlsParams};

/// The URL scheme: `redis+sentinel://`.
pub const SCHEME: &str = "redis+sentinel";

/// The URL scheme with TLS to data nodes and Sentinels: `rediss+sentinel://`
/// (feature `tls`).
pub const TLS_SCHEME: &str = "rediss+sentinel";

/// The port of a host list entry written without one: Sentinel's usual 26379.
pub const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// Every query parameter, in the order the docs list them.
pub const PARAMETERS: [&str; 19] = [
    "masters",
    "db",
    "sentinel_username",
    "sentinel_password",
    "connect_timeout",
    "response_timeout",
    "tcp_nodelay",
    "fence_writes",
    "tcp_keepalive",
    "sentinel_timeout",
    "sentinel_quorum",
    "failover_deadline",
    "shard_down_after",
    "read_from",
    "wait_replicas",
    "wait_timeout",
    "retry_non_idempotent",
    "client_cache",
    "client_cache_ttl",
];

/// `true` or `false`.
fn flag(name: &'static str, value: &str) -> Result<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(name, format!("{value:?} is not true or false"))),
    }
}

fn bad(part: &'static str, detail: impl Into<String>) -> Error {
    Error::BadUrl { part, detail: detail.into() }
}

fn parse(url: &str, read: tls::ReadFile<'_>) -> Result<SentinelUrl> {
    let shape = format!(
        "expected {SCHEME}:// or {TLS_SCHEME}://[user:password@]host:port[,host:port…][/db][?masters=…]"
    );
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad("scheme", format!("no \"://\" in the URL; {shape}")));
    };
    let tls_scheme = scheme.eq_ignore_ascii_case(TLS_SCHEME);
    if !tls_scheme && !scheme.eq_ignore_ascii_case(SCHEME) {
        let shown = if showable(scheme) { format!("{scheme:?}") } else { "(not shown)".into() };
        return Err(bad("scheme", format!("scheme {shown} is not {SCHEME:?} or {TLS_SCHEME:?}; {shape}")));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if tail.contains('@') {
        return Err(bad(
            "userinfo",
            "an '@' after the host list: write '@', '/', '?' and '#' inside a user name, password \
             or value as %40, %2F, %3F and %23",
        ));
    }
    let (userinfo, hosts) = authority.rsplit_once('@').map_or((None, authority), |(u, h)| (Some(u), h));
    let has_password = userinfo.and_then(|u| u.split_once(':')).is_some_and(|(_, p)| !p.is_empty());
    let mut builder = Builder::default();
    if let Some(userinfo) = userinfo {
        builder = apply_userinfo(builder, userinfo)?;
    }
    let sentinels = parse_hosts(hosts)?;
    builder = builder.sentinels(&sentinels);

    if tail.contains('#') {
        return Err(bad(
            "fragment",
            "a '#…' fragment is not used (name masters with masters=…); write '#' in a value as %23",
        ));
    }
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let path_db = match path.strip_prefix('/').unwrap_or(path) {
        "" => None,
        db => Some(parse_db("path", db)?),
    };
    let (builder, sentinel_username, sentinel_password, mut tls) = apply_query(builder, query, path_db)?;
    tls.tls = tls_scheme;
    let plain = builder.clone();
    let builder = tls.apply_with(builder, read)?;
    if let Err(e) = builder.clone().build() {
        return Err(match e {
            Error::Config { field, .. } => bad(field, e.to_string()),
            other => other,
        });
    }
    Ok(SentinelUrl { builder, plain, sentinels, sentinel_username, sentinel_password, tls, has_password })
}

fn apply_userinfo(mut builder: Builder, userinfo: &str) -> Result<Builder> {
    let (user, pass) = userinfo.split_once(':').map_or((userinfo, None), |(u, p)| (u, Some(p)));
    let user = decode(user).ok_or_else(|| bad("userinfo", "the user name has a malformed %-escape"))?;
    if !user.is_empty() {
        builder = builder.username(user);
    }
    if let Some(pass) = pass {
        let pass = decode(pass)
            .ok_or_else(|| bad("userinfo", "the password has a malformed %-escape (password not shown)"))?;
        if !pass.is_empty() {
            builder = builder.password(pass);
        }
    }
    Ok(builder)
}

fn parse_hosts(hosts: &str) -> Result<Vec<String>> {
    if hosts.is_empty() {
        return Err(bad("host list", "no Sentinel address; expected host:port[,host:port…]"));
    }
    let mut out = Vec::new();
    for (i, entry) in hosts.split(',').enumerate() {
        let n = i + 1;
        if entry.is_empty() {
            return Err(bad("host list", format!("entry {n} is empty (a stray ',')")));
        }
        let with_port = if entry.ends_with(']') || (!entry.starts_with('[') && !entry.contains(':')) {
            format!("{entry}:{DEFAULT_SENTINEL_PORT}")
        } else {
            entry.to_owned()
        };
        match NodeAddr::parse(&with_port) {
            Ok(addr) if !entry.contains('%') => out.push(addr.to_string()),
            Ok(_) => {
                return Err(bad("host list", format!("entry {n} {entry:?}: '%' is not allowed in a host")));
            }
            Err(Error::Config { reason, .. }) => {
                return Err(bad("host list", format!("entry {n} {entry:?}: {reason}")));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// `raw` as a number when it is written with digits only (no sign, no spaces).
fn digits<T: std::str::FromStr>(raw: &str) -> Option<T> {
    raw.bytes().all(|b| b.is_ascii_digit()).then(|| raw.parse().ok()).flatten()
}

fn parse_db(part: &'static str, raw: &str) -> Result<i64> {
    digits(raw).ok_or_else(|| bad(part, format!("{raw:?} is not a database number (0, 1, 2, …)")))
}

fn millis(name: &'static str, raw: &str) -> Result<Duration> {
    digits(raw)
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .ok_or_else(|| bad(name, format!("{raw:?} is not a whole number of milliseconds greater than 0")))
}

type QueryOutcome = (Builder, Option<String>, Option<Secret>, TlsParams);

fn apply_query(mut b: Builder, query: &str, path_db: Option<i64>) -> Result<QueryOutcome> {
    let mut seen: Vec<&'static str> = Vec::new();
    let (mut sentinel_username, mut sentinel_password) = (None, None);
    let mut wait: (Option<usize>, Option<Duration>) = (None, None);
    let mut cache: (Option<Option<u64>>, Option<Duration>) = (None, None);
    let mut after_password = false;
    let mut tls = TlsParams::default();
    if let Some(db) = path_db {
        b = b.db(db);
    }
    for segment in query.split('&').filter(|s| !s.is_empty()) {
        let follows_password = std::mem::replace(&mut after_password, false);
        let (name, raw) = segment.split_once('=').unwrap_or((segment, ""));
        let Some(&name) = PARAMETERS.iter().chain(&TLS_PARAMETERS).find(|p| **p == name) else {
            let shown = if follows_password {
                "right after sentinel_password (not shown: write '&' in a password as %26)".to_owned()
            } else if showable(name) {
                format!("{name:?}")
            } else {
                "(not shown)".to_owned()
            };
            let known = PARAMETERS.iter().chain(&TLS_PARAMETERS).copied().collect::<Vec<_>>().join(", ");
            return Err(bad("query", format!("unknown parameter {shown}; known: {known}")));
        };
        if seen.contains(&name) {
            return Err(bad(name, "given twice"));
        }
        seen.push(name);
        if raw.is_empty() {
            return Err(bad(name, "empty value"));
        }
        if name == "sentinel_password" {
            after_password = true;
            let pass = decode(raw).ok_or_else(|| bad(name, "malformed %-escape (value not shown)"))?;
            sentinel_password = Some(Secret::new(pass.clone()));
            b = b.sentinel_password(pass);
            continue;
        }
        let value = decode(raw).ok_or_else(|| bad(name, format!("malformed %-escape in {raw:?}")))?;
        if TLS_PARAMETERS.contains(&name) {
            tls.set(name, value)?;
            continue;
        }
        b = match name {
            "masters" => {
                let names: Vec<&str> = value.split(',').collect();
                if names.iter().any(|n| n.is_empty()) {
                    return Err(bad(name, format!("empty master name in {value:?}")));
                }
                b.masters(names)
            }
            "db" if path_db.is_some() => {
                return Err(bad(name, "given both as the path (/N) and as db=; use one"));
            }
            "db" => b.db(parse_db(name, &value)?),
            "sentinel_username" => {
                sentinel_username = Some(value.clone());
                b.sentinel_username(value)
            }
            "connect_timeout" => b.connect_timeout(millis(name, &value)?),
            "response_timeout" if value == "none" => b.response_timeout(None),
            "response_timeout" => b.response_timeout(Some(millis(name, &value)?)),
            "tcp_nodelay" => b.tcp_nodelay(flag(name, &value)?),
            "fence_writes" => b.fence_writes(flag(name, &value)?),
            "tcp_keepalive" if value == "none" => b.tcp_keepalive(None),
            "tcp_keepalive" => b.tcp_keepalive(Some(millis(name, &value)?)),
            "sentinel_timeout" => b.sentinel_timeout(millis(name, &value)?),
            "sentinel_quorum" => b.sentinel_quorum(count(name, &value, "a number of Sentinels >= 1")?),
            "failover_deadline" => b.failover_deadline(millis(name, &value)?),
            "shard_down_after" if value == "none" => b.shard_down_after(None),
            "shard_down_after" => b.shard_down_after(Some(millis(name, &value)?)),
            "read_from" => b.read_from(match value.as_str() {
                "master" => ReadFrom::Master,
                "prefer-replica" => ReadFrom::PreferReplica,
                "replica" => ReadFrom::Replica,
                _ => return Err(bad(name, format!("{value:?} is not master, prefer-replica or replica"))),
            }),
            "wait_replicas" => {
                wait.0 = Some(count(name, &value, "a number of replicas >= 1")?);
                b
            }
            "wait_timeout" => {
                wait.1 = Some(millis(name, &value)?);
                b
            }
            "retry_non_idempotent" => b.retry_non_idempotent(flag(name, &value)?),
            "client_cache" => {
                let bytes = digits(&value).filter(|n| *n >= 1024);
                match value.as_str() {
                    "on" => cache.0 = Some(None),
                    _ => {
                        cache.0 =
                            Some(Some(bytes.ok_or_else(|| bad(name, "not `on` or a size in bytes >= 1024"))?))
                    }
                }
                b
            }
            "client_cache_ttl" => {
                cache.1 = Some(millis(name, &value)?);
                b
            }
            _ => unreachable!("every name in PARAMETERS has an arm"),
        };
    }
    b = match wait {
        (Some(n), Some(t)) => b.wait_replicas(n, t),
        (None, None) => b,
        (Some(_), None) => return Err(bad("wait_timeout", "wait_replicas=N needs wait_timeout=ms too")),
        (None, Some(_)) => return Err(bad("wait_replicas", "wait_timeout=ms needs wait_replicas=N too")),
    };
    Ok((apply_cache(b, cache)?, sentinel_username, sentinel_password, tls))
}

/// `client_cache` (`Some(None)`: `on`) and `client_cache_ttl`.
fn apply_cache(b: Builder, (size, ttl): (Option<Option<u64>>, Option<Duration>)) -> Result<Builder> {
    match (size, ttl) {
        (None, None) => Ok(b),
        (None, Some(_)) => Err(bad("client_cache_ttl", "needs client_cache=on (or a size) too")),
        #[cfg(feature = "cache")]
        (Some(size), ttl) => {
            let mut c = crate::config::CacheConfig::new();
            if let Some(bytes) = size {
                c = c.max_bytes(bytes);
            }
            if let Some(ttl) = ttl {
                c = c.ttl(ttl);
            }
            Ok(b.client_cache(c))
        }
        #[cfg(not(feature = "cache"))]
        (Some(_), _) => Err(bad("client_cache", "client-side caching needs disredis's `cache` feature")),
    }
}

/// A whole number >= 1 written with digits only (`what` says what it counts).
fn count(name: &'static str, value: &str, what: &str) -> Result<usize> {
    digits(value).filter(|n| *n > 0).ok_or_else(|| bad(name, format!("{value:?} is not {what}")))
}

#[cfg(test)]
mod tests;
