//! Commands and pipelines that touch several shards: how to split them (the plan)
//! and how to put the replies back together (the merge). Pure: no I/O; the client
//! runs the parts (`dispatch`). What runs across shards and how each reply
//! merges is the README's table ("What runs across shards"); this module is its
//! implementation:
//!
//! - [`plan`]: one shard (the hot path, nothing allocated), a [`split`] of a
//!   multi-key command, a [`keyless`] fan-out, a `SCAN` step ([`scan`]), or a
//!   refusal — never routed by the first key alone;
//! - [`plan_pipeline`]: one sub-pipeline per shard and where each command's
//!   reply will be ([`pipeline`]), each command planned by [`step`] (with
//!   `ignore_errors()`, a refused command fails in its own slot);
//! - [`transaction_shard`]: the one shard of a MULTI/EXEC ([`transaction`]);
//! - [`merge`] (the parts' replies), [`gather`] (which parts took effect).

use redis::Cmd;

use crate::error::{Error, Result};
use crate::keys::{self, CommandInfo, KeyError};
use crate::routes::{Route, Routes};

mod merge;
mod pipeline;
pub(crate) mod scan;
mod state;
mod step;
mod transaction;

pub(crate) use merge::{Merge, gather, merge};
pub(crate) use pipeline::{PipelinePlan, Replies, Sub, plan_pipeline};
#[cfg(test)]
pub(crate) use state::STATE_COMMANDS;
pub(crate) use state::refuse_state_command;
pub(crate) use step::{Destination, Options, not_in_table, slot_error};
pub(crate) use transaction::{Transaction, transaction_shard};

/// One piece of a command, for one route.
pub(crate) struct Part {
    /// Where it goes.
    pub route: Route,
    /// The command to send; `None` sends the caller's command unchanged.
    pub cmd: Option<Cmd>,
}

/// How one command runs: its parts and how their replies merge.
pub(crate) struct Plan {
    /// What the key table says about the command.
    pub info: CommandInfo,
    /// One part per shard involved, in shard order.
    pub parts: Vec<Part>,
    /// How the parts' replies become the caller's reply.
    pub merge: Merge,
}

/// Where a command goes.
pub(crate) enum Routed {
    /// Every key on one route: the caller's command goes there unchanged (the
    /// hot path: nothing is allocated).
    One { route: Route, info: CommandInfo },
    /// To the shards of the plan.
    Plan(Plan),
    /// A `SCAN`: one shard at a time, behind a combined cursor.
    Scan(CommandInfo),
    /// A pub/sub command routed by its channel (`PUBLISH`, `PUBSUB NUMSUB`, …).
    Channel(CommandInfo),
}

/// The pub/sub commands routed by channel (see `dispatch::channels`).
const CHANNEL_COMMANDS: [&str; 7] = [
    "PUBLISH",
    "SPUBLISH",
    "PUBSUB NUMSUB",
    "PUBSUB SHARDNUMSUB",
    "PUBSUB CHANNELS",
    "PUBSUB SHARDCHANNELS",
    "PUBSUB NUMPAT",
];

const SESSION_COMMANDS: [&str; 5] = ["WATCH", "UNWATCH", "MULTI", "EXEC", "DISCARD"];

/// `WATCH`, `UNWATCH`, `MULTI`, `EXEC` or `DISCARD`: the commands of a `WATCH`
/// session (see `pinned`), which never travel on a shared connection.
pub(crate) fn session_command(args: &[&[u8]]) -> Option<&'static str> {
    let name = args.first()?;
    SESSION_COMMANDS.into_iter().find(|s| name.eq_ignore_ascii_case(s.as_bytes()))
}

/// `WATCH` and friends inside a pipeline (or through `on_shard`) would travel on a
/// shared connection, where another task's `EXEC` clears the watch: refused.
pub(crate) fn refuse_session_command(args: &[&[u8]]) -> Result<()> {
    match session_command(args) {
        Some(name) => Err(Error::BadCommand {
            command: name.to_owned(),
            detail: "send WATCH/UNWATCH/MULTI/EXEC/DISCARD on their own (or use redis::pipe().atomic()), \
                     not inside a pipeline or through on_shard"
                .into(),
        }),
        None => Ok(()),
    }
}

/// What the key table said, as the client's error.
pub(crate) fn key_error(e: KeyError) -> Error {
    match e {
        KeyError::Unknown(command) => Error::NoKey { command },
        KeyError::Malformed { command, detail } => Error::BadCommand { command: command.to_owned(), detail },
    }
}

