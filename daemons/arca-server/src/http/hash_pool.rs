//! The bounded pool every password hash and check runs on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use warp::http::StatusCode;

use crate::http::error::{ApiError, ApiResult};

/// Password hashing off the async workers, on a bounded pool: `threads` hashes run at once
/// (on blocking threads), at most `queue` more wait for one; beyond that a check is refused at
/// once with 429 and `Retry-After`. argon2 is slow on purpose — unbounded, a flood of
/// password guesses (for unknown users too: they are checked against a dummy hash) would take
/// every core from the requests that need none.
#[derive(Debug)]
pub struct HashPool {
    running: Arc<tokio::sync::Semaphore>,
    admitted: AtomicUsize,
    limit: usize,
}

impl HashPool {
    pub fn new(threads: usize, queue: usize) -> HashPool {
        let threads = threads.max(1);
        HashPool {
            running: Arc::new(tokio::sync::Semaphore::new(threads)),
            admitted: AtomicUsize::new(0),
            limit: threads + queue,
        }
    }

    /// One thread per core but one (left to the async workers), at least one; `queue` more
    /// checks may wait.
    pub fn for_this_machine(queue: usize) -> HashPool {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HashPool::new(cores.saturating_sub(1).max(1), queue)
    }

    /// A place in the pool (running or waiting), or 429 when it is full.
    pub fn enter(&self) -> ApiResult<HashTicket<'_>> {
        let before = self.admitted.fetch_add(1, Ordering::SeqCst);
        let ticket = HashTicket { pool: self };
        if before >= self.limit {
            drop(ticket);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many password checks in progress; retry shortly",
            )
            .with_retry_after(1));
        }
        Ok(ticket)
    }

    /// Run `f` (a hash or a verification) on the pool: [`HashPool::enter`], then [`HashTicket::run`].
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> ApiResult<T> {
        self.enter()?.run(f).await
    }
}

/// A place in the [`HashPool`], given back when dropped.
#[derive(Debug)]
pub struct HashTicket<'a> {
    pool: &'a HashPool,
}

impl HashTicket<'_> {
    /// Wait for a hashing thread and run `f` on it.
    pub async fn run<T: Send + 'static>(
        self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> ApiResult<T> {
        let permit = Arc::clone(&self.pool.running)
            .acquire_owned()
            .await
            .map_err(|e| ApiError::internal("password hashing pool", e))?;
        let out = tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(|e| ApiError::internal("password hashing", e))?;
        drop(self);
        Ok(out)
    }
}

impl Drop for HashTicket<'_> {
    fn drop(&mut self) {
        self.pool.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}
