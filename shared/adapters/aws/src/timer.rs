//! The grace timer of the meeting lifecycle. The job queue is FIFO, and FIFO queues have no
//! per-message delay, so a job that must wait (end the meeting N minutes after a resolve) goes
//! to a second, standard queue with `DelaySeconds`, which the same worker consumes. SQS delays a
//! message by at most 15 minutes; longer waits take several hops (the worker sends a job that is
//! not yet due back with the time that is left). Locally a sleeping task plays that
//! queue (`bridge-relay-local`).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;

use bridge_relay_domain::error::QueueError;
use bridge_relay_domain::model::Job;

use bridge_relay_ports::queue::{TimerQueue, timer_hop};

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
        let seconds = timer_hop(delay).as_millis().div_ceil(1000) as i32;
        crate::sqs::send(
            self.client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(job.to_json())
                .delay_seconds(seconds),
        )
        .await
    }
}
