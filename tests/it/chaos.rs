//! Chaos on real processes: 8 writers share one client while a master is SIGKILLed,
//! SIGSTOPped, killed and restarted, or killed after a Sentinel was lost. Every run
//! prints one `chaos:` line: kill → `+switch-master`, kill → first acknowledged
//! write on the victim shard sent after the kill, the gap, errors, acks, losses.
//!
//! WAIT mode needs 2 replicas per shard: with 1, the promoted master has no replica
//! until the old one rejoins, so every write to it would end in `NotReplicated`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use disredis::{Builder, DisredisClient, Event};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::support::{Spec, Topology, info_field};

const WRITERS: usize = 8;
/// Long enough that a replica on a starved machine still acknowledges in time (a
/// full suite under extra CPU load once saw a write's `WAIT 1` time out at 500 ms).
const WAIT_TIMEOUT: Duration = Duration::from_secs(2);
const FAILOVER_WITHIN: Duration = Duration::from_secs(20);
/// Writers run this long before the fault, and on after the failover completed.
const SETTLE: Duration = Duration::from_millis(300);
/// Without WAIT, only writes acknowledged this close before the kill may be lost.
const REPLICATION_WINDOW: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    /// SIGKILL the master.
    Kill,
    /// SIGSTOP the master; SIGCONT it after the failover and wait for its demotion.
    Stop,
    /// SIGKILL the master; restart it after the failover and wait for its demotion.
    Restart,
    /// SIGKILL the Sentinel the client lists first, then SIGKILL the master.
    SentinelThenKill,
}

#[derive(Clone, Debug)]
struct Ack {
    key: String,
    n: u64,
    victim: bool,
    sent: Instant,
    acked: Instant,
}

/// What one run saw; the checks common to every scenario already passed.
struct Outcome {
    victim: String,
    fault_at: Instant,
    acks: Vec<Ack>,
    errors: Vec<String>,
    lost: Vec<Ack>,
    events: Vec<Event>,
    killed_sentinel: Option<String>,
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn durable(b: Builder) -> Builder {
    b.wait_replicas(1, WAIT_TIMEOUT)
}

/// Two replicas per shard, so a promoted master still has one for `WAIT 1`.
fn durable_spec() -> Spec {
    Spec { replicas: 2, ..Spec::default() }
}

fn shard_master(client: &DisredisClient, shard: &str) -> Option<String> {
    client.topology().shards.into_iter().find(|s| s.name == shard).and_then(|s| s.master)
}

fn role(topo: &Topology, addr: &str) -> Option<String> {
    let mut c = topo.try_conn(addr).ok()?;
    let info: String = redis::cmd("INFO").arg("replication").query(&mut c).ok()?;
    info_field(&info, "role").map(str::to_owned)
}

/// Polls `ok` every 10 ms until it holds; panics after `within`.
async fn until(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Background tasks sharing one stop flag: writers, a topology sampler, an event log.
struct Background {
    stop: Arc<AtomicBool>,
    writers: Vec<JoinHandle<(Vec<Ack>, Vec<String>)>>,
    sampler: JoinHandle<Vec<Option<String>>>,
    events: JoinHandle<Vec<Result<Event, u64>>>,
}

impl Background {
    fn start(client: &DisredisClient, victim: &str) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let writers = (0..WRITERS)
            .map(|task| {
                let (mut con, stop, victim) = (client.clone(), stop.clone(), victim.to_owned());
                tokio::spawn(async move {
                    let (mut acks, mut errors) = (Vec::new(), Vec::new());
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let key = format!("w{task}:{n}");
                        let sent = Instant::now();
                        match redis::cmd("SET").arg(&key).arg(n).query_async::<()>(&mut con).await {
                            Ok(()) => {
                                let victim = con.shard_for(&key) == victim;
                                acks.push(Ack { key, n, victim, sent, acked: Instant::now() });
                            }
                            Err(e) => errors.push(format!("{key}: {e}")),
                        }
                        n += 1;
                    }
                    (acks, errors)
                })
            })
            .collect();
        // The victim's master as the client sees it, every change.
        let sampler = {
            let (client, stop, victim) = (client.clone(), stop.clone(), victim.to_owned());
            tokio::spawn(async move {
                let mut seen: Vec<Option<String>> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let now = shard_master(&client, &victim);
                    if seen.last() != Some(&now) {
                        seen.push(now);
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                seen
            })
        };
        let events = {
            let (mut rx, stop) = (client.events(), stop.clone());
            tokio::spawn(async move {
                let mut log = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match tokio::time::timeout(Duration::from_millis(20), rx.recv()).await {
                        Ok(Ok(e)) => log.push(Ok(e)),
                        Ok(Err(RecvError::Lagged(n))) => log.push(Err(n)),
                        Ok(Err(RecvError::Closed)) => break,
                        Err(_) => {}
                    }
                }
                log
            })
        };
        Background { stop, writers, sampler, events }
    }

