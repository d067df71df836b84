//! TLS settings (feature `tls`): which certificates to trust, and an optional
//! client certificate. Pure: the PEM is checked at `build()`, used at connect.

use std::fmt;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// TLS settings for data nodes ([`Builder::tls`](crate::Builder::tls)) or Sentinels
/// ([`Builder::sentinel_tls`](crate::Builder::sentinel_tls)). Feature `tls` (rustls with the `ring` provider).
///
/// Every option, with its default ([`TlsConfig::new`]):
///
/// | option | default | meaning |
/// |---|---|---|
/// | [`root_certificates(pem)`](TlsConfig::root_certificates) | the operating system's trust store (read by `rustls-native-certs` on each connect) | trust exactly these CAs (PEM); checked by `Builder::build` ([`Error::Config`]) |
/// | [`client_certificate(cert, key)`](TlsConfig::client_certificate) | none | mutual TLS (`tls-auth-clients yes`); the key is redacted like a password |
/// | `insecure()` | off | no certificate or host name check at all; only with the `tls-insecure` feature, for tests |
///
/// The server certificate is always checked to cover the address Sentinel
/// reports for the node (usually an IP, so the certificate needs an IP SAN)
/// unless `insecure()` is set.
///
/// ```no_run
/// # #[cfg(feature = "tls")]
/// # async fn demo() -> disredis::Result<()> {
/// let ca = std::fs::read("/etc/redis/ca.pem").expect("CA file");
/// let client = disredis::DisredisClient::builder()
///     .sentinels(["10.0.0.1:26379"])
///     .tls(disredis::TlsConfig::new().root_certificates(ca)) // data nodes only
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[cfg(feature = "tls")]
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    root_certificates: Option<Vec<u8>>,
    client_certificate: Option<(Vec<u8>, Secret)>,
    insecure: bool,
}

#[cfg(feature = "tls")]
impl TlsConfig {
    /// Verify servers against the system trust store; no client certificate.
    pub fn new() -> TlsConfig {
        TlsConfig::default()
    }

    /// Trust exactly these CA certificates (PEM, one or more) instead of the
    /// system trust store: for a private CA. Checked by `build`.
    pub fn root_certificates(mut self, pem: impl Into<Vec<u8>>) -> TlsConfig {
        self.root_certificates = Some(pem.into());
        self
    }

    /// Present this client certificate chain and private key (both PEM) for
    /// servers with `tls-auth-clients yes` (mutual TLS). The key is kept out of
    /// `Debug` like a password.
    pub fn client_certificate(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<String>,
    ) -> TlsConfig {
        self.client_certificate = Some((cert_pem.into(), Secret::new(key_pem)));
        self
    }

    /// Accept any server certificate, without checking who signed it or which
    /// host it names: encryption without authentication, for tests only. Needs
    /// the `tls-insecure` feature, so a build without it cannot do this by mistake.
    #[cfg(feature = "tls-insecure")]
    pub fn insecure(mut self) -> TlsConfig {
        self.insecure = true;
        self
    }

    pub(crate) fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// The CA certificates to trust instead of the system's (PEM).
    pub(crate) fn root_pem(&self) -> Option<&[u8]> {
        self.root_certificates.as_deref()
    }

    /// The client certificate chain and key (PEM), for mutual TLS.
    pub(crate) fn client_pem(&self) -> Option<(&[u8], &str)> {
        self.client_certificate.as_ref().map(|(cert, key)| (cert.as_slice(), key.expose()))
    }

    /// The certificates in the form redis-rs takes them; `None` when neither a
    /// CA nor a client certificate was given (then the system roots are used).
    pub(crate) fn certificates(&self) -> Option<redis::TlsCertificates> {
        if self.root_certificates.is_none() && self.client_certificate.is_none() {
            return None;
        }
        Some(redis::TlsCertificates {
            client_tls: self.client_certificate.as_ref().map(|(cert, key)| redis::ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.expose().as_bytes().to_vec(),
            }),
            root_cert: self.root_certificates.clone(),
        })
    }

    /// Checks that the PEM blobs parse, so a bad file fails at `build`, not on the
    /// first connect after a failover. Never echoes the key.
    pub(crate) fn validate(&self, field: &'static str) -> Result<()> {
        let bad = |reason| Error::Config { field, value: "<PEM>".into(), reason };
        if let Some(pem) = &self.root_certificates {
            match check_certificates(pem) {
                Ok(()) => {}
                Err(NO_CERTIFICATE) => return Err(bad("root_certificates holds no PEM CERTIFICATE block")),
                Err(_) => return Err(bad("root_certificates is not valid PEM")),
            }
        }
        if let Some((cert, key)) = &self.client_certificate {
            if check_certificates(cert).is_err() {
                return Err(bad("client_certificate: the certificate is not a PEM CERTIFICATE chain"));
            }
            if check_key(key.expose().as_bytes()).is_err() {
                return Err(bad("client_certificate: the key is not a PEM private key"));
            }
        }
        Ok(())
    }
}

