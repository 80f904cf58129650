//! The job queue between ingress and worker: SQS FIFO in AWS, an in-process channel locally.

mod local;
mod sqs;
mod timer;

pub use local::{
    DEDUP_WINDOW, DeadLetterLog, InProcessQueue, LOCAL_DELIVERIES, LOCAL_DELIVERY_BUDGET,
    LocalMessage,
};
pub use sqs::{RedriveError, Redriven, SqsJobQueue, SqsRedelivery, redrive};
pub use timer::{LocalTimer, SqsTimerQueue};

pub use bridge_relay_ports::queue::{JobQueue, MAX_TIMER_HOP, Redelivery, TimerQueue};

/// An SQS client on the relay's AWS configuration.
pub fn sqs_client(config: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}
