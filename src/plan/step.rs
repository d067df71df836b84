//! One command of a pipeline or transaction, planned: where it goes, or why it
//! can't go anywhere. Pure: what the server said about commands the static key
//! table doesn't know arrives as [`Destination`]s (asked by `crate::unknown`).

use redis::Value;

use super::{Plan, Routed, plan, refuse_session_command};
use crate::error::{Error, Result};
use crate::keys;
use crate::request::Call;
use crate::routes::{Route, Routes};

/// Where a command the static key table doesn't know goes, once the server was
/// asked (`COMMAND INFO`, `COMMAND GETKEYS`).
#[derive(Debug, Clone)]
pub(crate) enum Destination {
    /// Its keys' route, and how to call it.
    Route(Route, Call),
    /// The server doesn't know the command either: any shard answers it with
    /// the server's own error (`ERR unknown command`), as one connection would.
    Anywhere,
}

/// How a pipeline is planned beyond its commands.
#[derive(Clone, Copy, Default)]
pub(crate) struct Options<'a> {
    /// The caller's pipeline has `ignore_errors()`: a command that can't be
    /// routed fails in its own reply slot and the rest runs. Without it the
    /// whole pipeline is refused before anything is sent.
    pub in_slots: bool,
    /// What the server said about the commands the static table doesn't know,
    /// by their index in the pipeline.
    pub learned: &'a [(usize, Result<Destination>)],
}

/// One command, planned.
pub(crate) enum Step {
    /// Every key on one route.
    One(Route, Call),
    /// Split over several routes, or fanned out.
    Plan(Plan),
    /// The server doesn't know it: it rides with the pipeline's other commands.
    Anywhere,
    /// Refused before sending; fails in its own slot (`ignore_errors()` only).
    Refused(Error),
    /// Not in the static table and not asked about yet: ask the server.
    Lookup,
}

/// Plans command `index` (`args`) of a pipeline or transaction; `within` ("a
/// pipeline", "MULTI/EXEC") names it in the refusal of a `SCAN` or pub/sub command.
pub(crate) fn step<R: Routes + ?Sized>(
    ring: &R,
    args: &[&[u8]],
    index: usize,
    opts: Options,
    within: &str,
) -> Result<Step> {
    let refused = |e: Error| if opts.in_slots { Ok(Step::Refused(e)) } else { Err(e) };
    if let Err(e) = refuse_session_command(args) {
        return refused(e);
    }
    match plan(ring, args) {
        Ok(Routed::One { route, info }) => Ok(Step::One(route, Call::of(&info))),
        Ok(Routed::Plan(p)) => Ok(Step::Plan(p)),
        Ok(Routed::Scan(info) | Routed::Channel(info)) => {
            refused(Error::NoKey { command: format!("{} (in {within})", info.name) })
        }
        // Not in the static table (a module command, a newer server's): what the
        // server said, or ask it.
        Err(Error::NoKey { .. }) if not_in_table(args) => {
            match opts.learned.iter().find(|(i, _)| *i == index).map(|(_, t)| t) {
                Some(Ok(Destination::Route(route, call))) => Ok(Step::One(*route, *call)),
                Some(Ok(Destination::Anywhere)) => Ok(Step::Anywhere),
                Some(Err(e)) => refused(e.clone()),
                None => Ok(Step::Lookup),
            }
        }
        Err(e) => refused(e),
    }
}

/// Whether the static key table doesn't know the command (a `NoKey` from
/// [`plan`] for it means "ask the server", not "keyless").
pub(crate) fn not_in_table(args: &[&[u8]]) -> bool {
    !args.is_empty() && keys::visit_keys(args, |_| {}).is_err()
}

/// A refused command's reply in its slot: a server error whose code names the
/// refusal (`CROSSSHARD`, `NOKEY`, `SHAREDCONNECTION`, `BADCOMMAND`, `WRONGSHARD`
/// through `on_shard`) and whose
/// text is the typed error's. redis-rs hands it to the caller as that slot's
/// `Err` (`ErrorKind::Extension`), like any error reply in an `ignore_errors()`
/// pipeline.
pub(crate) fn slot_error(e: &Error) -> Value {
    let code = match e {
        Error::CrossShard { .. } => "CROSSSHARD",
        Error::NoKey { .. } => "NOKEY",
        Error::SharedConnection { .. } => "SHAREDCONNECTION",
        Error::BadCommand { .. } => "BADCOMMAND",
        Error::WrongShard { .. } => "WRONGSHARD",
        _ => "DISREDIS",
    };
    // A reply line can't hold a line break; the texts have none, but be sure.
    let text = e.to_string().replace(['\r', '\n'], " ");
    match redis::parse_redis_value(format!("-{code} {text}\r\n").as_bytes()) {
        Ok(v @ Value::ServerError(_)) => v,
        // Unreachable with redis-rs 1.8 (an error line parses as a server error);
        // an error all the same if a later version parses it otherwise.
        _ => redis::parse_redis_value(b"-DISREDIS refused before sending\r\n").unwrap_or(Value::Nil),
    }
}

#[cfg(test)]
mod tests {
    use redis::{FromRedisValue, Pipeline, RedisResult};

    use super::*;
    use crate::plan::tests::{bulk, keys_on, ring};
    use crate::plan::{PipelinePlan, Transaction, plan_pipeline, transaction_shard};

    fn sizes(plan: &PipelinePlan) -> Vec<(usize, usize)> {
        match plan {
            PipelinePlan::Split { subs, .. } => {
                subs.iter().map(|s| (s.route.index(), s.pieces.len())).collect()
            }
            PipelinePlan::One { route, .. } => vec![(route.index(), usize::MAX)],
            PipelinePlan::Lookup(i) => panic!("lookup {i:?}"),
        }
    }

