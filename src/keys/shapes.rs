//! The shape walkers: for each [`Keys`](super::Keys) shape, which arguments are keys, and
//! what else the arguments reveal (a `BLOCK`, a `STORE`). Pure.

use super::is;

/// What the arguments revealed beyond the keys.
#[derive(Default)]
pub(super) struct Extra {
    /// A BLOCK option was present (XREAD, XREADGROUP).
    pub(super) blocks: bool,
    /// A STORE destination was present (SORT, GEORADIUS), so the command writes.
    pub(super) stores: bool,
}

/// Result of a shape walker: the extras, or what is wrong with the arguments.
type Found = Result<Extra, String>;

/// Visits the keys of a [`Keys::Range`](super::Keys::Range) shape.
pub(super) fn range<'a>(
    args: &[&'a [u8]],
    first: u8,
    last: i8,
    step: u8,
    v: &mut impl FnMut(&'a [u8]),
) -> Found {
    let (first, step) = (usize::from(first), usize::from(step.max(1)));
    let end = match u8::try_from(last) {
        Ok(last) => Some(usize::from(last)),
        Err(_) => args.len().checked_sub(usize::from(last.unsigned_abs())),
    };
    let Some(end) = end.filter(|&end| end >= first && end < args.len()) else {
        return Err(format!("missing key argument (keys start at argument {first})"));
    };
    if last < 0 && (end + 1 - first) % step != 0 {
        return Err(format!("arguments from {first} on must come in groups of {step}"));
    }
    args.get(first..=end).unwrap_or_default().iter().step_by(step).for_each(|k| v(k));
    Ok(Extra::default())
}

/// Parses a key count strictly (ASCII digits only, like the server's `string2ll` minus sign).
fn parse_count(raw: &[u8]) -> Option<usize> {
    if raw.is_empty() {
        return None;
    }
    raw.iter().try_fold(0usize, |n, &b| {
        let digit = usize::from(b.checked_sub(b'0').filter(|d| *d < 10)?);
        n.checked_mul(10)?.checked_add(digit)
    })
}

/// Visits the keys of a [`Keys::Numkeys`](super::Keys::Numkeys) shape; `shape` is its
/// `(step, dest, zero_ok)`.
pub(super) fn numkeys<'a>(
    args: &[&'a [u8]],
    at: u8,
    (step, dest, zero_ok): (u8, bool, bool),
    v: &mut impl FnMut(&'a [u8]),
) -> Found {
    let (at, step) = (usize::from(at), usize::from(step.max(1)));
    let Some(&raw) = args.get(at) else {
        return Err(format!("missing numkeys at argument {at}"));
    };
    let Some(n) = parse_count(raw) else {
        return Err(format!("numkeys {:?} is not a non-negative integer", String::from_utf8_lossy(raw)));
    };
    let available = args.len() - at - 1;
    if n == 0 && !zero_ok {
        return Err("numkeys must be at least 1".into());
    }
    let Some(needed) = n.checked_mul(step).filter(|&need| need <= available) else {
        return Err(match step {
            1 => format!("numkeys is {n} but only {available} arguments follow"),
            _ => format!("numkeys is {n} (key-value pairs) but only {available} arguments follow"),
        });
    };
    if dest {
        args.get(1).into_iter().for_each(|k| v(k));
    }
    args.get(at + 1..at + 1 + needed).unwrap_or_default().iter().step_by(step).for_each(|k| v(k));
    Ok(Extra::default())
}

/// Visits XREAD / XREADGROUP keys: scans the options (like the server's `xreadGetKeys`,
/// so a group, consumer or key called "streams" is not mistaken for the option) up to
/// STREAMS; the keys are the first half of what follows, the IDs the second half.
pub(super) fn streams<'a>(args: &[&'a [u8]], v: &mut impl FnMut(&'a [u8])) -> Found {
    let (mut i, mut blocks) = (1, false);
    let start = loop {
        let Some(&arg) = args.get(i) else { break None };
        if is(arg, "BLOCK") {
            blocks = true;
            i += 2;
        } else if is(arg, "COUNT") {
            i += 2;
        } else if is(arg, "GROUP") {
            i += 3;
        } else if is(arg, "NOACK") {
            i += 1;
        } else if is(arg, "STREAMS") {
            break Some(i + 1);
        } else {
            break None;
        }
    };
    let Some(start) = start else {
        return Err("missing STREAMS option".into());
    };
    let rest = args.get(start..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 2 != 0 {
        return Err("STREAMS needs one ID per key".into());
    }
    rest.iter().take(rest.len() / 2).for_each(|k| v(k));
    Ok(Extra { blocks, stores: false })
}

/// Visits the key at 1 first, which every SORT / GEORADIUS shape requires.
fn first_key<'a>(args: &[&'a [u8]], v: &mut impl FnMut(&'a [u8])) -> Result<(), String> {
    let key = args.get(1).ok_or("missing key at argument 1")?;
    v(key);
    Ok(())
}

/// Visits GEORADIUS[BYMEMBER] keys the way the server's key specs find them: the first
/// `STORE key` and the first `STOREDIST key` from argument `from` on, each if present,
/// visited in argument order. (Executing both, the server keeps only the later one, but
/// `COMMAND GETKEYS` reports both, and routing must cover every key the server checks.)
pub(super) fn geo_keys<'a>(args: &[&'a [u8]], from: usize, v: &mut impl FnMut(&'a [u8])) -> Found {
    first_key(args, v)?;
    let opts = args.get(from..).unwrap_or_default();
    let dest = |word| opts.iter().position(|a| is(a, word)).filter(|i| i + 1 < opts.len());
    let (store, dist) = (dest("STORE"), dest("STOREDIST"));
    let mut found = [store, dist];
    found.sort_unstable();
    found.iter().flatten().filter_map(|i| opts.get(i + 1)).for_each(|k| v(k));
    Ok(Extra { blocks: false, stores: store.is_some() || dist.is_some() })
}

