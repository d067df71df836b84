//! Pipelines across shards. Pure: no I/O. A pipeline whose commands are all on
//! one shard goes there as it is; any other is split into one sub-pipeline per shard
//! ([`plan_pipeline`]) and its replies put back in the caller's order
//! ([`Replies::assemble`]).
//!
//! The split is the many-shard hot path (docs/performance.md). Each command is
//! planned once; each sub-pipeline is allocated once at its exact size; where a
//! reply will be is one number per command, because sub-pipelines are filled
//! and answered in the caller's order: a command's reply is the next unread one
//! of its sub-pipeline. A sub-pipeline borrows the caller's `Cmd`s
//! ([`Piece::Caller`]): the connection packs each straight from the caller's
//! pipeline, nothing is cloned.

use redis::{Pipeline, Value};

use super::step::{Options, Step, slot_error, step};
use super::{Plan, merge};
use crate::error::{Error, Result};
use crate::plan::Merge;
use crate::request::{Call, Piece, cmd_args};
use crate::routes::{Route, Routes};

/// One route's share of a split pipeline.
pub(crate) struct Sub<'a> {
    /// Where it goes.
    pub route: Route,
    /// The commands (and command parts) for it, in the caller's order.
    pub pieces: Vec<Piece<'a>>,
    /// How to call it (idempotent only if every command is, …).
    pub call: Call,
}

/// How a pipeline runs.
pub(crate) enum PipelinePlan<'a> {
    /// Every command on one shard, nothing to merge: the caller's pipeline goes
    /// there unchanged (no command is cloned).
    One { route: Route, call: Call },
    /// Split per shard.
    Split {
        /// One sub-pipeline per shard involved, in shard order.
        subs: Vec<Sub<'a>>,
        /// Where each of the caller's commands finds its reply.
        replies: Replies,
    },
    /// The commands at these indexes are not in the static table: ask the
    /// server (`crate::unknown`) and plan again with its answers.
    Lookup(Vec<usize>),
}

/// In [`Replies::subs`]: the command was split into parts (a cross-shard
/// `MGET`, a fan-out `DBSIZE`, …); its parts are the next entry of `split`.
const SPLIT: u32 = u32::MAX;

/// In [`Replies::subs`]: the command was refused before sending
/// (`ignore_errors()`); its error is the next entry of `refused`.
const REFUSED: u32 = u32::MAX - 1;

/// While planning: the server doesn't know the command; it joins the first
/// sub-pipeline (see `Step::Anywhere`).
const ANYWHERE: u32 = u32::MAX - 2;

/// Where each command of a split pipeline finds its reply.
pub(crate) struct Replies {
    /// Per command, in the caller's order: the index of its sub-pipeline, or
    /// [`SPLIT`].
    subs: Vec<u32>,
    /// Per split command, in the caller's order: its parts' sub-pipelines and
    /// how their replies merge.
    split: Vec<(Vec<u32>, Merge)>,
    /// Per refused command, in the caller's order: why (see [`slot_error`]).
    refused: Vec<Error>,
}

/// Per route, while a pipeline is split.
#[derive(Clone, Copy)]
struct Tally {
    /// Commands and parts for this route.
    count: u32,
    /// Its sub-pipeline's index, once made.
    sub: u32,
    /// How to call its sub-pipeline.
    call: Call,
}

