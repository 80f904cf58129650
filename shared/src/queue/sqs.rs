use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
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
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(job.to_json())
            .message_group_id(fifo_id(&job.incident.id))
            .message_deduplication_id(fifo_id(&job.webhook_id))
            .send()
            .await
            .map_err(|e| QueueError(DisplayErrorContext(&e).to_string()))?;
        Ok(())
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
