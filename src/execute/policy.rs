//! A handle's own failover policy ([`DisredisClient::with_failover_deadline`],
//! [`DisredisClient::with_retry_non_idempotent`]): the deadline and the
//! at-least-once choice of the requests sent through that handle, overriding
//! the client's. It travels with the request's future as a task-local value,
//! set by the face around each request of such a handle and read only on the
//! retry path, so the hot path and handles without one pay nothing.
//!
//! [`DisredisClient::with_failover_deadline`]: crate::DisredisClient::with_failover_deadline
//! [`DisredisClient::with_retry_non_idempotent`]: crate::DisredisClient::with_retry_non_idempotent

use std::future::Future;
use std::time::Duration;

use crate::config::Config;

/// The settings a handle overrides; `None` keeps the client's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Overrides `Builder::failover_deadline`.
    pub(crate) deadline: Option<Duration>,
    /// Overrides `Builder::retry_non_idempotent`.
    pub(crate) at_least_once: Option<bool>,
}

tokio::task_local! {
    static POLICY: Policy;
}

impl Policy {
    /// Whether it overrides anything (else a request need not run in a scope).
    pub(crate) fn overrides(&self) -> bool {
        *self != Policy::default()
    }

    /// Runs `request` under this policy.
    pub(crate) async fn scope<F: Future>(self, request: F) -> F::Output {
        POLICY.scope(self, request).await
    }

    /// The policy of the request being run (the default outside a scope).
    pub(crate) fn current() -> Policy {
        POLICY.try_with(|p| *p).unwrap_or_default()
    }

    /// How long a request keeps retrying a failing shard.
    pub(crate) fn deadline(&self, config: &Config) -> Duration {
        self.deadline.unwrap_or(config.failover_deadline)
    }

    /// Whether a non-idempotent request of unknown fate is retried.
    pub(crate) fn at_least_once(&self, config: &Config) -> bool {
        self.at_least_once.unwrap_or(config.retry_non_idempotent)
    }
}
