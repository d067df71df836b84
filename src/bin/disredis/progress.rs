//! What `reshard` shows while it runs: a progress line (indicatif, on a
//! terminal) with keys scanned and moved and the rate, a line per step on
//! standard error, and the outcome on standard output (a table or `--json`).

use std::time::{Duration, Instant};

use disredis::reshard::{Outcome, Rebalance, Step};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Failure;
use crate::out::{errln, outln};
use crate::output::Json;

/// The progress display of one run.
pub struct Shown {
    bar: ProgressBar,
    started: Instant,
    /// When the last progress line was printed (without a terminal, where the
    /// bar is hidden, progress is a line per second).
    printed: Option<Instant>,
    /// When the first key moved (the rate counts from there).
    moving_since: Option<Instant>,
}

impl Shown {
    pub fn new() -> Shown {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Shown { bar, started: Instant::now(), printed: None, moving_since: None }
    }

    fn say(&self, line: String) {
        self.bar.suspend(|| errln!("{line}"));
    }

    /// One step of the change.
    pub fn step(&mut self, step: Step) {
        match step {
            Step::Published { ring } => {
                let target = if ring.target.is_empty() {
                    String::new()
                } else {
                    format!(" -> {{{}}}", ring.target.join(", "))
                };
                self.say(format!(
                    "ring version {} {}: {{{}}}{target}",
                    ring.version,
                    ring.phase,
                    ring.members.join(", ")
                ));
            }
            Step::Fenced { version, waited } => {
                self.say(format!("every disredis client follows version {version} (waited {waited:.1?})"))
            }
            Step::Stragglers { version, waited, stragglers } => {
                self.say(format!(
                    "waiting {waited:.0?} for {} connection(s) to follow version {version}:",
                    stragglers.len()
                ));
                for s in stragglers {
                    self.say(format!(
                        "  straggler on {}: {} {} (version {}, connected {} s ago)",
                        s.master,
                        s.addr,
                        s.name,
                        s.version,
                        s.age.as_secs()
                    ));
                }
            }
            Step::Killed { count } => {
                self.say(format!("ended {count} straggler connection(s) (CLIENT KILL)"))
            }
            Step::Moving(p) => {
                let secs =
                    self.moving_since.get_or_insert_with(Instant::now).elapsed().as_secs_f64().max(0.001);
                let line = format!(
                    "scanned {} keys, moved {} ({:.0} keys/s), conflicts {}",
                    p.scanned,
                    p.moved,
                    p.moved as f64 / secs,
                    p.conflicts.len()
                );
                if self.bar.is_hidden() {
                    if self.printed.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        self.printed = Some(Instant::now());
                        errln!("{line}");
                    }
                } else {
                    self.bar.set_message(line);
                }
            }
            Step::Cleaned { hashes } => self.say(format!("deleted {hashes} tombstone hash(es)")),
            _ => {}
        }
    }

    /// Prints the outcome; a change that ended with conflicts exits 1.
    pub fn finish(self, outcome: disredis::Result<Option<Outcome>>, json: bool) -> Result<(), Failure> {
        self.bar.finish_and_clear();
        let secs = self.started.elapsed().as_secs_f64();
        let Some(outcome) = outcome? else {
            if json {
                outln!("{}", Json::Obj(vec![("in_progress", Json::Bool(false))]));
            } else {
                outln!("nothing in progress: the ring is stable");
            }
            return Ok(());
        };
        let p = &outcome.progress;
        let examples: Vec<String> = p
            .conflicts
            .iter()
            .take(5)
            .map(|(k, to)| format!("{} (on {to})", String::from_utf8_lossy(k)))
            .collect();
        if json {
            outln!(
                "{}",
                Json::Obj(vec![
                    ("version", Json::Int(outcome.ring.version as i64)),
                    ("members", Json::strs(&outcome.ring.members)),
                    ("scanned", Json::Int(p.scanned as i64)),
                    ("moved", Json::Int(p.moved as i64)),
                    ("seconds", Json::Num((secs * 1000.0).round() / 1000.0)),
                    ("conflicts", Json::Int(p.conflicts.len() as i64)),
                    ("conflict_examples", Json::strs(&examples)),
                ])
            );
        } else {
            outln!(
                "ring version {} stable: {{{}}}; moved {} keys in {secs:.1} s ({} keys read, the verification pass included)",
                outcome.ring.version,
                outcome.ring.members.join(", "),
                p.moved,
                p.scanned
            );
        }
        if p.conflicts.is_empty() {
            return Ok(());
        }
        Err(Failure::failed(format!(
            "{} key(s) are on their old owner and on their new one (both copies kept), e.g. {}",
            p.conflicts.len(),
            examples.join(", ")
        )))
    }

    /// Prints what a rebalance found and did; conflicts kept exit 1 (not in a dry run).
    pub fn finish_rebalance(
        self,
        outcome: disredis::Result<Rebalance>,
        dry_run: bool,
        json: bool,
    ) -> Result<(), Failure> {
        self.bar.finish_and_clear();
        let r = outcome?;
        let examples: Vec<String> = r
            .examples
            .iter()
            .map(|c| {
                format!("{} (on {} and its owner {})", String::from_utf8_lossy(&c.key), c.found_on, c.owner)
            })
            .collect();
        let misplaced: u64 = r.misplaced.values().sum();
        if json {
            let pairs = r
                .misplaced
                .iter()
                .map(|((from, to), n)| {
                    Json::Obj(vec![
                        ("from", Json::str(from)),
                        ("to", Json::str(to)),
                        ("keys", Json::Int(*n as i64)),
                    ])
                })
                .collect();
            outln!(
                "{}",
                Json::Obj(vec![
                    ("dry_run", Json::Bool(dry_run)),
                    ("scanned", Json::Int(r.scanned as i64)),
                    ("misplaced", Json::Int(misplaced as i64)),
                    ("moves", Json::Arr(pairs)),
                    ("moved", Json::Int(r.moved as i64)),
                    ("conflicts", Json::Int(r.conflicts as i64)),
                    ("resolved", Json::Int(r.resolved as i64)),
                    ("conflict_examples", Json::strs(&examples)),
                ])
            );
        } else {
            let verb = if dry_run { "would move" } else { "moved" };
            outln!(
                "{misplaced} keys not on their owner ({} read); {verb} {}; conflicts {} (resolved {})",
                r.scanned,
                if dry_run { misplaced - r.conflicts } else { r.moved },
                r.conflicts,
                r.resolved
            );
            let rows: Vec<Vec<String>> = r
                .misplaced
                .iter()
                .map(|((from, to), n)| vec![from.clone(), to.clone(), n.to_string()])
                .collect();
            crate::output::print_table(&["FOUND ON", "OWNER", "KEYS"], &rows);
            for e in &examples {
                outln!("conflict: {e}");
            }
        }
        let kept = r.conflicts - r.resolved;
        if dry_run || kept == 0 {
            return Ok(());
        }
        Err(Failure::failed(format!(
            "{kept} key(s) are on their owner and on another master (both kept); choose with --on-conflict keep-owner|keep-other"
        )))
    }
}
