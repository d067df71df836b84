// Contributors: the glossary, the life of a `GET` and the layer table are in
// "For contributors" at the end of these docs.
//! # disredis
//!
//! A sharding Redis client over several master/replica groups watched by Redis
//! Sentinel: one keyspace over many masters, without Redis Cluster. It is a
//! drop-in for a single redis-rs connection: every `redis::AsyncCommands`
//! method, `redis::pipe()` and `redis::Script` work on it unchanged, and a
//! failover is waited out instead of surfacing as errors.
//!
//! ```no_run
//! # async fn demo() -> disredis::Result<()> {
//! use redis::AsyncCommands;
//!
//! // The first Sentinel that answers is asked for its masters (SENTINEL MASTERS).
//! let client = disredis::DisredisClient::connect(["127.0.0.1:26381", "127.0.0.1:26382"]).await?;
//! let mut con = client.clone(); // cheap: an Arc inside
//! con.set::<_, _, ()>("user:42", "ann").await?; // any redis::AsyncCommands method
//! let name: String = con.get("user:42").await?;
//! assert_eq!(client.shard_for("user:42"), client.shard_for("{user:42}:cart"));
//! # Ok(()) }
//! ```
//!
//! ## Sharding
//! Every key is hashed (Redis Cluster `{hash tag}` rule, crc32, rendezvous hashing
//! over the Sentinel **master names**) to one master; see [`hashing`]. A failover
//! changes a master's address, never its name, so no key moves. Which names are
//! members is the [`Ring`] record kept on the member masters, not whatever
//! Sentinel monitors when a client connects, so clients never disagree about
//! where a key lives; see [`Builder::masters`] for how the seed relates to it.
//!
//! ## Commands across shards
//! Every command either runs correctly across shards or fails with a typed error
//! before anything is sent — never a wrong answer. Single-shard commands go to
//! their shard unchanged; a few multi-key and keyless commands are split or
//! fanned out and merged; other multi-key commands across shards are
//! [`Error::CrossShard`], keyless ones [`Error::NoKey`] (send them with
//! [`DisredisClient::on_shard`]). The full table is in the README ("What runs
//! across shards"). A split write that fails on some shards after others ran is
//! [`Error::PartiallyApplied`]. Pub/sub is routed by channel: [`pubsub`].
//! Commands that change a connection's state (`SELECT`, `CLIENT SETNAME`,
//! `SUBSCRIBE`, …) are [`Error::SharedConnection`] everywhere: every
//! connection is shared by all requests to its shard (the table is on
//! [`ShardHandle`]).
//!
//! ## Transactions and `WATCH`
//! `redis::pipe().atomic()` runs `MULTI`/`EXEC` on the master of its keys, which
//! must all be on one master (a hash tag; [`Error::CrossShard`] otherwise).
//! For optimistic locking, `WATCH` works with `redis::aio::transaction_async`:
//!
//! ```no_run
//! # async fn demo(client: disredis::DisredisClient) -> redis::RedisResult<()> {
//! use redis::AsyncCommands;
//!
//! // Take 10 from a balance only if it holds that much. Both keys carry the
//! // hash tag {user:42}, so they live on one master.
//! let (balance, log) = ("{user:42}:balance", "{user:42}:log");
//! let left: Option<i64> = redis::aio::transaction_async(
//!     client.clone(), // the WATCH pins this handle (and its clones) to a connection of its own
//!     &[balance],
//!     |mut con, mut pipe| async move {
//!         let now: i64 = con.get::<_, Option<i64>>(balance).await?.unwrap_or(0);
//!         if now < 10 {
//!             return Ok(Some(None)); // nothing to change: ends the loop
//!         }
//!         // `None` when `balance` changed after the WATCH: the closure runs again.
//!         let done: Option<(i64,)> =
//!             pipe.decr(balance, 10).rpush(log, -10).ignore().query_async(&mut con).await?;
//!         Ok(done.map(|(left,)| Some(left)))
//!     },
//! )
//! .await?;
//! # Ok(()) }
//! ```
//!
//! How it works, and what that asks of the caller:
//! - A shared shard connection carries every task's commands, where another
//!   task's `EXEC` would clear the watch. So `WATCH` opens a dedicated,
//!   `ROLE`-checked connection to the keys' master and pins the handle it was
//!   sent on, and the clones made from it while pinned (the `con` the closure
//!   gets), to it. Give each transaction a handle of its own, `client.clone()`,
//!   as above; other clones keep using the shared connections.
//! - While pinned, every command of the handle goes over that connection, so
//!   every key the closure reads or writes must be on the watched master
//!   (hash tag); another shard's key is [`Error::CrossShard`].
//! - `EXEC` (the atomic pipeline), `DISCARD` or `UNWATCH` ends the session.
//! - Nothing in a session is retried across a failover: the watch is gone with
//!   the connection, so the error is returned and you call `transaction_async`
//!   again. The closure must be safe to run more than once (it already runs
//!   again whenever a watched key changes).
//! - Outside a session, `MULTI`, `EXEC` and `DISCARD` sent as commands of their
//!   own are refused ([`Error::BadCommand`]): use an atomic pipeline.
//!
//! ## Failover
//! On a refused or dropped connection, a response timeout, or a `READONLY`,
//! `LOADING`, `MASTERDOWN` or `NOREPLICAS` reply, the client asks Sentinel for that shard's
//! master, connects, checks `ROLE` says `master`, and retries with jittered
//! backoff until [`failover_deadline`](Builder::failover_deadline), then returns
//! [`Error::FailoverTimeout`]. Only the failing shard waits; one Sentinel query
//! serves every request waiting on it. A command whose fate is unknown is
//! retried only when it is idempotent ([`Error::Ambiguous`] otherwise, unless
//! [`retry_non_idempotent`](Builder::retry_non_idempotent)). The client also
//! follows `+switch-master` on every Sentinel, plus a poll, and reports each
//! switch through [`DisredisClient::events`]. A shard with no master and no
//! promotion in sight for [`shard_down_after`](Builder::shard_down_after)
//! counts as down: its requests fail at once with [`Error::ShardDown`] (the
//! other shards keep serving) until a probe finds a master. A handle can carry
//! its own deadline and at-least-once choice
//! ([`DisredisClient::with_failover_deadline`],
//! [`DisredisClient::with_retry_non_idempotent`]); [`DisredisClient::close`]
//! ends a client. Details, options and measurements: `docs/failover.md`; every
//! setting and default: [`Builder`].
//!
//! ## Blocking client
//! [`blocking::DisredisClient`] is the same client behind `redis::Commands`,
//! for code without an async runtime or inside `tokio::task::spawn_blocking`;
//! in an async task it is [`Error::InsideRuntime`]. See [`blocking`].
//!
//! ## Client-side caching
//! With the `cache` feature and [`Builder::client_cache`], single-key reads
//! (`GET`, `HGET`, `HGETALL`, `SMEMBERS`, `ZRANGE`, …) are answered from the
//! client's memory after the first, kept correct by the servers'
//! invalidations (RESP3 `CLIENT TRACKING`) through failovers and ring
//! changes: the client reads its own writes at once, another client's within
//! the invalidation's trip, and nothing read over a connection that broke, was
//! replaced or heard `FLUSHALL`. What is cached, the guarantees, their limits
//! and the measurements: `docs/caching.md`; the counters:
//! `DisredisClient::cache_stats`.
//!
//! ## Configuration, URLs and errors
//! Every setting with its default: [`Builder`] (start with
//! [`DisredisClient::builder`]). One `redis+sentinel://` string for all of it:
//! [`url`] ([`DisredisClient::from_url`]). Every error, when it happens and how
//! it arrives through the `redis` traits: [`enum@Error`].
//!
//! ## Cargo features
//!
//! None is on by default.
//!
//! | feature | what it adds |
//! |---|---|
//! | `tls` | TLS to data nodes and/or Sentinels (rustls with the `ring` provider): `Builder::tls`, `Builder::sentinel_tls`, `TlsConfig`, `rediss+sentinel://` URLs |
//! | `tls-insecure` | `TlsConfig::insecure` (no certificate or host name check); separate so that a build without it cannot skip verification by mistake |
//! | `sessions` | `disredis::sessions::DisredisStore`, a tower-sessions `SessionStore`, and the `session_store` example |
//! | `cli` | the `disredis` binary (`src/bin/disredis/`, `docs/cli.md`); turns on `tls` |
//! | `cache` | client-side caching: `Builder::client_cache`, `CacheConfig`, `DisredisClient::cache_stats` (`docs/caching.md`) |
//! | `metrics` | metrics through the `metrics` facade (`disredis::metrics`, `docs/metrics.md`); with `sessions`, the example's `GET /metrics`. The bench crate has a `metrics` feature of its own that turns it on with a Prometheus recorder |
//!
//! ## For contributors
//! How the source is organised: the words it uses, the path one request
//! takes, and the layers. Everything a user looks up is above (and in the
//! items' docs); the protocols are in `docs/` (`failover.md`,
//! `resharding.md`, `pubsub.md`).
//!
//! ### Glossary
//! - **shard**: one master/replica group Sentinel watches, known by its
//!   **master name**, never its address (a failover changes the address, not
//!   the name). In the code a `Shard` (`topology/shard.rs`) is one name's entry
//!   in a shard table.
//! - **ring**: the record ([`Ring`], `ring.rs`) of which master names the
//!   keyspace is spread over: a **version**, a **phase**, the **members** and,
//!   during a change, the **target**. Every member master keeps a copy (a
//!   function library); a client follows the highest version it reads.
//! - **member**: a master name in the ring's `members`; keys are placed over
//!   the members only. A **seed** master ([`Builder::masters`], default every
//!   master Sentinel monitors) is where a client first reads the ring; one the
//!   ring doesn't list is **unrouted**.
//! - **target**: during a change, the member set the ring is moving to.
//! - **phase**: [`Phase`]: `stable`, or during a change `prepare` (moving keys
//!   stay at their old owner, each request on one inside the **guard**) then
//!   `migrating` (moving keys go to their new owner).
//! - **placement**: which master a key belongs to under a set of names: the
//!   key's hash tag hashed by rendezvous over the names ([`hashing`]).
//! - **owner**: the master the placement names for a key; during a change its
//!   **old owner** O(k) (over the members) and **new owner** N(k) (over the
//!   target).
//! - **route**: where a key's requests go under one shard table (`routes.rs`,
//!   the type `Route`): its owner's shard, or during a change the (old owner,
//!   new owner) pair. Plans split and group commands by route; only the table
//!   that made a route can say which shard(s) it means (`ShardTable::ends`), so
//!   a route is never used as a shard index.
//! - **shard table**: `ShardTable` (`topology.rs`): one ring version's shards
//!   (members and target), its placement or routes, its connections, named
//!   `disredis:ring=<version>`; `CurrentTable` holds the current one and replaces it
//!   when the client follows a newer ring. A request is planned and sent under
//!   the table it started with.
//! - **shard index**: a shard's position in its table (`ShardTable::at`).
//! - **generation**: the number of the connection a shard has installed; a
//!   failure invalidates only the generation it happened on, so a late report
//!   from an old connection never tears down a fresh one.
//! - **re-resolve**: asking Sentinel for a shard's master again, connecting
//!   and checking `ROLE`; single flight (one query however many requests wait).
//! - **down**: a shard with no usable master and no promotion in sight (or a
//!   master only Sentinel can reach) for
//!   [`shard_down_after`](Builder::shard_down_after); its requests fail at once
//!   ([`Error::ShardDown`]) until a probe finds a master.
//! - **change** and **move**: a change takes the ring from its members to its
//!   target through `prepare` and `migrating` (written by [`reshard`]); a move
//!   takes one key from its old owner to its new one, on a client's first touch
//!   (`execute/moving.rs`, with the commands of `change.rs`) or by the tool's
//!   **mover** (`reshard/mover.rs`, `reshard/copy.rs`). `topology::RingChange` is a
//!   shard table's state during a change.
//! - **tombstone**: a field of the hash `__disredis__:moved:<version>` on a
//!   key's old owner, set with the `MIGRATE` that moves the key (even a key
//!   that doesn't exist), so nobody creates the key there again; the guard
//!   checks it.
//! - **fence**: before each step of a change, the tool waits until no disredis
//!   connection on a master of the change follows an older version
//!   (`CLIENT LIST`, by connection name; `reshard/fence.rs`).
//! - **straggler**: a connection the fence still finds on an older version;
//!   reported after a grace time, ended with `CLIENT KILL` on request.
//! - **split** and **fan-out**: a multi-key command cut into one part per
//!   shard, and a keyless command sent to every shard; the replies are merged
//!   (`plan/merge.rs`).
//! - **pinned**: a handle that sent `WATCH`, bound to a dedicated connection
//!   until `EXEC`, `DISCARD` or `UNWATCH` (`pinned.rs`).
//!
//! ### Life of a `GET`
//! `con.get("user:42")` is redis-rs's `AsyncCommands::get`: it builds a `Cmd`
//! and calls `ConnectionLike::req_packed_command` on the client. `client.rs`
//! (`query_cmd`) takes its arguments (`request.rs`) and, unless a `WATCH`
//! session pins the handle (`pinned.rs`), passes it to `dispatch.rs`
//! (`dispatch::command`), which takes the current shard table
//! (`CurrentTable::latest`, `topology.rs`) and asks it to plan the command
//! (`ShardTable::plan`, `topology/routing.rs`, the one place that knows whether a
//! ring change is under way): `plan.rs` finds the key with the command table
//! (`keys.rs`, `keys/table.rs`: `GET` has one key and is read-only) and its
//! `Route` (`routes.rs`: under a stable ring the owner, by
//! `hashing.rs`). `dispatch.rs` hands it to `Executor::run`, the one entry
//! into `execute.rs`, which turns the route into its shard and calls
//! `Executor::execute` (a key moving during a ring change goes through
//! `execute/moving.rs` instead): a read may go
//! to a replica (`replicas.rs`, per [`ReadFrom`]); otherwise the shard's
//! shared connection and its generation (`Shard::connection`,
//! `topology/shard.rs`), a connection of our own (`wire.rs`: the command is
//! packed into its write buffer, written with whatever other tasks queued,
//! and its reply decoded by the connection's reader task) opened and
//! `ROLE`-checked by `connect.rs`, carry the command, and `retry.rs`
//! (`judge`) decides whether the outcome is the answer. It goes back up
//! unchanged and redis-rs turns the `Value` into the `String` asked for. On a
//! failover symptom the retry loop in `execute.rs` re-resolves the shard
//! (`Shard::resolve`: `sentinel.rs` asks for the master, `connect.rs` opens
//! the new connection) and tries again with backoff (`retry.rs`) until the
//! failover deadline. During a ring change the request goes through
//! `Executor::run_route` (`execute/moving.rs`, with `change.rs`'s guard and
//! `MIGRATE`) instead.
//!
//! ### Layout
//! One crate in eight layers. A file imports only from its own layer (without
//! a cycle) or from layers below it, so a request reads top to bottom, as
//! above, and never goes up again. A type's methods live in the file that
//! defines it or in its module's files (`Executor` in `execute/`, `Error` in
//! `error/`, `Builder` in `config/`, `Sentinels` in `sentinel/views`); the
//! exceptions are `Builder::connect` (in `client`: connecting is the face's
//! job), `Builder::connect_blocking` (in [`blocking`]), `Builder::from_url`
//! (in [`url`]) and `DisredisClient::pubsub` (in [`pubsub`]). `lib.rs` is
//! the root (modules and the public re-exports); `src/bin/disredis/` (feature
//! `cli`) is a crate of its own over the public API.
//!
//! A row's "may use" names layers, modules (with their submodules) or "every
//! layer below"; a note in parentheses says why. The test in
//! `src/layout_tests.rs` reads this table and each file's `crate::` and
//! `super::` imports (tests included), and fails on one its row doesn't allow,
//! on a file no row owns, and on an exception below that is no longer needed.
//!
//! | layer | file | owns | may use |
//! |---|---|---|---|
//! | 1 Face | `client` | [`DisredisClient`]: connect, `shard_for`, `topology`, `events`, `on_shard`, `sentinel_views`, `cache_stats`, `ConnectionLike` | every layer below; `on_shard`, `pinned` |
//! | | [`blocking`] (+ `driver`, `pubsub`) | the blocking client and subscriber, thin wrappers over the async ones; `driver`: their runtime, waiting on it, where a call may block | `client`, `pubsub`, `topology` (the [`Topology`] snapshot it returns), `cache` (the [`CacheStats`] it returns), Base |
//! | | `on_shard` | [`ShardHandle`]: commands aimed at one named shard | Execute, `topology` (`ShardTable`: the table a request is planned and sent under, asked its routing questions — it alone knows whether a ring change is under way), Pure, Base |
//! | | `pinned` | `WATCH` sessions: a handle pinned to a dedicated connection | Execute, `topology` (`ShardTable`: the table a request is planned and sent under, asked its routing questions — it alone knows whether a ring change is under way), `wire` (the session's connection), Pure, Base |
//! | | [`pubsub`] (+ `sink`, `stream`, `manager`) | [`PubSub`] and its two ends [`PubSubSink`] and [`PubSubStream`]: subscriptions routed like keys, made again after failovers and ring changes; `manager`: the subscriber's task; `DisredisClient::pubsub` | `client` (that method's type), Execute, State, Discovery, Connect, Pure, Base |
//! | | `sessions` (feature `sessions`) | `DisredisStore`, a `tower_sessions::SessionStore` | `client`, Base |
//! | | [`reshard`] (+ `masters`, `fence`, `mover`, `copy`, `rebalance`) | changing the ring online: writing each phase, the fence on `CLIENT LIST`, the background mover, `rebalance` | `client`, Execute, State, Discovery, Connect, Pure, Base |
//! | 2 Dispatch | `dispatch` | a command or pipeline → executed parts: one shard, split, fan-out, `SCAN`, transactions; planning a whole request again after a ring change (`replanned`) | Execute, `topology` (`ShardTable`: the table a request is planned and sent under, asked its routing questions — it alone knows whether a ring change is under way), Pure, Base; `unknown` |
//! | | `dispatch::channels` | `PUBLISH`, `SPUBLISH`, `PUBSUB …` routed by channel | Execute, State, Pure, Base |
//! | | `unknown` | routing commands the key table doesn't know (`COMMAND INFO`, `COMMAND GETKEYS`) | Execute, `topology` (`ShardTable`: the table a request is planned and sent under, asked its routing questions — it alone knows whether a ring change is under way), Pure, Base |
//! | 3 Execute | `execute` (+ `start`: bring-up at connect) | `Executor`: the shared state (config, Sentinels, ring, shard table, learned commands, events), bring-up at connect, the one retry loop, durability mode, replica reads | State, Discovery, Connect, Pure, Base |
//! | | `execute::down` | declaring a shard down (asking Sentinel about a promotion) and the probe that brings it back | `execute`, State, Discovery, Base |
//! | | `execute::cached` (feature `cache`) | the client cache on the request path: a cacheable read answered from it or sent and stored, the evictions around a write | `execute`, State, Pure, Base |
//! | | `execute::policy` | a handle's own deadline and at-least-once choice, carried with the request (task-local), read on the retry path | Base |
//! | | `execute::replicated` | durability mode on the request path: the write and its `WAIT` on one connection, waiting again on that connection (within the failover deadline) while too few replicas have it | `execute`, State, Pure, Base |
//! | | `execute::moving` | requests on keys that move during a ring change: the guard (`prepare`), migrate on first touch (`migrating`, through `execute::migrate`), sending a request again under the next ring | `execute`, State, Discovery, Pure, Base; `execute::migrate` |
//! | | `execute::migrate` | the one way keys move between masters, for a client's first touch and the ring tool: `MIGRATE` with tombstones, confirm, busy keys, retried within a `Deadline`; `Reach`: how a caller reaches both masters | Pure, Base |
//! | 4 State | `membership` (+ `follow`) | which ring to follow: reading the record from the seed masters, creating version 1; following newer versions (poll and ring channel; a new table each) | `topology`, Discovery, Connect, `ring`, `retry`, Base |
//! | | `topology` (+ `shard`, `health`, `bring_up`, `routing`) | the shard table of one ring version (per master name its address, connection, generation; single-flight re-resolve; up, failing or down (`health`); bringing a table up, every master at once and named after its ring (`bring_up`, at connect and for each new ring); during a change the old and new owner per key and the moved-key memory), the current table and its replacement, applying Sentinel's sightings; [`Topology`]; `routing`: the routing questions the table answers (a key's route, a request's plan, which shard(s) a route means) | `replicas`, Discovery, Connect, Pure, Base |
//! | | `replicas` | per shard the replica connections for [`ReadFrom`] reads | Discovery, Connect, Base |
//! | 5 Discovery | `sentinel` | Sentinel I/O only: discovery, master and replica lookups, learning Sentinels, whether a promotion is possible | Connect, Base |
//! | | `sentinel::lookup` | where a master is: the first Sentinel's answer, past a Sentinel that missed a failover (a quorum of 1 after a `+switch-master`), or the one `sentinel_quorum` Sentinels agree on | `sentinel`, Base |
//! | | `sentinel::reply` | parsing Sentinel replies defensively, and a data node's answer at a Sentinel address; pure | Base |
//! | | `sentinel::quorum` | counting Sentinels' answers for `sentinel_quorum`: the agreed master, or [`Error::NoQuorum`]; pure | Base |
//! | | `sentinel::views` | [`SentinelView`]: every known Sentinel asked on its own where each master is (`sentinel_views`, `disredis topology`) | `sentinel`, Base |
//! | | `sentinel::switch` | `+switch-master` subscriptions and the poll; reports sightings over a channel, never touches the shard table | `sentinel`, Base |
//! | 6 Connect | `connect` | opening a connection to any node: settings (auth, db, TLS); the one `ROLE`-checked connect to a data node (`connect_node`: masters and replicas over a `wire` connection; `connect_subscriber`: the same, RESP3, its pushes to a sink), named in the same round trip | `wire`, Base |
//! | | `wire` (+ `conn`, `socket`, `open`, `like`, `reply`, `resp`, `tls`) | the connection of our own to a data node (DESIGN §10): requests packed once into the write buffer, writes coalesced across tasks, one reader answering in order, a bounded queue, exact fate (`conn`); the socket and its reader and writer tasks (`socket`); connecting and the one-round-trip handshake (`open`, `tls`); commands and pipelines as redis-rs takes them (`like`); gathering a request's replies (`reply`) and decoding RESP2/RESP3 (`resp`), both pure | `retry` (the not-sent mark), `prop` (its tests), Base |
//! | 7 Pure | `cache` (+ `stats`; feature `cache`) | client-side caching's state: the bounded entries (quick_cache), each read under a connection's tracking epoch; the invalidation counters that keep a read crossed by an invalidation out; which reads may be cached; [`CacheStats`] | [`keys`] (its tests), Base |
//! | | `plan` (+ `merge`, `pipeline`, `scan`, `state`, `step`, `transaction`) | how a command or pipeline splits over routes and how replies merge; which split writes took effect; the commands refused because they change a shared connection's state (`state`) | `routes`, `change`, `request`, [`keys`], [`hashing`], `retry`, Base |
//! | | `routes` | a route per key: its shard, or during a ring change the (old owner, new owner) pair | [`hashing`] |
//! | | `change` | what a client sends for a moving key: the guard script, `MIGRATE` with tombstones (and its one timeout), judging their replies (`Migrated`, `UNLINK` counts) | `request` (its tests), Base |
//! | | `request` | `Request`, `Reply`, `Call` (how to treat a request), argument collection | [`keys`], Base |
//! | | `retry` (+ `deadline`) | `judge(outcome) → Done / Retry / Ambiguous`, fatal errors; `deadline`: a retry loop's `Deadline` (budget, backoff, last error: the next pause or the one `FailoverTimeout`) | `request`, Base |
//! | | `durable` | building and judging the `WAIT` of durability mode | Base |
//! | | `ring` | [`Ring`]: the ring record's format, parsing, which copy wins, connection names | [`hashing`] (members sorted and distinct), Base |
//! | | [`keys`] (+ `table`, `learned`, `newer`, `shapes`) | the command table: where the keys are, read-only/idempotent/blocking; what `COMMAND INFO` taught | — |
//! | | [`hashing`] | hash-tag rule and rendezvous hashing over master names | `prop` (its tests) |
//! | 8 Base | `config` (+ `builder`, `validate`) | [`Builder`] and validated [`Config`] (`validate`: the checks of `Builder::build`), defaults as named consts | `addr`, `tls`, `secret`, `error` |
//! | | [`url`] (+ `parsed`, `text`, `tls`) | `redis+sentinel://` and `rediss+sentinel://` URLs into a [`Builder`]: [`url::SentinelUrl`], escapes and redaction, [`url::TlsParams`] (the only I/O of layer 8: reading the PEM files TLS parameters name) | `config`, `addr`, `tls`, `secret`, `error` |
//! | | `tls` (feature `tls`) | `TlsConfig`: certificates to trust, client certificate | `secret`, `error` |
//! | | `addr` | [`NodeAddr`]: `host:port` / `[v6]:port` | `error`, `prop` (its tests) |
//! | | `secret` | passwords kept out of `Debug` and logs | — |
//! | | `error` (+ `classify`, `parts`, `redis_error`) | [`enum@Error`], one variant per failure the client detects; its `redis` kind and name; the records it carries; crossing the `redis` traits and back | — |
//! | | `events` | [`Event`]s, a broadcast of what happened to shards and Sentinels; the event-like metrics | `metrics` |
//! | | `metrics` (+ `on`; public with feature `metrics`) | the metrics of requests, connections, failovers, the ring and pub/sub through the `metrics` facade; empty and inlined away without the feature (names: `docs/metrics.md`) | `addr`, `error` |
//! | | `prop` (tests only) | what the property tests share: the case count (`PROPTEST_CASES`), string strategies; the properties sit beside what they test (`addr/prop.rs`, `hashing/prop.rs`, `sentinel/reply/prop.rs`) | — |
//! | | `layout_tests` (tests only) | this table, checked: every file's imports against its row | — |
//!
//! Imports the table doesn't allow yet, each with its reason (none today; a
//! table of `file | imports | why` rows here lists any):
//!
//! Layers 7 and 8 do no network I/O (`url` reads the PEM files a URL names) and keep their unit tests beside them.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod addr;
pub mod blocking;
#[cfg(feature = "cache")]
mod cache;
mod change;
mod client;
mod config;
mod connect;
mod dispatch;
mod durable;
mod error;
mod events;
mod execute;
pub mod hashing;
pub mod keys;
#[cfg(test)]
mod layout_tests;
mod membership;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
mod metrics;
mod on_shard;
mod pinned;
mod plan;
#[cfg(test)]
mod prop;
pub mod pubsub;
mod replicas;
mod request;
pub mod reshard;
mod retry;
mod ring;
mod routes;
mod secret;
mod sentinel;
#[cfg(feature = "sessions")]
pub mod sessions;
#[cfg(feature = "tls")]
mod tls;
mod topology;
mod unknown;
pub mod url;
mod wire;

