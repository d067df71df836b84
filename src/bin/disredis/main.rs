//! `disredis`: inspect and use a Sentinel-sharded Redis from the command line.
//!
//! Built with the `cli` feature: `cargo install --path . --features cli`, or
//! `cargo run --features cli -- --sentinel 127.0.0.1:26381 topology`.

mod commands;
mod output;
mod progress;
mod reshard;
mod ring;
mod topology;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use disredis::{Builder, DisredisClient, Error};

const AFTER_HELP: &str = "\
Where the Sentinels are (one of):
  --sentinel HOST:PORT   repeat for several; tried in order
  --url URL              redis+sentinel://[user:password@]host:port[,host:port…]/?masters=a,b&db=0&…
  DISREDIS_URL=URL       the same URL from the environment (used when neither option is given)
Passwords go in the URL: the userinfo for the masters, sentinel_password=… for the Sentinels.
Every URL parameter is listed in the API docs of disredis::url (cargo doc --open).

Examples:
  disredis --sentinel 127.0.0.1:26381 --sentinel 127.0.0.1:26382 topology
  disredis --url 'redis+sentinel://127.0.0.1:26381/?masters=shard-a,shard-b' locate user:42 user:43
  disredis -s 127.0.0.1:26381 set greeting hello && disredis -s 127.0.0.1:26381 get greeting
  disredis -s 127.0.0.1:26381 --json ping
  disredis -s 127.0.0.1:26381 watch          # failover events until Ctrl-C

Exit status: 0 success; 1 the command failed (no Sentinel answered, a shard is down,
a Redis error); 2 a usage or configuration error (bad option, URL or address,
unknown master, refused credentials).";

/// Inspect and use a Redis deployment sharded over Sentinel-managed masters.
///
/// Keys are spread over the ring's member masters by rendezvous hashing of
/// their names, exactly as the disredis library does it, so `locate`, `get`,
/// `set` and `del` agree with every application using the library.
#[derive(Parser, Debug)]
#[command(name = "disredis", version, after_help = AFTER_HELP)]
struct Cli {
    /// A Sentinel address, HOST:PORT or [IPv6]:PORT. Repeat for more Sentinels.
    #[arg(long = "sentinel", short = 's', value_name = "HOST:PORT", global = true)]
    sentinels: Vec<String>,

    /// All settings in one redis+sentinel:// URL (default: $DISREDIS_URL).
    #[arg(long, value_name = "URL", conflicts_with = "sentinels", global = true)]
    url: Option<String>,

    /// Only use these master names (shards); repeat or separate with commas.
    /// Default: every master the Sentinels monitor (or the URL's masters=).
    #[arg(long = "master", short = 'm', value_name = "NAME", value_delimiter = ',', global = true)]
    masters: Vec<String>,

    /// Database number on every master (default: 0, or the URL's db).
    #[arg(long, value_name = "N", global = true)]
    db: Option<i64>,

    /// Print JSON (one document, or one object per line for `watch`) instead of tables.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Every shard: master address, ROLE check, replicas with lag, and how many
    /// Sentinels name the same master. Exit status 1 when a master fails the ROLE check.
    Topology,
    /// The ring: version, phase, members, masters Sentinel monitors that are not
    /// members, and per member its copy of the ring record and the ring versions
    /// its connected disredis clients follow. Exit status 1 when a member's copy
    /// is missing, unreadable or different.
    Ring,
    /// Which shard, and which master address, each key lives on.
    Locate {
        /// Keys to look up (nothing is read or written).
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
    /// Print a key's value, or (nil) when it does not exist.
    Get {
        /// The key.
        key: String,
    },
    /// Set a key to a value.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Expire the key after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        ex: Option<u64>,
    },
    /// Delete keys (on whichever shards they live) and print how many existed.
    Del {
        /// Keys to delete.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
    /// PING each shard's master several times and print the min / median / max latency.
    Ping {
        /// PINGs per shard.
        #[arg(long, short = 'n', default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
        count: u32,
    },
    /// Print failover events (SwitchMaster, ReResolved, SentinelDown/Up) with UTC
    /// timestamps as they happen, until Ctrl-C.
    Watch,
    /// Change the ring's members online: checks the change (exit status 2 when
    /// it can't be made), then runs it — prepare, migrating (keys moved, with
    /// progress), stable — waiting at each step until every connected disredis
    /// client follows. Exit status 0 only when the ring is stable with the
    /// change applied; 1 when it ended with conflicts or failed (run `reshard
    /// resume` to continue). With --dry-run, prints how many keys would move
    /// from which master to which and changes nothing.
    Reshard {
        #[command(subcommand)]
        change: ReshardCommand,
    },
    /// Move every key that is not on its owner under the ring to its owner
    /// (from any other placement, e.g. the Python disredis's). A key on a
    /// master that is not its owner while the owner holds its own copy is a
    /// conflict: --on-conflict decides (default: report, keep both). Exit
    /// status 1 when conflicts were kept.
    Rebalance {
        /// Only count what would move and the conflicts; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// What to do with a key on two masters.
        #[arg(long, value_enum, default_value_t = OnConflictArg::Report)]
        on_conflict: OnConflictArg,
    },
}

/// `rebalance --on-conflict`.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum OnConflictArg {
    /// Keep both copies and report them.
    Report,
    /// Keep the owner's copy, delete the other.
    KeepOwner,
    /// Overwrite the owner's copy with the other, then delete the other.
    KeepOther,
}

