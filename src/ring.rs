//! The ring: which master names the keyspace is spread over, as data that every
//! client reads from the masters instead of whatever `SENTINEL MASTERS` says
//! now. Pure: the record's format, parsing, and which copy wins.
//!
//! The record is kept on every member master as a Redis function library
//! named [`RING_LIBRARY`] whose one function, `disredis_ring`, returns the
//! record's text (read with `FCALL_RO disredis_ring 0`):
//!
//! ```text
//! disredis-ring/1
//! version: 4
//! phase: stable
//! members: shard-a,shard-b,shard-c
//! ```
//!
//! During a change (`disredis reshard`) the phase is `prepare` or `migrating`
//! and a `target:` line names the member set being moved to. Members are
//! sorted and distinct. A record that does not parse is
//! [`Error::BadRing`](crate::Error::BadRing), never guessed at.
//!
//! A function library rather than a key: a key would show in `KEYS`, `SCAN`,
//! `DBSIZE` and `RANDOMKEY` and vanish with `FLUSHDB`/`FLUSHALL`, changing what
//! those commands mean for the application; a library is none of that, and is
//! replicated and persisted like data. `FUNCTION LOAD` without `REPLACE` fails
//! when the library exists, which makes creating version 1 a set-if-absent.
//!
//! Which copy wins: the highest version; among copies of the same version
//! (only first clients racing to create version 1 can make those), the one
//! whose text sorts first. Every client applies the same rule to the copies it
//! reads, so two clients that see the same copies agree.

use std::fmt;

use crate::hashing::Rendezvous;

/// The function library that holds the ring record on every member master;
/// its function of the same name returns the record.
pub const RING_LIBRARY: &str = "disredis_ring";

/// The pub/sub channel on every member master on which a ring change is
/// announced (the message is the new version); clients also poll, since
/// delivery is not guaranteed.
pub const RING_CHANNEL: &str = "__disredis__:ring";

/// The first line of a record: the format and its version.
const FORMAT: &str = "disredis-ring/1";

/// Where a ring change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// No change in progress: keys live at their owner under `members`.
    Stable,
    /// A change is announced: keys still live under `members`, but writes to a
    /// key that will move are checked against its tombstone.
    Prepare,
    /// Keys that move are being moved to their owner under `target`.
    Migrating,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Stable => "stable",
            Phase::Prepare => "prepare",
            Phase::Migrating => "migrating",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One version of the ring record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ring {
    /// Grows by one with every change of phase or members.
    pub version: u64,
    /// Where a change stands.
    pub phase: Phase,
    /// The master names keys are placed over (sorted, distinct, never empty).
    pub members: Vec<String>,
    /// During a change, the member set being moved to (sorted, distinct); empty
    /// when stable.
    pub target: Vec<String>,
}

/// Sorted, distinct names, or why they can't be ring members.
pub(crate) fn member_list<I, S>(names: I) -> Result<Vec<String>, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    // The placement sorts and deduplicates names the same way.
    let names = Rendezvous::new(names).ok_or("no members")?.names().to_vec();
    if let Some(bad) =
        names.iter().find(|n| n.is_empty() || n.contains(',') || n.chars().any(char::is_whitespace))
    {
        return Err(format!("master name {bad:?} can't be a ring member (empty, a comma or whitespace)"));
    }
    Ok(names)
}

