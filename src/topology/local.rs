//! A client handle's own lease on the current table and the connection
//! handles it used last ([`Local`]), so a handle kept by a task sends without
//! touching state every core writes.
//!
//! Why: without it each request clones the table's `Arc` and the shard's
//! `MultiplexedConnection` handle (a channel sender and two `Arc`s) under two
//! read locks, and drops them again: about a dozen atomic read-modify-writes on
//! cache lines that every worker thread bounces between its cores. Measured
//! (bench crate, GET/SET, 64 tasks): a bare client that clones its connection
//! handle per request loses 12–20 % on 2 and 8 shards, which was most of
//! disredis's gap to bare there (docs/performance.md). With a lease a request
//! reads two counters (the table's serial and the shard's live generation) and
//! locks only its own handle's slot.
//!
//! The lease must not keep a replaced table's connections open: the ring
//! tool's fence waits until no connection named after an old ring version is
//! left. So every slot is registered with the [`Table`], and
//! [`Table::replace`] empties them all; a lease out on a request at that
//! moment is dropped when it is given back (its serial is old). A handle that
//! makes only one request (a clone per call) never creates a slot: it works as
//! before, one clone of each handle per request.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;

use super::{Shard, Shards, Table};

/// What a slot holds between requests.
pub(crate) struct Lease {
    /// The table serial this lease was taken under ([`Table::serial`]).
    serial: u64,
    /// The table to plan and run under.
    pub(crate) shards: Arc<Shards>,
    /// This handle's connection handles, by shard index.
    pub(crate) conns: Conns,
}

type Slot = Mutex<Option<Lease>>;

/// A handle's lease slot, created on its second request (see the module docs).
/// Cloning a client gives the clone an empty one.
#[derive(Default)]
pub(crate) struct Local {
    slot: Option<Arc<Slot>>,
    /// Whether this handle made a request already (the first makes no slot).
    used: bool,
}

impl Clone for Local {
    fn clone(&self) -> Local {
        Local::default()
    }
}

impl Local {
    /// The table to run the next request under, with the connection handles
    /// this handle kept, or a fresh lease on the current table.
    pub(crate) fn lease(&mut self, table: &Table) -> Lease {
        let serial = table.serial();
        if let Some(slot) = &self.slot
            && let Some(lease) = slot.lock().take()
            && lease.serial == serial
        {
            return lease;
        }
        Lease::fresh(table)
    }

    /// Keeps `lease` for the next request, unless the table was replaced since
    /// it was taken.
    pub(crate) fn give_back(&mut self, lease: Lease, table: &Table) {
        if !std::mem::replace(&mut self.used, true) {
            return;
        }
        let slot = self.slot.get_or_insert_with(|| table.handles.register());
        let mut held = slot.lock();
        // Checked under the slot's lock: `Table::replace` bumps the serial
        // before it empties the slots, so a lease stored here after that
        // check is either seen by the emptying or was current.
        if lease.serial == table.serial() {
            *held = Some(lease);
        }
    }
}

impl Lease {
    /// A lease on the current table, with no connection handle yet.
    pub(crate) fn fresh(table: &Table) -> Lease {
        let (serial, shards) = table.current_with_serial();
        Lease { serial, shards, conns: Conns::default() }
    }
}

/// One connection handle per shard index, each with the generation it
/// belongs to.
#[derive(Default)]
pub(crate) struct Conns(Vec<Option<(u64, MultiplexedConnection)>>);

impl Conns {
    /// The shard's live connection and its generation: the kept handle when it
    /// is still the shard's live one, otherwise a new clone of it (kept).
    /// `None` when the shard has no connection (it must be resolved first).
    pub(crate) fn get(&mut self, idx: usize, shard: &Shard) -> Option<(u64, &mut MultiplexedConnection)> {
        let live = shard.live();
        if live == 0 {
            return None;
        }
        if self.0.len() <= idx {
            self.0.resize_with(idx + 1, || None);
        }
        let kept = &mut self.0[idx];
        if !matches!(kept, Some((generation, _)) if *generation == live) {
            *kept = shard.current();
        }
        kept.as_mut().map(|(generation, conn)| (*generation, conn))
    }
}

/// Every handle's slot, so a table replacement can empty them (see the
/// module docs). Weak: a dropped handle's slot goes with it.
#[derive(Default)]
pub(crate) struct Handles(Mutex<Vec<Weak<Slot>>>);

impl Handles {
    /// A new registered slot. Slots of dropped handles are swept out when the
    /// list has doubled since the last sweep, so it stays within twice the
    /// live handles.
    fn register(&self) -> Arc<Slot> {
        let slot = Arc::new(Mutex::new(None));
        let mut all = self.0.lock();
        if all.len() >= 64 && all.len().is_power_of_two() {
            all.retain(|w| w.strong_count() > 0);
        }
        all.push(Arc::downgrade(&slot));
        slot
    }

    /// Empties every slot (their leases, and with them the connection handles,
    /// are dropped).
    pub(super) fn empty_all(&self) {
        let mut all = self.0.lock();
        all.retain(|w| w.strong_count() > 0);
        for slot in all.iter().filter_map(Weak::upgrade) {
            let lease = slot.lock().take();
            drop(lease);
        }
    }
}
