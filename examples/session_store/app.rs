//! The example's web app: routes and options, without the process around them
//! (`main.rs`), so `tests/it/web_app.rs` runs the very same router.
//!
//! - `GET /`: `not logged in`, or `hello NAME, visit N` (N counts this session's
//!   visits and goes up by one per request);
//! - `POST /login` with form field `name`: a new session (new id, so a session id
//!   known before the login is worthless after it) holding the name;
//! - `POST /logout`: deletes the session;
//! - `GET /metrics` (feature `metrics`): disredis's metrics in the Prometheus
//!   text format (`docs/metrics.md`), for a scraper.
//!
//! Responses are `text/plain`, so a name is never interpreted as HTML.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use disredis::sessions::DisredisStore;
#[cfg(feature = "metrics")]
use metrics_exporter_prometheus::PrometheusHandle;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

/// Session keys.
const NAME: &str = "name";
const VISITS: &str = "visits";
/// Longest accepted name, in characters.
const MAX_NAME: usize = 64;

/// The site, with its sessions in `store`. Sessions end after 30 minutes
/// without a request.
pub fn router(store: DisredisStore) -> Router {
    let sessions = SessionManagerLayer::new(store)
        // Plain HTTP on a loopback address (see `Options`); behind TLS, keep
        // the default (`Secure` cookies).
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(30)));
    Router::new()
        .route("/", get(index))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .layer(sessions)
}

async fn index(session: Session) -> Result<String, AppError> {
    let Some(name) = session.get::<String>(NAME).await? else {
        return Ok("not logged in\n".to_owned());
    };
    let visits = session.get::<u64>(VISITS).await?.unwrap_or(0) + 1;
    session.insert(VISITS, visits).await?;
    Ok(format!("hello {name}, visit {visits}\n"))
}

#[derive(serde::Deserialize)]
struct Login {
    name: String,
}

async fn login(session: Session, Form(form): Form<Login>) -> Result<Response, AppError> {
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        let msg = format!("name must be 1 to {MAX_NAME} printable characters\n");
        return Ok((StatusCode::BAD_REQUEST, msg).into_response());
    }
    // A new id at login: the session stored under the old one is deleted.
    session.cycle_id().await?;
    session.insert(NAME, name).await?;
    session.insert(VISITS, 0u64).await?;
    Ok(format!("logged in as {name}\n").into_response())
}

async fn logout(session: Session) -> Result<String, AppError> {
    session.flush().await?;
    Ok("logged out\n".to_owned())
}

/// A session store failure: 500 with the store's message (which never holds
/// the session id).
struct AppError(tower_sessions::session::Error);

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
        AppError(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, format!("session store error: {}\n", self.0)).into_response()
    }
}

/// The site of [`router`] plus `GET /metrics`: what `metrics` renders (the
/// Prometheus recorder installed with [`prometheus`]). The scrape is outside
/// the session layer, so it never creates a session.
#[cfg(feature = "metrics")]
pub fn router_with_metrics(store: DisredisStore, metrics: PrometheusHandle) -> Router {
    let scrape = move || {
        let text = metrics.render();
        async move { ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
    };
    router(store).route("/metrics", get(scrape))
}

/// The recorder of `/metrics`, to install before the client connects:
/// Prometheus naming (`_total` on counters, `_seconds` on durations) and, for
/// disredis's durations, histograms with the OpenTelemetry buckets (seconds)
/// instead of summaries, so a dashboard can aggregate them over instances.
#[cfg(feature = "metrics")]
pub fn prometheus() -> metrics_exporter_prometheus::PrometheusBuilder {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    const BUCKETS: [f64; 14] =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    let durations = [
        disredis::metrics::OPERATION_DURATION,
        disredis::metrics::CONNECTION_CREATE_TIME,
        disredis::metrics::OUTAGE_DURATION,
        disredis::metrics::PUBSUB_GAP_DURATION,
    ];
    durations.into_iter().fold(PrometheusBuilder::new().with_recommended_naming(true), |b, name| {
        // The exporter matches the name after turning its dots into underscores.
        let name = Matcher::Full(name.replace('.', "_"));
        b.set_buckets_for_metric(name, &BUCKETS).expect("buckets are not empty")
    })
}

/// Command line and environment of the example.
#[derive(Debug, PartialEq)]
pub struct Options {
    /// Sentinel addresses, `host:port`.
    pub sentinels: Vec<String>,
    /// Where the site listens; loopback only.
    pub listen: SocketAddr,
    /// Key prefix of the sessions.
    pub prefix: String,
    /// Durability: replicas each session write must reach (0: off).
    pub wait_replicas: usize,
}

/// The local topology's Sentinels (`sentinel-conf/`).
pub const DEFAULT_SENTINELS: [&str; 2] = ["127.0.0.1:26381", "127.0.0.1:26382"];
/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";

pub const USAGE: &str = "\
usage: session_store [--listen ADDR] [--prefix PREFIX] [--wait-replicas N] [SENTINEL...]

A login / visit-counter site whose sessions live in Redis through disredis.

  SENTINEL            Sentinel address host:port (repeatable); default: $DISREDIS_SENTINELS
                      (comma-separated) or 127.0.0.1:26381 127.0.0.1:26382
  --listen ADDR       listen address, loopback only (default 127.0.0.1:3000)
  --prefix PREFIX     session key prefix (default: session)
  --wait-replicas N   every session write waits for N replicas (default 0: off);
                      needs N replicas per shard, also after a failover
  -h, --help          this text
";

impl Options {
    /// Parses `args` (without the program name); `env_sentinels` is
    /// `$DISREDIS_SENTINELS`. `Err` holds the message to print (the usage for
    /// `--help`).
    pub fn parse<I: IntoIterator<Item = String>>(
        args: I,
        env_sentinels: Option<String>,
    ) -> Result<Options, String> {
        let mut sentinels = Vec::new();
        let mut listen = DEFAULT_LISTEN.to_owned();
        let mut prefix = disredis::sessions::DEFAULT_PREFIX.to_owned();
        let mut wait_replicas = 0;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value =
                |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"));
            match arg.as_str() {
                "-h" | "--help" => return Err(USAGE.to_owned()),
                "--listen" => listen = value("--listen")?,
                "--prefix" => prefix = value("--prefix")?,
                "--wait-replicas" => {
                    let n = value("--wait-replicas")?;
                    wait_replicas = n.parse().map_err(|_| format!("--wait-replicas: not a number: {n:?}"))?;
                }
                flag if flag.starts_with('-') => return Err(format!("unknown option {flag}\n\n{USAGE}")),
                _ => sentinels.push(arg),
            }
        }
        if sentinels.is_empty() {
            sentinels = match env_sentinels.filter(|s| !s.trim().is_empty()) {
                Some(list) => {
                    list.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
                }
                None => DEFAULT_SENTINELS.iter().map(|s| s.to_string()).collect(),
            };
        }
        let listen: SocketAddr = listen
            .parse()
            .map_err(|_| format!("--listen: not an address like 127.0.0.1:3000: {listen:?}"))?;
        if !listen.ip().is_loopback() {
            return Err(format!(
                "--listen {listen}: this demo sends session cookies over plain HTTP, so it only listens on loopback"
            ));
        }
        Ok(Options { sentinels, listen, prefix, wait_replicas })
    }
}
