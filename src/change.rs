//! What a client sends for a key that moves while the ring changes (see
//! [`crate::ring`] for the phases and docs/resharding.md for the protocol).
//! Pure: the commands and the judgement of their replies; sending them is
//! `execute::moving`.
//!
//! - **Tombstones**: when a key leaves its old owner O, O records it in the
//!   hash [`tombstones`]`(v)` (`v` the version of the `migrating` ring), in the
//!   same `MULTI`/`EXEC` as the `MIGRATE` that moves it. A tombstone is set even
//!   for a key that does not exist, so nobody creates it at O afterwards.
//! - **Guard** (phase `prepare`): a request on a moving key is sent to O as one
//!   script ([`guard`]) that first checks the keys' tombstones and answers
//!   [`MOVED`] without running anything if one is set (a client of the next
//!   phase moved the key); otherwise it runs the request's commands, atomically.
//! - **Migrate on touch** (phase `migrating`): [`migrate`] sets the tombstones
//!   and moves the keys (`MIGRATE … KEYS`, which keeps TTLs and deletes at O
//!   only once the new owner has them); only when it answered OK or NOKEY is
//!   the request sent to the new owner N. Sending it, for a client and for the
//!   ring tool alike, is `execute::migrate`.

use std::time::Duration;

use redis::{Cmd, Pipeline, Value};

use crate::config::{Auth, NodeAddr};
use crate::error::Error;

/// How long `MIGRATE` may wait on the new owner at any moment of a transfer
/// (its `timeout` argument), for a client's first touch and the ring tool
/// alike: 5 s. `MIGRATE` blocks the old owner meanwhile, and a client's
/// request waits too, so it is short; a batch of the tool is not one long
/// wait (the timeout is per silence, not for the whole transfer).
pub(crate) const MIGRATE_TIMEOUT: Duration = Duration::from_secs(5);

/// The error code the guard answers with when a key has moved.
pub(crate) const MOVED: &str = "DISREDISMOVED";

/// The prefix of every tombstone hash (one per change, on each old owner).
pub const TOMBSTONE_PREFIX: &str = "__disredis__:moved:";

/// The tombstone hash of the change whose `migrating` ring has `version`.
pub(crate) fn tombstones(version: u64) -> String {
    format!("{TOMBSTONE_PREFIX}{version}")
}

/// The guard: `KEYS[1]` is the tombstone hash, the other keys the request's;
/// `ARGV` is `one` or `many`, then per command its argument count and its
/// arguments. Errors of the commands are returned as they are (`pcall`); a
/// failover symptom (the node is a replica now, loading, or its master is
/// down) is returned alone at once, since on such a node nothing was written.
const GUARD: &str = r#"
for i = 2, #KEYS do
  if redis.call('HEXISTS', KEYS[1], KEYS[i]) == 1 then
    return redis.error_reply('DISREDISMOVED a key of this request moved; read the ring again')
  end
end
local out, i, c = {}, 2, 0
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local r = redis.pcall(unpack(ARGV, i + 1, i + n))
  if type(r) == 'table' and r.err then
    local code = string.match(r.err, '^%u+')
    if code == 'READONLY' or code == 'LOADING' or code == 'MASTERDOWN' or code == 'NOREPLICAS' then return r end
  end
  c = c + 1
  out[c] = r
  i = i + n + 1
end
if ARGV[1] == 'one' then return out[1] end
return out
"#;

/// The guard script for `commands` (each a command's arguments) over `keys`:
/// `many` returns an array of the commands' replies (a pipeline or a
/// transaction), otherwise the one command's reply.
pub(crate) fn guard<'a>(
    tombstones: &str,
    keys: &[&[u8]],
    commands: impl IntoIterator<Item = Vec<&'a [u8]>>,
    many: bool,
) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(GUARD).arg(keys.len() + 1).arg(tombstones).arg(keys);
    cmd.arg(if many { "many" } else { "one" });
    for args in commands {
        cmd.arg(args.len()).arg(args);
    }
    cmd
}