impl Ring {
    /// Version 1: stable over `members` (what the first client found).
    pub(crate) fn first<I, S>(members: I) -> Result<Ring, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Ok(Ring { version: 1, phase: Phase::Stable, members: member_list(members)?, target: Vec::new() })
    }

    /// The record's text, as the library's function returns it.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{FORMAT}\nversion: {}\nphase: {}\nmembers: {}\n",
            self.version,
            self.phase,
            self.members.join(",")
        );
        if !self.target.is_empty() {
            out.push_str(&format!("target: {}\n", self.target.join(",")));
        }
        out
    }

    /// Parses a stored record; the error says what is wrong.
    pub fn parse(text: &[u8]) -> Result<Ring, String> {
        let text = std::str::from_utf8(text).map_err(|_| "not UTF-8".to_owned())?;
        let mut lines = text.lines();
        match lines.next() {
            Some(FORMAT) => {}
            Some(other) => return Err(format!("unknown format {:?} (expected {FORMAT:?})", shorten(other))),
            None => return Err("empty record".into()),
        }
        let (mut version, mut phase, mut members, mut target) = (None, None, None, None);
        for line in lines.filter(|l| !l.is_empty()) {
            let (field, value) = line
                .split_once(": ")
                .ok_or_else(|| format!("line {:?} is not `field: value`", shorten(line)))?;
            match field {
                "version" if version.is_none() => {
                    let v: u64 =
                        value.parse().map_err(|_| format!("version {:?} is not a number", shorten(value)))?;
                    if v == 0 {
                        return Err("version 0".into());
                    }
                    version = Some(v);
                }
                "phase" if phase.is_none() => {
                    let all = [Phase::Stable, Phase::Prepare, Phase::Migrating];
                    let known = all.into_iter().find(|p| p.as_str() == value);
                    phase = Some(known.ok_or_else(|| format!("unknown phase {:?}", shorten(value)))?);
                }
                "members" if members.is_none() => members = Some(member_list(value.split(','))?),
                "target" if target.is_none() => target = Some(member_list(value.split(','))?),
                "version" | "phase" | "members" | "target" => {
                    return Err(format!("field {field:?} given twice"));
                }
                other => return Err(format!("unknown field {:?}", shorten(other))),
            }
        }
        let ring = Ring {
            version: version.ok_or("no version")?,
            phase: phase.ok_or("no phase")?,
            members: members.ok_or("no members")?,
            target: target.unwrap_or_default(),
        };
        match (ring.phase, ring.target.is_empty()) {
            (Phase::Stable, false) => Err("a stable ring with a target".into()),
            (Phase::Prepare | Phase::Migrating, true) => {
                Err(format!("phase {} without a target", ring.phase))
            }
            (Phase::Prepare | Phase::Migrating, false) if ring.target == ring.members => {
                Err("the target equals the members".into())
            }
            _ => Ok(ring),
        }
    }

    /// The winning copy among `copies` (see the module docs); `None` when empty.
    pub fn newest<'a>(copies: impl IntoIterator<Item = &'a Ring>) -> Option<&'a Ring> {
        copies.into_iter().max_by_key(|r| (r.version, std::cmp::Reverse(r.render())))
    }

    /// Every name the ring routes to now or during its change: members, then
    /// target names that are not members, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut all: Vec<String> = self.members.iter().chain(&self.target).cloned().collect();
        all.sort();
        all.dedup();
        all
    }
}

/// The version a connection opened at connect is named after until the
/// client has read the ring: below every real version (a record's is at
/// least 1), so the reshard fence counts it as following an older ring from
/// its first moment until it is named after the ring read.
pub(crate) const UNREAD: u64 = 0;

/// What a client following `version` names every connection to a master
/// (`CLIENT SETNAME`), so `CLIENT LIST` shows which version each one follows.
pub(crate) fn client_name(version: u64) -> String {
    format!("disredis:ring={version}")
}

/// The source of the [`RING_LIBRARY`] function library holding `ring`: the
/// record as a Lua string in which every byte but letters, digits and
/// ` :,./_-` is a decimal escape, so no master name can break out of it.
pub(crate) fn library_code(ring: &Ring) -> String {
    let mut literal = String::new();
    for b in ring.render().bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b' ' | b':' | b',' | b'.' | b'/' | b'_' | b'-' => {
                literal.push(char::from(b))
            }
            _ => literal.push_str(&format!("\\{b:03}")),
        }
    }
    format!(
        "#!lua name={RING_LIBRARY}\n\
         -- disredis ring record (read it with FCALL_RO {RING_LIBRARY} 0; change it with `disredis reshard`)\n\
         local record = \"{literal}\"\n\
         redis.register_function{{function_name='{RING_LIBRARY}', callback=function() return record end, flags={{'no-writes'}}}}\n"
    )
}

