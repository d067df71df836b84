//! Small Redis query helpers: addresses, connections, `INFO` and
//! `SENTINEL GET-MASTER-ADDR-BY-NAME`.

use std::collections::HashMap;

use super::{HOST, IO_TIMEOUT, PROBE_TIMEOUT, Topology};

pub(super) fn addr(port: u16) -> String {
    format!("{HOST}:{port}")
}

pub(super) fn get_master_addr(
    conn: &mut redis::Connection,
    name: &str,
) -> redis::RedisResult<Option<String>> {
    let reply: Option<(String, String)> =
        redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg(name).query(conn)?;
    Ok(reply.map(|(ip, port)| format!("{ip}:{port}")))
}

pub(super) fn info(conn: &mut redis::Connection, section: &str) -> redis::RedisResult<String> {
    redis::cmd("INFO").arg(section).query(conn)
}

/// The value of `field` in an INFO reply.
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(field).and_then(|rest| rest.strip_prefix(':')).map(str::trim))
}

impl Topology {
    pub(super) fn connect(&self, port: u16) -> redis::RedisResult<redis::Connection> {
        self.open(port, IO_TIMEOUT)
    }

    pub(super) fn probe_addr(&self, address: &str) -> redis::RedisResult<redis::Connection> {
        match address.strip_prefix("127.0.0.1:").and_then(|p| p.parse().ok()) {
            Some(port) => self.open(port, PROBE_TIMEOUT),
            None => Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "not a 127.0.0.1:PORT address",
                address.to_string(),
            ))),
        }
    }

    /// Runs `f` on a cached connection to `port`; drops the connection on error.
    pub(super) fn cached_query<T>(
        &self,
        conns: &mut HashMap<u16, redis::Connection>,
        port: u16,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, String> {
        let conn = match conns.entry(port) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(self.open(port, PROBE_TIMEOUT).map_err(|e| format!("{}: {e}", addr(port)))?)
            }
        };
        f(conn).map_err(|e| {
            conns.remove(&port);
            format!("{}: {e}", addr(port))
        })
    }
}
