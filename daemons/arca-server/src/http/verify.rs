//! Streaming a local copy of a binary while checking it against its SHA-256.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest, Sha256};

use arca_storage::{Located, Storage};

/// Passes the chunks of `inner` through, hashing them. The chunk that completes the file is
/// held back until the digest is known: if it differs from the expected one, the copy is
/// quarantined and the stream ends with an error instead of that chunk, so the HTTP response
/// is aborted short of its Content-Length rather than completing with wrong content. (Waiting
/// for the end of the stream would not do: the server stops polling the body once
/// Content-Length bytes were sent.)
pub struct VerifyingStream<S> {
    inner: S,
    hasher: Option<Sha256>,
    remaining: u64,
    expected: String,
    storage: Storage,
    located: Located,
    /// The metadata of the file when it was opened: what a good hash vouches for.
    opened: std::fs::Metadata,
}

impl<S> VerifyingStream<S> {
    /// `size`: bytes `inner` yields in total (the whole file); `opened`: the file's metadata
    /// when it was opened.
    pub fn new(
        inner: S,
        size: u64,
        expected: String,
        storage: Storage,
        located: Located,
        opened: std::fs::Metadata,
    ) -> Self {
        VerifyingStream {
            inner,
            hasher: Some(Sha256::new()),
            remaining: size,
            expected,
            storage,
            located,
            opened,
        }
    }
}

impl<S> Stream for VerifyingStream<S>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    type Item = std::io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(h) = this.hasher.as_mut() {
                    h.update(&chunk);
                }
                this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
                if this.remaining == 0
                    && let Some(hasher) = this.hasher.take()
                {
                    let actual = hex::encode(hasher.finalize());
                    if actual != this.expected {
                        if let Err(e) = this.storage.quarantine(&this.located, &this.expected) {
                            tracing::error!(arca_sha256 = %this.expected, error = %e, "quarantine failed");
                        }
                        return Poll::Ready(Some(Err(std::io::Error::other(format!(
                            "stored copy of {} is corrupt (content hashes to {actual})",
                            this.expected
                        )))));
                    }
                    this.storage.checked(&this.expected, &this.opened);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            other => other,
        }
    }
}
