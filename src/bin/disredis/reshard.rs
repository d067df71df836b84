//! `reshard add NAME` / `reshard remove NAME` / `reshard resume`: checks the
//! change and runs it through [`disredis::reshard`], showing its progress;
//! with `--dry-run` it counts which keys it would move from which master to
//! which, scanning every member (`SCAN … COUNT 1000`) and placing each key
//! under the current and the changed member set, and writes nothing.

use std::collections::BTreeMap;

use disredis::hashing::Rendezvous;
use disredis::reshard::{self, Options};
use disredis::{DisredisClient, Phase, Ring};

use crate::Failure;
use crate::out::outln;
use crate::output::{Json, print_table};
use crate::progress::Shown;
use crate::scan;

/// Keys shown per (from, to) pair.
const EXAMPLES: usize = 3;

/// What the change does to the member set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberEdit {
    /// Make a master Sentinel monitors a member.
    Add,
    /// Take a member out (its keys go to their owners among the others).
    Remove,
}

/// The member set after the change, or why the change can't be made.
fn target(ring: &Ring, unrouted: &[String], change: MemberEdit, name: &str) -> Result<Vec<String>, Failure> {
    if ring.phase != Phase::Stable {
        return Err(Failure::usage(format!(
            "a change is in progress (ring version {}, phase {})",
            ring.version, ring.phase
        )));
    }
    let member = ring.members.iter().any(|m| m == name);
    let mut members = ring.members.clone();
    match change {
        MemberEdit::Add if member => {
            return Err(Failure::usage(format!(
                "{name} is already a member of ring version {}",
                ring.version
            )));
        }
        MemberEdit::Add if !unrouted.iter().any(|u| u == name) => {
            return Err(Failure::usage(format!(
                "{name} is not a master the Sentinels monitor outside the ring (monitored, not members: {})",
                if unrouted.is_empty() { "none".to_owned() } else { unrouted.join(", ") }
            )));
        }
        MemberEdit::Add => members.push(name.to_owned()),
        MemberEdit::Remove if !member => {
            return Err(Failure::usage(format!(
                "{name} is not a member (members: {})",
                ring.members.join(", ")
            )));
        }
        MemberEdit::Remove if members.len() == 1 => {
            return Err(Failure::usage(format!("{name} is the last member: a ring needs at least one")));
        }
        MemberEdit::Remove => members.retain(|m| m != name),
    }
    members.sort();
    Ok(members)
}

/// One (from, to) pair of the plan.
#[derive(Default)]
struct Moves {
    keys: u64,
    examples: Vec<String>,
}

