//! Authentication and TLS for a topology ([`Access`]): the config lines, the test CA and server
//! certificate (made with the `openssl` CLI), and the harness's own connections.
//!
//! Measured on Redis/Sentinel 7.0.15:
//! * Sentinel uses one setting, `tls-replication`, for its links to masters, replicas *and*
//!   other Sentinels, and announces its `tls-port` to its peers when it has one. With TLS data
//!   nodes and plain-TCP Sentinels, a Sentinel without a `tls-port` gets no working link to its
//!   peers (commands pile up unanswered) and never fails over. So in that mode every Sentinel
//!   gets a plain `port` for clients *and* a `tls-port` for its peers, and `SENTINEL SENTINELS`
//!   reports the TLS ports.
//! * Without `sentinel auth-pass <master>` a Sentinel sees a password-protected master as
//!   `s_down,disconnected` and logs nothing (research/sentinel-timings.md gotcha 8).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{HOST, Topology};

/// Who may talk to the topology and how. Everything off by default (plain TCP, no password).
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// Data nodes: `requirepass` and `masterauth`; Sentinels: `sentinel auth-pass` per master.
    pub password: Option<String>,
    /// Sentinels: `requirepass` and `sentinel sentinel-pass` (for their peers).
    pub sentinel_password: Option<String>,
    /// Data nodes listen on TLS only (`port 0`, `tls-port`), replicate over TLS, and the
    /// Sentinels talk TLS to them (see the module docs for the Sentinels' extra port).
    pub tls: bool,
    /// Sentinels listen on TLS only too. Needs `tls`.
    pub sentinel_tls: bool,
}

impl Access {
    /// TLS-only data nodes and Sentinels, with these passwords.
    pub fn tls_everywhere(password: &str, sentinel_password: &str) -> Access {
        Access {
            password: Some(password.into()),
            sentinel_password: Some(sentinel_password.into()),
            tls: true,
            sentinel_tls: true,
        }
    }

    /// Extra ports the topology needs: a peer `tls-port` per Sentinel in the mixed mode.
    pub(super) fn extra_ports(&self, sentinels: usize) -> usize {
        if self.tls && !self.sentinel_tls { sentinels } else { 0 }
    }

    fn tls_lines(dir: &Path) -> String {
        let d = dir.display();
        format!(
            "tls-cert-file \"{d}/server.crt\"\n\
             tls-key-file \"{d}/server.key\"\n\
             tls-ca-cert-file \"{d}/ca.crt\"\n\
             tls-auth-clients no\n\
             tls-replication yes\n"
        )
    }

    /// Lines appended to a data node's config (later lines override earlier ones).
    pub(super) fn data_lines(&self, port: u16, tls_dir: &Path) -> String {
        let mut conf = String::new();
        if let Some(pw) = &self.password {
            conf.push_str(&format!("requirepass \"{pw}\"\nmasterauth \"{pw}\"\n"));
        }
        if self.tls {
            conf.push_str(&format!("port 0\ntls-port {port}\n{}", Self::tls_lines(tls_dir)));
        }
        conf
    }

    /// Lines appended to a Sentinel's config, after its `sentinel monitor` lines.
    pub(super) fn sentinel_lines(
        &self,
        port: u16,
        peer_port: Option<u16>,
        names: &[String],
        tls_dir: &Path,
    ) -> String {
        let mut conf = String::new();
        if let Some(pw) = &self.password {
            for n in names {
                conf.push_str(&format!("sentinel auth-pass {n} \"{pw}\"\n"));
            }
        }
        if let Some(pw) = &self.sentinel_password {
            conf.push_str(&format!("requirepass \"{pw}\"\nsentinel sentinel-pass \"{pw}\"\n"));
        }
        if self.tls {
            conf.push_str(&Self::tls_lines(tls_dir));
            match peer_port {
                Some(peer) => conf.push_str(&format!("tls-port {peer}\n")),
                None => conf.push_str(&format!("port 0\ntls-port {port}\n")),
            }
        }
        conf
    }
}

/// Writes `ca.crt`/`ca.key` (a throwaway CA) and `server.crt`/`server.key` (signed by it, IP SAN
/// 127.0.0.1, for servers and replication clients) into `dir`. EC P-256 keys: fast to make.
pub(super) fn make_certs(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    fs::write(
        dir.join("server.ext"),
        format!(
            "subjectAltName=IP:{HOST}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n\
             extendedKeyUsage=serverAuth,clientAuth\n"
        ),
    )
    .map_err(|e| format!("cannot write server.ext: {e}"))?;
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let steps: [Vec<&str>; 3] = [
        [&["req", "-x509", "-new"][..], &ec, &["-keyout", "ca.key", "-out", "ca.crt", "-days", "2"]]
            .concat()
            .into_iter()
            .chain(["-subj", "/CN=disredis test CA"])
            .collect(),
        [
            &["req", "-new"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run openssl (is it installed?): {e}"))?;
        if !out.status.success() {
            return Err(format!("openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    Ok(())
}

/// A sync connection to `port` with `password` and, when `ca` is given, TLS verified against it.
pub(super) fn open(
    port: u16,
    timeout: Duration,
    password: Option<&str>,
    ca: Option<Vec<u8>>,
) -> redis::RedisResult<redis::Connection> {
    let mut settings = redis::RedisConnectionInfo::default();
    if let Some(pw) = password {
        settings = settings.set_password(pw);
    }
    let client = match ca {
        None => redis::Client::open(
            redis::IntoConnectionInfo::into_connection_info(redis::ConnectionAddr::Tcp(HOST.into(), port))?
                .set_redis_settings(settings),
        )?,
        Some(ca) => tls_client(port, settings, ca)?,
    };
    let conn = client.get_connection_with_timeout(timeout)?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    Ok(conn)
}

#[cfg(feature = "tls")]
fn tls_client(
    port: u16,
    settings: redis::RedisConnectionInfo,
    ca: Vec<u8>,
) -> redis::RedisResult<redis::Client> {
    let addr = redis::ConnectionAddr::TcpTls { host: HOST.into(), port, insecure: false, tls_params: None };
    let info = redis::IntoConnectionInfo::into_connection_info(addr)?.set_redis_settings(settings);
    redis::Client::build_with_tls(info, redis::TlsCertificates { client_tls: None, root_cert: Some(ca) })
}

#[cfg(not(feature = "tls"))]
fn tls_client(_: u16, _: redis::RedisConnectionInfo, _: Vec<u8>) -> redis::RedisResult<redis::Client> {
    panic!("a TLS topology needs the `tls` feature (cargo test --features tls)")
}

impl Topology {
    /// A harness connection to `port` with the credentials and TLS that node needs.
    pub(super) fn open(&self, port: u16, timeout: Duration) -> redis::RedisResult<redis::Connection> {
        let a = &self.access;
        let (password, tls) = if self.sentinel_ports.contains(&port) {
            (a.sentinel_password.as_deref(), a.sentinel_tls)
        } else {
            (a.password.as_deref(), a.tls)
        };
        open(port, timeout, password, tls.then(|| self.ca_pem()))
    }

    /// The test CA's certificate (PEM) that signed every node's certificate.
    /// Panics when the topology has no TLS.
    pub fn ca_pem(&self) -> Vec<u8> {
        assert!(self.access.tls, "ca_pem: this topology has no TLS");
        fs::read(self.dir.join("tls").join("ca.crt")).expect("read ca.crt")
    }
}