#[cfg(feature = "tls")]
const NO_CERTIFICATE: &str = "holds no PEM CERTIFICATE block";

/// `Err(why)` unless `pem` holds one or more PEM `CERTIFICATE` blocks.
#[cfg(feature = "tls")]
pub(crate) fn check_certificates(pem: &[u8]) -> std::result::Result<(), &'static str> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    match CertificateDer::pem_slice_iter(pem).collect::<std::result::Result<Vec<_>, _>>() {
        Ok(c) if !c.is_empty() => Ok(()),
        Ok(_) => Err(NO_CERTIFICATE),
        Err(_) => Err("is not valid PEM"),
    }
}

/// `Err(why)` unless `pem` holds a PEM private key (the key is never echoed).
#[cfg(feature = "tls")]
pub(crate) fn check_key(pem: &[u8]) -> std::result::Result<(), &'static str> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_slice(pem).map(drop).map_err(|_| "is not a PEM private key")
}

/// `Some(what rustls said)` when `e` is a TLS handshake failure that only a
/// change of configuration fixes, so it must not be retried as if it were a
/// failover: the server's certificate was rejected (not signed by a trusted CA,
/// expired, revoked, not for the address), the server rejected ours (or wanted
/// one), the two sides share no protocol version or cipher, or the address is
/// no valid TLS server name. Any other error (a refused or dropped connection
/// during the handshake, a timeout) is `None`: those are what a failover looks
/// like. Measured with redis-rs 1.8.1 / rustls 0.23: the rejection arrives as a
/// `rustls::Error` inside the `io::Error` redis-rs wraps.
#[cfg(feature = "tls")]
pub(crate) fn rejection(e: &redis::RedisError) -> Option<String> {
    use rustls::{AlertDescription as A, Error as E};
    if let Some(bad_name) = crate::error::find_in::<rustls::pki_types::InvalidDnsNameError>(e) {
        return Some(format!("not a valid TLS server name: {bad_name}"));
    }
    let tls = crate::error::find_in::<E>(e)?;
    let config = match tls {
        E::InvalidCertificate(_)
        | E::NoCertificatesPresented
        | E::UnsupportedNameType
        | E::InvalidCertRevocationList(_)
        | E::PeerIncompatible(_) => true,
        E::AlertReceived(alert) => matches!(
            alert,
            A::HandshakeFailure
                | A::NoCertificate
                | A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::AccessDenied
                | A::ProtocolVersion
                | A::InsufficientSecurity
                | A::CertificateRequired
        ),
        _ => false,
    };
    config.then(|| tls.to_string())
}

/// Shows which options are set, never the certificates or the key.
#[cfg(feature = "tls")]
impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("root_certificates", &self.root_certificates.as_ref().map(|_| "<PEM>"))
            .field("client_certificate", &self.client_certificate.as_ref().map(|_| "<PEM, key redacted>"))
            .field("insecure", &self.insecure)
            .finish()
    }
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use std::io;

    use rustls::{AlertDescription, CertificateError, Error as TlsError};

    use super::rejection;

    /// As redis-rs 1.8 wraps a handshake failure: the rustls error inside an `io::Error`.
    fn handshake(e: TlsError) -> redis::RedisError {
        io::Error::new(io::ErrorKind::InvalidData, e).into()
    }

    #[test]
    fn certificate_rejections_are_configuration_errors() {
        for e in [
            TlsError::InvalidCertificate(CertificateError::UnknownIssuer),
            TlsError::InvalidCertificate(CertificateError::Expired),
            TlsError::InvalidCertificate(CertificateError::NotValidForName),
            TlsError::AlertReceived(AlertDescription::CertificateRequired),
            TlsError::AlertReceived(AlertDescription::UnknownCA),
        ] {
            let text = e.to_string();
            assert_eq!(rejection(&handshake(e.clone())), Some(text.clone()), "{e:?}");
            // redis-rs's own `From<rustls::Error>` (kind Client) too.
            assert_eq!(rejection(&redis::RedisError::from(e)), Some(text));
        }
    }

    #[test]
    fn failover_symptoms_are_not() {
        for kind in
            [io::ErrorKind::ConnectionRefused, io::ErrorKind::ConnectionReset, io::ErrorKind::TimedOut]
        {
            assert_eq!(rejection(&io::Error::from(kind).into()), None, "{kind:?}");
        }
        assert_eq!(rejection(&handshake(TlsError::AlertReceived(AlertDescription::CloseNotify))), None);
        assert_eq!(rejection(&handshake(TlsError::HandshakeNotComplete)), None);
    }
}
