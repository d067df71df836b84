//! `watch`: the client's events as they happen, and whether each shard has a
//! master that answers.
//!
//! The client's events only tell what its own traffic and the Sentinels show:
//! a shard whose master and replicas are all down, where Sentinel can't fail
//! over and the CLI sends nothing, would never produce one. So each shard is
//! also PINGed every [`PROBE_EVERY`] (each PING given `--shard-timeout`), and a
//! change is printed: `NoMaster` when a shard stops answering, `MasterUp` when
//! it answers again.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use disredis::{DisredisClient, Error, Event};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::Failure;
use crate::commands::master_of;
use crate::out::{errln, outln};
use crate::output::{Json, utc_now};

/// How often each shard is PINGed.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// A change in whether a shard's master answers.
enum Health {
    /// No master answered a PING within `--shard-timeout`.
    NoMaster { shard: String, cause: String },
    /// A master answers again, after the shard had none for `after`.
    MasterUp { shard: String, master: Option<String>, after: Duration },
}

/// Why a PING got no reply: the last error behind a timeout, else the error.
fn cause(e: &Error) -> String {
    match e {
        Error::FailoverTimeout { last, .. } => last.to_string(),
        e => e.to_string(),
    }
}

/// PINGs `shard` until the receiver is gone, reporting each change (a shard
/// that answers from the start is not reported). Stops when the ring no longer
/// lists the shard.
async fn probe(client: DisredisClient, shard: String, tx: mpsc::UnboundedSender<Health>) {
    let mut down_since: Option<Instant> = None;
    let mut ticks = tokio::time::interval(PROBE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let started = Instant::now();
        let pinged = match client.on_shard(&shard) {
            Ok(mut handle) => redis::cmd("PING").query_async::<()>(&mut handle).await.map_err(Error::from),
            Err(e) => Err(e),
        };
        let change = match (pinged, down_since) {
            (Err(Error::UnknownShard { .. }), _) => return,
            (Err(e), None) => {
                down_since = Some(started);
                Health::NoMaster { shard: shard.clone(), cause: cause(&e) }
            }
            (Ok(()), Some(since)) => {
                down_since = None;
                Health::MasterUp {
                    shard: shard.clone(),
                    master: master_of(&client, &shard),
                    after: since.elapsed(),
                }
            }
            _ => continue,
        };
        if tx.send(change).is_err() {
            return;
        }
    }
}

/// A line for a change of health, in the form of [`describe`].
fn describe_health(health: &Health, json: bool, at: &str) -> String {
    let (kind, fields, text) = match health {
        Health::NoMaster { shard, cause } => (
            "NoMaster",
            vec![("shard", Json::str(shard)), ("cause", Json::str(cause))],
            format!("{shard}: no master answers ({cause})"),
        ),
        Health::MasterUp { shard, master, after } => (
            "MasterUp",
            vec![
                ("shard", Json::str(shard)),
                ("master", Json::opt_str(master.clone())),
                ("down_s", tenths(*after)),
            ],
            format!(
                "{shard}: {} answers (no master for {:.1} s)",
                master.as_deref().unwrap_or("the master"),
                after.as_secs_f64()
            ),
        ),
    };
    line(kind, fields, text, json, at)
}

/// One event as a line of text (after the timestamp) or a JSON object.
fn describe(event: &Event, json: bool, at: &str) -> String {
    let (kind, fields, text) = match event {
        Event::SwitchMaster { shard, from, to } => (
            "SwitchMaster",
            vec![("shard", Json::str(shard)), ("from", Json::opt_str(from.clone())), ("to", Json::str(to))],
            format!("{shard}: {} -> {to}", from.as_deref().unwrap_or("(none)")),
        ),
        Event::ReResolved { shard, cause } => (
            "ReResolved",
            vec![("shard", Json::str(shard)), ("cause", Json::str(cause))],
            format!("{shard}: {cause}"),
        ),
        Event::SentinelDown { addr, cause } => (
            "SentinelDown",
            vec![("sentinel", Json::str(addr)), ("cause", Json::str(cause))],
            format!("{addr}: {cause}"),
        ),
        Event::SentinelUp { addr } => ("SentinelUp", vec![("sentinel", Json::str(addr))], addr.clone()),
        Event::ShardDown { shard, cause } => (
            "ShardDown",
            vec![("shard", Json::str(shard)), ("cause", Json::str(cause))],
            format!("{shard}: requests fail at once until it has a master ({cause})"),
        ),
        Event::ShardUp { shard, down_for } => (
            "ShardUp",
            vec![("shard", Json::str(shard)), ("down_s", tenths(*down_for))],
            format!("{shard}: has a master again (down {:.1} s)", down_for.as_secs_f64()),
        ),
        other => ("Other", vec![("debug", Json::Str(format!("{other:?}")))], format!("{other:?}")),
    };
    line(kind, fields, text, json, at)
}

/// Seconds to a tenth, for JSON.
fn tenths(d: Duration) -> Json {
    Json::Num((d.as_secs_f64() * 10.0).round() / 10.0)
}

/// `time event fields…` as JSON, or `time kind text` for people.
fn line(kind: &str, fields: Vec<(&'static str, Json)>, text: String, json: bool, at: &str) -> String {
    if json {
        let mut all = vec![("time", Json::str(at)), ("event", Json::str(kind))];
        all.extend(fields);
        return Json::Obj(all).to_string();
    }
    format!("{at} {kind:<13} {text}")
}

pub async fn run(client: &DisredisClient, json: bool) -> Result<(), Failure> {
    let mut events = client.events();
    let (tx, mut health) = mpsc::unbounded_channel();
    let mut probed = BTreeSet::new();
    let probe_new = |probed: &mut BTreeSet<String>| {
        for shard in client.shard_names() {
            if probed.insert(shard.clone()) {
                tokio::spawn(probe(client.clone(), shard, tx.clone()));
            }
        }
    };
    probe_new(&mut probed);
    errln!(
        "watching shards {} through Sentinels {}; Ctrl-C to stop",
        client.shard_names().join(", "),
        client.sentinels().join(", ")
    );
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let line = tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            Some(change) = health.recv() => describe_health(&change, json, &utc_now()),
            event = events.recv() => match event {
                Ok(event) => {
                    // A ring change may add shards: probe them too.
                    probe_new(&mut probed);
                    describe(&event, json, &utc_now())
                }
                Err(RecvError::Lagged(n)) => {
                    errln!("disredis: {n} event(s) lost (printing fell behind)");
                    continue;
                }
                Err(RecvError::Closed) => return Ok(()),
            },
        };
        outln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_changes_as_text_and_json() {
        let down = Health::NoMaster { shard: "shard-b".into(), cause: "Connection refused".into() };
        assert_eq!(
            describe_health(&down, false, "T"),
            "T NoMaster      shard-b: no master answers (Connection refused)"
        );
        assert_eq!(
            describe_health(&down, true, "T"),
            r#"{"time":"T","event":"NoMaster","shard":"shard-b","cause":"Connection refused"}"#
        );
        let up = Health::MasterUp {
            shard: "shard-b".into(),
            master: Some("127.0.0.1:1".into()),
            after: Duration::from_millis(12_340),
        };
        assert_eq!(
            describe_health(&up, false, "T"),
            "T MasterUp      shard-b: 127.0.0.1:1 answers (no master for 12.3 s)"
        );
        assert_eq!(
            describe_health(&up, true, "T"),
            r#"{"time":"T","event":"MasterUp","shard":"shard-b","master":"127.0.0.1:1","down_s":12.3}"#
        );
    }
}