/// Visits SORT keys, mirroring the server's `sortGetKeys`: BY and GET take one argument,
/// LIMIT two, the last `STORE key` wins. BY/GET patterns are not keys (the server cannot
/// shard them either).
pub(super) fn sort<'a>(args: &[&'a [u8]], v: &mut impl FnMut(&'a [u8])) -> Found {
    first_key(args, v)?;
    let (mut i, mut dest) = (2, None);
    while let Some(&arg) = args.get(i) {
        if is(arg, "LIMIT") {
            i += 2;
        } else if is(arg, "GET") || is(arg, "BY") {
            i += 1;
        } else if is(arg, "STORE") && i + 1 < args.len() {
            dest = args.get(i + 1);
        }
        i += 1;
    }
    dest.into_iter().for_each(|k| v(k));
    Ok(Extra { blocks: false, stores: dest.is_some() })
}

/// Visits MIGRATE keys like the server's `migrateGetKeys`: `MIGRATE host port key db
/// timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS k...]`. With the KEYS option
/// the key argument must be empty and the keys follow KEYS; the AUTH arguments are
/// skipped so a password spelled "keys" is not taken for the option.
pub(super) fn migrate<'a>(args: &[&'a [u8]], v: &mut impl FnMut(&'a [u8])) -> Found {
    let key = args.get(3).ok_or("missing key at argument 3")?;
    let mut i = 6;
    while let Some(&arg) = args.get(i) {
        if is(arg, "KEYS") {
            if !key.is_empty() {
                return Err("KEYS given but the key argument is not empty".into());
            }
            let keys = args.get(i + 1..).unwrap_or_default();
            if keys.is_empty() {
                return Err("no keys after KEYS".into());
            }
            keys.iter().for_each(|k| v(k));
            return Ok(Extra::default());
        }
        i += if is(arg, "AUTH") {
            2
        } else if is(arg, "AUTH2") {
            3
        } else {
            1
        };
    }
    v(key);
    Ok(Extra::default())
}
