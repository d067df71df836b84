//! `disredis`: inspect and use a Sentinel-sharded Redis from the command line.
//!
//! Built with the `cli` feature: `cargo install --path . --features cli`, or
//! `cargo run --features cli -- --sentinel 127.0.0.1:26381 topology`.

// Output goes through `out` (a closed pipe is a quiet exit, not a panic).
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod commands;
mod connect;
mod info;
mod out;
mod output;
mod progress;
mod reshard;
mod ring;
mod scan;
mod summary;
mod topology;
mod watch;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use disredis::Error;

use args::{Cli, Command, OnConflictArg, ReshardCommand};

/// A failure and the exit status it gets.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// Exit status 2: what the user must fix in the command line or URL.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { code: 2, message: message.into() }
    }

    /// Exit status 1: the command failed.
    pub fn failed(message: impl Into<String>) -> Failure {
        Failure { code: 1, message: message.into() }
    }

    /// Exit status 1 when `failed` shards did not answer the command `what`
    /// (empty: not named), else success; the printed table already says why
    /// each shard failed.
    pub fn unless_all_answered(failed: usize, what: &str) -> Result<(), Failure> {
        let what = if what.is_empty() { String::new() } else { format!(" {what}") };
        match failed {
            0 => Ok(()),
            n => Err(Failure::failed(format!("{n} shard(s) did not answer{what}"))),
        }
    }
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

async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Completions { shell } = cli.command {
        if cli.json {
            return Err(Failure::usage("completions prints a shell script; --json does not apply"));
        }
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "disredis", &mut script);
        out::bytes(&script);
        return Ok(());
    }
    let builder = connect::settings(&cli)?;
    let client = builder.connect().await?;
    let json = cli.json;
    match cli.command {
        Command::Topology => topology::run(&client, json).await,
        Command::Ring => ring::run(&client, json).await,
        Command::Reshard { change } => match change {
            ReshardCommand::Add { name, dry_run, allow_nonempty, fence } => {
                let options = fence.options(allow_nonempty)?;
                reshard::run(&client, reshard::MemberEdit::Add, &name, dry_run, &options, json).await
            }
            ReshardCommand::Remove { name, dry_run, fence } => {
                let options = fence.options(false)?;
                reshard::run(&client, reshard::MemberEdit::Remove, &name, dry_run, &options, json).await
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
        Command::Watch => watch::run(&client, json).await,
        Command::Info { section } => info::run(&client, section.as_deref(), json).await,
        Command::Scan { pattern, count, key_type } => {
            scan::run(&client, &pattern, count, key_type.as_deref(), json).await
        }
        Command::KeysSummary { samples, top } => summary::run(&client, samples, top, json).await,
        Command::Completions { .. } => unreachable!("handled before connecting"),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Usage errors exit with 2, --help and --version with 0 (clap's convention).
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            out::errln!("disredis: error: {}", f.message);
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
