//! Unit tests for the command table.
use super::*;

/// Runs `visit_keys` on whitespace-separated words ("''" is an empty argument).
fn keys(cmd: &str) -> Result<(CommandInfo, Vec<String>), KeyError> {
    let words: Vec<&[u8]> =
        cmd.split_whitespace().map(|w| if w == "''" { &b""[..] } else { w.as_bytes() }).collect();
    let mut out = Vec::new();
    let info = visit_keys(&words, |k| out.push(String::from_utf8_lossy(k).into_owned()))?;
    Ok((info, out))
}

fn ks(cmd: &str) -> Vec<String> {
    keys(cmd).map(|(_, k)| k).unwrap_or_else(|e| panic!("{cmd}: {e:?}"))
}

fn info(cmd: &str) -> CommandInfo {
    keys(cmd).map(|(i, _)| i).unwrap_or_else(|e| panic!("{cmd}: {e:?}"))
}

fn err(cmd: &str) -> KeyError {
    keys(cmd).expect_err(cmd)
}

#[test]
fn case_insensitive_names_and_flags() {
    for cmd in ["GET k", "get k", "GeT k"] {
        assert_eq!(ks(cmd), ["k"]);
        let i = info(cmd);
        assert_eq!(
            (i.name, i.read_only, i.idempotent, i.blocking, i.keyless),
            ("GET", true, true, false, false)
        );
    }
    assert_eq!(info("object Encoding k").name, "OBJECT ENCODING");
    assert_eq!(ks("xinfo stream s"), ["s"]);
    assert_eq!(ks("OBJECT ENCODING k"), ["k"]);
    assert_eq!(ks("MEMORY USAGE k SAMPLES 5"), ["k"]);
    assert!(info("OBJECT HELP").keyless && info("memory stats").keyless);
}

#[test]
fn range_shapes() {
    assert_eq!(ks("MGET a b c"), ["a", "b", "c"]);
    assert_eq!(ks("MSET a 1 b 2"), ["a", "b"]);
    assert_eq!(ks("MSETNX a 1 b 2"), ["a", "b"]);
    assert_eq!(ks("DEL a b"), ["a", "b"]);
    assert_eq!(ks("BLPOP a b 0"), ["a", "b"]);
    assert_eq!(ks("BZPOPMIN z 1.5"), ["z"]);
    assert_eq!(ks("RENAME a b"), ["a", "b"]);
    assert_eq!(ks("BLMOVE a b LEFT RIGHT 0"), ["a", "b"]);
    assert_eq!(ks("BITOP AND d a b"), ["d", "a", "b"]);
    assert_eq!(ks("SINTERSTORE d a b"), ["d", "a", "b"]);
    assert_eq!(ks("LCS a b LEN"), ["a", "b"]);
    assert_eq!(ks("WATCH a b"), ["a", "b"]);
    assert!(matches!(err("MSET a 1 b"), KeyError::Malformed { command: "MSET", .. }));
    assert!(matches!(err("BLPOP 0"), KeyError::Malformed { command: "BLPOP", .. }));
    assert!(matches!(err("RENAME a"), KeyError::Malformed { command: "RENAME", .. }));
}

#[test]
fn numkeys_shapes() {
    assert!(ks("EVAL s 0 a b").is_empty());
    assert!(!info("EVAL s 0").keyless);
    assert_eq!(ks("EVAL s 2 k1 k2 arg"), ["k1", "k2"]);
    assert_eq!(ks("FCALL_RO f 1 k a"), ["k"]);
    assert_eq!(ks("ZUNIONSTORE d 2 a b WEIGHTS 1 2"), ["d", "a", "b"]);
    assert_eq!(ks("ZUNION 2 a b"), ["a", "b"]);
    assert_eq!(ks("LMPOP 1 l LEFT"), ["l"]);
    assert_eq!(ks("BLMPOP 0 2 a b LEFT"), ["a", "b"]);
    assert!(info("BZMPOP 1 1 z MIN").blocking);
    let e = err("EVAL s x a");
    assert!(matches!(e, KeyError::Malformed { command: "EVAL", .. }), "{e:?}");
    assert!(matches!(err("EVAL s 5 a b"), KeyError::Malformed { command: "EVAL", .. }));
    assert!(matches!(err("EVAL s -1"), KeyError::Malformed { .. }));
    assert!(matches!(err("EVAL s 99999999999999999999999 a"), KeyError::Malformed { .. }));
    assert!(matches!(err("ZUNION 0 a"), KeyError::Malformed { command: "ZUNION", .. }));
}

