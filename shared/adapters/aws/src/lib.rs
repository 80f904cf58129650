//! The AWS adapters: the idempotency store on DynamoDB, the job and timer queues on SQS, the
//! secret documents in Secrets Manager, and the SDK configuration they share (one rustls stack,
//! time limits on every call). Each implements a port of `bridge-relay-ports`; the local twins
//! are in `bridge-relay-local`, and only the application (`bridge-relay`) chooses between them.

// Input never panics the relay: no unwrap, expect, unchecked indexing or unchecked arithmetic
// on what came from outside; the few justified exceptions say why where they stand.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod dynamodb;
pub mod sdk;
mod secrets_manager;
mod sqs;
mod timer;

pub use dynamodb::DynamoDbStore;
pub use secrets_manager::SecretsManagerSource;
pub use sqs::{RedriveError, Redriven, SqsJobQueue, SqsRedelivery, redrive};
pub use timer::SqsTimerQueue;

/// An SQS client on the relay's AWS configuration.
pub fn sqs_client(config: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}
