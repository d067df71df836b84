//! Node addresses: `host:port`, IPv6 in brackets. Pure: no I/O.

use std::fmt;
use std::num::NonZeroU16;

use crate::error::{Error, Result};

/// A `host:port` address (IPv6 hosts in brackets: `[::1]:26379`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeAddr {
    host: String,
    port: u16,
}

impl NodeAddr {
    /// Parses `host:port` or `[v6]:port`.
    pub fn parse(s: &str) -> Result<NodeAddr> {
        Self::parse_field("address", s)
    }

    /// Builds an address from the `ip` and `port` fields Sentinel reports.
    pub fn from_parts(host: &str, port: &str) -> Result<NodeAddr> {
        let addr = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        Self::parse(&addr)
    }

    pub(crate) fn parse_field(field: &'static str, s: &str) -> Result<NodeAddr> {
        let bad = |reason| Error::Config { field, value: s.to_owned(), reason };
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or(bad("missing ']' after an IPv6 host"))?;
            let port = after.strip_prefix(':').ok_or(bad("expected ':port' after ']'"))?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("not an IPv6 address between [ and ]"));
            }
            (host, port)
        } else {
            let (host, port) = s.rsplit_once(':').ok_or(bad("expected host:port"))?;
            if host.contains(':') {
                return Err(bad("IPv6 hosts must be written in brackets, e.g. [::1]:26379"));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        if host.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'/' || b == b'@') {
            return Err(bad("host contains a character that is not allowed"));
        }
        let port: NonZeroU16 = port.parse().map_err(|_| bad("port is not a number from 1 to 65535"))?;
        Ok(NodeAddr { host: host.to_owned(), port: port.get() })
    }

    /// The host (without brackets for IPv6).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
pub(crate) mod prop;
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ipv4_hostname_and_bracketed_ipv6() {
        assert_eq!(NodeAddr::parse("127.0.0.1:26379").unwrap().to_string(), "127.0.0.1:26379");
        let h = NodeAddr::parse("sentinel-1.local:1").unwrap();
        assert_eq!((h.host(), h.port()), ("sentinel-1.local", 1));
        let v6 = NodeAddr::parse("[::1]:26379").unwrap();
        assert_eq!((v6.host(), v6.port()), ("::1", 26379));
        assert_eq!(v6.to_string(), "[::1]:26379");
        assert_eq!(NodeAddr::from_parts("::1", "7000").unwrap().to_string(), "[::1]:7000");
    }

    #[test]
    fn rejects_malformed_addresses_with_a_reason() {
        for bad in [
            "",
            "localhost",
            ":26379",
            "host:",
            "host:0",
            "host:65536",
            "host:-1",
            "host:abc",
            "::1:26379",
            "[::1]",
            "[::1]26379",
            "[nope]:1",
            "[::1:1",
            "a b:1",
            "user@host:1",
        ] {
            match NodeAddr::parse(bad) {
                Err(Error::Config { value, .. }) => assert_eq!(value, bad),
                other => panic!("{bad:?} parsed as {other:?}"),
            }
        }
    }
}