/// At most 60 characters of `s`, for error messages about hostile records.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(version: u64, phase: Phase, members: &[&str], target: &[&str]) -> Ring {
        Ring {
            version,
            phase,
            members: members.iter().map(|s| s.to_string()).collect(),
            target: target.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn records_round_trip() {
        for r in [
            Ring::first(["shard-b", "shard-a", "shard-a"]).unwrap(),
            ring(7, Phase::Prepare, &["a", "b"], &["a", "b", "c"]),
            ring(8, Phase::Migrating, &["a", "b", "c"], &["a", "c"]),
        ] {
            let text = r.render();
            assert_eq!(Ring::parse(text.as_bytes()).unwrap(), r, "{text}");
        }
        assert_eq!(
            Ring::first(["shard-b", "shard-a"]).unwrap().render(),
            "disredis-ring/1\nversion: 1\nphase: stable\nmembers: shard-a,shard-b\n"
        );
    }

    #[test]
    fn bad_records_say_why() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"\xff\xfe", "UTF-8"),
            (b"hello", "unknown format"),
            (b"disredis-ring/1\nversion: x\nphase: stable\nmembers: a\n", "not a number"),
            (b"disredis-ring/1\nversion: 0\nphase: stable\nmembers: a\n", "version 0"),
            (b"disredis-ring/1\nversion: 1\nmembers: a\n", "no phase"),
            (b"disredis-ring/1\nversion: 1\nphase: stable\n", "no members"),
            (b"disredis-ring/1\nversion: 1\nphase: stable\nmembers: \n", "can't be a ring member"),
            (b"disredis-ring/1\nversion: 1\nphase: stable\nmembers:a\n", "is not `field: value`"),
            (b"disredis-ring/1\nversion: 1\nphase: stable\nmembers: a,,b\n", "can't be a ring member"),
            (b"disredis-ring/1\nversion: 1\nphase: odd\nmembers: a\n", "unknown phase"),
            (b"disredis-ring/1\nversion: 1\nversion: 2\nphase: stable\nmembers: a\n", "twice"),
            (b"disredis-ring/1\nversion: 1\nphase: stable\nmembers: a\ncolour: red\n", "unknown field"),
            (
                b"disredis-ring/1\nversion: 1\nphase: stable\nmembers: a\ntarget: a,b\n",
                "stable ring with a target",
            ),
            (b"disredis-ring/1\nversion: 1\nphase: prepare\nmembers: a\n", "without a target"),
            (b"disredis-ring/1\nversion: 1\nphase: prepare\nmembers: a\ntarget: a\n", "equals the members"),
        ];
        for (text, why) in cases {
            let e = Ring::parse(text).unwrap_err();
            assert!(e.contains(why), "{:?}: {e}", String::from_utf8_lossy(text));
        }
        let long = format!("{}\n", "x".repeat(10_000));
        assert!(Ring::parse(long.as_bytes()).unwrap_err().len() < 200);
    }

    #[test]
    fn newest_is_the_highest_version_then_the_first_text() {
        let a = ring(1, Phase::Stable, &["a", "b"], &[]);
        let b = ring(1, Phase::Stable, &["a", "b", "c"], &[]);
        let c = ring(2, Phase::Prepare, &["a", "b"], &["a", "b", "c"]);
        assert_eq!(Ring::newest([&a, &b]), Some(&a));
        assert_eq!(Ring::newest([&b, &a]), Some(&a), "order of the copies does not matter");
        assert_eq!(Ring::newest([&a, &c, &b]), Some(&c));
        assert_eq!(Ring::newest([]), None);
    }

    #[test]
    fn library_code_escapes_the_record() {
        let r = ring(3, Phase::Prepare, &["a", "shard-b"], &["a", "shard-b", "c\"]"]);
        let code = library_code(&r);
        assert!(code.starts_with("#!lua name=disredis_ring\n"), "{code}");
        let literal = code.lines().find(|l| l.starts_with("local record = ")).unwrap();
        assert!(!literal[16..literal.len() - 1].contains('"'), "{literal}");
        assert!(literal.contains("disredis-ring/1\\010version: 3\\010"), "{literal}");
        assert!(literal.contains("c\\034\\093"), "quote and bracket escaped: {literal}");
        assert_eq!(code.lines().count(), 4);
    }

    #[test]
    fn names_cover_members_and_target() {
        assert_eq!(ring(3, Phase::Migrating, &["a", "c"], &["a", "b"]).names(), ["a", "b", "c"]);
        assert!(member_list(["a b"]).is_err());
        assert!(member_list(Vec::<String>::new()).is_err());
    }
}
