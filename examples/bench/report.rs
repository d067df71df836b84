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
    /// disredis/bare per round (rounds run both sides, alternating order).
    pub ratios: Vec<f64>,
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

/// What the bare side is, per workload and shard count.
pub fn bare_label(workload: Workload, shards: usize) -> &'static str {
    match (workload, shards) {
        (_, 1) => "1 conn",
        (Workload::Pipeline, _) => "split/master",
        _ => "conn/master",
    }
}

fn ops(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.0}"))
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<9} {:>2} {:>4} {:>12} {:>11} {:>11} {:>20} {:>17} {:>17} {:>13} {:>11}",
        "workload",
        "sh",
        "conc",
        "bare is",
        "disredis/s",
        "bare/s",
        "ratio min/med/max",
        "disr p50/p99 us",
        "bare p50/p99 us",
        "cpu us/op d/b",
        "redis-bench"
    );
    for r in rows {
        let ratio = match (min_max(&r.ratios), median(&r.ratios)) {
            (Some((lo, hi)), Some(med)) => format!("{lo:.3}/{med:.3}/{hi:.3}"),
            _ => "-".into(),
        };
        let lat = |s: &SideStats| {
            if s.rounds.is_empty() { "-".into() } else { format!("{:.0}/{:.0}", s.p50_us, s.p99_us) }
        };
        let _ = writeln!(
            out,
            "{:<9} {:>2} {:>4} {:>12} {:>11} {:>11} {:>20} {:>17} {:>17} {:>13} {:>11}",
            r.workload.name(),
            r.shards,
            r.conc,
            bare_label(r.workload, r.shards),
            ops(r.disredis.median()),
            ops(r.bare.median()),
            ratio,
            lat(&r.disredis),
            lat(&r.bare),
            match (median(&r.disredis.cpu_us_per_op), median(&r.bare.cpu_us_per_op)) {
                (Some(d), Some(b)) => format!("{d:.2}/{b:.2}"),
                _ => "-".into(),
            },
            ops(r.redis_benchmark)
        );
        for (side, s) in [("disredis", &r.disredis), ("bare", &r.bare)] {
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
        "{{\"ops_per_sec_median\": {}, \"ops_per_sec_rounds\": [{}], \"p50_us\": {}, \"p99_us\": {}, \"errors\": {}, \"first_error\": {}}}",
        json_num(s.median()),
        rounds.join(", "),
        json_num((!s.rounds.is_empty()).then_some(s.p50_us)),
        json_num((!s.rounds.is_empty()).then_some(s.p99_us)),
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
    for (i, r) in rows.iter().enumerate() {
        let ratios: Vec<String> = r.ratios.iter().map(|x| json_num(Some(*x))).collect();
        let (lo, hi) = min_max(&r.ratios).unzip();
        let _ = writeln!(
            out,
            "    {{\"workload\": {}, \"shards\": {}, \"concurrency\": {}, \"bare_is\": {}, \
             \"ratio\": {{\"min\": {}, \"median\": {}, \"max\": {}, \"rounds\": [{}]}}, \
             \"disredis\": {}, \"bare\": {}, \"redis_benchmark_ops_per_sec\": {}}}{}",
            json_str(r.workload.name()),
            r.shards,
            r.conc,
            json_str(bare_label(r.workload, r.shards)),
            json_num(lo),
            json_num(median(&r.ratios)),
            json_num(hi),
            ratios.join(", "),
            json_side(&r.disredis),
            json_side(&r.bare),
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
