//! TLS from a URL: the `rediss+sentinel://` scheme and the [`TLS_PARAMETERS`],
//! gathered in [`TlsParams`] (the `disredis` CLI's `--tls-*` flags fill in the
//! same). Parsing and the consistency check are pure; [`TlsParams::apply`]
//! reads the PEM files, once, when the URL is parsed, so a missing or bad file
//! fails before any connection and not on the first reconnect after a failover.

use std::path::{Path, PathBuf};

use super::bad;
use crate::config::Builder;
use crate::error::Result;

/// The TLS query parameters, in the order the docs list them.
pub const TLS_PARAMETERS: [&str; 7] =
    ["ca", "cert", "key", "sentinel_tls", "sentinel_ca", "sentinel_cert", "sentinel_key"];

/// Where a URL (or the CLI's flags) asks for TLS and which PEM files it names.
/// Without any of it (the default) every connection is plain TCP.
///
/// `rediss+sentinel://` turns on TLS ([`Builder::tls`], [`Builder::sentinel_tls`],
/// [`TlsConfig`](crate::TlsConfig)) to the data nodes and, unless
/// `sentinel_tls=off`, to the Sentinels, verified against the system trust store
/// unless `ca=` names a CA file. The files are read and checked when the URL is
/// parsed ([`TLS_PARAMETERS`], gathered here):
///
/// | parameter | meaning | example |
/// |---|---|---|
/// | `ca` | trust exactly the CA certificates in this PEM file | `ca=/etc/redis/tls/ca.crt` |
/// | `cert`, `key` | a client certificate chain and its private key (PEM) for mutual TLS; both or neither | `cert=/etc/app/client.crt&key=/etc/app/client.key` |
/// | `sentinel_tls` | `on` or `off`: TLS to the Sentinels (default: as the data nodes) | `sentinel_tls=off` |
/// | `sentinel_ca`, `sentinel_cert`, `sentinel_key` | the Sentinels' own, where they differ; each falls back to `ca`, `cert`, `key` | `sentinel_ca=/etc/redis/sentinel-ca.crt` |
///
/// `redis+sentinel://…?sentinel_tls=on` is TLS to the Sentinels only. A file that
/// can't be read or holds no valid PEM is [`Error::BadUrl`](crate::Error::BadUrl)
/// naming the parameter and the path (never a key's content); so is a TLS
/// parameter that does not apply (`ca=` without `rediss`, `cert=` without `key=`),
/// and, in a build without the `tls` feature, any TLS at all. A certificate the
/// server rejects, or a server certificate the CA did not sign, is
/// [`Error::Tls`](crate::Error::Tls) at connect.
///
/// ```no_run
/// # async fn demo() -> disredis::Result<()> {
/// let url = "rediss+sentinel://:s3cret@10.0.0.1:26379/?ca=/etc/redis/tls/ca.crt&sentinel_tls=off";
/// let client = disredis::DisredisClient::from_url(url).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsParams {
    /// TLS to the data nodes (masters, replicas): the `rediss+sentinel` scheme.
    pub tls: bool,
    /// `ca=PATH`: trust exactly the CA certificates in this PEM file (default:
    /// the system trust store).
    pub ca: Option<PathBuf>,
    /// `cert=PATH`: the client certificate chain (PEM) for mutual TLS.
    pub cert: Option<PathBuf>,
    /// `key=PATH`: the client certificate's private key (PEM).
    pub key: Option<PathBuf>,
    /// `sentinel_tls=on|off`: TLS to the Sentinels; `None` follows `tls`.
    pub sentinel_tls: Option<bool>,
    /// `sentinel_ca=PATH`: the Sentinels' CA, when it is not `ca`.
    pub sentinel_ca: Option<PathBuf>,
    /// `sentinel_cert=PATH`: the client certificate for Sentinels, when not `cert`.
    pub sentinel_cert: Option<PathBuf>,
    /// `sentinel_key=PATH`: its key, when not `key`.
    pub sentinel_key: Option<PathBuf>,
}

/// How PEM files are read: `std::fs::read`, or a fake in unit tests.
pub(super) type ReadFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<Vec<u8>>;

impl TlsParams {
    /// Whether Sentinel connections use TLS: `sentinel_tls`, else `tls`.
    pub fn sentinel_uses_tls(&self) -> bool {
        self.sentinel_tls.unwrap_or(self.tls)
    }

    /// These settings with each one that `over` gives replacing ours (`tls`
    /// is on when either has it): how the CLI's flags refine a URL's.
    pub fn overridden_by(&self, over: &TlsParams) -> TlsParams {
        let pick = |ours: &Option<PathBuf>, theirs: &Option<PathBuf>| theirs.clone().or_else(|| ours.clone());
        TlsParams {
            tls: self.tls || over.tls,
            ca: pick(&self.ca, &over.ca),
            cert: pick(&self.cert, &over.cert),
            key: pick(&self.key, &over.key),
            sentinel_tls: over.sentinel_tls.or(self.sentinel_tls),
            sentinel_ca: pick(&self.sentinel_ca, &over.sentinel_ca),
            sentinel_cert: pick(&self.sentinel_cert, &over.sentinel_cert),
            sentinel_key: pick(&self.sentinel_key, &over.sentinel_key),
        }
    }

