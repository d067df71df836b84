//! One child process (a data node or a Sentinel: the server binary of [`super::server`], with
//! `--sentinel` for a Sentinel): spawning, killing, signalling, its state and its log files.

use std::fs::{self, File};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Instant;

use super::server::server;
use super::{HOST, IO_TIMEOUT, POLL, Topology};

/// Lines of each log file shown by `dump_logs`.
const LOG_TAIL_LINES: usize = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Data,
    Sentinel,
}

pub(super) struct Node {
    pub(super) label: String,
    pub(super) kind: Kind,
    pub(super) port: u16,
    pub(super) dir: PathBuf,
    pub(super) conf: PathBuf,
    /// The config as first written; a data node is restarted with exactly this (Redis rewrites
    /// the file when Sentinel reconfigures the node).
    pub(super) original_conf: String,
    pub(super) child: Option<Child>,
    /// PID of the current (or last) process.
    pub(super) pid: u32,
    pub(super) stopped: bool,
}

impl Node {
    pub(super) fn addr(&self) -> String {
        format!("{HOST}:{}", self.port)
    }

    fn state(&self) -> &'static str {
        match (&self.child, self.stopped) {
            (None, _) => "dead",
            (Some(_), true) => "stopped",
            (Some(_), false) => "running",
        }
    }

    fn log_files(&self) -> Vec<PathBuf> {
        let log = match self.kind {
            Kind::Data => "redis.log",
            Kind::Sentinel => "sentinel.log",
        };
        ["stdout.log", "stderr.log", log].iter().map(|f| self.dir.join(f)).collect()
    }

    pub(super) fn spawn(&mut self) -> Result<(), String> {
        let program = &server().program;
        let out = |name: &str| {
            File::options()
                .create(true)
                .append(true)
                .open(self.dir.join(name))
                .map_err(|e| format!("{}: cannot open {name}: {e}", self.label))
        };
        let mut command = Command::new(program);
        command.arg(&self.conf);
        if self.kind == Kind::Sentinel {
            command.arg("--sentinel");
        }
        let child = command
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out("stdout.log")?)
            .stderr(out("stderr.log")?)
            .spawn()
            .map_err(|e| format!("{}: cannot spawn {}: {e}", self.label, program.display()))?;
        self.pid = child.id();
        self.child = Some(child);
        self.stopped = false;
        Ok(())
    }

    /// SIGKILL (works on stopped processes too) and reap.
    pub(super) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stopped = false;
    }

    /// `Some(message)` if the process was expected to run but has exited.
    pub(super) fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => {
                self.child = None;
                Some(format!("{} ({}) exited: {status}", self.label, self.addr()))
            }
            Err(e) => Some(format!("{}: try_wait failed: {e}", self.label)),
        }
    }

    /// Whether any of the node's log files contains `needle`.
    pub(super) fn log_says(&self, needle: &str) -> bool {
        self.log_files().iter().any(|f| fs::read_to_string(f).is_ok_and(|text| text.contains(needle)))
    }
}

impl Topology {
    /// Tails of all process logs (and each node's state and PID), for failure messages.
    pub fn dump_logs(&self) -> String {
        let nodes = self.lock();
        let mut out = format!("===== topology logs ({}) =====\n", self.dir.display());
        for node in nodes.iter() {
            out.push_str(&format!(
                "===== {} {} pid {} [{}] =====\n",
                node.label,
                node.addr(),
                node.pid,
                node.state()
            ));
            for file in node.log_files() {
                let Ok(text) = fs::read_to_string(&file) else {
                    continue;
                };
                if text.trim().is_empty() {
                    continue;
                }
                let lines: Vec<&str> = text.lines().collect();
                let skip = lines.len().saturating_sub(LOG_TAIL_LINES);
                out.push_str(&format!(
                    "--- {} ({} lines{})\n",
                    file.file_name().unwrap_or_default().to_string_lossy(),
                    lines.len(),
                    if skip > 0 { format!(", last {LOG_TAIL_LINES}") } else { String::new() }
                ));
                for line in &lines[skip..] {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }

    pub(super) fn signal(&self, addr: &str, signal: &str, stopped: bool) {
        let port = self.port_of(addr);
        let pid = {
            let nodes = self.lock();
            let node = nodes.iter().find(|n| n.port == port).expect("port_of checked");
            if node.child.is_none() {
                drop(nodes);
                self.fail(&format!("kill {signal} {addr}: not running"));
            }
            node.pid
        };
        let status = Command::new("kill").arg(signal).arg(pid.to_string()).stdin(Stdio::null()).status();
        if !matches!(status, Ok(s) if s.success()) {
            self.fail(&format!("kill {signal} {pid} ({addr}) failed: {status:?}"));
        }
        // Signals are delivered asynchronously: wait until /proc shows the new state.
        let deadline = Instant::now() + IO_TIMEOUT;
        while process_stopped(pid) != stopped {
            if Instant::now() >= deadline {
                self.fail(&format!("kill {signal} {pid} ({addr}): state did not change"));
            }
            thread::sleep(POLL);
        }
        if let Some(n) = self.lock().iter_mut().find(|n| n.port == port) {
            n.stopped = stopped;
        }
    }
}

/// Whether `pid` is in state T (stopped), from /proc/PID/stat.
fn process_stopped(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The command name is in parentheses and may contain spaces: state follows ") ".
            let rest = &stat[stat.rfind(')')? + 2..];
            rest.chars().next()
        })
        .is_some_and(|state| state == 'T' || state == 't')
}
