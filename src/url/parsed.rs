//! [`SentinelUrl`]: a parsed URL's settings, Sentinels, credentials and TLS.

use crate::config::Builder;
use crate::error::Result;
use crate::secret::Secret;

use super::TlsParams;
use super::text::{redact, secrets_in};

/// A parsed `redis+sentinel://` URL: the [`Builder`] it describes, and the
/// Sentinel addresses and credentials for tools that also talk to Sentinels
/// directly (the `disredis` CLI). `Debug` never shows a password.
#[derive(Clone, Debug)]
pub struct SentinelUrl {
    pub(super) builder: Builder,
    /// The settings without the URL's TLS, for [`SentinelUrl::builder_with_tls`].
    pub(super) plain: Builder,
    pub(super) sentinels: Vec<String>,
    pub(super) sentinel_username: Option<String>,
    pub(super) sentinel_password: Option<Secret>,
    pub(super) tls: TlsParams,
    pub(super) has_password: bool,
}

impl SentinelUrl {
    /// Parses and checks `url` (see the module docs); nothing is connected.
    pub fn parse(url: &str) -> Result<SentinelUrl> {
        super::parse(url, &|path| std::fs::read(path)).map_err(|e| redact(e, &secrets_in(url)))
    }

    /// The settings, ready for more builder calls or `connect`.
    pub fn builder(&self) -> Builder {
        self.builder.clone()
    }

    /// The Sentinel addresses of the host list, `host:port`, in order.
    pub fn sentinels(&self) -> &[String] {
        &self.sentinels
    }

    /// The `sentinel_username` parameter.
    pub fn sentinel_username(&self) -> Option<&str> {
        self.sentinel_username.as_deref()
    }

    /// The `sentinel_password` parameter, decoded. Handle with care.
    pub fn sentinel_password(&self) -> Option<&str> {
        self.sentinel_password.as_ref().map(Secret::expose)
    }

    /// The TLS settings: the scheme and the TLS parameters (already applied to
    /// [`builder`](SentinelUrl::builder)); for tools that refine them.
    pub fn tls(&self) -> &TlsParams {
        &self.tls
    }

    /// The URL's settings with `tls` in place of the URL's own TLS settings
    /// (see [`TlsParams::apply`]): how the CLI's `--tls-*` flags refine a URL.
    pub fn builder_with_tls(&self, tls: &TlsParams) -> Result<Builder> {
        tls.apply(self.plain.clone())
    }

    /// Whether the URL's userinfo holds a password for the data nodes.
    pub fn has_password(&self) -> bool {
        self.has_password
    }
}

impl Builder {
    /// A builder with the settings of a `redis+sentinel://` URL (see
    /// [`crate::url`] for every parameter), so more can be added before `connect`.
    /// A bad URL is [`Error::BadUrl`](crate::Error::BadUrl) naming the offending part, never the password.
    pub fn from_url(url: &str) -> Result<Builder> {
        SentinelUrl::parse(url).map(|u| u.builder)
    }
}
