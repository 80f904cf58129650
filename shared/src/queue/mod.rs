//! The job queue between ingress and worker: SQS FIFO in AWS, an in-process channel locally.

mod local;
mod sqs;
mod timer;

pub use local::{
    DEDUP_WINDOW, DeadLetterLog, InProcessQueue, LOCAL_DELIVERIES, LocalMessage, run_local_worker,
};
pub use sqs::{RedriveError, Redriven, SqsJobQueue, redrive};
pub use timer::{LocalTimer, MAX_TIMER_HOP, SqsTimerQueue, TimerQueue};

use async_trait::async_trait;

use crate::error::QueueError;
use crate::model::Job;

#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Returns only once the queue holds the job: the webhook is acknowledged after this.
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError>;
}

/// An SQS client on the relay's AWS configuration.
pub fn sqs_client(config: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}
