//! The command line: options (including credentials and TLS, and the TLS
//! settings those flags give), subcommands and their help text (clap derive).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use disredis::url::TlsParams;

use crate::Failure;

const AFTER_HELP: &str = "\
Where the Sentinels are (one of):
  --sentinel HOST:PORT   repeat for several; tried in order
  --url URL              redis+sentinel://[user:password@]host:port[,host:port…]/?masters=a,b&db=0&…
  DISREDIS_URL=URL       the same URL from the environment (used when neither option is given)
  (rediss+sentinel://… is the same URL with TLS to data nodes and Sentinels: ?ca=FILE&cert=…&key=…)
Every URL parameter is listed in the API docs of disredis::url (cargo doc --open).

Passwords (the data nodes'; the Sentinels' with the sentinel- options), first found wins:
  --password-env VAR / --ask-password   (the prompt reads a line from stdin when it is no terminal)
  the URL's user:password@ (sentinel_password=… for the Sentinels)
  DISREDIS_PASSWORD / DISREDIS_SENTINEL_PASSWORD
TLS: --tls, --tls-ca FILE, --tls-cert FILE --tls-key FILE (any of them turns TLS on), and
  --sentinel-tls on|off, --sentinel-tls-ca/-cert/-key where the Sentinels' differ;
  they refine the URL's TLS settings.

Examples:
  disredis --sentinel 127.0.0.1:26381 --sentinel 127.0.0.1:26382 topology
  disredis --url 'redis+sentinel://127.0.0.1:26381/?masters=shard-a,shard-b' locate user:42 user:43
  disredis -s 127.0.0.1:26381 set greeting hello && disredis -s 127.0.0.1:26381 get greeting
  disredis -s 127.0.0.1:26381 --json ping
  disredis -s 127.0.0.1:26381 watch          # failover events until Ctrl-C
  disredis -s 127.0.0.1:26381 info memory    # one column per shard
  disredis -s 127.0.0.1:26381 scan 'user:*' --count 1000 | wc -l
  disredis -s 127.0.0.1:26381 keys-summary   # are the shards balanced?
  DISREDIS_PASSWORD=… disredis --url 'rediss+sentinel://10.0.0.1/?ca=/etc/redis/ca.crt' topology
  disredis completions bash > /etc/bash_completion.d/disredis

Exit status: 0 success; 1 the command failed (no Sentinel answered, a shard is down,
a Redis error); 2 a usage or configuration error (bad option, URL or address,
unknown master, refused credentials, a rejected TLS certificate); 141 standard output
was closed before everything was written (`| head`), as for a tool killed by SIGPIPE.";

/// Inspect and use a Redis deployment sharded over Sentinel-managed masters.
///
/// Keys are spread over the ring's member masters by rendezvous hashing of
/// their names, exactly as the disredis library does it, so `locate`, `get`,
/// `set` and `del` agree with every application using the library.
#[derive(Parser, Debug)]
#[command(name = "disredis", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// A Sentinel address, HOST:PORT or [IPv6]:PORT. Repeat for more Sentinels.
    #[arg(long = "sentinel", short = 's', value_name = "HOST:PORT", global = true)]
    pub sentinels: Vec<String>,

    /// All settings in one redis+sentinel:// URL (default: $DISREDIS_URL).
    #[arg(long, value_name = "URL", conflicts_with = "sentinels", global = true)]
    pub url: Option<String>,

    /// Only use these master names (shards); repeat or separate with commas.
    /// Default: every master the Sentinels monitor (or the URL's masters=).
    #[arg(long = "master", short = 'm', value_name = "NAME", value_delimiter = ',', global = true)]
    pub masters: Vec<String>,

    /// Database number on every master (default: 0, or the URL's db).
    #[arg(long, value_name = "N", global = true)]
    pub db: Option<i64>,

    /// How long each Sentinel gets to connect and to answer, in milliseconds
    /// (default: 250, or the URL's sentinel_timeout). Raise it for Sentinels
    /// across a slow link or on a busy host, where `topology` would otherwise
    /// show them "timed out".
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=600_000), global = true)]
    pub sentinel_timeout: Option<u64>,

    /// How long a shard gets to answer, in milliseconds (the client's failover
    /// deadline). Default: the URL's failover_deadline; without one, 2000 for
    /// the commands that report per shard (topology, ring, info, ping,
    /// keys-summary, watch), so a shard that is down costs that once and the
    /// others are still shown, and the library's 15000 for the rest, so they
    /// wait out a failover.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=600_000), global = true)]
    pub shard_timeout: Option<u64>,

    /// Print JSON (one document, or one object per line for `watch` and `scan`) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(flatten)]
    pub access: AccessArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Every shard: master address, ROLE check, replicas with lag, and how many
    /// Sentinels name the same master (where it does not answer, that they
    /// agree on it all the same). Exit status 1 when a master fails the ROLE check.
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
    /// timestamps as they happen, until Ctrl-C; and, from a PING to every shard
    /// each second, NoMaster when a shard's master stops answering, MasterUp
    /// when one answers again.
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
    /// INFO from every shard's master, side by side: one column per shard,
    /// one row per field (default: the default sections). Exit status 1 when a
    /// shard did not answer (its column says why).
    Info {
        /// An INFO section (server, clients, memory, persistence, stats,
        /// replication, cpu, keyspace, commandstats, …, or all / everything).
        section: Option<String>,
    },
    /// Every key matching PATTERN on every shard's master (SCAN with MATCH),
    /// one per line as each shard returns them; the count per shard on stderr.
    /// --json: one {"key","shard"} object per line. Exit status 1 when a shard
    /// failed part-way (the keys found until then are printed).
    Scan {
        /// A glob-style pattern (SCAN MATCH), e.g. 'user:*'.
        #[arg(default_value = "*")]
        pattern: String,
        /// The COUNT hint: keys each SCAN call looks at.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
        count: u32,
        /// Only keys of this type (SCAN TYPE): string, list, set, zset, hash, stream.
        #[arg(long = "type", value_name = "TYPE")]
        key_type: Option<String>,
    },
    /// Whether the shards are balanced: per shard DBSIZE, MEMORY USAGE of a
    /// sample of random keys (RANDOMKEY) and the memory estimated from it,
    /// used_memory, the biggest keys sampled, and the imbalance (largest /
    /// mean) of key counts and memory. Exit status 1 when a shard did not answer.
    #[command(visible_alias = "bigkeys")]
    KeysSummary {
        /// Random keys sampled per shard.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        samples: u32,
        /// The biggest sampled keys shown per shard.
        #[arg(long, default_value_t = 5)]
        top: usize,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    /// Needs no Sentinel.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// Whether the command reports on every shard (and so gets a short
    /// `--shard-timeout` by default: one shard that is down must not hold up
    /// the report on the others, nor cost a failover deadline per column).
    pub fn reports_per_shard(&self) -> bool {
        matches!(
            self,
            Command::Topology
                | Command::Ring
                | Command::Info { .. }
                | Command::Ping { .. }
                | Command::KeysSummary { .. }
                | Command::Watch
        )
    }
}

