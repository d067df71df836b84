//! Results: the table, the JSON file and the `redis-benchmark` reference figure.

use std::fmt::Write as _;
use std::process::Command;

use crate::load::{BATCH, KEYSPACE, Workload};

/// One side's figures over all rounds of one configuration.
#[derive(Default)]
pub struct SideStats {
    /// ops/s per round, in round order.
    pub rounds: Vec<f64>,
    /// Client CPU µs per op, per round.
    pub cpu_us_per_op: Vec<f64>,
    pub p50_us: f64,
    pub p99_us: f64,
    /// `--syscalls`: counted in one extra round.
    pub syscalls: Option<crate::syscalls::PerOp>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl SideStats {
    pub fn median(&self) -> Option<f64> {
        median(&self.rounds)
    }
}

/// Everything measured for one (workload, shards, concurrency).
pub struct Row {
    pub workload: Workload,
    pub shards: usize,
    pub conc: usize,
    pub disredis: SideStats,
    pub bare: SideStats,
    pub fred: SideStats,
    /// disredis/bare per round (rounds run every side, rotating the order).
    pub ratios: Vec<f64>,
    /// disredis/fred per round.
    pub vs_fred: Vec<f64>,
    pub redis_benchmark: Option<f64>,
}

pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 })
}

fn min_max(v: &[f64]) -> Option<(f64, f64)> {
    let min = v.iter().copied().reduce(f64::min)?;
    Some((min, v.iter().copied().fold(min, f64::max)))
}

fn ops(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.0}"))
}

fn spread(v: &[f64]) -> String {
    match (min_max(v), median(v)) {
        (Some((lo, hi)), Some(med)) => format!("{lo:.2}/{med:.2}/{hi:.2}"),
        _ => "-".into(),
    }
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<9} {:>2} {:>4} {:>10} {:>10} {:>10} {:>15} {:>15} {:>17} {:>17} {:>11}",
        "workload",
        "sh",
        "conc",
        "disredis/s",
        "bare/s",
        "fred/s",
        "d/b min/med/max",
        "d/f min/med/max",
        "p99 us d/b/f",
        "cpu us/op d/b/f",
        "redis-bench"
    );
    for r in rows {
        let sides = [&r.disredis, &r.bare, &r.fred];
        let p99: Vec<String> = sides
            .iter()
            .map(|s| if s.rounds.is_empty() { "-".into() } else { format!("{:.0}", s.p99_us) })
            .collect();
        let cpu: Vec<String> = sides
            .iter()
            .map(|s| median(&s.cpu_us_per_op).map_or_else(|| "-".into(), |c| format!("{c:.2}")))
            .collect();
        let _ = writeln!(
            out,
            "{:<9} {:>2} {:>4} {:>10} {:>10} {:>10} {:>15} {:>15} {:>17} {:>17} {:>11}",
            r.workload.name(),
            r.shards,
            r.conc,
            ops(r.disredis.median()),
            ops(r.bare.median()),
            ops(r.fred.median()),
            spread(&r.ratios),
            spread(&r.vs_fred),
            p99.join("/"),
            cpu.join("/"),
            ops(r.redis_benchmark)
        );
        for (side, s) in [("disredis", &r.disredis), ("bare", &r.bare), ("fred", &r.fred)] {
            if s.errors > 0 {
                let first = s.first_error.as_deref().unwrap_or("");
                let _ = writeln!(out, "    {side}: {} errors, first: {first}", s.errors);
            }
        }
    }
    out
}