#[cfg(feature = "cache")]
pub use cache::CacheStats;
pub use client::DisredisClient;
#[cfg(feature = "tls")]
pub use config::TlsConfig;
pub use config::{
    AddressMap, Builder, Config, DEFAULT_BACKOFF_MAX, DEFAULT_BACKOFF_MIN, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_FAILOVER_DEADLINE, DEFAULT_POLL_INTERVAL, DEFAULT_RESPONSE_TIMEOUT, DEFAULT_RING_POLL_INTERVAL,
    DEFAULT_SENTINEL_QUORUM, DEFAULT_SENTINEL_TIMEOUT, DEFAULT_SHARD_DOWN_AFTER, DEFAULT_TCP_KEEPALIVE,
    NodeAddr, ReadFrom,
};
#[cfg(feature = "cache")]
pub use config::{CacheConfig, DEFAULT_CACHE_BYTES, DEFAULT_CACHE_TTL};
pub use error::{Error, Result, SentinelAnswer, SentinelFailure, ShardFailure};
pub use events::Event;
pub use on_shard::ShardHandle;
pub use pubsub::{PubSub, PubSubSink, PubSubStream};
pub use ring::{Phase, RING_CHANNEL, RING_LIBRARY, Ring};
pub use sentinel::SentinelView;
pub use topology::{ShardInfo, Topology};
