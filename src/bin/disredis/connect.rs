//! Where and how to connect: the Sentinels (options, URL or `DISREDIS_URL`),
//! passwords from the environment or a prompt, and TLS from flags refining the
//! URL's (the same settings as `rediss+sentinel://…?ca=…`, applied by the library).

use std::io::{BufRead, IsTerminal};
use std::time::Duration;

use disredis::url::{SentinelUrl, TlsParams};
use disredis::{Builder, DisredisClient, Error};

use crate::Failure;
use crate::args::Cli;

/// How long a shard gets to answer in the commands that report per shard
/// (`Command::reports_per_shard`) unless `--shard-timeout` says otherwise: a
/// healthy master answers in milliseconds, and a failover that takes longer is
/// better reported as under way than waited for.
pub const SHARD_TIMEOUT: Duration = Duration::from_secs(2);

/// The flag that sets a TLS parameter, for error text.
fn flag_of(part: &str) -> Option<&'static str> {
    Some(match part {
        "ca" => "--tls-ca",
        "cert" => "--tls-cert",
        "key" => "--tls-key",
        "sentinel_tls" => "--sentinel-tls",
        "sentinel_ca" => "--sentinel-tls-ca",
        "sentinel_cert" => "--sentinel-tls-cert",
        "sentinel_key" => "--sentinel-tls-key",
        _ => return None,
    })
}

/// A TLS error from the flags, named by flag and URL parameter both (either may have set it).
fn tls_failure(e: Error) -> Failure {
    match &e {
        Error::BadUrl { part, detail } if flag_of(part).is_some() => {
            let flag = flag_of(part).unwrap_or_default();
            Failure::usage(format!("TLS setting {flag} (URL parameter {part}=): {detail}"))
        }
        Error::BadUrl { part: "scheme", detail } => Failure::usage(format!("--tls: {detail}")),
        _ => Failure::from(e),
    }
}

/// A password from `env` (the variable must be set and not empty), else the
/// prompt when `ask`, else `fallback` (an environment variable) unless the URL
/// `has` one; `None` when there is none.
fn password(
    env: Option<&str>,
    ask: bool,
    whose: &str,
    fallback: &str,
    has: bool,
) -> Result<Option<String>, Failure> {
    if let Some(var) = env {
        return match std::env::var(var) {
            Ok(p) if !p.is_empty() => Ok(Some(p)),
            _ => Err(Failure::usage(format!("the {whose}' password variable {var} is not set or empty"))),
        };
    }
    if !ask {
        return Ok((!has).then(|| std::env::var(fallback).ok().filter(|p| !p.is_empty())).flatten());
    }
    let prompt = format!("Password for the {whose}: ");
    let read =
        if std::io::stdin().is_terminal() { rpassword::prompt_password(&prompt).ok() } else { stdin_line() };
    match read {
        Some(p) if !p.is_empty() => Ok(Some(p)),
        _ => Err(Failure::usage(format!(
            "no {whose} password read ({prompt:?} got an empty line or end of input)"
        ))),
    }
}

/// One line of a piped stdin, without its line end.
fn stdin_line() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(n) if n > 0 => Some(line.trim_end_matches(['\n', '\r']).to_owned()),
        _ => None,
    }
}

/// Whether a (valid) URL sets the `failover_deadline` parameter.
fn sets_deadline(url: &str) -> bool {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query.split('&').any(|p| p.split('=').next() == Some("failover_deadline"))
}

/// Where to connect, from the options, the URL or `DISREDIS_URL`.
pub fn settings(cli: &Cli) -> Result<Builder, Failure> {
    let url = cli.url.clone().or_else(|| match cli.sentinels.is_empty() {
        true => std::env::var("DISREDIS_URL").ok().filter(|u| !u.is_empty()),
        false => None,
    });
    let access = &cli.access;
    let flags_tls = access.tls_params();
    let (mut builder, has_password, has_sentinel_password) = match &url {
        Some(url) => {
            let parsed = SentinelUrl::parse(url)?;
            let builder = if flags_tls == TlsParams::default() {
                parsed.builder()
            } else {
                parsed.builder_with_tls(&parsed.tls().overridden_by(&flags_tls)).map_err(tls_failure)?
            };
            (builder, parsed.has_password(), parsed.sentinel_password().is_some())
        }
        None if cli.sentinels.is_empty() => {
            return Err(Failure::usage(
                "no Sentinels given: use --sentinel HOST:PORT (repeatable), --url \
                 redis+sentinel://… or set DISREDIS_URL (see disredis --help)",
            ));
        }
        None => {
            let builder = DisredisClient::builder().sentinels(&cli.sentinels);
            (flags_tls.apply(builder).map_err(tls_failure)?, false, false)
        }
    };
    if let Some(user) = &access.user {
        builder = builder.username(user);
    }
    if let Some(user) = &access.sentinel_user {
        builder = builder.sentinel_username(user);
    }
    let (env, ask) = (access.password_env.as_deref(), access.ask_password);
    if let Some(p) = password(env, ask, "data nodes", "DISREDIS_PASSWORD", has_password)? {
        builder = builder.password(p);
    }
    let (env, ask) = (access.sentinel_password_env.as_deref(), access.ask_sentinel_password);
    if let Some(p) = password(env, ask, "Sentinels", "DISREDIS_SENTINEL_PASSWORD", has_sentinel_password)? {
        builder = builder.sentinel_password(p);
    }
    if !cli.masters.is_empty() {
        builder = builder.masters(&cli.masters);
    }
    if let Some(db) = cli.db {
        builder = builder.db(db);
    }
    if let Some(ms) = cli.sentinel_timeout {
        builder = builder.sentinel_timeout(Duration::from_millis(ms));
    }
    // --shard-timeout, else the URL's failover_deadline, else the command's default.
    let by_default = cli.command.reports_per_shard() && !url.as_deref().is_some_and(sets_deadline);
    let shard_timeout = cli.shard_timeout.map(Duration::from_millis);
    if let Some(t) = shard_timeout.or(by_default.then_some(SHARD_TIMEOUT)) {
        builder = builder.failover_deadline(t);
    }
    // Validate before connecting, so a bad address is a configuration error (2).
    builder.clone().build()?;
    Ok(builder)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_url_failover_deadline_is_seen() {
        assert!(super::sets_deadline("redis+sentinel://h:1/?failover_deadline=1000"));
        assert!(super::sets_deadline("redis+sentinel://h:1/?db=1&failover_deadline=1000&masters=a"));
        assert!(!super::sets_deadline("redis+sentinel://h:1/?db=1"));
        assert!(!super::sets_deadline("redis+sentinel://h:1/?sentinel_timeout=1000"));
        assert!(!super::sets_deadline("redis+sentinel://failover_deadline:pw@h:1/"));
    }
}
