//! How an [`Error`] is classified: the `redis` error kind it maps to (the
//! table on [`enum@Error`]) and its variant's name (metrics labels, tests).

use redis::ErrorKind;

use super::Error;

impl Error {
    /// The `redis` error kind that classifies this error (the table on
    /// [`enum@Error`]). Through the `redis` traits the `RedisError`'s own
    /// `kind()` is `Io` for every variant but [`Error::Redis`]; convert it back
    /// with `Error::from` to get this one.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config { .. } | Error::BadUrl { .. } | Error::Tls { .. } => ErrorKind::InvalidClientConfig,
            Error::NoSentinel { .. }
            | Error::NoQuorum { .. }
            | Error::FailoverTimeout { .. }
            | Error::Ambiguous { .. }
            | Error::NotReplicated { .. }
            | Error::NoReplica { .. }
            | Error::PubSubShard { .. }
            | Error::RingChanged { .. }
            | Error::ShardDown { .. } => ErrorKind::Io,
            // What the first failed part saw (usually a connection error).
            Error::PartiallyApplied { failed, .. } => {
                failed.first().map_or(ErrorKind::Io, |f| f.error.kind())
            }
            Error::UnknownMaster { .. } | Error::NoMasters { .. } => ErrorKind::MasterNameNotFoundBySentinel,
            Error::SentinelReply { .. } | Error::BadRing { .. } => ErrorKind::Parse,
            Error::NotMaster { .. } => ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
            Error::CrossShard { .. }
            | Error::NoKey { .. }
            | Error::BadCommand { .. }
            | Error::UnknownShard { .. }
            | Error::InsideRuntime
            | Error::SharedConnection { .. }
            | Error::WrongShard { .. }
            | Error::Closed
            | Error::Reshard { .. } => ErrorKind::Client,
            Error::Auth { .. } => ErrorKind::AuthenticationFailed,
            Error::Redis(e) => e.kind(),
        }
    }

    /// The variant's name, for labels (`error.type` in metrics) and test messages.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Error::Config { .. } => "Config",
            Error::BadUrl { .. } => "BadUrl",
            Error::NoSentinel { .. } => "NoSentinel",
            Error::NoQuorum { .. } => "NoQuorum",
            Error::UnknownMaster { .. } => "UnknownMaster",
            Error::NoMasters { .. } => "NoMasters",
            Error::SentinelReply { .. } => "SentinelReply",
            Error::NotMaster { .. } => "NotMaster",
            Error::FailoverTimeout { .. } => "FailoverTimeout",
            Error::CrossShard { .. } => "CrossShard",
            Error::NoKey { .. } => "NoKey",
            Error::SharedConnection { .. } => "SharedConnection",
            Error::WrongShard { .. } => "WrongShard",
            Error::ShardDown { .. } => "ShardDown",
            Error::Closed => "Closed",
            Error::UnknownShard { .. } => "UnknownShard",
            Error::BadCommand { .. } => "BadCommand",
            Error::Ambiguous { .. } => "Ambiguous",
            Error::InsideRuntime => "InsideRuntime",
            Error::NotReplicated { .. } => "NotReplicated",
            Error::Auth { .. } => "Auth",
            Error::Tls { .. } => "Tls",
            Error::NoReplica { .. } => "NoReplica",
            Error::PubSubShard { .. } => "PubSubShard",
            Error::PartiallyApplied { .. } => "PartiallyApplied",
            Error::BadRing { .. } => "BadRing",
            Error::RingChanged { .. } => "RingChanged",
            Error::Reshard { .. } => "Reshard",
            Error::Redis(_) => "Redis",
        }
    }
}
