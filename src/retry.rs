//! What to do after a request's outcome, and how long to wait. Pure: no I/O.
//!
//! [`judge`] is the one place that decides: the outcome is the answer
//! ([`Verdict::Done`]), a failover symptom to re-resolve and retry
//! ([`Verdict::Retry`]), or a failure after which a non-idempotent command may
//! have run ([`Verdict::Ambiguous`]). The fast path and the retry loop in
//! `execute` both call it. Underneath, [`classify_error`] / [`classify_value`] map
//! one failure to a [`Fate`]: did the command surely not run (safe to retry
//! anything), or is its fate unknown (retry only what is idempotent)? `None`
//! means "not a failover symptom": the error is the answer (WRONGTYPE, ERR
//! syntax, …) and goes back to the caller unretried. [`is_fatal`] names the
//! errors no retry fixes (refused credentials); [`Deadline`] is one retry
//! loop's budget (every loop of the crate keeps one: the delays of [`Backoff`],
//! and [`Error::FailoverTimeout`] when the budget is spent).

use redis::{ErrorKind, RedisError, RedisResult, ServerError, ServerErrorKind, Value};

use crate::error::Error;
use crate::request::Reply;

mod deadline;

pub(crate) use deadline::{Backoff, Deadline, random};

/// Inside the `io::Error` of a request whose connection never wrote it (the
/// connection of our own, `wire`, knows which bytes a write took): whatever
/// the command, it did not run.
#[derive(Debug)]
pub(crate) struct NotSent(pub(crate) String);

impl std::fmt::Display for NotSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotSent {}

/// What a failure says about whether the command ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// The command surely did not run: the connection was refused, or the node
    /// refused it (`READONLY`, `LOADING`, `MASTERDOWN`). Always retried.
    NotRun,
    /// It may have run: the connection dropped or timed out after sending.
    /// Retried only when the command is idempotent (or the user opted in).
    Unknown,
}

/// Server errors that mean "this node can't serve writes/reads as a master right
/// now": the command was refused, so a retry elsewhere is safe.
fn is_failover_kind(kind: Option<ServerErrorKind>) -> bool {
    matches!(
        kind,
        Some(ServerErrorKind::ReadOnly | ServerErrorKind::BusyLoading | ServerErrorKind::MasterDown)
    )
}

/// `NOREPLICAS Not enough good replicas to write.`: a master with
/// `min-replicas-to-write` that lost its replicas refuses writes before running
/// them. It is typically the old master on the minority side of a partition
/// (its replicas and the Sentinel majority are on the other side), so it is a
/// failover symptom like `READONLY`: re-resolve and retry within the deadline,
/// never the answer (go-redis treats it the same way, redis/go-redis#3636).
/// redis-rs has no kind for it (`ErrorKind::Extension`): the server's error
/// code, the first word of the reply, is what identifies it.
const NOREPLICAS: &str = "NOREPLICAS";

pub(crate) fn is_failover_error(e: &ServerError) -> bool {
    is_failover_kind(e.kind()) || e.code() == NOREPLICAS
}

/// A reply value: only a failover-kind server error (inside
/// `Ok(Value::ServerError)`, as redis-rs returns them) is a failure here.
pub(crate) fn classify_value(v: &Value) -> Option<Fate> {
    match v {
        Value::ServerError(e) => is_failover_error(e).then_some(Fate::NotRun),
        _ => None,
    }
}

/// An `Err` from the connection.
pub(crate) fn classify_error(e: &RedisError) -> Option<Fate> {
    match e.kind() {
        ErrorKind::Server(ServerErrorKind::ExecAbort) => {
            // A transaction aborted because a queued command was refused with
            // READONLY/LOADING/MASTERDOWN/NOREPLICAS did not run at all.
            let errors = e.clone().into_server_errors()?;
            errors.iter().any(|(_, se)| is_failover_error(se)).then_some(Fate::NotRun)
        }
        ErrorKind::Server(kind) => is_failover_kind(Some(kind)).then_some(Fate::NotRun),
        ErrorKind::Extension if e.code() == Some(NOREPLICAS) => Some(Fate::NotRun),
        // One of this crate's own errors carried through the `redis` traits
        // (say, from a client used inside another): already judged, never a
        // symptom of this connection.
        _ if crate::error::is_carried(e) => None,
        _ if crate::error::find_in::<NotSent>(e).is_some() => Some(Fate::NotRun),
        _ if e.is_connection_refusal() => Some(Fate::NotRun),
        _ if e.is_timeout() || e.is_connection_dropped() || e.kind() == ErrorKind::Io => Some(Fate::Unknown),
        _ => None,
    }
}

