//! Watching failovers: [`SwitchWatch`] (a `+switch-master` subscription) and
//! [`Topology::wait_for_failover`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use super::query::{addr, get_master_addr, info, info_field};
use super::{IO_TIMEOUT, POLL, Topology};

/// Recorded `+switch-master` messages (arrival time, payload) and a condvar to wait for more.
type Events = Arc<(Mutex<Vec<(Instant, String)>>, Condvar)>;

/// `+switch-master` messages seen by one Sentinel since [`Topology::switch_master_watch`].
pub struct SwitchWatch {
    sentinel: String,
    events: Events,
}

impl SwitchWatch {
    /// The first recorded `+switch-master` for master `name` (arrival time and payload
    /// `"NAME OLD-IP OLD-PORT NEW-IP NEW-PORT"`), waiting up to `within` for it.
    pub fn wait(&self, name: &str, within: Duration) -> Option<(Instant, String)> {
        let deadline = Instant::now() + within;
        let (list, cv) = &*self.events;
        let mut events = list.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(found) = events.iter().find(|(_, payload)| payload.split(' ').next() == Some(name)) {
                return Some(found.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            events = cv.wait_timeout(events, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// The sentinel this watch listens to.
    pub fn sentinel(&self) -> &str {
        &self.sentinel
    }
}

impl Topology {
    /// Polls every live Sentinel (10 ms steps) until all of them report a master of `name`
    /// other than `old`, agree on it, and that node answers with `role:master`. Returns the new
    /// master's address; panics with all logs on timeout.
    pub fn wait_for_failover(&self, name: &str, old: &str, within: Duration) -> String {
        self.wait_for_failover_without(name, old, within, &[])
    }

    /// [`wait_for_failover`](Self::wait_for_failover) asking every live
    /// Sentinel but those at `stale` (cut off: they don't learn it).
    pub fn wait_for_failover_without(
        &self,
        name: &str,
        old: &str,
        within: Duration,
        stale: &[String],
    ) -> String {
        self.shard(name);
        let stale: Vec<u16> = stale.iter().map(|s| self.port_of(s)).collect();
        let deadline = Instant::now() + within;
        let mut conns: HashMap<u16, redis::Connection> = HashMap::new();
        loop {
            let mut live = self.live_sentinels();
            live.retain(|p| !stale.contains(p));
            let mut seen: Vec<(u16, Result<Option<String>, String>)> = Vec::new();
            for port in &live {
                seen.push((*port, self.cached_query(&mut conns, *port, |c| get_master_addr(c, name))));
            }
            let addrs: HashSet<&String> =
                seen.iter().filter_map(|(_, r)| r.as_ref().ok().and_then(|a| a.as_ref())).collect();
            let all_answered = !live.is_empty() && seen.iter().all(|(_, r)| matches!(r, Ok(Some(_))));
            let mut last = format!("live sentinels report {seen:?}");
            if all_answered && addrs.len() == 1 {
                let new = (*addrs.iter().next().expect("len 1")).clone();
                if new != old {
                    match self.probe_addr(&new).and_then(|mut c| info(&mut c, "replication")) {
                        Ok(info) if info_field(&info, "role") == Some("master") => return new,
                        Ok(info) => {
                            last.push_str(&format!("; {new} has role {:?}", info_field(&info, "role")))
                        }
                        Err(e) => last.push_str(&format!("; {new}: {e}")),
                    }
                }
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "wait_for_failover({name}, old {old}): no failover within {within:?}: {last}"
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// Subscribes to `+switch-master` on the first live Sentinel in a background thread and
    /// records every message with the time it arrived. Returns once the subscription is active.
    /// The thread ends when that sentinel dies (at the latest when the topology is dropped).
    pub fn switch_master_watch(&self) -> SwitchWatch {
        let port = *self
            .live_sentinels()
            .first()
            .unwrap_or_else(|| self.fail("switch_master_watch: no live sentinel"));
        let events: Events = Arc::default();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let conn = self.connect(port);
        let shared = Arc::clone(&events);
        thread::Builder::new()
            .name(format!("switch-watch-{port}"))
            .spawn(move || {
                let mut conn = match conn {
                    Ok(c) => c,
                    Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
                };
                let mut pubsub = conn.as_pubsub();
                let subscribed =
                    pubsub.subscribe("+switch-master").and_then(|()| pubsub.set_read_timeout(None));
                if let Err(e) = subscribed {
                    return drop(ready_tx.send(Err(e.to_string())));
                }
                let _ = ready_tx.send(Ok(()));
                while let Ok(msg) = pubsub.get_message() {
                    let at = Instant::now();
                    let payload =
                        msg.get_payload::<String>().unwrap_or_else(|e| format!("<unreadable payload: {e}>"));
                    let (list, cv) = &*shared;
                    list.lock().unwrap_or_else(|p| p.into_inner()).push((at, payload));
                    cv.notify_all();
                }
            })
            .expect("spawn switch-master watch thread");
        match ready_rx.recv_timeout(IO_TIMEOUT * 2) {
            Ok(Ok(())) => SwitchWatch { sentinel: addr(port), events },
            Ok(Err(e)) => self.fail(&format!("switch_master_watch on {}: {e}", addr(port))),
            Err(e) => self.fail(&format!("switch_master_watch on {}: {e}", addr(port))),
        }
    }
}
