//! The records an [`Error`](super::Error) carries about several Sentinels or
//! shards at once: which one, and what it said or what went wrong there.

use std::fmt;

use super::Error;

/// One Sentinel that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelFailure {
    /// The Sentinel's address, `host:port`.
    pub addr: String,
    /// What went wrong (connection refused, timed out, malformed reply, ...).
    pub cause: String,
}

impl fmt::Display for SentinelFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.addr, self.cause)
    }
}

/// One shard's part of a command or pipeline that failed, in
/// [`Error::PartiallyApplied`].
#[derive(Debug, Clone)]
pub struct ShardFailure {
    /// The shard (master name).
    pub shard: String,
    /// What went wrong there.
    pub error: Error,
}

impl fmt::Display for ShardFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.shard, self.error)
    }
}

/// What one Sentinel said when asked where a shard's master is, in
/// [`Error::NoQuorum`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelAnswer {
    /// The Sentinel's address, `host:port`.
    pub sentinel: String,
    /// `Ok(addr)`: the master address it named (after the address map);
    /// `Err(why)`: it named none (it does not monitor the name, could not be
    /// reached, or answered garbage).
    pub said: std::result::Result<String, String>,
}

impl fmt::Display for SentinelAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.said {
            Ok(addr) => write!(f, "{} names {addr}", self.sentinel),
            Err(why) => write!(f, "{}: {why}", self.sentinel),
        }
    }
}
