//! TLS for [`Wire`](super::Wire)s (feature `tls`): rustls with the `ring`
//! provider, trusting the CA certificates [`TlsConfig`] names or else the
//! system's roots, presenting its client certificate if it has one. As
//! redis-rs did for these connections before, so certificates, errors
//! (`tls::rejection` reads the `rustls::Error` inside the `io::Error`) and
//! settings stay the same. A client configuration is built once per
//! [`TlsConfig`] (loading the system's roots takes milliseconds).

use std::io;
use std::sync::Arc;

use parking_lot::Mutex;
use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::TlsConfig;

/// Runs the TLS handshake with `host` over `tcp`.
pub(super) async fn handshake(
    tcp: TcpStream,
    host: &str,
    tls: &TlsConfig,
) -> io::Result<TlsStream<TcpStream>> {
    let name =
        ServerName::try_from(host.to_owned()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    TlsConnector::from(client_config(tls)?).connect(name, tcp).await
}

/// The rustls configuration for `tls`, built once.
fn client_config(tls: &TlsConfig) -> io::Result<Arc<ClientConfig>> {
    static BUILT: Mutex<Vec<(TlsConfig, Arc<ClientConfig>)>> = Mutex::new(Vec::new());
    if let Some((_, c)) = BUILT.lock().iter().find(|(t, _)| t == tls) {
        return Ok(c.clone());
    }
    let built = Arc::new(build(tls)?);
    BUILT.lock().push((tls.clone(), built.clone()));
    Ok(built)
}

fn build(tls: &TlsConfig) -> io::Result<ClientConfig> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let builder = if tls.is_insecure() {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        match tls.root_pem() {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem) {
                    roots
                        .add(cert.map_err(|_| invalid("root_certificates is not valid PEM"))?)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
            }
        }
        builder.with_root_certificates(roots)
    };
    match tls.client_pem() {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| invalid("client_certificate: the certificate is not a PEM CERTIFICATE chain"))?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                .map_err(|_| invalid("client_certificate: the key is not a PEM private key"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// `TlsConfig::insecure` (feature `tls-insecure`): any certificate, any name;
/// signatures still checked, so the session is encrypted to whoever answered.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
