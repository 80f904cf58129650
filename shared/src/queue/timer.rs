//! The grace timer of the meeting lifecycle. The job queue is FIFO, and FIFO queues have no
//! per-message delay, so a job that must wait (end the meeting N minutes after a resolve) goes
//! to a second, standard queue with `DelaySeconds`, which the same worker consumes. SQS delays a
//! message by at most 15 minutes; longer waits take several hops (the worker sends a job that is
//! not yet due back with the time that is left). Locally a sleeping task plays that queue.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use tokio::sync::mpsc;

use bridge_relay_domain::error::QueueError;
use bridge_relay_domain::model::Job;

use bridge_relay_ports::queue::{MAX_TIMER_HOP, TimerQueue};

fn hop(delay: Duration) -> Duration {
    delay.min(MAX_TIMER_HOP)
}

/// A standard SQS queue with a per-message delay.
pub struct SqsTimerQueue {
    client: Client,
    queue_url: String,
}

impl SqsTimerQueue {
    pub fn from_sdk_config(config: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        SqsTimerQueue {
            client: Client::new(config),
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl TimerQueue for SqsTimerQueue {
    async fn enqueue_after(&self, job: &Job, delay: Duration) -> Result<(), QueueError> {
        // Rounded up, so a job never arrives before it is due and hops once more for nothing.
        let seconds = hop(delay).as_millis().div_ceil(1000) as i32;
        super::sqs::send(
            self.client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(job.to_json())
                .delay_seconds(seconds),
        )
        .await
    }
}

/// The local runner's timer: a task sleeps, then puts the job on the in-process job queue.
pub struct LocalTimer {
    pub(crate) sender: mpsc::UnboundedSender<super::LocalMessage>,
}

#[async_trait]
impl TimerQueue for LocalTimer {
    async fn enqueue_after(&self, job: &Job, delay: Duration) -> Result<(), QueueError> {
        if self.sender.is_closed() {
            return Err(QueueError("the local worker has stopped".into()));
        }
        let (sender, job) = (self.sender.clone(), job.clone());
        tokio::spawn(async move {
            tokio::time::sleep(hop(delay)).await;
            // A standard queue in AWS: no message group, no deduplication (a job that hops
            // again keeps its id).
            let message = super::LocalMessage { job, group: None };
            if sender.send(message).is_err() {
                tracing::warn!("the local worker stopped before a timer fired");
            }
        });
        Ok(())
    }
}
