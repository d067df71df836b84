//! The connection of our own to a data node (DESIGN §10), replacing redis-rs's
//! `MultiplexedConnection` under every shard: commands packed once into the
//! connection's write buffer, writes coalesced across tasks, one reader that
//! decodes replies ([`resp`]) and completes their waiters in order.

pub(crate) mod resp;