/// Whether a reply value is the guard's [`MOVED`] answer.
pub(crate) fn is_moved(v: &Value) -> bool {
    matches!(v, Value::ServerError(e) if e.code() == MOVED)
}

/// Whether an error is the guard's [`MOVED`] answer.
pub(crate) fn is_moved_error(e: &redis::RedisError) -> bool {
    e.code() == Some(MOVED)
}

/// How [`migrate`] moves keys.
pub(crate) struct Migrate<'a> {
    /// The new owner's master, as the old owner reaches it.
    pub target: &'a NodeAddr,
    pub db: i64,
    /// The client's credentials for the target.
    pub auth: &'a Auth,
    /// Keep the keys here too (deleted once the target's replicas have them).
    pub copy: bool,
    /// Overwrite the target's copy (`rebalance --on-conflict keep-other`).
    pub replace: bool,
}

/// Moves `keys` from this master to `how.target` as one transaction:
/// tombstones first (when `tombstones` is given), then `MIGRATE "" … KEYS`
/// (with the client's credentials, which `MIGRATE` keeps out of `MONITOR`
/// and the slow log).
pub(crate) fn migrate(tombstones: Option<&str>, keys: &[&[u8]], how: &Migrate<'_>) -> Pipeline {
    let mut pipe = redis::pipe();
    pipe.atomic();
    if let Some(tombstones) = tombstones {
        let mut hset = redis::cmd("HSET");
        hset.arg(tombstones);
        for key in keys {
            hset.arg(*key).arg(1);
        }
        pipe.add_command(hset);
    }
    let mut migrate = redis::cmd("MIGRATE");
    migrate
        .arg(how.target.host())
        .arg(how.target.port())
        .arg("")
        .arg(how.db)
        .arg(MIGRATE_TIMEOUT.as_millis() as u64);
    if how.copy {
        migrate.arg("COPY");
    }
    if how.replace {
        migrate.arg("REPLACE");
    }
    if let Some(password) = &how.auth.password {
        match &how.auth.username {
            Some(user) => migrate.arg("AUTH2").arg(user).arg(password.expose()),
            None => migrate.arg("AUTH").arg(password.expose()),
        };
    }
    migrate.arg("KEYS").arg(keys);
    pipe.add_command(migrate);
    pipe
}

/// What the `EXEC` reply of [`migrate`] says.
#[derive(Debug)]
pub(crate) enum Migrated {
    /// The keys are at the new owner: moved now, or none was at the old one (`NOKEY`).
    Done,
    /// The new owner held one of them already (`BUSYKEY`): that one stayed
    /// here, the others moved.
    Busy,
    /// Not moved: the new owner could not be reached (`IOERR`) or the reply
    /// was unexpected. Try again.
    Failed(Error),
}

impl Migrated {
    /// Judges the `EXEC` reply of [`migrate`].
    pub(crate) fn of(exec: &Value) -> Migrated {
        let unexpected = |what: &'static str, v: &dyn std::fmt::Debug| {
            Migrated::Failed(Error::Redis((redis::ErrorKind::Parse, what, format!("{v:?}")).into()))
        };
        let Value::Array(replies) = exec else { return unexpected("disredis: MULTI/EXEC answered", exec) };
        match replies.last() {
            Some(Value::Okay) => Migrated::Done,
            Some(Value::SimpleString(s)) if s == "NOKEY" || s == "OK" => Migrated::Done,
            // The target's `BUSYKEY` comes relayed in an `ERR` ("Target
            // instance replied with error: BUSYKEY …").
            Some(Value::ServerError(e)) if e.details().is_some_and(|d| d.contains("BUSYKEY")) => {
                Migrated::Busy
            }
            Some(Value::ServerError(e)) => Migrated::Failed(Error::Redis(e.clone().into())),
            other => unexpected("disredis: MIGRATE answered", &other),
        }
    }
}

/// The notice that confirms copies at their new owner, `PUBLISH` being
/// propagated to its replicas: a `WAIT` after it covers the copies that came
/// over `MIGRATE`'s own connection.
pub(crate) fn moved_notice(keys: usize) -> Cmd {
    redis::cmd("PUBLISH").arg("__disredis__:moved").arg(keys).to_owned()
}

