//! [`PubSubStream`]: the end of a [`PubSub`](super::PubSub) that messages
//! come out of, and the owner of the subscriber's task.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use redis::Msg;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The messages of every subscription of a [`PubSub`](super::PubSub),
/// merged in the order they arrived; redis-rs's `aio::PubSubStream`. From
/// [`PubSub::split`](super::PubSub::split) or
/// [`PubSub::into_on_message`](super::PubSub::into_on_message).
///
/// It owns the subscriber: dropping it ends the subscriber's task, which
/// closes every subscription connection (the masters see the clients go), and
/// the [`PubSubSink`](super::PubSubSink)'s calls fail from then on. It ends
/// (`None`) only if that task ends on its own, which it does not while the
/// stream lives.
pub struct PubSubStream {
    pub(super) messages: mpsc::Receiver<Msg>,
    pub(super) task: JoinHandle<()>,
}

impl Drop for PubSubStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for PubSubStream {
    type Item = Msg;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Msg>> {
        self.messages.poll_recv(cx)
    }
}

impl std::fmt::Debug for PubSubStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSubStream").field("buffered", &self.messages.len()).finish()
    }
}