    async fn finish(self) -> (Vec<Ack>, Vec<String>, Vec<Option<String>>, Vec<Event>) {
        self.stop.store(true, Ordering::Relaxed);
        let joined = async {
            let (mut acks, mut errors) = (Vec::new(), Vec::new());
            for w in self.writers {
                let (a, e) = w.await.unwrap();
                acks.extend(a);
                errors.extend(e);
            }
            (acks, errors, self.sampler.await.unwrap(), self.events.await.unwrap())
        };
        let (acks, errors, seen, log) =
            tokio::time::timeout(Duration::from_secs(20), joined).await.expect("background tasks stop");
        let lagged: Vec<u64> = log.iter().filter_map(|e| e.as_ref().err().copied()).collect();
        assert!(lagged.is_empty(), "the event receiver lagged and lost {lagged:?} events");
        (acks, errors, seen, log.into_iter().flatten().collect())
    }
}

/// Milliseconds from `from` to `to`, negative when `to` came first.
fn ms_between(from: Instant, to: Instant) -> f64 {
    match to.checked_duration_since(from) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(from - to).as_secs_f64() * 1e3,
    }
}

fn print_summary(
    scenario: &str,
    switch: Option<f64>,
    first: Option<f64>,
    errors: usize,
    acked: usize,
    lost: usize,
) {
    let show = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0} ms"));
    let gap = switch.zip(first).map(|(s, f)| f - s);
    eprintln!(
        "chaos: {scenario:<18} | +switch-master {} | first ok write {} | gap {} | errors {errors} | acked {acked} | lost {lost}",
        show(switch),
        show(first),
        show(gap)
    );
}

/// Starts a topology, writes from 8 tasks, injects `fault` into the first shard's
/// master, waits for the failover (and the old master's demotion for `Stop` and
/// `Restart`), reads every acknowledged key back and checks what every scenario
/// must hold: the client moved to the new master and never back, the reads agree
/// with the new master itself.
async fn run(scenario: &str, fault: Fault, spec: Spec, configure: fn(Builder) -> Builder) -> Outcome {
    let topo = Topology::start(spec);
    let client =
        configure(DisredisClient::builder().sentinels(topo.sentinel_addrs())).connect().await.unwrap();
    let victim = topo.master_names()[0].clone();
    let old = topo.master_addr(&victim);
    let bg = Background::start(&client, &victim);
    let killed_sentinel = (fault == Fault::SentinelThenKill).then(|| {
        let s = client.sentinels()[0].clone();
        blocking(|| topo.kill(&s));
        s
    });
    // After the Sentinel kill: the watch listens to the first live Sentinel.
    let switch = blocking(|| topo.switch_master_watch());
    tokio::time::sleep(SETTLE).await;

    let fault_at = blocking(|| {
        if fault == Fault::Stop {
            topo.stop(&old)
        } else {
            topo.kill(&old)
        }
        Instant::now()
    });
    let new = blocking(|| topo.wait_for_failover(&victim, &old, FAILOVER_WITHIN));
    until(&format!("client uses {new} for {victim}"), FAILOVER_WITHIN, || {
        shard_master(&client, &victim).as_deref() == Some(new.as_str())
    })
    .await;
    if matches!(fault, Fault::Stop | Fault::Restart) {
        blocking(|| if fault == Fault::Stop { topo.cont(&old) } else { topo.restart(&old) });
        until(&format!("old master {old} demoted"), FAILOVER_WITHIN, || {
            blocking(|| role(&topo, &old)).as_deref() == Some("slave")
        })
        .await;
    }
    tokio::time::sleep(SETTLE).await;
    let (acks, errors, seen, events) = bg.finish().await;

    // Read every acknowledged key back through the client (MGET, split per shard).
    let mut con = client.clone();
    let mut read: Vec<Option<u64>> = Vec::with_capacity(acks.len());
    for chunk in acks.chunks(1000) {
        let keys: Vec<&str> = chunk.iter().map(|a| a.key.as_str()).collect();
        read.extend(redis::cmd("MGET").arg(&keys).query_async::<Vec<Option<u64>>>(&mut con).await.unwrap());
    }
    assert_eq!(read.len(), acks.len());
    let lost: Vec<Ack> =
        acks.iter().zip(&read).filter(|(a, v)| **v != Some(a.n)).map(|(a, _)| a.clone()).collect();

    // The same answers straight from the new master, for a sample of the victim's
    // keys: every 20th, and all acknowledged within a second of the fault.
    let near = |a: &Ack| ms_between(fault_at, a.acked).abs() <= 1000.0;
    let sample: Vec<(&Ack, Option<u64>)> = (acks.iter().zip(read.iter().copied()))
        .enumerate()
        .filter(|(i, (a, _))| a.victim && (i % 20 == 0 || near(a)))
        .map(|(_, p)| p)
        .collect();
    assert!(sample.len() >= 20, "only {} victim keys sampled", sample.len());
    let mut direct = blocking(|| topo.conn(&new));
    for chunk in sample.chunks(1000) {
        let keys: Vec<&str> = chunk.iter().map(|(a, _)| a.key.as_str()).collect();
        let got: Vec<Option<u64>> = blocking(|| redis::cmd("MGET").arg(&keys).query(&mut direct).unwrap());
        for ((a, via_client), on_master) in chunk.iter().zip(got) {
            assert_eq!(*via_client, on_master, "{}: the client and {new} disagree", a.key);
        }
    }

    // Figures first, so a failing run still shows them.
    let first_ok = acks.iter().filter(|a| a.victim && a.sent >= fault_at).map(|a| a.acked).min();
    let switched = blocking(|| switch.wait(&victim, Duration::from_secs(5)));
    print_summary(
        scenario,
        switched.as_ref().map(|(t, _)| ms_between(fault_at, *t)),
        first_ok.map(|t| ms_between(fault_at, t)),
        errors.len(),
        acks.len(),
        lost.len(),
    );
    if !errors.is_empty() {
        eprintln!("chaos: {scenario}: first errors: {:?}", &errors[..errors.len().min(3)]);
    }
    let before = acks.iter().filter(|a| a.victim && a.acked < fault_at).count();
    assert!(before > 0, "no write reached {victim} before the fault");
    assert!(first_ok.is_some(), "no acknowledged write on {victim} sent after the fault");
    let (_, payload) = switched.expect("+switch-master for the victim on the harness's watch");
    assert!(payload.ends_with(&new.replace(':', " ")), "{payload} does not name {new}");

    // The client switched to the new master and never back to the old one.
    let switched_to = |to_addr: &str| {
        events
            .iter()
            .any(|e| matches!(e, Event::SwitchMaster { shard, to, .. } if *shard == victim && to == to_addr))
    };
    assert!(switched_to(&new), "no SwitchMaster to {new} among {events:?}");
    assert!(!switched_to(&old), "switched back to the old master {old}: {events:?}");
    let first_new = seen.iter().position(|m| m.as_deref() == Some(new.as_str()));
    let first_new = first_new.unwrap_or_else(|| panic!("topology never showed {new}: {seen:?}"));
    assert!(
        !seen[first_new..].iter().any(|m| m.as_deref() == Some(old.as_str())),
        "topology showed the old master {old} after the failover: {seen:?}"
    );
    Outcome { victim, fault_at, acks, errors, lost, events, killed_sentinel }
}

