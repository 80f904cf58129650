//! The queues the use case hands work to: the job queue between ingress and worker (SQS FIFO in
//! AWS, an in-process channel locally) and the grace timer's delayed queue.

use std::time::Duration;

use async_trait::async_trait;

use bridge_relay_domain::error::QueueError;
use bridge_relay_domain::model::Job;

#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Returns only once the queue holds the job: the webhook is acknowledged after this.
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError>;
}

/// SQS's longest `DelaySeconds`: one hop of the timer.
pub const MAX_TIMER_HOP: Duration = Duration::from_secs(900);

/// The part of `delay` one timer hop waits: all of it, up to [`MAX_TIMER_HOP`].
pub fn timer_hop(delay: Duration) -> Duration {
    delay.min(MAX_TIMER_HOP)
}

/// A job's FIFO message group or deduplication id, by SQS FIFO's rules (which the local queue
/// keeps too): 128 characters of `[A-Za-z0-9!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~]`; anything else is
/// replaced by its SHA-256, which keeps equal inputs equal.
pub fn fifo_id(value: &str) -> String {
    use sha2::{Digest, Sha256};
    let allowed = |c: char| c.is_ascii_alphanumeric() || c.is_ascii_punctuation();
    if !value.is_empty() && value.len() <= 128 && value.chars().all(allowed) {
        value.to_owned()
    } else {
        hex::encode(Sha256::digest(value.as_bytes()))
    }
}

#[async_trait]
pub trait TimerQueue: Send + Sync {
    /// Hands `job` to the worker after `delay` (cut to [`MAX_TIMER_HOP`]); returns once queued.
    async fn enqueue_after(&self, job: &Job, delay: Duration) -> Result<(), QueueError>;
}

/// Hands a delivered message back to its queue after `after` instead of at the end of its
/// visibility timeout (SQS's `ChangeMessageVisibility`): a job that failed through a short
/// outage comes back in seconds, and the long timeout stays the fallback for a worker that
/// died mid-job.
#[async_trait]
pub trait Redelivery: Send + Sync {
    /// `queue_name` is the name of the queue the message came from (the last part of the
    /// event's source ARN), `receipt` the handle of this delivery.
    async fn redeliver_after(
        &self,
        queue_name: &str,
        receipt: &str,
        after: Duration,
    ) -> Result<(), QueueError>;
}

#[cfg(test)]
mod tests {
    #[test]
    fn fifo_ids_are_kept_or_hashed() {
        use super::fifo_id;
        assert_eq!(fifo_id("Q3B15VLMF3ASBD"), "Q3B15VLMF3ASBD");
        assert_eq!(
            fifo_id("bd2d6b6e-0b30-4c17-9b5c-0b3c7e0b2f0c"),
            "bd2d6b6e-0b30-4c17-9b5c-0b3c7e0b2f0c"
        );
        let spaced = fifo_id("an id with spaces");
        assert_eq!(spaced.len(), 64);
        assert_eq!(spaced, fifo_id("an id with spaces"));
        assert_eq!(fifo_id(&"x".repeat(200)).len(), 64);
    }
}
