//! Every byte the tool writes goes through here, so what happens when nobody
//! reads is decided once, not per command.
//!
//! Rust ignores SIGPIPE, so a write to a pipe whose reader went away
//! (`disredis … info | head -1`) fails with EPIPE, and `println!` turns that into
//! a panic with a backtrace (exit 101). Here a closed standard output ends the
//! process quietly with [`CLOSED`], the status a shell shows for a tool that
//! SIGPIPE killed, so `set -o pipefail` scripts see the output was cut short as
//! they do for `cat` or `grep`. Standard error carries diagnostics only: a
//! failed write there is ignored, so a reshard keeps going when nobody reads its
//! progress. `main.rs` denies `print!`/`println!`/`eprintln!` to keep it so.

use std::fmt;
use std::io::{self, Write};

/// The exit status once standard output is closed early: 128 + SIGPIPE (13).
pub const CLOSED: u8 = 141;

/// A line on standard output (`println!` that survives a closed pipe).
macro_rules! outln {
    () => { $crate::out::line(format_args!("")) };
    ($($arg:tt)*) => { $crate::out::line(format_args!($($arg)*)) };
}

/// A line on standard error; a failed write is ignored.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::out::err_line(format_args!($($arg)*)) };
}

pub(crate) use {errln, outln};

/// Writes `args` and a newline to standard output and flushes, so a pipe sees
/// each line as it is made.
pub fn line(args: fmt::Arguments<'_>) {
    bytes(format!("{args}\n").as_bytes());
}

/// Writes `bytes` as they are (already split into lines) and flushes.
pub fn bytes(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        gone(&e);
    }
}

/// Writes `args` and a newline to standard error, ignoring failure.
pub fn err_line(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// Standard output failed: closed by its reader (exit [`CLOSED`], nothing
/// said), or broken otherwise (a full disk: said, exit 1).
fn gone(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(CLOSED.into());
    }
    err_line(format_args!("disredis: error: writing to standard output: {e}"));
    std::process::exit(1)
}