fn assert_no_errors(o: &Outcome) {
    assert!(
        o.errors.is_empty(),
        "{} errors reached the writers: {:?}",
        o.errors.len(),
        &o.errors[..o.errors.len().min(5)]
    );
}

fn assert_nothing_lost(o: &Outcome) {
    assert!(
        o.lost.is_empty(),
        "{} of {} acknowledged keys lost: {:?}",
        o.lost.len(),
        o.acks.len(),
        &o.lost[..o.lost.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_with_wait_loses_no_write_and_no_key() {
    let o = run("kill+WAIT", Fault::Kill, durable_spec(), durable).await;
    assert_no_errors(&o);
    assert_nothing_lost(&o);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_without_wait_loses_only_the_replication_window() {
    let o = run("kill, no WAIT", Fault::Kill, Spec::default(), |b| b).await;
    assert_no_errors(&o);
    for a in &o.lost {
        assert!(a.victim, "{} lost but not on the victim shard {}", a.key, o.victim);
        let before = o.fault_at.checked_duration_since(a.acked);
        assert!(
            before.is_some_and(|d| d <= REPLICATION_WINDOW),
            "{} lost but acknowledged {:.0} ms after the kill (negative: before)",
            a.key,
            ms_between(o.fault_at, a.acked)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frozen_master_with_wait_is_waited_out_and_never_used_again() {
    fn cfg(b: Builder) -> Builder {
        durable(b).response_timeout(Some(Duration::from_millis(300)))
    }
    let o = run("SIGSTOP+WAIT", Fault::Stop, durable_spec(), cfg).await;
    assert_no_errors(&o);
    assert_nothing_lost(&o);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restarted_old_master_is_demoted_and_never_used_again() {
    let o = run("kill+restart+WAIT", Fault::Restart, durable_spec(), durable).await;
    assert_no_errors(&o);
    assert_nothing_lost(&o);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failover_with_one_of_three_sentinels_dead() {
    // `..Spec::default()`: fields (auth, TLS) are being added to `Spec`.
    #[allow(clippy::needless_update)]
    let spec = Spec { shards: 2, replicas: 2, sentinels: 3, quorum: 2, ..Spec::default() };
    let o = run("sentinel+kill+WAIT", Fault::SentinelThenKill, spec, durable).await;
    assert_no_errors(&o);
    assert_nothing_lost(&o);
    let dead = o.killed_sentinel.as_deref().unwrap();
    assert!(
        o.events.iter().any(|e| matches!(e, Event::SentinelDown { addr, .. } if addr == dead)),
        "no SentinelDown for {dead}: {:?}",
        o.events
    );
}
