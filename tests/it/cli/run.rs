//! Running the `disredis` binary for `cli.rs`: with a time limit, its exit code
//! and output captured, and the topology's Sentinels as arguments; or in the
//! background (`watch`), its lines read as they come.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::Topology;

pub const BIN: &str = env!("CARGO_BIN_EXE_disredis");
/// No single CLI call may take longer than this.
const CALL_LIMIT: Duration = Duration::from_secs(30);

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary with `args` (and no `DISREDIS_URL` unless `env` sets it).
pub fn cli_env(args: &[&str], env: Option<&str>) -> Out {
    cli_with(args, &[("DISREDIS_URL", env)], None)
}

/// Runs the binary with `args`, the environment variables `envs` set (or removed with
/// `None`; `DISREDIS_*` variables not named are removed), and `stdin` piped in.
pub fn cli_with(args: &[&str], envs: &[(&str, Option<&str>)], stdin: Option<&str>) -> Out {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    for var in ["DISREDIS_URL", "DISREDIS_PASSWORD", "DISREDIS_SENTINEL_PASSWORD"] {
        cmd.env_remove(var);
    }
    for (var, value) in envs {
        match value {
            Some(v) => cmd.env(var, v),
            None => cmd.env_remove(var),
        };
    }
    let input = stdin.map(str::to_owned);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let run = || {
            let mut child = cmd.spawn()?;
            if let (Some(text), Some(mut pipe)) = (input, child.stdin.take()) {
                std::io::Write::write_all(&mut pipe, text.as_bytes())?;
            }
            child.wait_with_output()
        };
        let _ = tx.send(run());
    });
    let out = rx
        .recv_timeout(CALL_LIMIT)
        .unwrap_or_else(|_| panic!("disredis {args:?} took more than {CALL_LIMIT:?}"))
        .expect("run the disredis binary");
    let out = Out {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("$ disredis {}\n[exit {}]\n{}{}", args.join(" "), out.code, out.stdout, out.stderr);
    out
}

pub fn cli(args: &[&str]) -> Out {
    cli_env(args, None)
}

/// `--sentinel A --sentinel B …` for the topology, then `rest`.
pub fn with_sentinels<'a>(topo: &'a Topology, rest: &[&'a str]) -> Vec<String> {
    let mut args: Vec<String> =
        topo.sentinel_addrs().iter().flat_map(|s| ["--sentinel".into(), s.clone()]).collect();
    args.extend(rest.iter().map(|s| s.to_string()));
    args
}

pub fn ok(args: &[String]) -> String {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cli(&refs);
    assert_eq!(out.code, 0, "disredis {args:?} failed: {}", out.stderr);
    out.stdout
}

/// The binary running in the background (`watch`), its stdout and stderr read
/// line by line as they come; killed on drop.
pub struct Running {
    child: Child,
    lines: mpsc::Receiver<(bool, String)>,
}

impl Running {
    /// Starts the binary with `args` (no `DISREDIS_URL`).
    pub fn start(args: &[String]) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .env_remove("DISREDIS_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn disredis");
        let (tx, lines) = mpsc::channel::<(bool, String)>();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        thread::spawn(move || {
            BufReader::new(stdout).lines().map_while(Result::ok).for_each(|l| drop(tx.send((true, l))))
        });
        thread::spawn(move || {
            BufReader::new(stderr).lines().map_while(Result::ok).for_each(|l| drop(tx2.send((false, l))))
        });
        Running { child, lines }
    }

    /// The first line within `within` that `want(is_stdout, line)` accepts
    /// (every line read is echoed to the test's stderr), or `None`.
    pub fn wait_for(&mut self, want: impl Fn(bool, &str) -> bool, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (is_out, line) = self.lines.recv_timeout(left).ok()?;
            eprintln!("disredis {}: {line}", if is_out { "stdout" } else { "stderr" });
            if want(is_out, &line) {
                return Some(line);
            }
        }
    }

    /// Waits for `watch`'s "watching shards" line; panics with the exit status when it does not come.
    pub fn watching(&mut self) {
        if self.wait_for(|out, l| !out && l.starts_with("watching shards"), Duration::from_secs(15)).is_none()
        {
            let _ = self.child.kill();
            panic!("watch did not start: {:?}", self.child.wait());
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