/// Checks the change and makes it; with `dry_run`, prints how many keys it
/// would move.
pub async fn run(
    client: &DisredisClient,
    change: MemberEdit,
    name: &str,
    dry_run: bool,
    options: &Options,
    json: bool,
) -> Result<(), Failure> {
    let topology = client.topology();
    let ring = &topology.ring;
    let members = target(ring, &topology.unrouted, change, name)?;
    if !dry_run {
        let mut shown = Shown::new();
        let outcome = reshard::start(client, members, options, &mut |step| shown.step(step)).await;
        return shown.finish(outcome.map(Some), json);
    }
    let before =
        Rendezvous::new(ring.members.clone()).ok_or_else(|| Failure::usage("the ring has no members"))?;
    let after =
        Rendezvous::new(members.clone()).ok_or_else(|| Failure::usage("the change leaves no members"))?;
    let mut plan: BTreeMap<(String, String), Moves> = BTreeMap::new();
    let (mut scanned, mut misplaced) = (0u64, 0u64);
    for member in &ring.members {
        scan::each_batch(client, member, ("COUNT", 1000), |keys| {
            scanned += keys.len() as u64;
            for key in keys {
                if before.shard_for(&key) != member {
                    // Not this member's key under the current ring (placed by
                    // something else): not this change's to move.
                    misplaced += 1;
                    continue;
                }
                let to = after.shard_for(&key);
                if to != member {
                    let moves = plan.entry((member.clone(), to.to_owned())).or_default();
                    moves.keys += 1;
                    if moves.examples.len() < EXAMPLES {
                        moves.examples.push(String::from_utf8_lossy(&key).into_owned());
                    }
                }
            }
        })
        .await?;
    }
    let moving: u64 = plan.values().map(|m| m.keys).sum();
    if json {
        let pairs = plan
            .iter()
            .map(|((from, to), m)| {
                Json::Obj(vec![
                    ("from", Json::str(from)),
                    ("to", Json::str(to)),
                    ("keys", Json::Int(m.keys as i64)),
                    ("examples", Json::strs(&m.examples)),
                ])
            })
            .collect();
        outln!(
            "{}",
            Json::Obj(vec![
                ("dry_run", Json::Bool(true)),
                ("version", Json::Int(ring.version as i64)),
                ("members", Json::strs(&ring.members)),
                ("target", Json::strs(&members)),
                ("scanned", Json::Int(scanned as i64)),
                ("moving", Json::Int(moving as i64)),
                ("misplaced", Json::Int(misplaced as i64)),
                ("moves", Json::Arr(pairs)),
            ])
        );
    } else {
        let verb = if change == MemberEdit::Add { "adding" } else { "removing" };
        outln!(
            "dry run: {verb} {name}: ring version {} {{{}}} -> {{{}}}",
            ring.version,
            ring.members.join(", "),
            members.join(", ")
        );
        outln!(
            "{moving} of {scanned} keys would move ({misplaced} are not on their owner under the current ring)"
        );
        let rows: Vec<Vec<String>> = plan
            .iter()
            .map(|((from, to), m)| vec![from.clone(), to.clone(), m.keys.to_string(), m.examples.join(" ")])
            .collect();
        print_table(&["FROM", "TO", "KEYS", "EXAMPLES"], &rows);
    }
    Ok(())
}

/// `rebalance`: moves misplaced keys to their owners (or counts them).
pub async fn rebalance(
    client: &DisredisClient,
    on_conflict: reshard::OnConflict,
    dry_run: bool,
    json: bool,
) -> Result<(), Failure> {
    let mut shown = Shown::new();
    let outcome = reshard::rebalance(client, on_conflict, dry_run, &mut |step| shown.step(step)).await;
    shown.finish_rebalance(outcome, dry_run, json)
}

/// `reshard resume`: continues a change from the ring's phase.
pub async fn resume(client: &DisredisClient, options: &Options, json: bool) -> Result<(), Failure> {
    let mut shown = Shown::new();
    let outcome = reshard::resume(client, options, &mut |step| shown.step(step)).await;
    shown.finish(outcome, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(members: &[&str]) -> Ring {
        let text = format!("disredis-ring/1\nversion: 3\nphase: stable\nmembers: {}\n", members.join(","));
        Ring::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn changes_that_can_and_cannot_be_made() {
        let r = ring(&["a", "b"]);
        let unrouted = vec!["c".to_owned()];
        assert_eq!(
            target(&r, &unrouted, MemberEdit::Add, "c").ok(),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(target(&r, &unrouted, MemberEdit::Remove, "a").ok(), Some(vec!["b".into()]));
        let why = |c, n| target(&r, &unrouted, c, n).err().map(|f| (f.code, f.message)).unwrap();
        assert!(why(MemberEdit::Add, "a").1.contains("already a member"));
        assert!(why(MemberEdit::Add, "z").1.contains("not a master the Sentinels monitor"));
        assert!(why(MemberEdit::Remove, "c").1.contains("is not a member"));
        assert_eq!(why(MemberEdit::Remove, "z").0, 2);
        let one = ring(&["a"]);
        assert!(target(&one, &[], MemberEdit::Remove, "a").err().unwrap().message.contains("last member"));
        let moving =
            Ring::parse(b"disredis-ring/1\nversion: 4\nphase: prepare\nmembers: a\ntarget: a,c\n").unwrap();
        assert!(
            target(&moving, &unrouted, MemberEdit::Add, "c").err().unwrap().message.contains("phase prepare")
        );
    }
}
