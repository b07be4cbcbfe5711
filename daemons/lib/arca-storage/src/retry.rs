//! The `retry` provider: repeat an operation that failed transiently, with exponential back-off.

use std::future::Future;
use std::time::Duration;

use arca_config::storage_plan::RetrySpec;

use crate::StorageError;

/// Longest wait between two tries, however many tries the spec allows: an outage longer than
/// this is noticed within a minute of its end.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Run `op` up to `spec.max_tries` times (at least once). Only errors for which
/// [`StorageError::is_transient`] holds are retried; others are returned at once. The first
/// wait is `spec.interval`, doubled after each further failure, never more than
/// [`MAX_BACKOFF`]. Each retry is logged (warn) with `what`, the attempt and the error; the last
/// error is returned when the tries run out.
pub async fn with_retry<T, F, Fut>(spec: &RetrySpec, what: &str, op: F) -> Result<T, StorageError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StorageError>>,
{
    retry_sleeping_with(spec, what, op, tokio::time::sleep).await
}

/// [`with_retry`] with the wait passed in, so that the back-off can be tested without waiting
/// (and without tokio's paused clock, whose `test-util` feature would give the test build a
/// tokio different from the binaries' and rebuild everything on top of it).
async fn retry_sleeping_with<T, F, Fut, S, SleepFut>(
    spec: &RetrySpec,
    what: &str,
    mut op: F,
    sleep: S,
) -> Result<T, StorageError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StorageError>>,
    S: Fn(Duration) -> SleepFut,
    SleepFut: Future<Output = ()>,
{
    let max_tries = spec.max_tries.max(1);
    let mut delay = spec.interval.min(MAX_BACKOFF);
    let mut attempt = 1u32;
    loop {
        match op().await {
            Ok(value) => {
                if attempt > 1 {
                    tracing::info!(what, attempt, "storage operation succeeded after retrying");
                }
                return Ok(value);
            }
            Err(e) if e.is_transient() && attempt < max_tries => {
                tracing::warn!(
                    what,
                    attempt,
                    max_tries,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %e,
                    "storage operation failed, retrying"
                );
                sleep(delay).await;
                delay = delay.saturating_mul(2).min(MAX_BACKOFF);
                attempt += 1;
            }
            Err(e) => {
                if e.is_transient() && max_tries > 1 {
                    tracing::warn!(what, attempts = attempt, error = %e, "storage operation failed, giving up");
                }
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn spec(interval_ms: u64, max_tries: u32) -> RetrySpec {
        RetrySpec {
            interval: Duration::from_millis(interval_ms),
            max_tries,
        }
    }

    fn transient() -> StorageError {
        StorageError::ObjectStore {
            op: "get",
            key: "k".into(),
            store: "s3://b at http://127.0.0.1:1".into(),
            status: Some(503),
            message: "HTTP 503".into(),
            transient: true,
        }
    }

    fn permanent() -> StorageError {
        StorageError::ObjectStore {
            op: "get",
            key: "k".into(),
            store: "s3://b at http://127.0.0.1:1".into(),
            status: Some(403),
            message: "HTTP 403".into(),
            transient: false,
        }
    }

    /// Runs the retry loop with an op that fails with `errors` in turn, then succeeds; returns the
    /// result, the number of calls and the time it waited in all (the waits are recorded, not
    /// slept).
    async fn run(
        spec: RetrySpec,
        errors: Vec<StorageError>,
    ) -> (Result<u32, StorageError>, u32, Duration) {
        let calls = Arc::new(AtomicU32::new(0));
        let errors = Arc::new(std::sync::Mutex::new(errors.into_iter()));
        let waited = std::sync::Mutex::new(Duration::ZERO);
        let record_wait = |d: Duration| {
            *waited.lock().unwrap() += d;
            std::future::ready(())
        };
        let result = retry_sleeping_with(
            &spec,
            "test op",
            || {
                let calls = calls.clone();
                let errors = errors.clone();
                async move {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    match errors.lock().unwrap().next() {
                        Some(e) => Err(e),
                        None => Ok(n),
                    }
                }
            },
            record_wait,
        )
        .await;
        let waited = *waited.lock().unwrap();
        (result, calls.load(Ordering::SeqCst), waited)
    }

    #[tokio::test]
    async fn success_needs_no_retry() {
        let (result, calls, took) = run(spec(5000, 5), vec![]).await;
        assert_eq!(result.unwrap(), 1);
        assert_eq!(calls, 1);
        assert_eq!(took, Duration::ZERO);
    }

    #[tokio::test]
    async fn transient_errors_are_retried_with_doubling_backoff() {
        let (result, calls, took) = run(spec(5000, 5), vec![transient(), transient()]).await;
        assert_eq!(result.unwrap(), 3);
        assert_eq!(calls, 3);
        // 5 s, then 10 s
        assert_eq!(took, Duration::from_secs(15));
    }

    #[tokio::test]
    async fn gives_up_after_max_tries_with_the_last_error() {
        let (result, calls, took) =
            run(spec(5000, 5), (0..10).map(|_| transient()).collect()).await;
        let err = result.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(calls, 5);
        // 5 + 10 + 20 + 40
        assert_eq!(took, Duration::from_secs(75));
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let (result, calls, took) = run(spec(5000, 5), vec![transient(), permanent()]).await;
        let err = result.unwrap_err();
        assert!(!err.is_transient());
        assert!(err.to_string().contains("403"), "{err}");
        assert_eq!(calls, 2);
        assert_eq!(took, Duration::from_secs(5));

        // Local errors (not an object store's) are permanent too.
        let (result, calls, _) = run(spec(5000, 5), vec![StorageError::Poisoned]).await;
        assert!(matches!(result, Err(StorageError::Poisoned)));
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn backoff_is_capped_at_a_minute() {
        let (result, calls, took) =
            run(spec(40_000, 4), (0..3).map(|_| transient()).collect()).await;
        assert_eq!(result.unwrap(), 4);
        assert_eq!(calls, 4);
        // 40 s, then 60 s (not 80), then 60 s
        assert_eq!(took, Duration::from_secs(160));

        // An interval above the cap is capped from the first wait on.
        let (_, _, took) = run(spec(300_000, 2), vec![transient()]).await;
        assert_eq!(took, Duration::from_secs(60));
    }

    #[tokio::test]
    async fn zero_tries_means_one() {
        let (result, calls, _) = run(spec(5000, 0), vec![transient()]).await;
        assert!(result.unwrap_err().is_transient());
        assert_eq!(calls, 1);
    }
}