/// Judges an `UNLINK` reply: how many keys it deleted. Anything but a count
/// is an error (once counted as 0 deleted, hiding keys left behind).
pub(crate) fn unlinked(reply: &Value) -> Result<u64, Error> {
    match reply {
        Value::Int(n) if *n >= 0 => Ok(*n as u64),
        Value::ServerError(e) => Err(Error::Redis(e.clone().into())),
        other => Err(Error::Redis(
            (redis::ErrorKind::Parse, "disredis: UNLINK answered", format!("{other:?}")).into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::cmd_args;

    #[test]
    fn guard_carries_keys_then_commands() {
        let set: Vec<&[u8]> = vec![b"SET", b"k", b"v"];
        let get: Vec<&[u8]> = vec![b"GET", b"k"];
        let cmd = guard("__disredis__:moved:7", &[b"k"], [set, get], true);
        let args = cmd_args(&cmd);
        assert_eq!(args[0], b"EVAL");
        assert_eq!(
            &args[2..],
            [&b"2"[..], b"__disredis__:moved:7", b"k", b"many", b"3", b"SET", b"k", b"v", b"2", b"GET", b"k"]
        );
        assert_eq!(tombstones(7), "__disredis__:moved:7");
    }

    #[test]
    fn migrate_sets_tombstones_then_moves_with_credentials() {
        #[allow(clippy::needless_update)] // `Auth` has more fields with the `tls` feature
        let auth = Auth {
            username: Some("app".into()),
            password: Some(crate::secret::Secret::new("pw")),
            ..Default::default()
        };
        let target = NodeAddr::parse("127.0.0.1:7001").unwrap();
        let how = Migrate { target: &target, db: 0, auth: &auth, copy: true, replace: false };
        let pipe = migrate(Some("t"), &[b"a", b"b"], &how);
        let cmds: Vec<Vec<Vec<u8>>> =
            pipe.cmd_iter().map(|c| cmd_args(c).iter().map(|a| a.to_vec()).collect()).collect();
        assert_eq!(cmds[0], [&b"HSET"[..], b"t", b"a", b"1", b"b", b"1"]);
        assert_eq!(
            cmds[1],
            [
                &b"MIGRATE"[..],
                b"127.0.0.1",
                b"7001",
                b"",
                b"0",
                b"5000",
                b"COPY",
                b"AUTH2",
                b"app",
                b"pw",
                b"KEYS",
                b"a",
                b"b"
            ]
        );
        assert!(pipe.is_transaction());
    }

    #[test]
    fn migrate_replies_are_judged() {
        let exec = |v: Value| Migrated::of(&Value::Array(vec![Value::Int(1), v]));
        let error = |text: &str| redis::parse_redis_value(format!("-{text}\r\n").as_bytes()).unwrap();
        assert!(matches!(exec(Value::Okay), Migrated::Done));
        assert!(matches!(exec(Value::SimpleString("NOKEY".into())), Migrated::Done));
        let busy = "ERR Target instance replied with error: BUSYKEY Target key name already exists.";
        assert!(matches!(exec(error(busy)), Migrated::Busy));
        let Migrated::Failed(e) = exec(error("IOERR error or timeout reading to target instance")) else {
            panic!()
        };
        assert!(e.to_string().contains("IOERR"), "{e}");
        assert!(matches!(Migrated::of(&Value::Nil), Migrated::Failed(_)));
        assert!(matches!(exec(Value::Int(3)), Migrated::Failed(_)));
    }

    #[test]
    fn unlink_replies_are_a_count_or_an_error() {
        assert_eq!(unlinked(&Value::Int(2)).unwrap(), 2);
        let refused = redis::parse_redis_value(b"-NOPERM no\r\n").unwrap();
        let Error::Redis(e) = unlinked(&refused).unwrap_err() else { panic!() };
        assert_eq!(e.kind(), redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm));
        // A reply a server would not send: an error, not 0 keys deleted.
        assert!(unlinked(&Value::Okay).is_err());
        assert!(unlinked(&Value::Int(-1)).is_err());
    }
}
