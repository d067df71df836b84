//! `--route`: the cost of routing without I/O. Hash tag + crc32 + rendezvous per
//! 16-byte key at N shards (`Rendezvous::shard_index`), and key extraction from a
//! `redis::Cmd` (`keys::visit_keys` over its arguments, as the client does).

use std::hint::black_box;
use std::time::Instant;

use disredis::hashing::{Rendezvous, key_crc, score};
use disredis::keys::visit_keys;
use redis::{Arg, Cmd};

use crate::load::{BATCH, Rng};

const KEYS: usize = 1 << 20;
const REPEATS: usize = 7;

/// The best and median ns per item over `REPEATS` runs of `f` (each `items` items).
fn time(items: usize, mut f: impl FnMut()) -> (f64, f64) {
    f(); // warm up
    let mut runs: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / items as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    (runs[0], runs[REPEATS / 2])
}

/// The arguments as the client collects them (`fanout::cmd_args`).
fn args_of(cmd: &Cmd) -> Vec<&[u8]> {
    cmd.args_iter()
        .map(|a| match a {
            Arg::Simple(b) => b,
            _ => &b"0"[..],
        })
        .collect()
}

pub fn run() -> Vec<(String, f64, f64)> {
    let mut rng = Rng::new(42);
    // Random keys (most untagged, every 8th with a `{tag}`), 16 bytes each.
    let keys: Vec<[u8; 16]> = (0..KEYS)
        .map(|i| {
            let mut k = rng.key();
            if i % 8 == 0 {
                k[3] = b'{';
                k[9] = b'}';
            }
            k
        })
        .collect();
    let mut results = Vec::new();
    for n in [2usize, 4, 16, 64] {
        let ring = Rendezvous::new((0..n).map(|i| format!("shard-{i:02}"))).expect("names");
        let (best, med) = time(KEYS, || {
            let mut acc = 0usize;
            for k in &keys {
                acc = acc.wrapping_add(ring.shard_index(black_box(&k[..])));
            }
            black_box(acc);
        });
        results.push((format!("Rendezvous::shard_index, 16-byte key, N = {n}"), best, med));
        // The same function spelled as documented (`key_crc`, then `score` per
        // name, the first maximum wins): what `shard_index` computed before it
        // precomputed the names' share, measured side by side.
        // (The names have no `{`: their key_crc is their crc32.)
        let name_crcs: Vec<u32> = ring.names().iter().map(|n| key_crc(n.as_bytes())).collect();
        let (best, med) = time(KEYS, || {
            let mut acc = 0usize;
            for k in &keys {
                let kc = key_crc(black_box(&k[..]));
                let mut top = (0, score(kc, name_crcs[0]));
                for (i, &m) in name_crcs.iter().enumerate().skip(1) {
                    let s = score(kc, m);
                    if s > top.1 {
                        top = (i, s);
                    }
                }
                acc = acc.wrapping_add(top.0);
            }
            black_box(acc);
        });
        results.push((format!("  the documented score per name, N = {n}"), best, med));
    }

    let get = {
        let mut c = redis::cmd("GET");
        c.arg(&keys[0][..]);
        c
    };
    let mut mget = redis::cmd("MGET");
    for k in &keys[..BATCH] {
        mget.arg(&k[..]);
    }
    let ring2 = Rendezvous::new(["shard-a", "shard-b"]).expect("names");
    const CMDS: usize = 200_000;
    for (label, cmd, reps) in [("GET", &get, CMDS), ("MGET 100 keys", &mget, CMDS / 50)] {
        let args = args_of(cmd);
        let (best, med) = time(reps, || {
            for _ in 0..reps {
                let info = visit_keys(black_box(&args), |k| {
                    black_box(k);
                });
                black_box(info.is_ok());
            }
        });
        results.push((format!("visit_keys, {label} (args already collected)"), best, med));
        let (best, med) = time(reps, || {
            for _ in 0..reps {
                let args = args_of(black_box(cmd));
                let info = visit_keys(&args, |k| {
                    black_box(k);
                });
                black_box(info.is_ok());
            }
        });
        results.push((format!("collect args + visit_keys, {label}"), best, med));
        let (best, med) = time(reps, || {
            for _ in 0..reps {
                let args = args_of(black_box(cmd));
                let mut acc = 0usize;
                let info = visit_keys(&args, |k| acc += ring2.shard_index(k));
                black_box((info.is_ok(), acc));
            }
        });
        results.push((format!("collect args + visit_keys + shard_index (N = 2), {label}"), best, med));
    }
    results
}

pub fn print(results: &[(String, f64, f64)]) {
    println!("{:<66} {:>10} {:>10}", "routing (no I/O)", "best ns", "median ns");
    for (label, best, med) in results {
        let unit = if label.contains("N = ") && !label.contains("GET") { "/key" } else { "/cmd" };
        println!("{:<66} {:>10.1} {:>10.1}  {unit}", label, best, med);
    }
}