/// What to do with one attempt's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The outcome is the answer: a reply (which may hold ordinary server errors
    /// such as `WRONGTYPE`), or an error that is not a failover symptom.
    Done,
    /// A failover symptom after which repeating is safe: re-resolve the shard
    /// and retry (within the deadline).
    Retry(Fate),
    /// The connection failed after sending a command that is not safe to repeat:
    /// it may or may not have run ([`Error::Ambiguous`]).
    Ambiguous,
}

/// Judges one attempt: `idempotent` says the request is safe to repeat, and
/// `at_least_once` is `Builder::retry_non_idempotent`. A pipeline's reply is a
/// failover symptom when any of its values is one.
pub(crate) fn judge(outcome: &RedisResult<Reply>, idempotent: bool, at_least_once: bool) -> Verdict {
    let fate = match outcome {
        Ok(reply) => reply.values().iter().find_map(classify_value),
        Err(e) => classify_error(e),
    };
    match fate {
        None => Verdict::Done,
        Some(Fate::Unknown) if !idempotent && !at_least_once => Verdict::Ambiguous,
        Some(fate) => Verdict::Retry(fate),
    }
}

/// The error a failed attempt stands for: the failover-kind server error inside
/// a reply, or the connection's error.
pub(crate) fn failure(outcome: RedisResult<Reply>) -> RedisError {
    match outcome {
        Err(e) => e,
        Ok(reply) => reply
            .values()
            .iter()
            .find(|v| classify_value(v).is_some())
            .and_then(|v| v.clone().extract_error().err())
            .unwrap_or_else(|| (ErrorKind::Client, "disredis: no failure in the reply").into()),
    }
}

