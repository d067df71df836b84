//! Running the `disredis` binary for `cli.rs`: with a time limit, its exit code
//! and output captured, and the topology's Sentinels as arguments.

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

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
