//! Transactions (`redis::pipe().atomic()`, MULTI/EXEC): every command on one
//! shard, or refused whole before anything is sent. Pure: no I/O.

use redis::Pipeline;

use super::cross_shard;
use super::step::{Destination, Options, Step, step};
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
    let mut call = Call::read("MULTI/EXEC");
    let (mut lookups, mut anywhere) = (Vec::new(), false);
    for (i, cmd) in pipe.cmd_iter().enumerate() {
        let args = cmd_args(cmd);
        let here = match step(ring, &args, i, Options { in_slots: false, learned }, "MULTI/EXEC")? {
            Step::One(route, c) => {
                call.add(&c);
                route
            }
            Step::Plan(p) if p.parts.len() > 1 && !p.info.keyless => {
                return Err(cross_shard(ring, "MULTI/EXEC", &args));
            }
            Step::Plan(p) => {
                return Err(Error::NoKey { command: format!("{} (in MULTI/EXEC)", p.info.name) });
            }
            Step::Anywhere => {
                anywhere = true;
                continue;
            }
            Step::Lookup => {
                lookups.push(i);
                continue;
            }
            // Never without `in_slots`: `step` returned the error.
            Step::Refused(e) => return Err(e),
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