/// Plans one command (given as its arguments, name first).
pub(crate) fn plan<R: Routes + ?Sized>(ring: &R, args: &[&[u8]]) -> Result<Routed> {
    let mut first: Option<Route> = None;
    // Each key's route, in key order, kept only once the keys span shards (the
    // keys before were all on `first`): a split then hashes no key twice.
    let mut routes: Vec<Route> = Vec::new();
    let mut seen = 0;
    let info = keys::visit_keys(args, |key| {
        let i = ring.route(key);
        match first {
            None => first = Some(i),
            Some(_) if !routes.is_empty() => routes.push(i),
            Some(f) if f != i => {
                routes.reserve_exact(args.len());
                routes.resize(seen, f);
                routes.push(i);
            }
            Some(_) => {}
        }
        seen += 1;
    })
    .map_err(|e| match e {
        // A state-changing command the table doesn't know (`CLIENT NO-TOUCH`
        // is newer than it) is refused by name, in a pipeline too.
        KeyError::Unknown(_) => refuse_state_command(args).err().unwrap_or_else(|| key_error(e)),
        e => key_error(e),
    })?;
    match (first, routes.is_empty()) {
        (Some(route), true) => Ok(Routed::One { route, info }),
        (Some(_), false) => split(ring, info, args, &routes).map(Routed::Plan),
        (None, _) if info.name == "SCAN" => Ok(Routed::Scan(info)),
        (None, _) if CHANNEL_COMMANDS.contains(&info.name) => Ok(Routed::Channel(info)),
        (None, _) => keyless(ring, info, args).map(Routed::Plan),
    }
}

/// Splits a multi-key command whose keys span shards, or refuses it. `routes`
/// holds each key's route in key order (from [`plan`]).
fn split<R: Routes + ?Sized>(ring: &R, info: CommandInfo, args: &[&[u8]], routes: &[Route]) -> Result<Plan> {
    let (step, merge_kind) = match info.name {
        "MGET" => (1, None),
        "DEL" | "UNLINK" | "EXISTS" | "TOUCH" => (1, Some(Merge::Sum)),
        "MSET" => (2, Some(Merge::AllOk)),
        _ => return Err(cross_shard(ring, info.name, args)),
    };
    let n = ring.labels().len();
    // Room for twice a fair share of the arguments and bytes, so a part rarely
    // grows while it is filled.
    let bytes: usize = args.iter().map(|a| a.len()).sum();
    let (arg_room, byte_room) = ((args.len() * 2 / n + 2).min(args.len()), (bytes * 2 / n + 16).min(bytes));
    // Per shard (made when its first key comes): its part and the caller's key
    // positions in it.
    let mut parts_of: Vec<Option<(Cmd, Vec<usize>)>> = (0..n).map(|_| None).collect();
    for (pos, i) in (1..args.len()).step_by(step).enumerate() {
        // The key order of these commands is argument order (checked by the tests).
        let route = routes.get(pos).copied().unwrap_or_else(|| ring.route(args[i]));
        let (cmd, positions) = parts_of[route.index()].get_or_insert_with(|| {
            let mut cmd = Cmd::with_capacity(arg_room, byte_room);
            cmd.arg(info.name);
            (cmd, Vec::with_capacity(arg_room / step))
        });
        for arg in &args[i..(i + step).min(args.len())] {
            cmd.arg(*arg);
        }
        positions.push(pos);
    }
    let (parts, kept): (Vec<Part>, Vec<Vec<usize>>) = (parts_of.into_iter().enumerate())
        .filter_map(|(route, part)| {
            part.map(|(cmd, pos)| (Part { route: Route::at(route), cmd: Some(cmd) }, pos))
        })
        .unzip();
    let total = kept.iter().map(Vec::len).sum();
    let merge = merge_kind.unwrap_or(Merge::Mget { positions: kept, total });
    Ok(Plan { info, parts, merge })
}

/// The error for a multi-key command whose keys span shards, naming them all.
pub(crate) fn cross_shard<R: Routes + ?Sized>(ring: &R, command: &str, args: &[&[u8]]) -> Error {
    let mut shards: Vec<String> = Vec::new();
    let _ = keys::visit_keys(args, |key| {
        let name = &ring.labels()[ring.route(key).index()];
        if !shards.iter().any(|s| s == name) {
            shards.push(name.to_owned());
        }
    });
    shards.sort();
    Error::CrossShard { command: command.to_owned(), shards }
}

/// Keyless commands that fan out to every shard, each with its [`Merge`] (the
/// match below; the README's table says what each means for a caller).
/// Anything else keyless is [`Error::NoKey`] (send it with `on_shard`), or
/// [`Error::SharedConnection`] for a command that changes its connection's state.
fn keyless<R: Routes + ?Sized>(ring: &R, info: CommandInfo, args: &[&[u8]]) -> Result<Plan> {
    let fan_out = ring.fan_out();
    let n = fan_out.len();
    let merge = match info.name {
        "PING" | "SCRIPT LOAD" => Merge::First,
        "DBSIZE" => Merge::Sum,
        "FLUSHDB" | "FLUSHALL" | "SCRIPT FLUSH" => Merge::AllOk,
        "KEYS" => Merge::Concat,
        "SCRIPT EXISTS" => Merge::AndEach,
        "WAIT" => Merge::Min,
        "RANDOMKEY" => Merge::FirstNonNil { start: (crate::retry::random() % n as u64) as usize },
        _ => {
            refuse_state_command(args)?;
            return Err(Error::NoKey { command: info.name.to_owned() });
        }
    };
    let parts = fan_out.into_iter().map(|route| Part { route, cmd: None }).collect();
    Ok(Plan { info, parts, merge })
}

#[cfg(test)]
mod tests;
