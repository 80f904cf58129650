use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::operation::send_message::builders::SendMessageFluentBuilder;
use sha2::{Digest, Sha256};

use super::JobQueue;
use crate::error::QueueError;
use crate::model::Job;

/// An SQS FIFO queue: one message group per incident keeps its jobs in order, and the
/// webhook id as deduplication id drops PagerDuty's redeliveries within SQS's 5-minute window.
pub struct SqsJobQueue {
    client: Client,
    queue_url: String,
}

impl SqsJobQueue {
    pub fn from_sdk_config(config: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self::new(Client::new(config), queue_url)
    }

    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsJobQueue {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        send(
            self.client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(job.to_json())
                .message_group_id(fifo_id(&job.incident_key()))
                .message_deduplication_id(fifo_id(&job.webhook_id)),
        )
        .await
    }
}

/// Sends one message, counted as an SQS call of the job.
pub(crate) async fn send(message: SendMessageFluentBuilder) -> Result<(), QueueError> {
    let started = std::time::Instant::now();
    let sent = message.send().await;
    crate::telemetry::record_call(
        crate::Service::Sqs,
        started,
        sent.as_ref().ok().map(|_| 200),
    );
    sent.map_err(queue_error)?;
    Ok(())
}

fn queue_error(e: impl std::error::Error) -> QueueError {
    QueueError(DisplayErrorContext(&e).to_string())
}

/// Moves every message of the dead-letter queue `from` back to the job queue `to`, each as a
/// fresh delivery (its failure cleared, a new dedup id so SQS does not drop it as a repeat).
/// A message is deleted from `from` only once `to` holds it. Returns the jobs moved.
pub async fn redrive(client: &Client, from: &str, to: &str) -> Result<Vec<Job>, QueueError> {
    let target = SqsJobQueue::new(client.clone(), to);
    let mut moved = Vec::new();
    let stamp = crate::store::new_owner();
    loop {
        let messages = client
            .receive_message()
            .queue_url(from)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .send()
            .await
            .map_err(queue_error)?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return Ok(moved);
        }
        for message in messages {
            let mut job = Job::from_json(message.body().unwrap_or_default()).map_err(|e| {
                QueueError(format!(
                    "message {}: {e}",
                    message.message_id().unwrap_or("?")
                ))
            })?;
            job.failure = None;
            job.webhook_id = format!("{}#redrive-{stamp}", job.webhook_id);
            target.enqueue(&job).await?;
            client
                .delete_message()
                .queue_url(from)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .map_err(queue_error)?;
            moved.push(job);
        }
    }
}

/// FIFO group and dedup ids allow 128 characters of `[A-Za-z0-9!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~]`;
/// anything else is replaced by its SHA-256, which keeps equal inputs equal.
pub(crate) fn fifo_id(value: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c.is_ascii_punctuation();
    if !value.is_empty() && value.len() <= 128 && value.chars().all(allowed) {
        value.to_owned()
    } else {
        hex::encode(Sha256::digest(value.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::fifo_id;

    #[test]
    fn fifo_ids_are_kept_or_hashed() {
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
