//! Transactions (`redis::pipe().atomic()`, MULTI/EXEC): every command on one
//! shard, or refused whole before anything is sent. Pure: no I/O.

use redis::Pipeline;

use super::step::{Destination, learned_for, not_in_table};
use super::{Plan, Routed, cross_shard, plan, refuse_session_command};

/// A command of a transaction, routed by the static table or by the server's word.
enum Found {
    Known(Routed),
    Learned(Route, Call),
}
use crate::error::{Error, Result};
use crate::request::{Call, cmd_args};
use crate::routes::{Route, Routes};

/// Where a transaction runs.
#[derive(Debug)]
pub(crate) enum Transaction {
    /// No command: nothing to send.
    Empty,
    /// On this route, called so.
    On(Route, Call),
    /// The commands at these indexes are not in the static table: ask the
    /// server (`crate::unknown`) and plan again with its answers.
    Lookup(Vec<usize>),
}

/// Checks that every command of an atomic pipeline (MULTI/EXEC) lives on one
/// shard and returns it with how to call the transaction; a transaction can't
/// span shards or fan out. A command no server knows rides along: the server
/// refuses it when it is queued and `EXEC` answers `EXECABORT`, as on one
/// connection. `learned` is what the server said about commands the static
/// table doesn't know (see [`Transaction::Lookup`]).
pub(crate) fn transaction_shard<R: Routes + ?Sized>(
    ring: &R,
    pipe: &Pipeline,
    learned: &[(usize, Result<Destination>)],
) -> Result<Transaction> {
    let mut shard: Option<Route> = None;
    let mut call = Call::pipeline("MULTI/EXEC");
    let (mut lookups, mut anywhere) = (Vec::new(), false);
    for (i, cmd) in pipe.cmd_iter().enumerate() {
        let args = cmd_args(cmd);
        refuse_session_command(&args)?;
        let routed = match plan(ring, &args) {
            Err(Error::NoKey { .. }) if not_in_table(&args) => match learned_for(learned, i) {
                Some(Ok(Destination::Route(route, c))) => Ok(Found::Learned(*route, *c)),
                Some(Ok(Destination::Anywhere)) => {
                    anywhere = true;
                    continue;
                }
                Some(Err(e)) => Err(e.clone()),
                None => {
                    lookups.push(i);
                    continue;
                }
            },
            other => other.map(Found::Known),
        }?;
        let here = match routed {
            Found::Learned(route, c) => {
                call.add(&c);
                route
            }
            Found::Known(known) => on_one_shard(ring, &args, known, &mut call)?,
        };
        match shard {
            Some(s) if s != here => {
                let mut shards = vec![ring.labels()[s.index()].clone(), ring.labels()[here.index()].clone()];
                shards.sort();
                return Err(Error::CrossShard { command: "MULTI/EXEC".into(), shards });
            }
            _ => shard = Some(here),
        }
    }
    if !lookups.is_empty() {
        return Ok(Transaction::Lookup(lookups));
    }
    // Blocking commands don't block inside MULTI: no dedicated connection.
    call.dedicated = false;
    Ok(match shard {
        Some(s) => Transaction::On(s, call),
        None if anywhere => Transaction::On(Route::at(0), call),
        None => Transaction::Empty,
    })
}

/// A command of the static table inside MULTI/EXEC: its one shard, or why it
/// can't be in a transaction.
fn on_one_shard<R: Routes + ?Sized>(
    ring: &R,
    args: &[&[u8]],
    routed: Routed,
    call: &mut Call,
) -> Result<Route> {
    match routed {
        Routed::One { route, info } if !info.keyless => {
            call.add(&Call::of(&info));
            Ok(route)
        }
        Routed::Plan(p) if p.parts.len() > 1 && !p.info.keyless => Err(cross_shard(ring, "MULTI/EXEC", args)),
        Routed::One { info, .. } | Routed::Plan(Plan { info, .. }) | Routed::Channel(info) => {
            Err(Error::NoKey { command: format!("{} (in MULTI/EXEC)", info.name) })
        }
        Routed::Scan(_) => Err(Error::NoKey { command: "SCAN (in MULTI/EXEC)".into() }),
    }
}
