//! Checks the command table of `disredis::keys` against the server under test (Redis 7.0, whose
//! table it is, or a newer one such as Valkey 9.1): the command set (`COMMAND`, `COMMAND DOCS`),
//! the `readonly` and `blocking` flags, and the key positions that `visit_keys` finds against
//! `COMMAND GETKEYS` for arity-sized generic argument lists, argument lists built from `COMMAND
//! DOCS`, and hand-written tricky cases. Every disagreement is reported; the deliberate ones are
//! listed in [`allowed`]. Commands the server has and the table doesn't (none on Redis 7.0) are
//! routed by the client through `COMMAND INFO`; [`learned`] checks where they went.

mod allowed;
mod learned;
mod newer;

use allowed::allowed;

use std::collections::{BTreeMap, BTreeSet};

use disredis::keys::{CommandInfo, KeyError, commands, visit_keys};
use redis::Value;

use crate::support;

/// Hand-written argument lists for movable-key and otherwise tricky commands: one list per
/// `|`-separated item, words separated by spaces, `EMPTY` stands for an empty argument.
const HAND: &str = "
EVAL s 0|EVAL s 0 a b|EVAL s 2 k1 k2 arg|EVAL s x k|EVAL s 5 k1 k2|EVAL s -1 k|EVALSHA s 1 k|EVALSHA s 0
EVAL_RO s 1 k|EVAL_RO s 0|EVALSHA_RO s 2 a b|FCALL f 1 k a|FCALL f 0|FCALL f 2 a b c|FCALL_RO f 0|FCALL_RO f 2 a b
FCALL f 3 a b c d|ZUNION 2 a b WEIGHTS 1 2|ZUNION 0 a|ZUNION 3 a b|ZINTER 1 a|ZDIFF 2 a b|ZINTERCARD 2 a b LIMIT 3
SINTERCARD 2 a b|SINTERCARD x a|ZUNIONSTORE d 2 a b|ZINTERSTORE d 1 a WEIGHTS 2|ZDIFFSTORE d 2 a b
ZUNIONSTORE d 0 a|ZUNIONSTORE d 3 a b|LMPOP 2 a b LEFT COUNT 3|ZMPOP 1 z MIN|BLMPOP 0 2 a b LEFT
BZMPOP 1.5 1 z MAX COUNT 2|BLMPOP 0 3 a b|XREAD STREAMS a 0|XREAD COUNT 2 STREAMS a b 0 0|XREAD BLOCK 0 STREAMS a $
xread block 0 count 1 streams a b c d|XREAD STREAMS a b 0|XREAD COUNT 1 a 0|XREAD STREAMS streams 0|XREAD STREAMS
XREADGROUP GROUP g c STREAMS s >|XREADGROUP GROUP g c COUNT 1 BLOCK 10 NOACK STREAMS s1 s2 > >
XREADGROUP GROUP streams streams STREAMS streams >|XREADGROUP GROUP g c STREAMS a b >|XREADGROUP GROUP g c BLOCK 0 STREAMS s >
GEORADIUS g 0 0 1 km|GEORADIUS g 0 0 1 km STORE d|GEORADIUS g 0 0 1 km STOREDIST d|GEORADIUS g 0 0 1 km STORE d STOREDIST e
GEORADIUS g 0 0 1 km WITHDIST COUNT 3 ASC store d|GEORADIUSBYMEMBER g m 1 km STORE d|GEORADIUSBYMEMBER g m 1 km
GEORADIUS g 0 0 1 km STORE|GEORADIUS g 0 0 1 km STORE STOREDIST x|GEORADIUS g 0 0 1 km STOREDIST e STORE d
GEORADIUSBYMEMBER g m 1 km STORE d STOREDIST e|GEORADIUSBYMEMBER g m 1 km STOREDIST d|SORT k|SORT k BY w_* LIMIT 0 10 GET # STORE d
SORT k STORE a STORE b|SORT k GET store STORE d|SORT k STORE|SORT k ALPHA DESC store d|SORT k STORE get x|SORT_RO k
SORT_RO k BY w GET g|SORT_RO k STORE d|MIGRATE h 6379 k 0 1000|MIGRATE h 6379 k 0 1000 COPY REPLACE
MIGRATE h 6379 EMPTY 0 1000 KEYS a b c|MIGRATE h 6379 EMPTY 0 1000 COPY REPLACE AUTH pw KEYS a|MIGRATE h 6379 k 0 1000 KEYS a b
MIGRATE h 6379 EMPTY 0 1000 KEYS|MIGRATE h 6379 EMPTY 0 1000|MIGRATE h 6379 EMPTY 0 1000 AUTH keys KEYS a
MIGRATE h 6379 EMPTY 0 1000 AUTH2 u keys KEYS a b|MIGRATE h 6379 EMPTY 0 1000 KEYS keys|MSET a 1 b 2|MSET a 1 b
MSETNX a 1 b 2 c 3|BLPOP a b 0|BLPOP a 1.5|BRPOP a 0|BRPOP a b c 2|BZPOPMIN a b 1|BITOP AND d a b|BITOP NOT d a|BITOP OR d a
PFMERGE d|PFMERGE d a b|RENAME a b|SMOVE a b m|LMOVE a b LEFT RIGHT|BLMOVE a b LEFT RIGHT 0|RPOPLPUSH a b|BRPOPLPUSH a b 0
COPY a b|COPY a b DB 1 REPLACE|GEOSEARCHSTORE d s FROMMEMBER m BYRADIUS 1 km|ZRANGESTORE d s 0 -1|LCS a b|LCS a b LEN
OBJECT ENCODING k|OBJECT HELP|object freq k|MEMORY USAGE k|MEMORY USAGE k SAMPLES 0|MEMORY STATS|XINFO STREAM s
XINFO STREAM s FULL COUNT 2|XINFO GROUPS s|XINFO CONSUMERS s g|XGROUP CREATE s g $ MKSTREAM|XGROUP SETID s g 0
PFDEBUG GETREG k|SET k v|SET k v NX|SET k v GET|SET k v EX 10|SPUBLISH ch m|SSUBSCRIBE a b|SUNSUBSCRIBE a|PUBLISH ch m
WATCH a b|WAIT 1 0|GeT k|get k";

