//! Where a key's requests go under one ring version: a *route* per key. Pure.
//!
//! Under a stable ring a route is simply the owner's shard index (the
//! [`Rendezvous`] placement over the members, nothing added to the hot path).
//! During a change (`prepare` or `migrating`, see [`crate::ring`]) a key has an
//! old owner O(k) (rendezvous over the members) and a new one N(k) (over the
//! target), and its route is the pair: `O * S + N` for `S` shards. A route
//! whose two halves are equal is a key that does not move — rendezvous
//! guarantees that is every key but about 1/(N+1) of them when a master is
//! added — and is sent to its shard as under a stable ring. The planner
//! ([`crate::plan`]) splits and groups by route, so a split `MGET` or a
//! pipeline keeps moving and non-moving keys apart, and a multi-key command
//! whose keys share an old owner but not a new one is refused like any
//! cross-shard command (it would be after the change).

use crate::hashing::Rendezvous;

/// Where a key's requests go under one table: under a stable ring its shard,
/// during a change an (old owner, new owner) pair. Not a shard index: only the
/// table that made it can say which shard(s) it means (`ShardTable::ends`), so the
/// two can't be confused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Route(usize);

impl Route {
    /// The route's position among its table's routes (for per-route tallies
    /// and labels).
    pub(crate) fn index(self) -> usize {
        self.0
    }

    /// The route at `index` of a table's routes (the planner's tests and
    /// tallies; a route's meaning is its table's).
    pub(crate) fn at(index: usize) -> Route {
        Route(index)
    }
}

/// What the planner needs of a placement: a route per key, a label per route
/// (for errors), and the routes of a keyless fan-out (one per shard).
pub(crate) trait Routes {
    /// The route of `key`.
    fn route(&self, key: &[u8]) -> Route;
    /// A name per route: a shard's name, or `old → new` for a moving route.
    fn labels(&self) -> &[String];
    /// The routes a keyless command (`DBSIZE`, `KEYS`, `FLUSHDB`, …) goes to:
    /// every shard once.
    fn fan_out(&self) -> Vec<Route>;
}

impl Routes for Rendezvous {
    fn route(&self, key: &[u8]) -> Route {
        Route(self.shard_index(key))
    }
    fn labels(&self) -> &[String] {
        self.names()
    }
    fn fan_out(&self) -> Vec<Route> {
        (0..self.names().len()).map(Route).collect()
    }
}

/// The routes of a ring during a change: old owner and new owner per key, as
/// indices into the table's shards (every name of members ∪ target, sorted).
pub(crate) struct Moves {
    old: Rendezvous,
    new: Rendezvous,
    /// Shard index of each of `old`'s names.
    old_shard: Vec<usize>,
    /// Shard index of each of `new`'s names.
    new_shard: Vec<usize>,
    /// How many shards the table has.
    count: usize,
    labels: Vec<String>,
}

impl Moves {
    /// The routes from `members` to `target` over a table of `shards` (sorted
    /// names holding both); `None` when a set is empty or a name is missing.
    pub(crate) fn new(shards: &[String], members: &[String], target: &[String]) -> Option<Moves> {
        let index = |names: &[String]| -> Option<Vec<usize>> {
            names.iter().map(|n| shards.iter().position(|s| s == n)).collect()
        };
        let old = Rendezvous::new(members.iter().cloned())?;
        let new = Rendezvous::new(target.iter().cloned())?;
        let (old_shard, new_shard) = (index(old.names())?, index(new.names())?);
        let count = shards.len();
        let labels = (0..count * count)
            .map(|r| {
                let (o, n) = (r / count, r % count);
                match o == n {
                    true => shards[o].clone(),
                    false => format!("{} → {}", shards[o], shards[n]),
                }
            })
            .collect();
        Some(Moves { old, new, old_shard, new_shard, count, labels })
    }

    /// The old and the new owner (shard indices) of a route.
    pub(crate) fn ends(&self, route: Route) -> (usize, usize) {
        (route.0 / self.count, route.0 % self.count)
    }

    /// The route of a shard's own keys that do not move.
    pub(crate) fn direct(&self, shard: usize) -> Route {
        Route(shard * self.count + shard)
    }

    /// The old owner of `key` (shard index).
    pub(crate) fn old_owner(&self, key: &[u8]) -> usize {
        self.old_shard[self.old.shard_index(key)]
    }

    /// The new owner of `key` (shard index).
    pub(crate) fn new_owner(&self, key: &[u8]) -> usize {
        self.new_shard[self.new.shard_index(key)]
    }
}

impl Routes for Moves {
    fn route(&self, key: &[u8]) -> Route {
        Route(self.old_owner(key) * self.count + self.new_owner(key))
    }
    fn labels(&self) -> &[String] {
        &self.labels
    }
    fn fan_out(&self) -> Vec<Route> {
        (0..self.count).map(|s| self.direct(s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &[&str]) -> Vec<String> {
        s.iter().map(|n| n.to_string()).collect()
    }

    /// Adding `c`: a key moves only to `c`, exactly when the placements
    /// computed on their own disagree; every other key keeps a direct route.
    #[test]
    fn routes_pair_the_old_and_the_new_owner() {
        let shards = names(&["a", "b", "c"]);
        let moves = Moves::new(&shards, &names(&["a", "b"]), &shards).unwrap();
        let (old, new) = (Rendezvous::new(["a", "b"]).unwrap(), Rendezvous::new(["a", "b", "c"]).unwrap());
        let mut moving = 0;
        for i in 0..3000 {
            let key = format!("key:{i}");
            let (o, n) = moves.ends(moves.route(key.as_bytes()));
            assert_eq!(shards[o], old.shard_for(key.as_bytes()));
            assert_eq!(shards[n], new.shard_for(key.as_bytes()));
            if o != n {
                moving += 1;
                assert_eq!(shards[n], "c");
                assert!(moves.labels()[moves.route(key.as_bytes()).index()].contains(" → c"));
            } else {
                assert_eq!(moves.route(key.as_bytes()), moves.direct(o));
            }
        }
        assert!((800..1200).contains(&moving), "{moving} of 3000 move");
        assert_eq!(moves.fan_out(), [0, 4, 8].map(Route));
        assert_eq!(moves.labels()[4], "b");
    }

    #[test]
    fn removing_moves_only_the_removed_members_keys() {
        let shards = names(&["a", "b", "c"]);
        let moves = Moves::new(&shards, &shards, &names(&["a", "c"])).unwrap();
        for i in 0..2000 {
            let (o, n) = moves.ends(moves.route(format!("k{i}").as_bytes()));
            assert!(o == n || shards[o] == "b", "only b's keys move");
            assert_ne!(shards[n], "b");
        }
        assert!(Moves::new(&names(&["a"]), &names(&["a"]), &names(&["a", "z"])).is_none());
    }
}
