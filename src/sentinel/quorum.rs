//! Counting Sentinels' answers for [`Builder::sentinel_quorum`](crate::Builder::sentinel_quorum).
//! Pure: no I/O.
//!
//! What a quorum of `n` fences off is in the setting's docs. An address is used
//! only when at least `n` Sentinels name it and no other address could still get
//! as many votes: the answers are counted as they arrive, and the lookup ends as
//! soon as the outcome can't change, so a frozen Sentinel (which answers only
//! after `sentinel_timeout`) delays nothing once the others agree.

use crate::config::NodeAddr;
use crate::error::{Error, SentinelAnswer};

/// The answers to one `GET-MASTER-ADDR-BY-NAME` asked of every known Sentinel.
#[derive(Debug)]
pub(crate) struct Tally {
    needed: usize,
    asked: usize,
    answers: Vec<SentinelAnswer>,
    /// Each address named, with how many Sentinels named it.
    votes: Vec<(NodeAddr, usize)>,
}

impl Tally {
    /// A count that needs `needed` agreeing Sentinels out of `asked`.
    pub(crate) fn new(needed: usize, asked: usize) -> Tally {
        Tally { needed, asked, answers: Vec::with_capacity(asked), votes: Vec::new() }
    }

    /// One Sentinel's answer: the address it names, `Ok(None)` when it does not
    /// monitor the name, or why it could not be asked.
    pub(crate) fn add(&mut self, sentinel: &NodeAddr, said: Result<Option<NodeAddr>, String>) {
        let said = match said {
            Ok(Some(addr)) => {
                match self.votes.iter_mut().find(|(a, _)| *a == addr) {
                    Some((_, n)) => *n += 1,
                    None => self.votes.push((addr.clone(), 1)),
                }
                Ok(addr.to_string())
            }
            Ok(None) => Err("does not monitor this master".to_owned()),
            Err(why) => Err(why),
        };
        self.answers.push(SentinelAnswer { sentinel: sentinel.to_string(), said });
    }

    /// The agreed master once the outcome can't change: at least `needed`
    /// votes, and more than any other address has plus every answer still to
    /// come. `None` while it can still change, or when it never will.
    pub(crate) fn decided(&self) -> Option<&NodeAddr> {
        let pending = self.asked.saturating_sub(self.answers.len());
        let (leader, most) = self.votes.iter().max_by_key(|(_, n)| *n)?;
        let others = self.votes.iter().filter(|(a, _)| a != leader).map(|(_, n)| *n).max().unwrap_or(0);
        (*most >= self.needed && *most > others + pending).then_some(leader)
    }

    /// [`Error::NoQuorum`] with every answer, for when no master was agreed on.
    pub(crate) fn into_error(self, shard: &str) -> Error {
        Error::NoQuorum { shard: shard.to_owned(), needed: self.needed, answers: self.answers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> NodeAddr {
        NodeAddr::parse(s).unwrap()
    }

    #[test]
    fn the_majority_wins_as_soon_as_it_cannot_change() {
        let (old, new) = (a("127.0.0.1:7000"), a("127.0.0.1:7001"));
        let mut t = Tally::new(2, 3);
        t.add(&a("127.0.0.1:1"), Ok(Some(old.clone())));
        assert_eq!(t.decided(), None, "one vote of three");
        t.add(&a("127.0.0.1:2"), Ok(Some(new.clone())));
        assert_eq!(t.decided(), None, "a tie with one answer to come");
        t.add(&a("127.0.0.1:3"), Ok(Some(new.clone())));
        assert_eq!(t.decided(), Some(&new));
        // Two agreeing of three decide before the third answers.
        let mut t = Tally::new(2, 3);
        t.add(&a("127.0.0.1:1"), Ok(Some(new.clone())));
        t.add(&a("127.0.0.1:2"), Ok(Some(new.clone())));
        assert_eq!(t.decided(), Some(&new));
    }

    #[test]
    fn no_quorum_names_what_each_sentinel_said() {
        let mut t = Tally::new(3, 3);
        t.add(&a("127.0.0.1:1"), Ok(Some(a("127.0.0.1:7000"))));
        t.add(&a("127.0.0.1:2"), Ok(Some(a("127.0.0.1:7001"))));
        t.add(&a("127.0.0.1:3"), Err("timed out".into()));
        assert_eq!(t.decided(), None);
        let e = t.into_error("shard-a");
        assert_eq!(
            e.to_string(),
            "shard shard-a: no 3 Sentinels name the same master: 127.0.0.1:1 names 127.0.0.1:7000; \
             127.0.0.1:2 names 127.0.0.1:7001; 127.0.0.1:3: timed out"
        );
    }

    #[test]
    fn a_lower_quorum_still_needs_a_clear_leader() {
        // Quorum 2 of 4: two against two is no answer.
        let mut t = Tally::new(2, 4);
        for (s, m) in [("1", "7000"), ("2", "7000"), ("3", "7001"), ("4", "7001")] {
            t.add(&a(&format!("127.0.0.1:{s}")), Ok(Some(a(&format!("127.0.0.1:{m}")))));
        }
        assert_eq!(t.decided(), None);
        // Unknown names and failures are answers that vote for nobody.
        let mut t = Tally::new(2, 3);
        t.add(&a("127.0.0.1:1"), Ok(None));
        t.add(&a("127.0.0.1:2"), Ok(Some(a("127.0.0.1:7000"))));
        t.add(&a("127.0.0.1:3"), Err("connection refused".into()));
        assert_eq!(t.decided(), None);
        assert!(t.into_error("s").to_string().contains("127.0.0.1:1: does not monitor this master"));
    }

    #[test]
    fn quorum_one_is_the_first_answer() {
        let mut t = Tally::new(1, 1);
        t.add(&a("127.0.0.1:1"), Ok(Some(a("127.0.0.1:7000"))));
        assert_eq!(t.decided(), Some(&a("127.0.0.1:7000")));
    }
}