/// What the server says about one command or subcommand (`COMMAND`).
struct Server {
    arity: i64,
    readonly: bool,
    blocking: bool,
    container: bool,
}

/// `COMMAND GETKEYS`: the keys, or the error.
enum Srv {
    Keys(Vec<Vec<u8>>),
    Error(String),
}

/// `visit_keys`: the info and keys, or the error (with whatever was visited before it).
enum Ours {
    Found(CommandInfo, Vec<Vec<u8>>),
    Malformed(&'static str, String, Vec<Vec<u8>>),
    Unknown(String),
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        Value::Int(i) => i.to_string(),
        other => panic!("expected a string, got {other:?}"),
    }
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) | Value::Set(a) => a,
        Value::Nil => &[],
        other => panic!("expected an array, got {other:?}"),
    }
}

/// The (key, value) pairs of a RESP3 map or a RESP2 flat key/value array.
fn pairs(v: &Value) -> Vec<(String, &Value)> {
    match v {
        Value::Map(m) => m.iter().map(|(k, v)| (text(k), v)).collect(),
        _ => items(v).chunks(2).map(|kv| (text(&kv[0]), &kv[1])).collect(),
    }
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    pairs(v).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Walks one `COMMAND` entry (and its subcommands) into `out`, keyed by canonical name.
fn walk_command(c: &Value, out: &mut BTreeMap<String, Server>) {
    let c = items(c);
    let flags: Vec<String> = items(&c[2]).iter().map(text).collect();
    let subs = c.get(9).map(items).unwrap_or_default();
    let Value::Int(arity) = c[1] else { panic!("arity {:?}", c[1]) };
    let server = Server {
        arity,
        readonly: flags.iter().any(|f| f == "readonly"),
        blocking: flags.iter().any(|f| f == "blocking"),
        container: !subs.is_empty(),
    };
    out.insert(text(&c[0]).to_uppercase().replace('|', " "), server);
    subs.iter().for_each(|s| walk_command(s, out));
}

/// Walks `COMMAND DOCS` into (canonical name, argument tree) pairs.
fn walk_docs<'a>(docs: &'a Value, out: &mut Vec<(String, &'a [Value])>) {
    for (name, doc) in pairs(docs) {
        let args = field(doc, "arguments").map(items).unwrap_or_default();
        out.push((name.to_uppercase().replace('|', " "), args));
        if let Some(subs) = field(doc, "subcommands") {
            walk_docs(subs, out);
        }
    }
}

/// One argument list from a `COMMAND DOCS` argument tree: with `full` every optional argument
/// and the last choice of each `oneof`, otherwise only required ones and the first choice.
/// Multiple arguments appear once; a `numkeys` argument becomes `#` (see [`doc_case`]).
fn doc_args(tree: &[Value], full: bool, out: &mut Vec<String>) {
    for arg in tree {
        let flags: Vec<String> =
            field(arg, "flags").map(items).unwrap_or_default().iter().map(text).collect();
        if flags.iter().any(|f| f == "optional") && !full {
            continue;
        }
        if let Some(token) = field(arg, "token") {
            out.push(text(token));
        }
        let children = field(arg, "arguments").map(items).unwrap_or_default();
        match text(field(arg, "type").expect("argument type")).as_str() {
            "pure-token" => {}
            "oneof" if full => doc_args(&children[children.len() - 1..], full, out),
            "oneof" => doc_args(&children[..1], full, out),
            "block" => doc_args(children, full, out),
            "key" => out.push(format!("k{}", out.len())),
            // Filled in by `doc_case` with the number of keys that follow.
            "integer" if text(field(arg, "name").expect("name")) == "numkeys" => out.push("#".into()),
            "integer" | "double" | "unix-time" => out.push("1".into()),
            _ => out.push(format!("v{}", out.len())),
        }
    }
}

/// The `COMMAND DOCS` argument list of `name`, with numkeys matching the keys after it.
fn doc_case(name: &str, tree: &[Value], full: bool) -> Vec<String> {
    let mut args: Vec<String> = name.split(' ').map(String::from).collect();
    doc_args(tree, full, &mut args);
    if let Some(at) = args.iter().position(|a| a == "#") {
        let is_key = |a: &&String| a.starts_with('k') && a[1..].parse::<usize>().is_ok();
        args[at] = args[at + 1..].iter().filter(is_key).count().to_string();
    }
    args
}

fn getkeys(con: &mut redis::Connection, args: &[Vec<u8>]) -> Srv {
    match redis::cmd("COMMAND").arg("GETKEYS").arg(args).query::<Value>(con) {
        Ok(Value::ServerError(e)) => Srv::Error(format!("{e:?}")),
        Ok(v) => Srv::Keys(items(&v).iter().map(|k| text(k).into_bytes()).collect()),
        Err(e) if e.is_io_error() || e.is_unrecoverable_error() => panic!("COMMAND GETKEYS: {e}"),
        Err(e) => Srv::Error(e.to_string()),
    }
}

fn ours(args: &[Vec<u8>]) -> Ours {
    let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let mut keys = Vec::new();
    match visit_keys(&args, |k| keys.push(k.to_vec())) {
        Ok(info) => Ours::Found(info, keys),
        Err(KeyError::Malformed { command, detail }) => Ours::Malformed(command, detail, keys),
        Err(KeyError::Unknown(name)) => Ours::Unknown(name),
    }
}

fn show(args: &[Vec<u8>]) -> String {
    let words = args.iter().map(|a| match a.is_empty() {
        true => "''".into(),
        false => String::from_utf8_lossy(a).into_owned(),
    });
    words.collect::<Vec<_>>().join(" ")
}

/// Both sides' answers, for a failure message.
fn describe(ours: &Ours, srv: &Srv) -> String {
    let keys = |k: &[Vec<u8>]| format!("[{}]", show(k));
    let mine = match ours {
        Ours::Found(_, k) => keys(k),
        Ours::Malformed(c, d, k) => format!("malformed {c}: {d} (visited {})", keys(k)),
        Ours::Unknown(n) => format!("unknown command {n:?}"),
    };
    let theirs = match srv {
        Srv::Keys(k) => keys(k),
        Srv::Error(e) => format!("error {e}"),
    };
    format!("ours {mine}, server {theirs}")
}

/// Is a BLOCK option present before STREAMS (XREAD, XREADGROUP)?
fn has_block(args: &[Vec<u8>]) -> bool {
    let opts = args.iter().take_while(|a| !a.eq_ignore_ascii_case(b"STREAMS"));
    opts.skip(1).any(|a| a.eq_ignore_ascii_case(b"BLOCK"))
}

#[test]
fn key_table_matches_the_server() {
    // Two shards, for the routing of commands newer than the table (`learned`).
    let topo = support::Topology::start(support::Spec { shards: 2, replicas: 0, sentinels: 1, quorum: 1 });
    let flavor = support::server();
    let mut con = topo.conn(&topo.master_addr("shard-a"));
    let started = std::time::Instant::now();
    let mut fails = BTreeSet::new();

    // The command set: COMMAND, COMMAND DOCS and commands() must agree.
    let mut server = BTreeMap::new();
    let reply: Value = redis::cmd("COMMAND").query(&mut con).expect("COMMAND");
    items(&reply).iter().for_each(|c| walk_command(c, &mut server));
    let docs_reply: Value = redis::cmd("COMMAND").arg("DOCS").query(&mut con).expect("COMMAND DOCS");
    let mut docs = Vec::new();
    walk_docs(&docs_reply, &mut docs);
    let ours_set: BTreeSet<&str> = commands().collect();
    let docs_set: BTreeSet<&str> = docs.iter().map(|(n, _)| n.as_str()).collect();
    // The table is Redis 7.0's: there it must know every command; on a newer server the
    // others are routed through COMMAND INFO (checked by `learned`).
    let newer: BTreeSet<String> = server.keys().filter(|n| !ours_set.contains(n.as_str())).cloned().collect();
    if flavor.flavor == support::Flavor::Redis && flavor.version.0 == 7 && flavor.version.1 == 0 {
        for name in &newer {
            fails.insert(format!("{name}: in the server's COMMAND, missing from keys::commands()"));
        }
    }
    let too_old = newer::check(flavor, |n| server.contains_key(n), &docs_reply, &mut fails);
    for name in ours_set.iter().filter(|n| !server.contains_key(**n) && !too_old.contains(**n)) {
        fails.insert(format!("{name}: in keys::commands(), unknown to the server"));
    }
    for name in docs_set.symmetric_difference(&server.keys().map(String::as_str).collect()) {
        fails.insert(format!("{name}: COMMAND and COMMAND DOCS disagree about it"));
    }

    // Argument lists: generic (arity-sized), from COMMAND DOCS, and hand-written.
    let mut cases: Vec<(Vec<String>, Option<&str>)> = Vec::new();
    for (name, s) in &server {
        let head: Vec<String> = name.split(' ').map(String::from).collect();
        if s.container {
            cases.push((head.clone(), None));
            cases.push(([&head[..], &["nosuchsub".into(), "a2".into()]].concat(), None));
            continue;
        }
        let sizes = match s.arity {
            a if a > 0 => vec![a],
            a => vec![-a, 1 - a, 2 - a, 3 - a, 6 - a],
        };
        for n in sizes {
            let rest = (head.len()..n as usize).map(|i| format!("a{i}"));
            cases.push((head.iter().cloned().chain(rest).collect(), Some(name)));
        }
        let mut lower: Vec<String> = head.iter().map(|h| h.to_lowercase()).collect();
        lower.extend((head.len()..s.arity.unsigned_abs() as usize).map(|i| format!("a{i}")));
        cases.push((lower, Some(name)));
    }
    for (name, tree) in &docs {
        if server.get(name).is_none_or(|s| s.container) {
            continue;
        }
        cases.extend([false, true].map(|full| (doc_case(name, tree, full), Some(name.as_str()))));
    }
    for line in HAND.split(['|', '\n']).filter(|l| !l.is_empty()) {
        let args = line.split(' ').map(|w| if w == "EMPTY" { String::new() } else { w.into() });
        cases.push((args.collect(), None));
    }

    let (mut agreed, mut skipped, mut allowed_n) = (0, 0, 0);
    let mut routed_cases: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut resolved = BTreeSet::new();
    let mut seen = BTreeSet::new();
    cases.retain(|(words, _)| seen.insert(words.clone()));
    for (words, expect) in &cases {
        let args: Vec<Vec<u8>> = words.iter().map(|w| w.clone().into_bytes()).collect();
        let label = show(&args);
        let (ours, srv) = (ours(&args), getkeys(&mut con, &args));
        if let Ours::Unknown(name) = &ours
            && newer.contains(&name.to_uppercase())
        {
            routed_cases.push(args);
            continue;
        }
        if let Ours::Found(info, _) = &ours {
            resolved.insert(info.name);
            if expect.is_some_and(|e| e != info.name) {
                fails.insert(format!("{label}: resolved as {}, expected {expect:?}", info.name));
            }
            let s = &server[info.name];
            if info.read_only != s.readonly {
                fails.insert(format!(
                    "{}: read_only {} but server readonly {}",
                    info.name, info.read_only, s.readonly
                ));
            }
            // Documented differences: WAIT is blocking for us too; XREAD/XREADGROUP block
            // only with a BLOCK option (the server flags them blocking always).
            let blocking = match info.name {
                "WAIT" => true,
                "XREAD" | "XREADGROUP" => has_block(&args),
                _ => s.blocking,
            };
            if info.blocking != blocking {
                fails.insert(format!(
                    "{label}: blocking {} but expected {blocking} (server flag {})",
                    info.blocking, s.blocking
                ));
            }
        }
        // GEORADIUS with both STORE and STOREDIST: the server lists them in key-spec order,
        // we in argument order; compare as multisets.
        let geo = matches!(&ours, Ours::Found(i, _) if i.name.starts_with("GEORADIUS"));
        let same = |mine: &[Vec<u8>], theirs: &[Vec<u8>]| {
            let sorted = |k: &[Vec<u8>]| {
                let mut k = k.to_vec();
                k.sort();
                k
            };
            if geo { sorted(mine) == sorted(theirs) } else { mine == theirs }
        };
        let verdict = match (&ours, &srv) {
            (Ours::Found(_, mine), Srv::Keys(theirs)) if same(mine, theirs) => "agree",
            (Ours::Found(info, mine), Srv::Error(e)) if mine.is_empty() => {
                if e.contains("no key arguments") && !info.keyless {
                    fails.insert(format!("{label}: server says no key arguments, not keyless for us"));
                }
                "skip"
            }
            (Ours::Malformed(_, _, mine), Srv::Error(_)) if mine.is_empty() => "skip",
            // A subcommand neither knows (`OBJECT nosuchsub`).
            (Ours::Unknown(_), Srv::Error(_)) => "skip",
            // Shorter than the arity (an argument list from a newer server's COMMAND DOCS,
            // where an argument became optional): the server refuses it on any shard.
            (Ours::Found(info, _), Srv::Error(e))
                if e.contains("Invalid number of arguments")
                    && (args.len() as i64) < server[info.name].arity.abs() =>
            {
                "skip"
            }
            _ if allowed(&args, &ours, &srv) => "allow",
            _ => "fail",
        };
        if std::env::var_os("KEY_TABLE_VERBOSE").is_some() {
            eprintln!("{verdict}: {label}: {}", describe(&ours, &srv));
        }
        match verdict {
            "agree" => agreed += 1,
            "skip" => skipped += 1,
            "allow" => allowed_n += 1,
            _ => drop(fails.insert(format!("{label}: {}", describe(&ours, &srv)))),
        }
    }
    let unresolved = |n: &str| !resolved.contains(n) && !newer.contains(n);
    for (name, _) in server.iter().filter(|(n, s)| !s.container && unresolved(n.as_str())) {
        fails.insert(format!("{name}: no argument list resolved to it"));
    }

    let routed = learned::check_routing(&topo, &mut con, &newer, &routed_cases, &mut fails);
    eprintln!(
        "key_table ({}): {} commands checked, {} argument lists compared, {agreed} agreed, {skipped} skipped, {allowed_n} allow-listed; {} commands newer than the table, {routed}; {} failures ({:.2} s)",
        flavor.label(),
        server.len(),
        cases.len(),
        newer.len(),
        fails.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        fails.is_empty(),
        "{} disagreements with the server:\n{}",
        fails.len(),
        fails.into_iter().collect::<Vec<_>>().join("\n")
    );
}
