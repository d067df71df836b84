//! `--syscalls`: system calls per op for each side, from one extra round per
//! side run under `perf stat -p <this process>` (attached just before the
//! round, stopped with SIGINT right after it; the tracepoints
//! `syscalls:sys_enter_*` need root or `perf_event_paranoid` ≤ 1). Writes are
//! `write`, `writev`, `sendto`, `sendmsg`; reads `read`, `readv`, `recvfrom`,
//! `recvmsg`; `epoll_wait` and `futex` count a runtime's sleeps and wake-ups.
//! The counted round is not among the timed ones (tracing slows it).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::Fallible;
use crate::load::{self, Side, Workload};

const WRITES: [&str; 4] = ["write", "writev", "sendto", "sendmsg"];
const READS: [&str; 4] = ["read", "readv", "recvfrom", "recvmsg"];

/// Syscalls per op (per command for pipelines and MGETs) in one round.
#[derive(Clone, Copy, Debug, Default)]
pub struct PerOp {
    pub writes: f64,
    pub reads: f64,
    pub epoll_wait: f64,
    pub futex: f64,
}

fn events() -> String {
    let names = WRITES.iter().chain(&READS).chain(&["epoll_wait", "futex"]);
    names.map(|n| format!("syscalls:sys_enter_{n}")).collect::<Vec<_>>().join(",")
}

/// One round of `side` counted by `perf stat`.
pub async fn count(side: &Side, workload: Workload, conc: usize, dur: Duration) -> Fallible<PerOp> {
    let me = std::process::id().to_string();
    let perf = Command::new("perf")
        .args(["stat", "-x", ",", "-e", &events(), "-p", &me])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("--syscalls needs perf (linux-perf): {e}"))?;
    // perf opens its counters on every thread of this process before it
    // counts; give it the time, then run the round.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let round = load::round(side, workload, conc, dur, 4242).await;
    let interrupted = Command::new("kill").args(["-INT", &perf.id().to_string()]).status()?;
    if !interrupted.success() {
        return Err("could not stop perf".into());
    }
    let out = perf.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stderr);
    let ops = round.ops_per_sec * dur.as_secs_f64();
    let sum = |names: &[&str]| -> Fallible<f64> {
        let mut total = 0.0;
        for n in names {
            let event = format!("syscalls:sys_enter_{n}");
            let line = text
                .lines()
                .find(|l| l.split(',').nth(2) == Some(event.as_str()))
                .ok_or_else(|| format!("perf counted no {event}: {text}"))?;
            let value = line.split(',').next().unwrap_or("");
            total += value.parse::<f64>().map_err(|_| {
                format!("perf: {event} not counted ({line}); root or perf_event_paranoid <= 1 needed")
            })?;
        }
        Ok(total / ops.max(1.0))
    };
    Ok(PerOp {
        writes: sum(&WRITES)?,
        reads: sum(&READS)?,
        epoll_wait: sum(&["epoll_wait"])?,
        futex: sum(&["futex"])?,
    })
}