/// `rebalance --on-conflict`.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum OnConflictArg {
    /// Keep both copies and report them.
    Report,
    /// Keep the owner's copy, delete the other.
    KeepOwner,
    /// Overwrite the owner's copy with the other, then delete the other.
    KeepOther,
}

/// How the fence treats clients that lag (`reshard add|remove|resume`).
#[derive(clap::Args, Debug, Clone)]
pub struct FenceArgs {
    /// Report a connection still following an older ring after SECS.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub grace: f64,
    /// End such connections with CLIENT KILL after SECS (they re-read the ring
    /// when they reconnect). Default: never, keep waiting and reporting.
    #[arg(long, value_name = "SECS")]
    pub kill_stragglers_after: Option<f64>,
}

#[derive(Subcommand, Debug)]
pub enum ReshardCommand {
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
    pub fn options(&self, allow_nonempty: bool) -> Result<disredis::reshard::Options, Failure> {
        let secs = |what: &str, v: f64| {
            std::time::Duration::try_from_secs_f64(v)
                .map_err(|_| Failure::usage(format!("{what}: {v} is not a number of seconds")))
        };
        let mut options = disredis::reshard::Options::default();
        options.grace = secs("--grace", self.grace)?;
        options.kill_stragglers_after =
            self.kill_stragglers_after.map(|v| secs("--kill-stragglers-after", v)).transpose()?;
        options.allow_nonempty = allow_nonempty;
        Ok(options)
    }
}

