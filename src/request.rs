//! What travels down the request path: a [`Request`] (a command or a slice of a
//! pipeline), how to treat it ([`Call`]), what comes back ([`Reply`]), and a
//! command's arguments as byte slices ([`cmd_args`]). Pure: no I/O.

use std::time::Duration;

use redis::{Arg, Cmd, Pipeline, Value};

use crate::error::{Error, Result};
use crate::keys::{self, CommandInfo};

/// What one routed request carries to a shard.
#[derive(Clone, Copy)]
pub(crate) enum Request<'a> {
    /// One command.
    Cmd(&'a Cmd),
    /// `count` commands of `pipe`, whose replies start at `offset` (what
    /// `redis::aio::ConnectionLike::req_packed_commands` is given).
    Pipe { pipe: &'a Pipeline, offset: usize, count: usize },
    /// Commands sent as a plain pipeline, one reply each: a shard's share of
    /// a split pipeline (the caller's own commands, borrowed, and the parts
    /// of commands split across shards), or a write and its `WAIT`.
    Part(&'a [Piece<'a>]),
}

/// One command of a [`Request::Part`]: the caller's own (borrowed: never
/// cloned on the way to the socket) or one the client built.
#[derive(Debug)]
pub(crate) enum Piece<'a> {
    /// A command of the caller's.
    Caller(&'a Cmd),
    /// A command the client built (a part of a split command, a `WAIT`).
    Own(Cmd),
}

impl Piece<'_> {
    /// The command.
    pub(crate) fn cmd(&self) -> &Cmd {
        match self {
            Piece::Caller(c) => c,
            Piece::Own(c) => c,
        }
    }
}

/// A shard's answer to a [`Request`]: one value for a command, a list for a pipeline.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The reply to [`Request::Cmd`].
    One(Value),
    /// The replies to [`Request::Pipe`].
    Many(Vec<Value>),
}

impl Reply {
    /// Every value of the reply (one for a command).
    pub(crate) fn values(&self) -> &[Value] {
        match self {
            Reply::One(v) => std::slice::from_ref(v),
            Reply::Many(vs) => vs,
        }
    }

    /// The reply to a command.
    pub(crate) fn one(self) -> Result<Value> {
        match self {
            Reply::One(v) => Ok(v),
            Reply::Many(_) => Err(shape_error()),
        }
    }

    /// The one value of a command, or of a pipeline part of one command (a
    /// transaction's `EXEC`); no value at all is a shape error, never `Nil`.
    pub(crate) fn only(self) -> Result<Value> {
        match self {
            Reply::One(v) => Ok(v),
            Reply::Many(mut v) if v.len() == 1 => Ok(v.remove(0)),
            Reply::Many(_) => Err(shape_error()),
        }
    }

    /// The replies to a pipeline.
    pub(crate) fn many(self) -> Result<Vec<Value>> {
        match self {
            Reply::Many(v) => Ok(v),
            Reply::One(_) => Err(shape_error()),
        }
    }
}

/// A reply whose shape does not match its request (a bug, or a confused server).
pub(crate) fn shape_error() -> Error {
    Error::Redis((redis::ErrorKind::Client, "disredis: reply shape does not match the request").into())
}

/// What the retry loop needs to know about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Call {
    /// Canonical command name (or "pipeline", "MULTI/EXEC"), for errors and spans.
    pub command: &'static str,
    /// Safe to repeat after a failure of unknown fate.
    pub idempotent: bool,
    /// Send over a connection of its own without the response timeout (blocking
    /// commands: BLPOP, XREAD BLOCK, WAIT, …).
    pub dedicated: bool,
    /// May modify data: followed by `WAIT` in durability mode.
    pub write: bool,
    /// Extra time the server may legitimately take (a `WAIT` timeout), added to
    /// the response timeout so waiting is not mistaken for a hung master.
    pub patience: Option<Duration>,
}

impl Call {
    /// A command nothing is known about (not in the table, not learned): a
    /// write that is not safe to repeat.
    pub(crate) fn unknown(command: &'static str) -> Call {
        Call { command, idempotent: false, dedicated: false, write: true, patience: None }
    }

    /// A read that is safe to repeat (`COMMAND INFO`, `WAIT`, …); a pipeline's
    /// call before any command is [`add`](Call::add)ed.
    pub(crate) fn read(command: &'static str) -> Call {
        Call { command, idempotent: true, dedicated: false, write: false, patience: None }
    }

    /// A write that is safe to repeat (moving a key: setting its tombstone
    /// again and `MIGRATE` of a key that is gone are no-ops).
    pub(crate) fn repeatable_write(command: &'static str) -> Call {
        Call { command, idempotent: true, dedicated: false, write: true, patience: None }
    }

    /// Folds one more command in: idempotent only if all are, a write or
    /// dedicated if any is.
    pub(crate) fn add(&mut self, other: &Call) {
        self.idempotent &= other.idempotent;
        self.dedicated |= other.dedicated;
        self.write |= other.write;
    }

    /// A call for a command the key table describes.
    pub(crate) fn of(info: &CommandInfo) -> Call {
        Call {
            command: info.name,
            idempotent: info.idempotent,
            dedicated: info.blocking,
            write: !info.read_only,
            patience: None,
        }
    }

    /// How to call a whole pipeline: idempotent only if every command is, a
    /// write (and dedicated) if any command is one; commands the table doesn't
    /// know count as non-idempotent writes.
    pub(crate) fn of_pipeline(command: &'static str, pipe: &Pipeline) -> Call {
        Call::of_cmds(command, pipe.cmd_iter())
    }

