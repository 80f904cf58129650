//! Retries with exponential backoff and full jitter, bounded by the job's deadline, so what
//! cannot finish in this invocation goes back to the queue instead of dying with the Lambda.

use std::future::Future;
use std::time::{Duration, Instant};

use bridge_relay_domain::error::UpstreamError;

/// An error that says whether trying again can help, and when.
pub trait Transient {
    fn is_retryable(&self) -> bool;
    fn retry_after(&self) -> Option<Duration>;
}

impl Transient for UpstreamError {
    fn is_retryable(&self) -> bool {
        UpstreamError::is_retryable(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        UpstreamError::retry_after(self)
    }
}

/// The longest wait a retry hint is taken for. It is longer than any job's deadline, so a
/// job given a longer hint goes back to its queue instead of waiting.
pub const MAX_RETRY_HINT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(8),
            max_attempts: 6,
        }
    }
}

/// A random wait between half of `ceiling` and all of it, so callers that started together
/// (retries after one outage, containers waiting for one token) do not call again together.
pub fn jittered(ceiling: Duration) -> Duration {
    let mut byte = [0u8; 2];
    // Without the OS random source the jitter is the ceiling itself: still a valid delay.
    if getrandom::fill(&mut byte).is_err() {
        byte = [u8::MAX; 2];
    }
    let fraction = f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX);
    ceiling.mul_f64(0.5 + fraction / 2.0)
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`: the server's hint when it gave one, otherwise a
    /// random time up to `first_delay * 2^(attempt-1)`, capped at `max_delay`.
    pub fn delay(&self, attempt: u32, hint: Option<Duration>) -> Duration {
        if let Some(hint) = hint {
            // Capped here too: not every hint comes through `http::status_error`.
            return hint.min(MAX_RETRY_HINT);
        }
        let ceiling = self
            .first_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        jittered(ceiling)
    }

    /// Runs `op` until it succeeds, fails for good, runs out of attempts, or the next wait would
    /// pass `deadline`; returns the last error then.
    pub async fn run<T, E, F, Fut>(&self, deadline: Instant, what: &str, mut op: F) -> Result<T, E>
    where
        E: Transient + std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(e) if !e.is_retryable() || attempt >= self.max_attempts => return Err(e),
                Err(e) => {
                    let wait = self.delay(attempt, e.retry_after());
                    if !fits_before(wait, deadline) {
                        return Err(e);
                    }
                    tracing::warn!(what, attempt, wait_ms = wait.as_millis() as u64, error = %e, "retrying");
                    bridge_relay_domain::telemetry::record_retry();
                    tokio::time::sleep(wait).await;
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }
}

/// Whether a wait of `wait` from now ends before `deadline` (a wait past what the clock
/// holds does not).
/// `wait` from now; a span past the clock's range (no real setting comes near) stops at an hour.
pub fn instant_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(3600)))
        .unwrap_or(now)
}

pub fn fits_before(wait: Duration, deadline: Instant) -> bool {
    Instant::now()
        .checked_add(wait)
        .is_some_and(|end| end < deadline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_relay_domain::error::Service;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn status(status: u16, retry_after: Option<Duration>) -> UpstreamError {
        UpstreamError::Status {
            service: Service::Zoom,
            status,
            message: "x".into(),
            retry_after,
        }
    }

    #[test]
    fn delays_grow_with_jitter_and_respect_hints() {
        let policy = RetryPolicy::default();
        for attempt in 1..8 {
            let ceiling = (policy.first_delay * (1 << (attempt - 1))).min(policy.max_delay);
            let d = policy.delay(attempt, None);
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn waiters_that_start_together_wait_different_times() {
        let ceiling = Duration::from_millis(150);
        let waits: std::collections::HashSet<Duration> =
            (0..20).map(|_| jittered(ceiling)).collect();
        assert!(waits.iter().all(|w| *w >= ceiling / 2 && *w <= ceiling));
        assert!(waits.len() > 10, "{waits:?}");
    }

    #[tokio::test]
    async fn retries_transient_errors_only() {
        let policy = RetryPolicy {
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_attempts: 5,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let calls = AtomicU32::new(0);
        let result = policy
            .run(deadline, "t", || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n < 2 { Err(status(503, None)) } else { Ok(n) }
            })
            .await;
        assert_eq!(result.unwrap(), 2);

        calls.store(0, Ordering::SeqCst);
        let result: Result<(), UpstreamError> = policy
            .run(deadline, "t", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(status(404, None))
            })
            .await;
        assert_eq!(UpstreamError::status(&result.unwrap_err()), Some(404));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a 404 is not retried");
    }

    #[tokio::test]
    async fn stops_before_a_wait_that_would_pass_the_deadline() {
        let policy = RetryPolicy::default();
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let result: Result<(), UpstreamError> = policy
            .run(Instant::now() + Duration::from_secs(1), "t", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(status(429, Some(Duration::from_secs(30))))
            })
            .await;
        assert_eq!(UpstreamError::status(&result.unwrap_err()), Some(429));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[tokio::test]
    async fn a_huge_retry_hint_ends_the_retries_instead_of_overflowing_the_clock() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, Some(Duration::MAX)), MAX_RETRY_HINT);
        assert!(!fits_before(Duration::MAX, Instant::now()));
        let calls = AtomicU32::new(0);
        let result: Result<(), UpstreamError> = policy
            .run(Instant::now() + Duration::from_secs(1), "t", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(status(429, Some(Duration::MAX)))
            })
            .await;
        assert_eq!(UpstreamError::status(&result.unwrap_err()), Some(429));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
