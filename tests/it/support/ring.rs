//! Ring records as the ring tool would write them, and waiting for a client to
//! follow one.

use std::time::Duration;

use disredis::{Builder, DisredisClient, Event};
use tokio::sync::broadcast::Receiver;

use super::Topology;

/// The text of a stable ring record.
pub fn stable_record(version: u64, members: &[String]) -> String {
    format!("disredis-ring/1\nversion: {version}\nphase: stable\nmembers: {}\n", members.join(","))
}

/// Loads `text` as the ring record (the `disredis_ring` library) on `name`'s master.
pub fn load_record(topo: &Topology, name: &str, text: &str) {
    let literal = text.replace('\n', "\\n");
    let code = format!(
        "#!lua name=disredis_ring\nredis.register_function{{function_name='disredis_ring', \
         callback=function() return \"{literal}\" end, flags={{'no-writes'}}}}"
    );
    let mut con = topo.conn(&topo.initial_master_addr(name));
    let _: String = redis::cmd("FUNCTION").arg("LOAD").arg("REPLACE").arg(code).query(&mut con).unwrap();
}

/// A builder for `topo` whose client reads the ring only hourly: it follows a
/// change only when told (the ring channel, a failed connection).
pub fn hourly_ring_poll(topo: &Topology) -> Builder {
    DisredisClient::builder().sentinels(topo.sentinel_addrs()).ring_poll_interval(Duration::from_secs(3600))
}

/// The next `RingChanged` event (`from`, `to`, `members`); panics after 10 s.
pub async fn ring_changed(events: &mut Receiver<Event>) -> (u64, u64, Vec<String>) {
    let wait = async {
        loop {
            if let Ok(Event::RingChanged { from, to, members }) = events.recv().await {
                return (from, to, members);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the client follows the new ring within 10 s")
}