    #[test]
    fn a_refused_command_fails_in_its_slot_only_with_ignore_errors() {
        let r = ring();
        let (a, b) = (keys_on(&r, 0, 1).remove(0), keys_on(&r, 1, 1).remove(0));
        let mut pipe = Pipeline::new();
        pipe.set(&a, 1).cmd("SELECT").arg(1).cmd("EVAL").arg("return 1").arg(0).get(&b).cmd("SCAN").arg(0);
        let whole = plan_pipeline(&r, &pipe, Options::default());
        assert!(matches!(whole, Err(Error::SharedConnection { .. })), "refused whole without ignore_errors");

        let plan = plan_pipeline(&r, &pipe, Options { in_slots: true, learned: &[] }).unwrap();
        assert_eq!(sizes(&plan), [(0, 1), (1, 1)], "only the routable commands are sent");
        let PipelinePlan::Split { replies, .. } = plan else { unreachable!() };
        let out = replies.assemble(vec![vec![Value::Okay], vec![bulk("b")]]).unwrap();
        let codes: Vec<&str> = out
            .iter()
            .map(|v| match v {
                Value::ServerError(e) => e.code(),
                _ => "ok",
            })
            .collect();
        assert_eq!(codes, ["ok", "SHAREDCONNECTION", "NOKEY", "ok", "NOKEY"]);
        assert_eq!(out[3], bulk("b"), "the replies keep the caller's order");
    }

    #[test]
    fn a_slot_error_reaches_the_caller_as_that_slots_err() {
        let e =
            Error::CrossShard { command: "RENAME".into(), shards: vec!["shard-a".into(), "shard-b".into()] };
        let slot = slot_error(&e);
        let got = <Vec<RedisResult<Value>>>::from_redis_value(Value::Array(vec![Value::Okay, slot])).unwrap();
        assert!(got[0].is_ok());
        let err = got[1].as_ref().unwrap_err();
        assert_eq!(err.code(), Some("CROSSSHARD"));
        assert!(err.to_string().contains("shard-a") && err.to_string().contains("RENAME"), "{err}");
    }

    #[test]
    fn commands_not_in_the_table_are_asked_about_then_routed() {
        let r = ring();
        let (a, b) = (keys_on(&r, 0, 1).remove(0), keys_on(&r, 1, 1).remove(0));
        let mut pipe = Pipeline::new();
        pipe.get(&a).cmd("NOSUCH.CMD").arg(&b).get(&b);
        assert!(
            matches!(plan_pipeline(&r, &pipe, Options::default()), Ok(PipelinePlan::Lookup(i)) if i == [1])
        );
        // Unknown to the server too: it rides with the first sub-pipeline.
        let anywhere = [(1, Ok(Destination::Anywhere))];
        let plan = plan_pipeline(&r, &pipe, Options { in_slots: false, learned: &anywhere }).unwrap();
        assert_eq!(sizes(&plan), [(0, 2), (1, 1)]);
        // Known to the server, with its key on shard 1.
        let learned = [(1, Ok(Destination::Route(Route::at(1), Call::unknown("module command"))))];
        let plan = plan_pipeline(&r, &pipe, Options { in_slots: false, learned: &learned }).unwrap();
        assert_eq!(sizes(&plan), [(0, 1), (1, 2)]);
        // A refusal the server's answer led to: whole, or in its slot.
        let cross = [(1, Err(Error::CrossShard { command: "NOSUCH.CMD".into(), shards: Vec::new() }))];
        assert!(plan_pipeline(&r, &pipe, Options { in_slots: false, learned: &cross }).is_err());
        let plan = plan_pipeline(&r, &pipe, Options { in_slots: true, learned: &cross }).unwrap();
        assert_eq!(sizes(&plan), [(0, 1), (1, 1)]);
        // Nothing but unknown commands: one shard answers them all.
        let mut only = Pipeline::new();
        only.cmd("NOSUCH.CMD").arg("x");
        let plan = plan_pipeline(&r, &only, Options { in_slots: false, learned: &anywhere[..0] });
        assert!(matches!(plan, Ok(PipelinePlan::Lookup(_))));
        let first = [(0, Ok(Destination::Anywhere))];
        let plan = plan_pipeline(&r, &only, Options { in_slots: false, learned: &first }).unwrap();
        assert_eq!(sizes(&plan), [(0, usize::MAX)]);
    }

    #[test]
    fn a_transaction_takes_unknown_commands_along_and_learned_ones_by_their_keys() {
        let r = ring();
        let a = keys_on(&r, 0, 1).remove(0);
        let mut pipe = Pipeline::new();
        pipe.atomic().set(&a, 1).cmd("NOSUCH.CMD").arg("x");
        assert!(matches!(transaction_shard(&r, &pipe, &[]), Ok(Transaction::Lookup(i)) if i == [1]));
        let on = transaction_shard(&r, &pipe, &[(1, Ok(Destination::Anywhere))]).unwrap();
        assert!(matches!(on, Transaction::On(r, _) if r == Route::at(0)), "{on:?}");
        let elsewhere = [(1, Ok(Destination::Route(Route::at(1), Call::unknown("module command"))))];
        assert!(matches!(transaction_shard(&r, &pipe, &elsewhere), Err(Error::CrossShard { .. })));
        let mut empty = Pipeline::new();
        empty.atomic();
        assert!(matches!(transaction_shard(&r, &empty, &[]), Ok(Transaction::Empty)));
    }
}
