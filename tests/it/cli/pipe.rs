//! A closed standard output (`disredis … | head -1`): every command stops quietly
//! with exit status 141, no panic and no backtrace (it panicked with exit 101
//! from `println!`). The pipe's read end is closed before the binary starts, so
//! its first write fails every time: no race with how much the pipe buffers.

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::run::{BIN, with_sentinels};
use crate::support::{Spec, Topology};

/// The exit status documented in docs/cli.md for a closed stdout.
const CLOSED: i32 = 141;

/// Runs the binary with a stdout nobody reads (and, with `close_stderr`, a
/// stderr nobody reads either); its exit code and what it wrote to stderr
/// (empty when that was closed too).
fn nobody_reads(args: &[String], close_stderr: bool) -> (i32, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("DISREDIS_URL").stdin(Stdio::null()).stdout(writer);
    if close_stderr {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        cmd.stderr(writer);
    } else {
        cmd.stderr(Stdio::piped());
    }
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || drop(tx.send(cmd.spawn().and_then(|c| c.wait_with_output()))));
    let out = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("disredis {args:?} with stdout closed took more than 30 s"))
        .expect("run the disredis binary");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("$ disredis {} >&- \n[exit {:?}]\n{stderr}", args.join(" "), out.status.code());
    (out.status.code().expect("exited, not killed by a signal"), stderr)
}

#[test]
fn a_closed_stdout_ends_every_command_quietly_with_status_141() {
    let topo = Topology::start(Spec::default());
    // Keys on both shards, so `scan` has something to write.
    let mut app = disredis::blocking::DisredisClient::connect(topo.sentinel_addrs()).unwrap();
    for i in 0..20 {
        redis::cmd("SET").arg(format!("pipe:{i}")).arg(i).exec(&mut app).unwrap();
    }
    for command in [
        &["info", "memory"][..],
        &["ring"],
        &["--json", "ring"],
        &["topology"],
        &["--json", "topology"],
        &["ping", "-n", "1"],
        &["locate", "a", "b"],
        &["scan"],
        &["keys-summary"],
    ] {
        let (code, stderr) = nobody_reads(&with_sentinels(&topo, command), false);
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{command:?}: {stderr}");
        assert_eq!((code, stderr.as_str()), (CLOSED, ""), "{command:?}: nothing said, status 141");
    }
    // Without a Sentinel: the completion script.
    let (code, stderr) = nobody_reads(&["completions".into(), "bash".into()], false);
    assert_eq!((code, stderr.as_str()), (CLOSED, ""));

    // With stderr closed as well (`2>&1 | head -1`): still 141, where a panic
    // message that can't be written would leave 101.
    for command in [&["info", "memory"][..], &["scan"]] {
        let (code, _) = nobody_reads(&with_sentinels(&topo, command), true);
        assert_eq!(code, CLOSED, "{command:?} with stderr closed too");
    }
}
