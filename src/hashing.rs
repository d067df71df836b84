//! Which shard owns a key. Pure: no I/O.
//!
//! The function is part of the data contract: two clients (or two versions of this
//! crate) that disagree would write one key to two masters. It is therefore spelled
//! out here and pinned by golden vectors in the tests below:
//!
//! 1. Take the key's **hash tag** with the Redis Cluster rule ([`hash_tag`]), so
//!    `{user:42}:profile` and `{user:42}:cart` always share a shard.
//! 2. `k = crc32(tag)` (CRC-32/IEEE, the `crc32fast` crate) and, per master name,
//!    `m = crc32(name)`.
//! 3. **Rendezvous hashing**: `score = splitmix64_finalizer((k << 32) | m)`; the
//!    highest score wins, a tie goes to the lexicographically smaller name.
//!
//! ShardTable are master *names*, never addresses, so a failover moves no key; adding
//! a master moves only the keys it wins, about 1/(N+1) of them. The order in which
//! Sentinel lists masters does not matter (it differs between Sentinels).

/// The part of `key` that is hashed: the bytes between the first `{` and the first
/// `}` after it, when that is non-empty; otherwise the whole key. This is exactly
/// the Redis Cluster rule (`foo{}{bar}` hashes all of itself, `foo{{bar}}` hashes
/// `{bar`, `foo{bar}{zap}` hashes `bar`).
pub fn hash_tag(key: &[u8]) -> &[u8] {
    // Most keys have no `{`: `contains` is a word-at-a-time `memchr` in core,
    // several times faster than the byte loop below on a 16-byte key.
    if !key.contains(&b'{') {
        return key;
    }
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let rest = &key[open + 1..];
        if let Some(close) = rest.iter().position(|&b| b == b'}')
            && close > 0
        {
            return &rest[..close];
        }
    }
    key
}

/// splitmix64's output finalizer: a cheap, well-mixed 64-bit bijection.
fn mix(z: u64) -> u64 {
    mix_rest(z ^ (z >> 30))
}

/// The rendezvous score of a key (by the crc32 of its hash tag) on a master (by
/// the crc32 of its name). Public so other implementations can be checked
/// against this one.
pub fn score(key_crc: u32, name_crc: u32) -> u64 {
    mix((u64::from(key_crc) << 32) | u64::from(name_crc))
}

/// CRC-32/IEEE of a key's hash tag.
pub fn key_crc(key: &[u8]) -> u32 {
    crc32fast::hash(hash_tag(key))
}

/// Rendezvous (highest random weight) placement over a set of master names:
/// for each key, the name with the highest [`score`] owns it.
///
/// [`shard_index`](Rendezvous::shard_index) computes exactly [`score`] (the
/// property tests compare the two on random names and keys), but with the
/// part of the finalizer's first step that depends only on the name done once
/// here: `mix`'s first step is `z ^ (z >> 30)`, and with `z = (k << 32) | m`
/// the two halves never overlap, so it equals `((k << 32) ^ (k << 2)) ^
/// (m ^ (m >> 30))` — a key part and a name part. That leaves two multiplies,
/// two shifts and three xors per name (the gain is measured in
/// docs/performance.md, "What changed since the morning run").
#[derive(Debug, Clone)]
pub struct Rendezvous {
    /// Sorted, distinct names: index order is name order, which makes the
    /// tie rule "first maximum wins".
    names: Vec<String>,
    /// Per name, `m ^ (m >> 30)` with `m = crc32(name)`.
    name_parts: Vec<u64>,
    /// A CRC-32 hasher made once: `crc32fast::hash` detects the CPU's
    /// features on every call, a cloned hasher does not.
    crc: crc32fast::Hasher,
}

/// The name's share of `mix`'s first step (see [`Rendezvous`]).
fn name_part(name_crc: u32) -> u64 {
    let m = u64::from(name_crc);
    m ^ (m >> 30)
}

/// The key's share of `mix`'s first step (see [`Rendezvous`]).
fn key_part(key_crc: u32) -> u64 {
    let k = u64::from(key_crc);
    (k << 32) ^ (k << 2)
}

/// `mix` after its first step.
fn mix_rest(mut z: u64) -> u64 {
    z = z.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z ^= z >> 27;
    z = z.wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rendezvous {
    /// A placement over these master names (order and duplicates don't matter).
    /// Returns `None` for an empty set: with no shard no key has an owner.
    pub fn new<I, S>(names: I) -> Option<Rendezvous>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut names: Vec<String> = names.into_iter().map(Into::into).collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            return None;
        }
        let name_parts = names.iter().map(|n| name_part(crc32fast::hash(n.as_bytes()))).collect();
        Some(Rendezvous { names, name_parts, crc: crc32fast::Hasher::new() })
    }

    /// The master names, sorted. A shard's index is its position here.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Index (into [`names`](Rendezvous::names)) of the shard that owns `key`.
    pub fn shard_index(&self, key: &[u8]) -> usize {
        // One shard owns everything: no need to hash (measured: 2% of a
        // single-shard GET/SET run went to crc32 here).
        if self.name_parts.len() == 1 {
            return 0;
        }
        let mut crc = self.crc.clone();
        crc.update(hash_tag(key));
        let k = key_part(crc.finalize());
        // A later shard replaces the best only with a strictly higher score,
        // so a tie keeps the smaller name.
        let mut best = 0;
        let mut best_score = mix_rest(k ^ self.name_parts[0]);
        for (i, &m) in self.name_parts.iter().enumerate().skip(1) {
            let s = mix_rest(k ^ m);
            if s > best_score {
                best = i;
                best_score = s;
            }
        }
        best
    }

    /// Name of the master that owns `key`.
    pub fn shard_for(&self, key: &[u8]) -> &str {
        &self.names[self.shard_index(key)]
    }
}