#[test]
fn streams() {
    assert_eq!(ks("XREAD COUNT 2 STREAMS a b 0 0"), ["a", "b"]);
    assert!(!info("XREAD STREAMS a 0").blocking);
    assert!(info("xread block 0 streams a $").blocking);
    assert_eq!(ks("XREADGROUP GROUP streams c STREAMS s >"), ["s"]);
    let i = info("XREADGROUP GROUP g c BLOCK 10 NOACK STREAMS s1 s2 > >");
    assert!(i.blocking && !i.read_only && !i.idempotent);
    assert!(!info("XREADGROUP GROUP g c STREAMS s >").blocking);
    assert!(matches!(err("XREAD COUNT 1 a 0"), KeyError::Malformed { command: "XREAD", .. }));
    assert!(matches!(err("XREAD STREAMS a b 0"), KeyError::Malformed { command: "XREAD", .. }));
    assert!(matches!(err("XREAD STREAMS"), KeyError::Malformed { .. }));
}

#[test]
fn store_options() {
    assert_eq!(ks("GEORADIUS g 0 0 1 km WITHDIST"), ["g"]);
    assert!(info("GEORADIUS g 0 0 1 km").idempotent);
    assert_eq!(ks("GEORADIUS g 0 0 1 km STORE d"), ["g", "d"]);
    assert!(!info("GEORADIUS g 0 0 1 km STORE d").idempotent);
    assert_eq!(ks("georadiusbymember g m 1 km storedist d"), ["g", "d"]);
    assert_eq!(ks("GEORADIUS g 0 0 1 km STOREDIST e STORE d"), ["g", "e", "d"]);
    assert_eq!(ks("GEORADIUS g 0 0 1 km STORE"), ["g"]);
    assert_eq!(ks("SORT k"), ["k"]);
    assert_eq!(ks("SORT k BY w_* LIMIT 0 10 GET # STORE d"), ["k", "d"]);
    assert_eq!(ks("SORT k GET store STORE d"), ["k", "d"]);
    assert_eq!(ks("SORT_RO k BY w GET g"), ["k"]);
    assert_eq!(ks("MIGRATE h 6379 k 0 1000"), ["k"]);
    assert_eq!(ks("MIGRATE h 6379 '' 0 1000 COPY REPLACE KEYS a b"), ["a", "b"]);
    assert_eq!(ks("MIGRATE h 6379 '' 0 1000 AUTH keys KEYS a"), ["a"]);
    assert!(matches!(err("MIGRATE h 6379 k 0 1000 KEYS a b"), KeyError::Malformed { .. }));
    assert!(matches!(err("MIGRATE h 6379 '' 0 1000 KEYS"), KeyError::Malformed { .. }));
}

#[test]
fn idempotency_and_blocking() {
    assert!(info("SET k v").idempotent && info("SET k v EX 10").idempotent);
    assert!(!info("SET k v NX").idempotent && !info("set k v get").idempotent);
    assert!(info("SET k NX").idempotent, "a value of NX is not the option");
    for cmd in ["INCR k", "DEL k", "HSET h f v", "SADD s m", "LPUSH l v", "EXPIRE k 10"] {
        assert!(!info(cmd).idempotent, "{cmd}");
    }
    assert!(info("MSET a 1").idempotent && info("ZSCORE z m").idempotent);
    assert!(info("WAIT 1 0").blocking && info("BRPOPLPUSH a b 0").blocking);
    assert!(!info("LPOP l").blocking);
}

#[test]
fn keyless_and_errors() {
    for cmd in ["PING", "INFO", "DBSIZE", "SCRIPT LOAD x", "FUNCTION LIST", "SPUBLISH ch m", "MULTI"] {
        let (i, k) = keys(cmd).expect(cmd);
        assert!(i.keyless && k.is_empty(), "{cmd}");
    }
    assert_eq!(err(""), KeyError::Malformed { command: "", detail: "empty command".into() });
    assert!(matches!(err("OBJECT"), KeyError::Malformed { command: "OBJECT", .. }));
    assert_eq!(err("object nope k"), KeyError::Unknown("OBJECT NOPE".into()));
    assert!(is_container(b"client") && !is_container(b"GET") && !is_container(b"nope"));
    assert_eq!(err("MYMOD.CMD k"), KeyError::Unknown("MYMOD.CMD".into()));
    assert!(matches!(visit_keys(&[b"\xffx"], |_| ()), Err(KeyError::Unknown(_))));
}

