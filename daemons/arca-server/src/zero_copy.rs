//! Zero-copy downloads on plain HTTP: a stored file goes from the page cache to the socket
//! with `sendfile(2)`, never through the process's memory.
//!
//! hyper has no sendfile. What it does have: it writes a response's head and body chunks with
//! vectored writes (its "queue" strategy, chosen because [`ZeroCopyIo`] says it writes
//! vectored), handing `poll_write_vectored` the chunks' own memory, uncopied. So the body of a
//! zero-copy download ([`file_body`]) first registers the file span with its connection's
//! [`SpanQueue`], then yields chunks that point into one reserved region that nothing ever
//! writes or reads ([`placeholder`]); [`ZeroCopyIo`] recognises that memory by its address and
//! sends the next bytes of the registered span in its place. hyper writes the responses of a
//! connection one after the other and each body's bytes in order, so spans are consumed in the
//! order they were registered. A placeholder with no span behind it fails the connection: the
//! placeholder's zeros are never sent.
//!
//! The connection of a TLS listener has no queue (the bytes must be encrypted in the process):
//! there, and when the request has no queue for any other reason, the caller streams the file.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Size of the placeholder region, and so of the largest body chunk of a zero-copy download.
/// hyper flushes once a chunk this size is queued, so it is also about the most one
/// `sendfile` call is asked to send.
const PLACEHOLDER_LEN: usize = 1 << 20;

/// The region the placeholder chunks point into. Allocated zeroed and never touched, so the
/// kernel maps no memory for it (it costs no RSS); only its address matters.
fn placeholder() -> &'static [u8] {
    static REGION: OnceLock<&'static [u8]> = OnceLock::new();
    REGION.get_or_init(|| Box::leak(vec![0u8; PLACEHOLDER_LEN].into_boxed_slice()))
}

/// Whether `slice` lies inside the placeholder region.
fn is_placeholder(slice: &[u8]) -> bool {
    let region = placeholder().as_ptr_range();
    let range = slice.as_ptr_range();
    !slice.is_empty() && region.start <= range.start && range.end <= region.end
}

/// One file span a response body promised to send.
#[derive(Debug)]
struct Span {
    file: Arc<File>,
    offset: i64,
    remaining: u64,
}

/// The file spans registered by the responses of one plain-HTTP connection, in the order
/// their placeholder bytes will be written. A request carries it (as a warp extension) so
/// the download handler can choose the zero-copy body.
#[derive(Clone, Debug, Default)]
pub struct SpanQueue(Arc<Mutex<VecDeque<Span>>>);

impl SpanQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Span>> {
        // A poisoned lock only means a panic elsewhere mid-push/pop of plain values.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The body of a zero-copy response: `len` bytes of `file` from `offset`, sent by the
/// connection with `sendfile`. The caller sets `Content-Length: len`.
pub fn file_body(queue: SpanQueue, file: File, offset: u64, len: u64) -> io::Result<FileBody> {
    let offset = i64::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset out of range"))?;
    Ok(FileBody {
        queue,
        span: Some(Span {
            file: Arc::new(file),
            offset,
            remaining: len,
        }),
        remaining: len,
    })
}

/// See [`file_body`]: a stream of placeholder chunks, registering its span when first polled
/// (hyper polls a body only once the head is queued, on the connection that writes it).
#[derive(Debug)]
pub struct FileBody {
    queue: SpanQueue,
    span: Option<Span>,
    remaining: u64,
}

impl Stream for FileBody {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(span) = this.span.take()
            && span.remaining > 0
        {
            this.queue.lock().push_back(span);
        }
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = usize::try_from(this.remaining).map_or(PLACEHOLDER_LEN, |r| r.min(PLACEHOLDER_LEN));
        this.remaining -= n as u64;
        Poll::Ready(Some(Ok(Bytes::from_static(&placeholder()[..n]))))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let chunks = self.remaining.div_ceil(PLACEHOLDER_LEN as u64);
        let chunks = usize::try_from(chunks).unwrap_or(usize::MAX);
        (chunks, Some(chunks))
    }
}