    /// [`Call::of_pipeline`] for some of a pipeline's commands.
    pub(crate) fn of_cmds<'c>(command: &'static str, cmds: impl Iterator<Item = &'c Cmd>) -> Call {
        let mut call = Call::read(command);
        for c in cmds {
            match keys::visit_keys(&cmd_args(c), |_| {}) {
                Ok(info) => call.add(&Call::of(&info)),
                Err(_) => call.add(&Call::unknown(command)),
            }
        }
        call
    }
}

/// Whether the caller's pipeline was made with `ignore_errors()`. redis-rs 1.8
/// keeps that flag private and shows it only in the pipeline's `Debug` text
/// (`ignore_errors: true`, after the commands, whose arguments print as byte
/// lists and so can't fake it); a unit test pins this. Asked only when a
/// pipeline has a command that can't be routed, never on the hot path.
pub(crate) fn ignores_errors(pipe: &Pipeline) -> bool {
    let text = format!("{pipe:?}");
    text.rfind("ignore_errors: ").is_some_and(|at| text[at..].starts_with("ignore_errors: true"))
}

/// The error a redis-rs connection gives a command or pipeline without any
/// command (`ErrorKind::Client`, "empty command"): the same, so code that
/// matches on it behaves the same.
pub(crate) fn empty_command() -> Error {
    Error::Redis((redis::ErrorKind::Client, "empty command").into())
}

/// Most commands have at most this many arguments (name included).
const INLINE_ARGS: usize = 8;

/// A command's name and arguments as byte slices, on the stack for up to
/// [`INLINE_ARGS`] of them: every request collects them, and a heap `Vec` here
/// was ~2% of a GET/SET run's instructions.
pub(crate) struct Args<'a> {
    inline: [&'a [u8]; INLINE_ARGS],
    len: usize,
    heap: Vec<&'a [u8]>,
}

impl<'a> std::ops::Deref for Args<'a> {
    type Target = [&'a [u8]];

    fn deref(&self) -> &Self::Target {
        if self.len <= INLINE_ARGS { &self.inline[..self.len] } else { &self.heap }
    }
}

/// The command name and arguments as byte slices. A scan cursor (`Arg::Cursor`,
/// only used by redis-rs's scan iterators) is never a key; it is shown as `0`.
pub(crate) fn cmd_args(cmd: &Cmd) -> Args<'_> {
    let mut args = Args { inline: [&[]; INLINE_ARGS], len: 0, heap: Vec::new() };
    let all = cmd.args_iter().map(|a| match a {
        Arg::Simple(b) => b,
        _ => &b"0"[..],
    });
    args.len = all.len();
    if args.len <= INLINE_ARGS {
        for (slot, a) in args.inline.iter_mut().zip(all) {
            *slot = a;
        }
    } else {
        args.heap = all.collect();
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_value_is_the_reply() {
        assert_eq!(Reply::Many(vec![Value::Okay]).only().unwrap(), Value::Okay);
        assert_eq!(Reply::One(Value::Nil).only().unwrap(), Value::Nil);
        // Once `unwrap_or(Value::Nil)` in the ring tool: a missing EXEC reply.
        assert!(Reply::Many(vec![]).only().is_err());
        assert!(Reply::Many(vec![Value::Okay, Value::Okay]).only().is_err());
    }

    #[test]
    fn ignore_errors_is_read_from_the_pipeline() {
        let mut pipe = redis::pipe();
        // A key that spells the marker can't fake it: arguments print as bytes.
        pipe.set("ignore_errors: true", 1).get("k");
        assert!(!ignores_errors(&pipe), "redis-rs's default");
        pipe.ignore_errors();
        assert!(ignores_errors(&pipe), "redis-rs 1.8 shows the flag in Debug; a new version may not");
        assert!(!ignores_errors(redis::pipe().atomic()));
    }

    #[test]
    fn args_inline_and_on_the_heap() {
        let short = redis::cmd("SET").arg("k").arg("v").to_owned();
        assert_eq!(&*cmd_args(&short), &[&b"SET"[..], b"k", b"v"]);
        let mut long = redis::cmd("MGET");
        for i in 0..20 {
            long.arg(format!("k{i}"));
        }
        let args = cmd_args(&long);
        assert_eq!(args.len(), 21);
        assert_eq!(args[20], b"k19");
    }

    #[test]
    fn pipeline_calls_fold_their_commands() {
        let mut reads = redis::pipe();
        reads.get("a").get("b");
        assert_eq!(Call::of_pipeline("pipeline", &reads), Call::read("pipeline"));
        let mut mixed = redis::pipe();
        mixed.get("a").incr("b", 1).blpop("c", 1.0);
        let call = Call::of_pipeline("pipeline", &mixed);
        assert!(!call.idempotent && call.write && call.dedicated);
        let mut unknown = redis::pipe();
        unknown.cmd("MOD.CMD").arg("x");
        assert_eq!(Call::of_pipeline("p", &unknown), Call::unknown("p"));
    }

    #[test]
    fn reply_shapes() {
        assert_eq!(Reply::One(Value::Okay).one().unwrap(), Value::Okay);
        assert!(Reply::One(Value::Okay).many().is_err());
        assert_eq!(Reply::Many(vec![Value::Nil]).values().len(), 1);
        assert!(Reply::Many(vec![]).one().is_err());
    }
}
