//! A small login / visit-counter site (axum + tower-sessions) whose sessions are
//! stored through disredis, sharded over Sentinel-managed masters.
//!
//! Start the local topology and the site:
//!
//! ```sh
//! sentinel-conf/topology.sh start /tmp/t
//! cargo run --example session_store --features sessions
//! ```
//!
//! With `--features sessions,metrics` the site also serves `GET /metrics`
//! (disredis's metrics, Prometheus text format; `docs/metrics.md`).
//!
//! then, with a cookie jar:
//!
//! ```sh
//! curl -c jar -b jar -d name=ann http://127.0.0.1:3000/login
//! curl -c jar -b jar http://127.0.0.1:3000/
//! curl -c jar -b jar -X POST http://127.0.0.1:3000/logout
//! ```
//!
//! Kill a master (`kill -9`) between two requests: the next request waits for
//! the failover and the count goes on. Options: `--help`.

mod app;

use std::process::ExitCode;
use std::time::Duration;

use disredis::DisredisClient;
use disredis::sessions::DisredisStore;

#[tokio::main]
async fn main() -> ExitCode {
    let options =
        match app::Options::parse(std::env::args().skip(1), std::env::var("DISREDIS_SENTINELS").ok()) {
            Ok(o) => o,
            Err(msg) if msg == app::USAGE => {
                print!("{msg}");
                return ExitCode::SUCCESS;
            }
            Err(msg) => {
                eprintln!("session_store: {msg}");
                return ExitCode::from(2);
            }
        };
    tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).with_target(false).init();
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("session_store: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: app::Options) -> Result<(), Box<dyn std::error::Error>> {
    // Before connecting: the client registers its metrics as it connects.
    #[cfg(feature = "metrics")]
    let metrics = {
        let handle = app::prometheus().install_recorder()?;
        let upkeep = handle.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                upkeep.run_upkeep();
            }
        });
        handle
    };
    let mut builder = DisredisClient::builder().sentinels(&options.sentinels);
    if options.wait_replicas > 0 {
        // A login is worth a short wait for a replica to have the session.
        builder = builder.wait_replicas(options.wait_replicas, Duration::from_millis(400));
    }
    let client = builder.connect().await?;
    let store = DisredisStore::new(client.clone()).with_prefix(&options.prefix);
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    println!(
        "session_store: http://{} (sessions {}:<id> on shards {}, through Sentinels {})",
        listener.local_addr()?,
        options.prefix,
        client.shard_names().join(", "),
        client.sentinels().join(", ")
    );
    #[cfg(feature = "metrics")]
    let site = app::router_with_metrics(store, metrics);
    #[cfg(not(feature = "metrics"))]
    let site = app::router(store);
    axum::serve(listener, site)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