/// Credentials and TLS (global options).
#[derive(clap::Args, Debug)]
pub struct AccessArgs {
    /// The data nodes' ACL user name (overrides the URL's).
    #[arg(long, value_name = "NAME", global = true)]
    pub user: Option<String>,
    /// The Sentinels' ACL user name (overrides the URL's sentinel_username).
    #[arg(long, value_name = "NAME", global = true)]
    pub sentinel_user: Option<String>,
    /// Read the data nodes' password from this environment variable.
    #[arg(long, value_name = "VAR", global = true, conflicts_with = "ask_password")]
    pub password_env: Option<String>,
    /// Ask for the data nodes' password (no echo on a terminal; else one line of stdin).
    #[arg(long, global = true)]
    pub ask_password: bool,
    /// Read the Sentinels' password from this environment variable.
    #[arg(long, value_name = "VAR", global = true, conflicts_with = "ask_sentinel_password")]
    pub sentinel_password_env: Option<String>,
    /// Ask for the Sentinels' password (after the data nodes' with both asked).
    #[arg(long, global = true)]
    pub ask_sentinel_password: bool,
    /// TLS to the data nodes and (unless --sentinel-tls off) the Sentinels,
    /// verified against the system trust store unless --tls-ca is given.
    #[arg(long, global = true)]
    pub tls: bool,
    /// Trust exactly the CA certificates in this PEM file (implies --tls).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, global = true)]
    pub tls_ca: Option<PathBuf>,
    /// A client certificate chain (PEM) for mutual TLS; needs --tls-key (implies --tls).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, global = true, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, global = true, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// TLS to the Sentinels on or off (default: as the data nodes).
    #[arg(long, value_name = "on|off", global = true, value_parser = on_off)]
    pub sentinel_tls: Option<bool>,
    /// The Sentinels' CA file, where it is not --tls-ca (implies TLS to the Sentinels).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, global = true)]
    pub sentinel_tls_ca: Option<PathBuf>,
    /// The client certificate for Sentinels, where it is not --tls-cert.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, global = true, requires = "sentinel_tls_key")]
    pub sentinel_tls_cert: Option<PathBuf>,
    /// Its private key.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, global = true, requires = "sentinel_tls_cert")]
    pub sentinel_tls_key: Option<PathBuf>,
}

fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err(format!("{s:?} is not on or off")),
    }
}

impl AccessArgs {
    /// The TLS settings the flags give (empty when none is used).
    pub fn tls_params(&self) -> TlsParams {
        let data = self.tls || self.tls_ca.is_some() || self.tls_cert.is_some();
        let sentinel_files = self.sentinel_tls_ca.is_some() || self.sentinel_tls_cert.is_some();
        TlsParams {
            tls: data,
            ca: self.tls_ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            sentinel_tls: self.sentinel_tls.or(sentinel_files.then_some(true)),
            sentinel_ca: self.sentinel_tls_ca.clone(),
            sentinel_cert: self.sentinel_tls_cert.clone(),
            sentinel_key: self.sentinel_tls_key.clone(),
        }
    }
}
