//! The integration tests: one test binary (`cargo test --test it`), one module per area, and
//! the harness (`support`: real `redis-server` / `redis-sentinel` processes) compiled once for
//! all of them. Select an area by its module path, e.g. `cargo test --test it failover::`.
//!
//! All tests share one process and run in parallel on libtest's threads, so none may assume a
//! process of its own: the one global tracing subscriber is auth's, and it keeps only the events
//! of auth's own threads; no test sets environment variables; the harness's statics (ports
//! handed out, the topology counter) are shared by every module on purpose.

mod support;

mod address_map;
mod auth;
mod blocking;
#[cfg(feature = "cache")]
mod cache;
mod chaos;
#[cfg(feature = "cli")]
mod cli;
mod commands;
mod dead_shard;
mod discovery;
mod drop_in;
mod failover;
mod fate;
mod fencing;
mod harness;
mod hostile_sentinel;
mod key_table;
mod membership;
#[cfg(feature = "metrics")]
mod metrics;
mod newer_commands;
mod partition;
mod pubsub;
mod replicas;
mod reshard;
#[cfg(feature = "sessions")]
mod sessions;
mod sharding;
mod shared_state;
#[cfg(feature = "tls")]
mod tls;
mod transactions_scripts;
mod typed_errors;
mod url;
mod watch;
#[cfg(feature = "sessions")]
mod web_app;