fn json_num(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map_or_else(|| "null".into(), |x| format!("{x:.3}"))
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_side(s: &SideStats) -> String {
    let rounds: Vec<String> = s.rounds.iter().map(|x| json_num(Some(*x))).collect();
    format!(
        "{{\"ops_per_sec_median\": {}, \"ops_per_sec_rounds\": [{}], \"cpu_us_per_op_median\": {}, \"p50_us\": {}, \"p99_us\": {}, \"syscalls_per_op\": {}, \"errors\": {}, \"first_error\": {}}}",
        json_num(s.median()),
        rounds.join(", "),
        json_num(median(&s.cpu_us_per_op)),
        json_num((!s.rounds.is_empty()).then_some(s.p50_us)),
        json_num((!s.rounds.is_empty()).then_some(s.p99_us)),
        s.syscalls.map_or_else(
            || "null".into(),
            |c| format!(
                "{{\"writes\": {}, \"reads\": {}, \"epoll_wait\": {}, \"futex\": {}}}",
                json_num(Some(c.writes)),
                json_num(Some(c.reads)),
                json_num(Some(c.epoll_wait)),
                json_num(Some(c.futex))
            )
        ),
        s.errors,
        s.first_error.as_deref().map_or_else(|| "null".into(), json_str)
    )
}

/// The whole run as JSON: the settings, and one object per workload row.
pub fn json(rows: &[Row], settings: &[(&str, String)]) -> String {
    let mut out = String::from("{\n");
    for (k, v) in settings {
        let _ = writeln!(out, "  {}: {},", json_str(k), v);
    }
    out.push_str("  \"results\": [\n");
    let ratio = |v: &[f64]| {
        let rounds: Vec<String> = v.iter().map(|x| json_num(Some(*x))).collect();
        let (lo, hi) = min_max(v).unzip();
        format!(
            "{{\"min\": {}, \"median\": {}, \"max\": {}, \"rounds\": [{}]}}",
            json_num(lo),
            json_num(median(v)),
            json_num(hi),
            rounds.join(", ")
        )
    };
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "    {{\"workload\": {}, \"shards\": {}, \"concurrency\": {}, \"disredis_vs_bare\": {}, \
             \"disredis_vs_fred\": {}, \"disredis\": {}, \"bare\": {}, \"fred\": {}, \
             \"redis_benchmark_ops_per_sec\": {}}}{}",
            json_str(r.workload.name()),
            r.shards,
            r.conc,
            ratio(&r.ratios),
            ratio(&r.vs_fred),
            json_side(&r.disredis),
            json_side(&r.bare),
            json_side(&r.fred),
            json_num(r.redis_benchmark),
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    out.push_str("  ]\n}\n");
    out
}

/// `redis-benchmark`'s figure for the same workload against one master, sized
/// to run about as long as a round (`requests` in total).
pub fn redis_benchmark(
    host: &str,
    port: u16,
    workload: Workload,
    conc: usize,
    requests: u64,
) -> Result<f64, String> {
    let mut cmd = Command::new("redis-benchmark");
    cmd.args(["-h", host, "-p", &port.to_string(), "-c", &conc.to_string(), "-r", &KEYSPACE.to_string()]);
    cmd.arg("-q");
    match workload {
        // SET then GET, `requests` each split over the two tests.
        Workload::GetSet => {
            cmd.args(["-t", "get,set", "-d", "64", "-n", &(requests / 2).max(1000).to_string()]);
        }
        Workload::Pipeline => {
            let n = (requests / 2).max(10 * BATCH as u64);
            cmd.args(["-t", "get,set", "-d", "64", "-P", &BATCH.to_string(), "-n", &n.to_string()]);
        }
        Workload::Mget => {
            cmd.args(["-n", &requests.max(100).to_string(), "MGET"]);
            cmd.args(std::iter::repeat_n("key:__rand_int__", BATCH));
        }
    }
    let out = cmd.output().map_err(|e| format!("redis-benchmark: {e}"))?;
    if !out.status.success() {
        return Err(format!("redis-benchmark: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // Progress lines end in '\r'; the final one per test says "N requests per second".
    let rates: Vec<f64> = text
        .split(['\r', '\n'])
        .filter_map(|l| l.split_once(" requests per second")?.0.split_whitespace().last()?.parse().ok())
        .collect();
    match rates.as_slice() {
        [] => Err(format!("redis-benchmark: no rate in {text:?}")),
        [one] => Ok(*one),
        // A 50/50 mix of the tests: the harmonic mean of their rates.
        many => Ok(many.len() as f64 / many.iter().map(|r| 1.0 / r).sum::<f64>()),
    }
}

/// `--syscalls`' table: per op, each side's writes, reads, `epoll_wait`s and `futex`es.
pub fn syscalls_table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "syscalls per op (one extra round per side under perf stat): writes/reads/epoll_wait/futex"
    );
    let _ = writeln!(
        out,
        "{:<9} {:>2} {:>4} {:>26} {:>26} {:>26}",
        "workload", "sh", "conc", "disredis", "bare", "fred"
    );
    for r in rows {
        let cell = |s: &SideStats| {
            s.syscalls.map_or_else(
                || "-".into(),
                |c| format!("{:.3}/{:.3}/{:.3}/{:.3}", c.writes, c.reads, c.epoll_wait, c.futex),
            )
        };
        let _ = writeln!(
            out,
            "{:<9} {:>2} {:>4} {:>26} {:>26} {:>26}",
            r.workload.name(),
            r.shards,
            r.conc,
            cell(&r.disredis),
            cell(&r.bare),
            cell(&r.fred)
        );
    }
    out
}