/// How the fence treats clients that lag (`reshard add|remove|resume`).
#[derive(clap::Args, Debug, Clone)]
struct FenceArgs {
    /// Report a connection still following an older ring after SECS.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    grace: f64,
    /// End such connections with CLIENT KILL after SECS (they re-read the ring
    /// when they reconnect). Default: never, keep waiting and reporting.
    #[arg(long, value_name = "SECS")]
    kill_stragglers_after: Option<f64>,
}

#[derive(Subcommand, Debug)]
enum ReshardCommand {
    /// Add a master the Sentinels monitor (listed by `ring` as not a member).
    Add {
        /// The master name.
        name: String,
        /// Only count what would move; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Add it even though it holds keys (one that also moves to it is a
        /// conflict: both copies kept and reported).
        #[arg(long)]
        allow_nonempty: bool,
        #[command(flatten)]
        fence: FenceArgs,
    },
    /// Remove a member; its keys go to their owners among the others.
    Remove {
        /// The master name.
        name: String,
        /// Only count what would move; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        fence: FenceArgs,
    },
    /// Continue an interrupted change from the ring's phase (exit 0 saying so
    /// when nothing is in progress).
    Resume {
        #[command(flatten)]
        fence: FenceArgs,
    },
}

impl FenceArgs {
    fn options(&self, allow_nonempty: bool) -> Result<disredis::reshard::Options, Failure> {
        let secs = |what: &str, v: f64| {
            std::time::Duration::try_from_secs_f64(v)
                .map_err(|_| Failure { code: 2, message: format!("{what}: {v} is not a number of seconds") })
        };
        let mut options = disredis::reshard::Options::default();
        options.grace = secs("--grace", self.grace)?;
        options.kill_stragglers_after =
            self.kill_stragglers_after.map(|v| secs("--kill-stragglers-after", v)).transpose()?;
        options.allow_nonempty = allow_nonempty;
        Ok(options)
    }
}

/// A failure and the exit status it gets.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure { code: exit_code(&e), message: e.to_string() }
    }
}

/// A typed error that came through the `redis` traits gets its own exit code.
impl From<redis::RedisError> for Failure {
    fn from(e: redis::RedisError) -> Failure {
        Failure::from(Error::from(e))
    }
}

/// 2 for what the user must fix in the command line or URL; 1 for everything else.
fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Config { .. }
        | Error::BadUrl { .. }
        | Error::UnknownMaster { .. }
        | Error::UnknownShard { .. }
        | Error::Reshard { .. }
        | Error::Auth { .. }
        | Error::Tls { .. } => 2,
        _ => 1,
    }
}

/// Where to connect, from the options, the URL or `DISREDIS_URL`.
fn settings(cli: &Cli) -> Result<Builder, Failure> {
    let url = cli.url.clone().or_else(|| match cli.sentinels.is_empty() {
        true => std::env::var("DISREDIS_URL").ok().filter(|u| !u.is_empty()),
        false => None,
    });
    let mut builder = match url {
        Some(url) => Builder::from_url(&url)?,
        None if cli.sentinels.is_empty() => {
            return Err(Failure {
                code: 2,
                message: "no Sentinels given: use --sentinel HOST:PORT (repeatable), --url \
                          redis+sentinel://… or set DISREDIS_URL (see disredis --help)"
                    .into(),
            });
        }
        None => DisredisClient::builder().sentinels(&cli.sentinels),
    };
    if !cli.masters.is_empty() {
        builder = builder.masters(&cli.masters);
    }
    if let Some(db) = cli.db {
        builder = builder.db(db);
    }
    // Validate before connecting, so a bad address is a configuration error (2).
    builder.clone().build()?;
    Ok(builder)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let builder = settings(&cli)?;
    let client = builder.connect().await?;
    let json = cli.json;
    match cli.command {
        Command::Topology => topology::run(&client, json).await,
        Command::Ring => ring::run(&client, json).await,
        Command::Reshard { change } => match change {
            ReshardCommand::Add { name, dry_run, allow_nonempty, fence } => {
                let options = fence.options(allow_nonempty)?;
                reshard::run(&client, reshard::Change::Add, &name, dry_run, &options, json).await
            }
            ReshardCommand::Remove { name, dry_run, fence } => {
                let options = fence.options(false)?;
                reshard::run(&client, reshard::Change::Remove, &name, dry_run, &options, json).await
            }
            ReshardCommand::Resume { fence } => reshard::resume(&client, &fence.options(false)?, json).await,
        },
        Command::Rebalance { dry_run, on_conflict } => {
            let policy = match on_conflict {
                OnConflictArg::Report => disredis::reshard::OnConflict::Report,
                OnConflictArg::KeepOwner => disredis::reshard::OnConflict::KeepOwner,
                OnConflictArg::KeepOther => disredis::reshard::OnConflict::KeepOther,
            };
            reshard::rebalance(&client, policy, dry_run, json).await
        }
        Command::Locate { keys } => commands::locate(&client, &keys, json),
        Command::Get { key } => commands::get(&client, &key, json).await,
        Command::Set { key, value, ex } => commands::set(&client, &key, &value, ex, json).await,
        Command::Del { keys } => commands::del(&client, &keys, json).await,
        Command::Ping { count } => commands::ping(&client, count, json).await,
        Command::Watch => commands::watch(&client, json).await,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Usage errors exit with 2, --help and --version with 0 (clap's convention).
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("disredis: error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