/// A plain TCP connection that sends placeholder bytes as the registered file spans.
#[derive(Debug)]
pub struct ZeroCopyIo {
    stream: TcpStream,
    queue: SpanQueue,
}

impl ZeroCopyIo {
    pub fn new(stream: TcpStream, queue: SpanQueue) -> ZeroCopyIo {
        ZeroCopyIo { stream, queue }
    }

    /// Send up to `max` bytes of the first registered span.
    fn poll_send_span(&self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            let mut spans = self.queue.lock();
            let Some(span) = spans.front_mut() else {
                return Poll::Ready(Err(io::Error::other(
                    "zero-copy body without a file span (nothing sent in its place)",
                )));
            };
            let count = usize::try_from(span.remaining).map_or(max, |r| r.min(max));
            let file = Arc::clone(&span.file);
            let mut offset = span.offset;
            let sent = self.stream.try_io(Interest::WRITABLE, || {
                nix::sys::sendfile::sendfile64(&self.stream, &*file, Some(&mut offset), count)
                    .map_err(io::Error::from)
            });
            match sent {
                Ok(0) => {
                    // The stored copy ended before the length its metadata records: the
                    // response stops short of its Content-Length, so the client sees a broken
                    // transfer rather than a complete wrong one.
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "stored file is shorter than recorded",
                    )));
                }
                Ok(n) => {
                    span.offset = offset;
                    span.remaining -= n as u64;
                    if span.remaining == 0 {
                        spans.pop_front();
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncRead for ZeroCopyIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ZeroCopyIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if is_placeholder(buf) {
            return this.poll_send_span(cx, buf.len());
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let bufs: Vec<&IoSlice<'_>> = bufs.iter().filter(|b| !b.is_empty()).collect();
        let Some(first) = bufs.first() else {
            return Poll::Ready(Ok(0));
        };
        if is_placeholder(first) {
            // the placeholder bytes at the front, all sent from the current span
            let run: usize = bufs
                .iter()
                .take_while(|b| is_placeholder(b))
                .map(|b| b.len())
                .sum();
            return this.poll_send_span(cx, run);
        }
        // the ordinary bytes before the first placeholder, in one writev
        let plain: Vec<IoSlice<'_>> = bufs
            .iter()
            .take_while(|b| !is_placeholder(b))
            .map(|b| IoSlice::new(b))
            .collect();
        Pin::new(&mut this.stream).poll_write_vectored(cx, &plain)
    }

    fn is_write_vectored(&self) -> bool {
        // hyper queues body chunks uncopied only for a vectored writer (see the module doc)
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn placeholder_chunks_are_recognised_and_others_are_not() {
        let region = placeholder();
        assert!(is_placeholder(&region[..10]));
        assert!(is_placeholder(&region[PLACEHOLDER_LEN - 1..]));
        assert!(!is_placeholder(&region[..0]));
        let other = vec![0u8; 16];
        assert!(!is_placeholder(&other));
    }

    #[tokio::test]
    async fn a_body_registers_its_span_once_and_yields_its_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 100]).unwrap();
        let queue = SpanQueue::default();
        let len = PLACEHOLDER_LEN as u64 * 2 + 5;
        let body = file_body(queue.clone(), File::open(&path).unwrap(), 3, len).unwrap();
        assert!(queue.lock().is_empty(), "registered before the first poll");
        let chunks: Vec<Bytes> = body.map(|c| c.unwrap()).collect().await;
        assert_eq!(chunks.iter().map(Bytes::len).sum::<usize>() as u64, len);
        assert!(chunks.iter().all(|c| is_placeholder(c)));
        let spans = queue.lock();
        assert_eq!(spans.len(), 1);
        assert_eq!((spans[0].offset, spans[0].remaining), (3, len));
    }
}
