//! Commands the server has and the static table doesn't (Valkey 9.1's `HEXPIRE`, `DELIFEQ`,
//! `CLIENT CAPA`, ...; Redis 8.2's vector-set commands `VADD`, `VSIM`, ...; none on Redis 7.0):
//! the client routes them through `COMMAND INFO` (and `COMMAND GETKEYS` for `movablekeys` ones). Each argument list goes through the
//! client; `COMMAND GETKEYS` says where it belongs and the masters' `INFO commandstats` where it
//! ran.

use std::collections::BTreeSet;

use super::{Srv, getkeys, show};
use crate::support::Topology;

/// Calls of `stat` (`hexpire`, `client|capa`) on each connection, refused ones included. The
/// name is matched ignoring case: Redis 8's built-in vector-set module registers its commands
/// upper-case (`cmdstat_VCARD`), where Redis 7.0 and Valkey list every command lower-case.
fn calls(masters: &mut [redis::Connection], stat: &str) -> Vec<u64> {
    let prefix = format!("cmdstat_{stat}:");
    let count = |info: &str| -> u64 {
        let is_stat = |l: &&str| l.get(..prefix.len()).is_some_and(|h| h.eq_ignore_ascii_case(&prefix));
        let Some(line) = info.lines().find(is_stat).map(|l| &l[prefix.len()..]) else { return 0 };
        let fields = line.split(',').filter_map(|kv| kv.split_once('='));
        let counted = fields.filter(|(k, _)| matches!(*k, "calls" | "rejected_calls"));
        counted.map(|(_, v)| v.parse::<u64>().expect("a count")).sum()
    };
    masters
        .iter_mut()
        .map(|c| {
            count(&redis::cmd("INFO").arg("commandstats").query::<String>(c).expect("INFO commandstats"))
        })
        .collect()
}

/// Sends every argument list of `cases` through the client and checks it ran where `COMMAND
/// GETKEYS` puts its keys: on the one shard owning them, nowhere with `NoKey` when it has none,
/// nowhere with `CrossShard` when they span shards. Returns a summary for the test's line.
pub(super) fn check_routing(
    topo: &Topology,
    con: &mut redis::Connection,
    newer: &BTreeSet<String>,
    cases: &[Vec<Vec<u8>>],
    fails: &mut BTreeSet<String>,
) -> String {
    let names = topo.master_names();
    let mut masters: Vec<redis::Connection> = names.iter().map(|n| topo.conn(&topo.master_addr(n))).collect();
    let mut client = disredis::blocking::DisredisClient::connect(topo.sentinel_addrs()).expect("client");
    let (mut routed, mut keyless, mut crossed, mut refused) = (0, 0, 0, 0);
    for args in cases {
        let label = show(args);
        let lower = |a: &[u8]| String::from_utf8_lossy(a).to_lowercase();
        let sub = args.get(1).map(|s| format!("{} {}", lower(&args[0]), lower(s)).to_uppercase());
        let stat = match sub {
            Some(s) if newer.contains(&s) => s.to_lowercase().replacen(' ', "|", 1),
            _ => lower(&args[0]),
        };
        let expected = getkeys(con, args);
        let before = calls(&mut masters, &stat);
        let result =
            redis::cmd(&String::from_utf8_lossy(&args[0])).arg(&args[1..]).query::<redis::Value>(&mut client);
        let after = calls(&mut masters, &stat);
        let ran: Vec<&str> = names
            .iter()
            .zip(before.iter().zip(&after))
            .filter(|(_, (b, a))| a > b)
            .map(|(n, _)| n.as_str())
            .collect();
        // The typed error carried through the redis traits, not its text.
        let typed = result.as_ref().err().map(|e| disredis::Error::from(e.clone()));
        let crossed_shards = matches!(typed, Some(disredis::Error::CrossShard { .. }));
        // Keyless: NoKey, or SharedConnection for one that changes its connection's
        // state (`CLIENT NO-TOUCH`, `CLIENT SETINFO`, newer than the static table).
        let no_key =
            matches!(typed, Some(disredis::Error::NoKey { .. } | disredis::Error::SharedConnection { .. }));
        let ok = match &expected {
            Srv::Keys(keys) if !keys.is_empty() => {
                let owners: BTreeSet<&str> = keys.iter().map(|k| client.shard_for(k)).collect();
                if owners.len() == 1 {
                    routed += 1;
                    ran == owners.into_iter().collect::<Vec<_>>()
                } else {
                    crossed += 1;
                    ran.is_empty() && crossed_shards
                }
            }
            Srv::Keys(_) => {
                keyless += 1;
                ran.is_empty() && no_key
            }
            // `CLIENT SETINFO` is also what every new connection's handshake sends (redis-rs
            // names its library), so a reconnect anywhere in the client counts as a call: the
            // typed refusal, made by name before anything is sent, is what shows it stayed home.
            Srv::Error(e) if e.contains("no key arguments") && stat == "client|setinfo" => {
                keyless += 1;
                matches!(typed, Some(disredis::Error::SharedConnection { .. }))
            }
            Srv::Error(e) if e.contains("no key arguments") => {
                keyless += 1;
                ran.is_empty() && no_key
            }
            // The server refuses the arguments (arity, syntax): on whichever shard, once.
            Srv::Error(_) => {
                refused += 1;
                ran.len() <= 1
            }
        };
        if !ok {
            let keys = match &expected {
                Srv::Keys(k) => format!("keys [{}]", show(k)),
                Srv::Error(e) => format!("error {e}"),
            };
            fails.insert(format!("{label}: server {keys}; through the client it ran on {ran:?}: {result:?}"));
        }
    }
    if !newer.is_empty() && routed == 0 {
        fails.insert(format!("{} newer commands, but no argument list was routed to a shard", newer.len()));
    }
    format!(
        "{} argument lists through COMMAND INFO: {routed} routed to their shard, {keyless} NoKey, {crossed} CrossShard, {refused} refused by the server",
        cases.len()
    )
}