/// Errors that no amount of retrying fixes: give them to the caller at once
/// (refused credentials, a rejected TLS handshake, a bad setting).
pub(crate) fn is_fatal(e: &Error) -> bool {
    match e {
        Error::Redis(r) => matches!(
            r.kind(),
            ErrorKind::AuthenticationFailed
                | ErrorKind::InvalidClientConfig
                | ErrorKind::Server(ServerErrorKind::NoPerm)
        ),
        Error::Config { .. } | Error::Auth { .. } | Error::Tls { .. } | Error::RingChanged { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn server(code: &str) -> Value {
        // Parse a real error reply so the ServerError is exactly what redis-rs builds.
        redis::parse_redis_value(format!("-{code} some detail\r\n").as_bytes()).unwrap()
    }

    #[test]
    fn failover_replies_surely_did_not_run() {
        for code in ["READONLY", "LOADING", "MASTERDOWN", "NOREPLICAS"] {
            assert_eq!(classify_value(&server(code)), Some(Fate::NotRun), "{code}");
        }
        // Only the code counts, not a text that mentions it.
        for code in ["WRONGTYPE", "ERR", "NOSCRIPT", "NOPERM", "BUSY", "ERR NOREPLICAS", "NOREPLICASX"] {
            assert_eq!(classify_value(&server(code)), None, "{code}");
        }
        assert_eq!(classify_value(&Value::Okay), None);
    }

    #[test]
    fn connection_errors() {
        let refused = RedisError::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(classify_error(&refused), Some(Fate::NotRun));
        for kind in [
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::TimedOut,
            io::ErrorKind::UnexpectedEof,
        ] {
            let e = RedisError::from(io::Error::from(kind));
            assert_eq!(classify_error(&e), Some(Fate::Unknown), "{kind:?}");
        }
        let client = RedisError::from((ErrorKind::Client, "bad"));
        assert_eq!(classify_error(&client), None);
        let readonly: RedisError = match server("READONLY") {
            Value::ServerError(e) => e.into(),
            _ => unreachable!(),
        };
        assert_eq!(classify_error(&readonly), Some(Fate::NotRun));
    }

    /// Every kind of outcome, each for a non-idempotent and an idempotent request
    /// and with at-least-once opted in: the verdicts `(plain, idempotent, at_least_once)`.
    #[test]
    fn judge_table() {
        use Verdict::{Ambiguous, Done, Retry};
        let err = |e: RedisError| -> RedisResult<Reply> { Err(e) };
        let io = |k: io::ErrorKind| err(io::Error::from(k).into());
        let server_err = |code: &str| match server(code) {
            Value::ServerError(e) => err(e.into()),
            _ => unreachable!(),
        };
        let exec_abort = redis::parse_redis_value(b"-EXECABORT Transaction discarded\r\n")
            .unwrap()
            .extract_error()
            .unwrap_err();
        let not_run = Retry(Fate::NotRun);
        let unknown = Retry(Fate::Unknown);
        let table: Vec<(&str, RedisResult<Reply>, [Verdict; 3])> = vec![
            ("OK", Ok(Reply::One(Value::Okay)), [Done, Done, Done]),
            ("WRONGTYPE reply", Ok(Reply::One(server("WRONGTYPE"))), [Done, Done, Done]),
            ("READONLY reply", Ok(Reply::One(server("READONLY"))), [not_run, not_run, not_run]),
            ("LOADING reply", Ok(Reply::One(server("LOADING"))), [not_run, not_run, not_run]),
            ("MASTERDOWN reply", Ok(Reply::One(server("MASTERDOWN"))), [not_run, not_run, not_run]),
            ("NOREPLICAS reply", Ok(Reply::One(server("NOREPLICAS"))), [not_run, not_run, not_run]),
            ("NOREPLICAS error", server_err("NOREPLICAS"), [not_run, not_run, not_run]),
            (
                "a typed error carried through the traits",
                err(Error::NotMaster { shard: "s".into(), addr: "a".into(), role: "slave".into() }.into()),
                [Done, Done, Done],
            ),
            (
                "pipeline with a READONLY",
                Ok(Reply::Many(vec![Value::Okay, server("ERR x"), server("READONLY")])),
                [not_run, not_run, not_run],
            ),
            ("pipeline of errors", Ok(Reply::Many(vec![server("ERR x")])), [Done, Done, Done]),
            ("refused", io(io::ErrorKind::ConnectionRefused), [not_run, not_run, not_run]),
            ("reset", io(io::ErrorKind::ConnectionReset), [Ambiguous, unknown, unknown]),
            ("timed out", io(io::ErrorKind::TimedOut), [Ambiguous, unknown, unknown]),
            ("eof", io(io::ErrorKind::UnexpectedEof), [Ambiguous, unknown, unknown]),
            ("READONLY error", server_err("READONLY"), [not_run, not_run, not_run]),
            ("WRONGTYPE error", server_err("WRONGTYPE"), [Done, Done, Done]),
            ("EXECABORT without READONLY", err(exec_abort), [Done, Done, Done]),
            ("client error", err((ErrorKind::Client, "bad").into()), [Done, Done, Done]),
        ];
        for (what, outcome, [plain, idempotent, at_least_once]) in &table {
            assert_eq!(judge(outcome, false, false), *plain, "{what}");
            assert_eq!(judge(outcome, true, false), *idempotent, "{what} (idempotent)");
            assert_eq!(judge(outcome, false, true), *at_least_once, "{what} (at least once)");
        }
    }

    #[test]
    fn failure_is_the_symptom() {
        let f = failure(Ok(Reply::Many(vec![Value::Okay, server("READONLY")])));
        assert_eq!(f.kind(), ErrorKind::Server(ServerErrorKind::ReadOnly));
        let f = failure(Err(io::Error::from(io::ErrorKind::BrokenPipe).into()));
        assert!(f.is_connection_dropped() || f.kind() == ErrorKind::Io, "{f:?}");
    }

    #[test]
    fn fatal_errors() {
        assert!(is_fatal(&Error::Redis((ErrorKind::AuthenticationFailed, "no").into())));
        assert!(is_fatal(&Error::Auth { node: "n".into(), role: "master", detail: "d".into() }));
        assert!(is_fatal(&Error::Tls { node: "n".into(), role: "master", detail: "UnknownIssuer".into() }));
        assert!(!is_fatal(&Error::Redis(io::Error::from(io::ErrorKind::ConnectionRefused).into())));
        assert!(!is_fatal(&Error::NoSentinel { tried: vec![] }));
    }
}
