//! The table's commands newer than Redis 7.0 (`disredis::keys::NEWER_COMMANDS`: Redis 8's
//! `HGETEX`, `XDELEX`, ..., `MSETEX`): a server older than a command's version lacks it, which
//! is no table mistake; a server at or past that version must have it, and its `COMMAND DOCS`
//! must give the same version (so the list stays true as servers are added to the suite).

use std::collections::{BTreeMap, BTreeSet};

use disredis::keys::NEWER_COMMANDS;
use redis::Value;

use super::{field, pairs, text};
use crate::support::{Flavor, Server as Binary};

/// `(major, minor)` of a `since` string ("8.2.0").
fn major_minor(since: &str) -> Option<(u32, u32)> {
    let mut parts = since.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

/// Checks [`NEWER_COMMANDS`] against the server; returns the names this server is too old
/// for (the key table check takes them as known to be missing).
pub(super) fn check(
    binary: &Binary,
    has: impl Fn(&str) -> bool,
    docs: &Value,
    fails: &mut BTreeSet<String>,
) -> BTreeSet<&'static str> {
    let since: BTreeMap<String, String> = pairs(docs)
        .into_iter()
        .filter_map(|(name, doc)| Some((name.to_uppercase(), text(field(doc, "since")?))))
        .collect();
    let (major, minor, _) = binary.version;
    let mut missing = BTreeSet::new();
    for command in NEWER_COMMANDS {
        let name = command.name;
        let from = match binary.flavor {
            Flavor::Redis => command.redis,
            Flavor::Valkey => command.valkey,
        };
        let due = from.is_some_and(|v| (major, minor) >= v);
        match (has(name), due) {
            (true, true) => {
                let said = since.get(name).and_then(|s| major_minor(s));
                if said != from {
                    fails
                        .insert(format!("{name}: NEWER_COMMANDS says since {from:?}, COMMAND DOCS {said:?}"));
                }
            }
            (true, false) => {
                fails.insert(format!("{name}: NEWER_COMMANDS says {} has it from {from:?}", binary.label()));
            }
            (false, true) => {
                fails.insert(format!(
                    "{name}: NEWER_COMMANDS says {} has it, the server lacks it",
                    binary.label()
                ));
            }
            (false, false) => drop(missing.insert(name)),
        }
    }
    missing
}