#[test]
fn never_panics() {
    let words: [&[u8]; 9] = [b"", b"0", b"2", b"-1", b"STREAMS", b"STORE", b"KEYS", b"BLOCK", b"x"];
    for name in commands() {
        let head: Vec<&[u8]> = name.split(' ').map(str::as_bytes).collect();
        // Every combination of up to 3 tricky words, right after the name and after
        // 4 filler arguments (MIGRATE's options start at 6).
        for (pad, len) in [0, 4].into_iter().flat_map(|p| (0..=3).map(move |l| (p, l))) {
            for n in 0..9usize.pow(len) {
                let mut args = head.clone();
                args.extend(std::iter::repeat_n(&b"a"[..], pad));
                args.extend((0..len).map(|i| words[n / 9usize.pow(i) % 9]));
                let _ = visit_keys(&args, |_| ());
            }
        }
    }
}

#[test]
fn tables_sorted_unique_upper_case() {
    let mut tables = vec![("", table::COMMANDS), ("", newer::NEWER)];
    tables.extend(table::COMMANDS.iter().filter_map(|e| match e.keys {
        Keys::Sub(t) => Some((e.name, t)),
        _ => None,
    }));
    assert!(tables.len() > 10);
    for (container, t) in tables {
        for w in t.windows(2) {
            assert!(w[0].name < w[1].name, "{} !< {}", w[0].name, w[1].name);
        }
        for e in t {
            assert_eq!(e.name, e.name.to_ascii_uppercase());
            assert!(container.is_empty() || e.name.starts_with(&format!("{container} ")));
            assert!(container.is_empty() || !matches!(e.keys, Keys::Sub(_)), "nested container");
        }
    }
}

#[test]
fn commands_lists_every_command_and_subcommand_once() {
    let all: Vec<&str> = commands().collect();
    // Redis 7.0's 366, and the newer commands.
    assert_eq!(all.len(), 366 + newer::NEWER.len());
    let mut dedup = all.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), all.len());
    assert!(all.contains(&"GET") && all.contains(&"XINFO STREAM") && all.contains(&"XINFO"));
}

#[test]
fn newer_commands() {
    for cmd in ["HGETEX h PX 100 FIELDS 2 a b", "HSETEX h FNX EX 10 FIELDS 1 f v", "HGETDEL h FIELDS 1 f"] {
        assert_eq!(ks(cmd), ["h"], "{cmd}");
        let i = info(cmd);
        assert!(!i.read_only && !i.idempotent && !i.blocking && !i.keyless, "{cmd}");
    }
    assert_eq!(ks("XDELEX s IDS 1 0-1"), ["s"]);
    assert_eq!(ks("xackdel s g ACKED IDS 2 0-1 0-2"), ["s"]);
    // MSETEX: numkeys, then key-value pairs; idempotent like SET unless NX / XX.
    assert_eq!(ks("MSETEX 2 a 1 b 2 EX 10"), ["a", "b"]);
    assert_eq!(ks("MSETEX 1 nx xx"), ["nx"]);
    assert!(info("MSETEX 2 a 1 b 2 PX 5").idempotent);
    assert!(!info("MSETEX 2 a 1 b 2 NX").idempotent && !info("msetex 1 a 1 xx").idempotent);
    for bad in ["MSETEX 2 a 1 b", "MSETEX 0", "MSETEX x a 1", "MSETEX 1"] {
        assert!(matches!(err(bad), KeyError::Malformed { command: "MSETEX", .. }), "{bad}");
    }
    // Every newer command says which servers have it.
    for e in newer::NEWER {
        assert!(NEWER_COMMANDS.iter().any(|n| n.name == e.name), "{}", e.name);
    }
    assert_eq!(NEWER_COMMANDS.len(), newer::NEWER.len());
}