/// Plans a (non-atomic) pipeline. Each command is planned as if sent alone;
/// `SCAN` can't be part of a pipeline (its cursor needs the previous reply).
/// [`PipelinePlan::Lookup`] asks for the server's word on commands the static
/// table doesn't know; plan again with the answers in `opts.learned`.
pub(crate) fn plan_pipeline<'p, R: Routes + ?Sized>(
    ring: &R,
    pipe: &'p Pipeline,
    opts: Options,
) -> Result<PipelinePlan<'p>> {
    // First pass, allocation-free: are all commands on one shard?
    let mut call = Call::read("pipeline");
    let mut only: Option<Route> = None;
    let mut single = true;
    for (i, cmd) in pipe.cmd_iter().enumerate() {
        match step(ring, &cmd_args(cmd), i, opts, "a pipeline")? {
            Step::One(route, c) if *only.get_or_insert(route) == route => call.add(&c),
            Step::Anywhere => {}
            // Stop at the first command elsewhere: the split below plans them all.
            Step::One(..) | Step::Plan(_) | Step::Refused(_) | Step::Lookup => {
                single = false;
                break;
            }
        }
    }
    match only {
        Some(route) if single => return Ok(PipelinePlan::One { route, call }),
        // Only commands the server doesn't know: any shard answers them. (No
        // command at all: the split below, of nothing.)
        None if single && !pipe.is_empty() => return Ok(PipelinePlan::One { route: Route::at(0), call }),
        _ => {}
    }

    // Second pass: every command planned, its route kept and counted.
    let mut tally = vec![Tally { count: 0, sub: SPLIT, call: Call::read("pipeline") }; ring.labels().len()];
    let mut subs_of: Vec<u32> = Vec::with_capacity(pipe.len());
    let mut plans: Vec<Plan> = Vec::new();
    let (mut refused, mut lookups, mut anywhere) = (Vec::new(), Vec::new(), 0);
    for (i, cmd) in pipe.cmd_iter().enumerate() {
        match step(ring, &cmd_args(cmd), i, opts, "a pipeline")? {
            Step::One(route, c) => {
                subs_of.push(route.index() as u32);
                tally[route.index()].count += 1;
                tally[route.index()].call.add(&c);
            }
            Step::Plan(p) => {
                for part in &p.parts {
                    tally[part.route.index()].count += 1;
                    tally[part.route.index()].call.add(&Call::of(&p.info));
                }
                subs_of.push(SPLIT);
                plans.push(p);
            }
            Step::Anywhere => {
                subs_of.push(ANYWHERE);
                anywhere += 1;
            }
            Step::Refused(e) => {
                subs_of.push(REFUSED);
                refused.push(e);
            }
            Step::Lookup => lookups.push(i),
        }
    }
    if !lookups.is_empty() {
        return Ok(PipelinePlan::Lookup(lookups));
    }
    // Commands the server doesn't know ride with the first shard that has any.
    let host = tally.iter().position(|t| t.count > 0).unwrap_or(0);
    tally[host].count += anywhere;
    // Each sub-pipeline allocated once, at its size (growing them was 3 % of a
    // cross-shard pipeline's time).
    let mut subs = Vec::with_capacity(tally.iter().filter(|t| t.count > 0).count());
    for (route, t) in tally.iter_mut().enumerate() {
        if t.count > 0 {
            t.sub = subs.len() as u32;
            subs.push(Sub {
                route: Route::at(route),
                pieces: Vec::with_capacity(t.count as usize),
                call: t.call,
            });
        }
    }
    // Third pass: the commands into their sub-pipelines, in the caller's order.
    let mut split = Vec::with_capacity(plans.len());
    let mut plans = plans.into_iter();
    for (cmd, slot) in pipe.cmd_iter().zip(subs_of.iter_mut()) {
        match *slot {
            REFUSED => continue,
            ANYWHERE => *slot = host as u32,
            SPLIT => {
                let Some(p) = plans.next() else {
                    unreachable!("the second pass kept a plan per split command")
                };
                let mut parts = Vec::with_capacity(p.parts.len());
                for part in p.parts {
                    let sub = tally[part.route.index()].sub;
                    parts.push(sub);
                    subs[sub as usize].pieces.push(part.cmd.map_or(Piece::Caller(cmd), Piece::Own));
                }
                split.push((parts, p.merge));
                continue;
            }
            _ => {}
        }
        *slot = tally[*slot as usize].sub;
        subs[*slot as usize].pieces.push(Piece::Caller(cmd));
    }
    Ok(PipelinePlan::Split { subs, replies: Replies { subs: subs_of, split, refused } })
}

impl Replies {
    /// Puts the sub-pipelines' replies (one `Vec` per sub-pipeline, in order)
    /// back in the caller's order, merging split commands.
    pub(crate) fn assemble(self, replies: Vec<Vec<Value>>) -> Result<Vec<Value>> {
        let mut replies: Vec<std::vec::IntoIter<Value>> = replies.into_iter().map(Vec::into_iter).collect();
        let mut next = |sub: u32| {
            replies.get_mut(sub as usize).and_then(Iterator::next).ok_or_else(|| {
                Error::Redis(
                    (
                        redis::ErrorKind::Parse,
                        "disredis: a shard returned fewer pipeline replies than commands",
                    )
                        .into(),
                )
            })
        };
        let mut split = self.split.into_iter();
        let mut refused = self.refused.iter();
        let mut out = Vec::with_capacity(self.subs.len());
        for sub in self.subs {
            if sub == REFUSED {
                let Some(e) = refused.next() else { unreachable!("an error per refused command") };
                out.push(slot_error(e));
                continue;
            }
            if sub != SPLIT {
                out.push(next(sub)?);
                continue;
            }
            let Some((parts, how)) = split.next() else { unreachable!("a split entry per split command") };
            let parts = parts.into_iter().map(&mut next).collect::<Result<Vec<_>>>()?;
            out.push(merge(&how, parts)?);
        }
        Ok(out)
    }
}
