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
