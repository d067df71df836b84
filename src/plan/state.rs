//! Commands that change the state of the connection they run on. Every
//! connection of the client is shared by all requests to its shard, so such a
//! command would change what every other request sees (a `SELECT 1` makes
//! later `GET`s read another database: a wrong answer) or break the
//! connection for them (`CLIENT REPLY OFF`, `MONITOR`, `SUBSCRIBE`: replies no
//! longer match requests). Each is refused before anything is sent, on every
//! path (the client, pipelines, `on_shard`, `WATCH` sessions), with
//! [`Error::SharedConnection`] naming what does the job instead. The table is
//! [`STATE_COMMANDS`]; the rustdoc of `ShardHandle` shows it to users.

use crate::error::{Error, Result};

/// Each state-changing command (upper case; a `CLIENT` subcommand as
/// `"CLIENT SUB"`) and what to do instead.
pub(crate) const STATE_COMMANDS: &[(&str, &str)] = &[
    ("SELECT", DB),
    ("AUTH", CREDENTIALS),
    ("HELLO", CREDENTIALS),
    ("RESET", CLOSE),
    ("QUIT", CLOSE),
    ("CLIENT SETNAME", NAME),
    ("CLIENT SETINFO", NAME),
    ("CLIENT REPLY", REPLY),
    ("CLIENT TRACKING", CACHING),
    ("CLIENT CACHING", CACHING),
    ("CLIENT NO-EVICT", FLAGS),
    ("CLIENT NO-TOUCH", FLAGS),
    ("READONLY", READS),
    ("READWRITE", READS),
    ("MONITOR", STREAM),
    ("SYNC", STREAM),
    ("PSYNC", STREAM),
    ("REPLCONF", STREAM),
    ("SUBSCRIBE", PUBSUB),
    ("PSUBSCRIBE", PUBSUB),
    ("SSUBSCRIBE", PUBSUB),
    ("UNSUBSCRIBE", PUBSUB),
    ("PUNSUBSCRIBE", PUBSUB),
    ("SUNSUBSCRIBE", PUBSUB),
];

const DB: &str = "the database is a setting of every connection: Builder::db or the URL's db parameter (a second client for a second database)";
const CREDENTIALS: &str = "credentials and protocol are settings every connection opens with: Builder::username/password or the URL's user info";
const CLOSE: &str = "it would close or reset the connection under other requests; drop the client, or call DisredisClient::close";
const NAME: &str = "disredis names its connections disredis:ring=<version>, the name `disredis reshard` counts in CLIENT LIST to know every client moved on; name a connection of your own (redis::Client) instead";
const REPLY: &str = "other requests on the connection would lose their replies";
const CACHING: &str = "client-side caching needs invalidations on the connection that reads; not supported on shared connections (a redis::Client connection of your own)";
const FLAGS: &str = "the flag would apply to every request sharing the connection; set it on a connection of your own (redis::Client)";
const READS: &str = "a Redis Cluster command; for reads from replicas use Builder::read_from";
const STREAM: &str =
    "it turns the connection into a stream; open a connection of your own (redis::Client) to the node";
const PUBSUB: &str = "use client.pubsub(): channels are routed like keys and subscriptions made again after a failover (docs/pubsub.md)";

/// The entry of [`STATE_COMMANDS`] for `args` (name first), if it is one.
pub(crate) fn state_command(args: &[&[u8]]) -> Option<(&'static str, &'static str)> {
    let name = args.first()?;
    let sub = args.get(1);
    STATE_COMMANDS.iter().copied().find(|(command, _)| match command.split_once(' ') {
        None => name.eq_ignore_ascii_case(command.as_bytes()),
        Some((container, wanted)) => {
            name.eq_ignore_ascii_case(container.as_bytes())
                && sub.is_some_and(|s| s.eq_ignore_ascii_case(wanted.as_bytes()))
        }
    })
}

/// [`Error::SharedConnection`] when `args` is a state-changing command.
pub(crate) fn refuse_state_command(args: &[&[u8]]) -> Result<()> {
    match state_command(args) {
        Some((command, instead)) => Err(Error::SharedConnection { command: command.to_owned(), instead }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<&[u8]> {
        line.split(' ').map(str::as_bytes).collect()
    }

    #[test]
    fn state_commands_are_found_by_name_and_subcommand() {
        for line in ["select 1", "SELECT 0", "client setname x", "Client Reply off", "hello 3", "monitor"] {
            assert!(
                matches!(refuse_state_command(&args(line)), Err(Error::SharedConnection { .. })),
                "{line}"
            );
        }
        for line in ["CLIENT LIST", "CLIENT KILL ID 1", "CLIENT", "GET select", "SWAPDB 0 1", "PING"] {
            assert!(refuse_state_command(&args(line)).is_ok(), "{line}");
        }
        assert_eq!(state_command(&args("client no-touch on")).map(|c| c.0), Some("CLIENT NO-TOUCH"));
    }

    #[test]
    fn keyless_errors_name_the_state_commands() {
        let e = refuse_state_command(&args("CLIENT SETNAME x")).unwrap_err();
        assert!(
            matches!(&e, Error::SharedConnection { command, .. } if command == "CLIENT SETNAME"),
            "{e:?}"
        );
        assert!(e.to_string().contains("disredis:ring="), "{e}");
        assert!(refuse_state_command(&args("INFO")).is_ok());
        let e = Error::NoKey { command: "INFO (in a pipeline)".into() };
        assert!(matches!(&e, Error::NoKey { command } if command == "INFO (in a pipeline)"), "{e:?}");
        assert!(e.to_string().contains("on_shard"), "{e}");
    }

    /// The NoKey text gives advice that works for what was sent.
    #[test]
    fn no_key_hints_fit_the_command() {
        let text = |c: &str| Error::NoKey { command: c.into() }.to_string();
        assert!(
            text("PUBLISH (in a pipeline)").contains("on its own"),
            "{}",
            text("PUBLISH (in a pipeline)")
        );
        assert!(!text("PUBLISH (in a pipeline)").contains("on_shard"));
        assert!(text("EVAL").contains("KEYS"), "{}", text("EVAL"));
        assert!(text("CONFIG GET").contains("on_shard"));
    }
}