#[cfg(test)]
mod prop;
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tag_follows_the_redis_cluster_rule() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"foo", b"foo"),
            (b"", b""),
            (b"{user1000}.following", b"user1000"),
            (b"{user1000}.followers", b"user1000"),
            (b"foo{}{bar}", b"foo{}{bar}"),
            (b"foo{{bar}}zap", b"{bar"),
            (b"foo{bar}{zap}", b"bar"),
            (b"{}", b"{}"),
            (b"{", b"{"),
            (b"}{", b"}{"),
            (b"a{b", b"a{b"),
            (b"{a}", b"a"),
            (b"\xff{\x00\xfe}\x01", b"\x00\xfe"),
        ];
        for (key, tag) in cases {
            assert_eq!(hash_tag(key), *tag, "key {:?}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn crc32_is_ieee() {
        // The standard check value of CRC-32/IEEE.
        assert_eq!(key_crc(b"123456789"), 0xCBF4_3926);
    }

    /// Golden vectors: if this test fails, the key→shard function changed and
    /// every deployed keyspace would be remapped. Do not update the expectations
    /// unless that is the intent (and it is a breaking release).
    #[test]
    fn golden_vectors_pin_the_function() {
        // splitmix64's first output for seed 0 is a published constant.
        assert_eq!(mix(0x9e37_79b9_7f4a_7c15), 0xe220_a839_7b1d_cdaf);
        assert_eq!(mix(1), 0x5692_161d_100b_05e5);
        assert_eq!(score(0xCBF4_3926, 0), 0x8ded_c633_c593_7cc1);
        // Expectations computed by an independent implementation of the
        // documented function (Python: zlib.crc32 + splitmix64 finalizer).
        let two = Rendezvous::new(["shard-a", "shard-b"]).unwrap();
        let four = Rendezvous::new(["shard-a", "shard-b", "shard-c", "shard-d"]).unwrap();
        let golden: &[(&str, &str, &str)] = &[
            ("user:42", "shard-b", "shard-c"),
            ("foo", "shard-a", "shard-c"),
            ("bar", "shard-b", "shard-d"),
            ("{user:42}:cart", "shard-b", "shard-c"),
            ("", "shard-b", "shard-c"),
            ("session:abc", "shard-a", "shard-c"),
            ("k1", "shard-a", "shard-a"),
            ("k2", "shard-a", "shard-a"),
            ("a{b}c", "shard-b", "shard-c"),
            ("{b}", "shard-b", "shard-c"),
        ];
        for (key, on_two, on_four) in golden {
            assert_eq!(two.shard_for(key.as_bytes()), *on_two, "{key} on 2");
            assert_eq!(four.shard_for(key.as_bytes()), *on_four, "{key} on 4");
        }
    }

    #[test]
    fn the_split_first_step_is_mix() {
        let crcs = [0, 1, 0x3fff_ffff, 0x4000_0000, 0xc000_0001, 0xffff_ffff, 0xCBF4_3926];
        for &k in &crcs {
            for &m in &crcs {
                assert_eq!(mix_rest(key_part(k) ^ name_part(m)), score(k, m), "k {k:#x} m {m:#x}");
            }
        }
    }

    #[test]
    fn order_and_duplicates_of_names_do_not_matter() {
        let a = Rendezvous::new(["shard-b", "shard-a", "shard-c"]).unwrap();
        let b = Rendezvous::new(["shard-c", "shard-a", "shard-b", "shard-a"]).unwrap();
        assert_eq!(a.names(), b.names());
        for i in 0..1000 {
            let key = format!("key:{i}");
            assert_eq!(a.shard_for(key.as_bytes()), b.shard_for(key.as_bytes()));
        }
        assert!(Rendezvous::new(Vec::<String>::new()).is_none());
    }

    #[test]
    fn hash_tagged_keys_share_a_shard() {
        let ring = Rendezvous::new((0..16).map(|i| format!("m{i}"))).unwrap();
        let owner = ring.shard_for(b"{cart:7}");
        for suffix in ["a", "b", "items", "total", ""] {
            let key = format!("x{{cart:7}}{suffix}");
            assert_eq!(ring.shard_for(key.as_bytes()), owner);
        }
    }

    #[test]
    fn balanced_and_adding_a_shard_moves_only_its_share() {
        const KEYS: usize = 100_000;
        let names: Vec<String> = (0..16).map(|i| format!("shard-{i:02}")).collect();
        let ring = Rendezvous::new(names.clone()).unwrap();
        let mut counts = [0usize; 16];
        for i in 0..KEYS {
            counts[ring.shard_index(format!("k{i}").as_bytes())] += 1;
        }
        let mean = KEYS as f64 / 16.0;
        let max = *counts.iter().max().unwrap() as f64;
        assert!(max / mean < 1.05, "max/mean {} counts {counts:?}", max / mean);

        let mut grown = names.clone();
        grown.push("shard-16".into());
        let grown = Rendezvous::new(grown).unwrap();
        let mut moved = 0;
        for i in 0..KEYS {
            let key = format!("k{i}");
            let (before, after) = (ring.shard_for(key.as_bytes()), grown.shard_for(key.as_bytes()));
            if before != after {
                assert_eq!(after, "shard-16", "a key moved between two old shards");
                moved += 1;
            }
        }
        let share = moved as f64 / KEYS as f64;
        assert!((share - 1.0 / 17.0).abs() < 0.01, "moved {share}");
    }
}