    /// Takes one decoded TLS parameter (`name` is in [`TLS_PARAMETERS`]).
    pub(super) fn set(&mut self, name: &'static str, value: String) -> Result<()> {
        let slot = match name {
            "sentinel_tls" => {
                self.sentinel_tls = Some(match value.as_str() {
                    "on" | "true" => true,
                    "off" | "false" => false,
                    _ => return Err(bad(name, format!("{value:?} is not on or off"))),
                });
                return Ok(());
            }
            "ca" => &mut self.ca,
            "cert" => &mut self.cert,
            "key" => &mut self.key,
            "sentinel_ca" => &mut self.sentinel_ca,
            "sentinel_cert" => &mut self.sentinel_cert,
            "sentinel_key" => &mut self.sentinel_key,
            _ => unreachable!("every name in TLS_PARAMETERS has an arm"),
        };
        *slot = Some(PathBuf::from(value));
        Ok(())
    }

    /// The settings that can't go together, each named by its parameter. Pure.
    pub(super) fn check(&self) -> Result<()> {
        // Each half of a pair, the missing other half named.
        let halves = [
            ("cert", &self.cert, "key", &self.key),
            ("key", &self.key, "cert", &self.cert),
            ("sentinel_cert", &self.sentinel_cert, "sentinel_key", &self.sentinel_key),
            ("sentinel_key", &self.sentinel_key, "sentinel_cert", &self.sentinel_cert),
        ];
        for (a, va, b, vb) in halves {
            if va.is_some() && vb.is_none() {
                return Err(bad(b, format!("{a}= needs {b}= too (a client certificate and its key)")));
            }
        }
        let files = [
            (self.tls, "ca", &self.ca),
            (self.tls, "cert", &self.cert),
            (self.sentinel_uses_tls(), "sentinel_ca", &self.sentinel_ca),
            (self.sentinel_uses_tls(), "sentinel_cert", &self.sentinel_cert),
        ];
        match files.into_iter().find(|(on, _, file)| !on && file.is_some()) {
            None => Ok(()),
            Some((_, name, _)) if name.starts_with("sentinel_") => Err(bad(
                name,
                format!("{name}= is for TLS to the Sentinels, which sentinel_tls=off turns off"),
            )),
            Some((_, name, _)) => Err(bad(
                name,
                format!(
                    "{name}= is for TLS to the data nodes: use rediss+sentinel:// (or sentinel_{name}= for the Sentinels only)"
                ),
            )),
        }
    }

    /// Checks these settings, reads the files and sets [`Builder::tls`] and
    /// [`Builder::sentinel_tls`](Builder::sentinel_tls) (feature `tls`); without
    /// any TLS the builder is returned unchanged. Its errors are in the
    /// [`TlsParams`] docs.
    pub fn apply(&self, builder: Builder) -> Result<Builder> {
        self.apply_with(builder, &|path| std::fs::read(path))
    }

    pub(super) fn apply_with(&self, builder: Builder, read: ReadFile<'_>) -> Result<Builder> {
        self.check()?;
        if !self.tls && !self.sentinel_uses_tls() {
            return Ok(builder);
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = (builder, read);
            let part = if self.tls { "scheme" } else { "sentinel_tls" };
            Err(bad(part, "TLS needs disredis built with the `tls` cargo feature"))
        }
        #[cfg(feature = "tls")]
        {
            let mut builder = builder;
            if self.tls {
                builder =
                    builder.tls(config(read, ("ca", &self.ca), ("cert", &self.cert), ("key", &self.key))?);
            }
            if self.sentinel_uses_tls() {
                fn or<'a>(own: Param<'a>, shared: Param<'a>) -> Param<'a> {
                    if own.1.is_some() { own } else { shared }
                }
                let ca = or(("sentinel_ca", &self.sentinel_ca), ("ca", &self.ca));
                let cert = or(("sentinel_cert", &self.sentinel_cert), ("cert", &self.cert));
                let key = or(("sentinel_key", &self.sentinel_key), ("key", &self.key));
                builder = builder.sentinel_tls(config(read, ca, cert, key)?);
            }
            Ok(builder)
        }
    }
}

#[cfg(feature = "tls")]
type Param<'a> = (&'static str, &'a Option<PathBuf>);

/// One side's `TlsConfig` from its files, each checked and named on failure.
#[cfg(feature = "tls")]
fn config(read: ReadFile<'_>, ca: Param<'_>, cert: Param<'_>, key: Param<'_>) -> Result<crate::TlsConfig> {
    let load = |(name, path): (&'static str, &Path),
                check: fn(&[u8]) -> std::result::Result<(), &'static str>| {
        let pem = read(path).map_err(|e| bad(name, format!("cannot read {}: {e}", path.display())))?;
        check(&pem).map_err(|why| bad(name, format!("{} {why}", path.display()))).map(|()| pem)
    };
    let mut tls = crate::TlsConfig::new();
    if let Some(path) = ca.1 {
        tls = tls.root_certificates(load((ca.0, path), crate::tls::check_certificates)?);
    }
    if let (Some(cert_path), Some(key_path)) = (cert.1, key.1) {
        let cert_pem = load((cert.0, cert_path), crate::tls::check_certificates)?;
        let key_pem = load((key.0, key_path), crate::tls::check_key)?;
        let key_pem = String::from_utf8(key_pem)
            .map_err(|_| bad(key.0, format!("{} is not a PEM private key", key_path.display())))?;
        tls = tls.client_certificate(cert_pem, key_pem);
    }
    Ok(tls)
}

#[cfg(test)]
mod tests;
