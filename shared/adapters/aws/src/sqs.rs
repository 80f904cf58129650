use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::operation::send_message::builders::SendMessageFluentBuilder;
use bridge_relay_domain::error::QueueError;
use bridge_relay_domain::model::Job;
use bridge_relay_ports::queue::{JobQueue, fifo_id};

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
                .message_group_id(fifo_id(job.incident_key().as_str()))
                .message_deduplication_id(fifo_id(&job.webhook_id)),
        )
        .await
    }
}

/// Changes the visibility of messages of the queues it is given (the worker's event sources).
pub struct SqsRedelivery {
    client: Client,
    queue_urls: Vec<String>,
}

impl SqsRedelivery {
    pub fn from_sdk_config(
        config: &aws_config::SdkConfig,
        queue_urls: impl IntoIterator<Item = String>,
    ) -> Self {
        SqsRedelivery {
            client: Client::new(config),
            queue_urls: queue_urls.into_iter().collect(),
        }
    }
}

#[async_trait]
impl bridge_relay_ports::queue::Redelivery for SqsRedelivery {
    async fn redeliver_after(
        &self,
        queue_name: &str,
        receipt: &str,
        after: std::time::Duration,
    ) -> Result<(), QueueError> {
        // A queue URL ends with the queue's name (`https://sqs.<region>.amazonaws.com/<account>/<name>`).
        let url = self
            .queue_urls
            .iter()
            .find(|url| url.rsplit('/').next() == Some(queue_name))
            .ok_or_else(|| QueueError(format!("{queue_name} is not a queue of this worker")))?;
        let seconds = i32::try_from(after.as_secs()).unwrap_or(i32::MAX);
        let started = std::time::Instant::now();
        let changed = self
            .client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send()
            .await;
        bridge_relay_domain::telemetry::record_call(
            bridge_relay_domain::Service::Sqs,
            started,
            changed.as_ref().ok().map(|_| 200),
        );
        changed.map_err(queue_error)?;
        Ok(())
    }
}

/// Sends one message, counted as an SQS call of the job.
pub(crate) async fn send(message: SendMessageFluentBuilder) -> Result<(), QueueError> {
    let started = std::time::Instant::now();
    let sent = message.send().await;
    bridge_relay_domain::telemetry::record_call(
        bridge_relay_domain::Service::Sqs,
        started,
        sent.as_ref().ok().map(|_| 200),
    );
    sent.map_err(queue_error)?;
    Ok(())
}

fn queue_error(e: impl std::error::Error) -> QueueError {
    QueueError(DisplayErrorContext(&e).to_string())
}

/// What a redrive did: the jobs moved, and the messages it could not read (left where they
/// were, for a person to look at).
#[derive(Debug, Default)]
pub struct Redriven {
    pub moved: Vec<Job>,
    /// Message id and why it is not a job.
    pub skipped: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    /// Moving a queue's jobs into itself receives each moved job again: it never ends.
    #[error(
        "the dead-letter queue and the job queue are the same queue ({0}); give the dead-letter queue as --from and the job queue as --to"
    )]
    SameQueue(String),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Whether two queue URLs name the same queue (the account and the queue name; the host may
/// be written either of SQS's ways).
fn same_queue(a: &str, b: &str) -> bool {
    let tail = |url: &str| -> Vec<String> {
        url.trim_end_matches('/')
            .rsplit('/')
            .take(2)
            .map(str::to_ascii_lowercase)
            .collect()
    };
    tail(a) == tail(b)
}

/// Moves every message of the dead-letter queue `from` back to the job queue `to`, each as a
/// fresh delivery (its failure cleared, a new dedup id so SQS does not drop it as a repeat).
/// A message is deleted from `from` only once `to` holds it. A message that is not a job is
/// skipped and left in `from` (it is reported, and the others are still moved).
pub async fn redrive(client: &Client, from: &str, to: &str) -> Result<Redriven, RedriveError> {
    if same_queue(from, to) {
        return Err(RedriveError::SameQueue(from.to_owned()));
    }
    let target = SqsJobQueue::new(client.clone(), to);
    let mut done = Redriven::default();
    let mut skipped_ids = std::collections::HashSet::new();
    let stamp = bridge_relay_ports::store::new_owner();
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
        // Only messages skipped already (visible again after a long redrive): nothing is left.
        if messages
            .iter()
            .all(|m| skipped_ids.contains(m.message_id().unwrap_or_default()))
        {
            return Ok(done);
        }
        for message in messages {
            let id = message.message_id().unwrap_or("?").to_owned();
            if skipped_ids.contains(&id) {
                continue;
            }
            let mut job = match Job::from_json(message.body().unwrap_or_default()) {
                Ok(job) => job,
                Err(e) => {
                    tracing::warn!(message_id = %id, error = %e, "not a job; left in the dead-letter queue");
                    skipped_ids.insert(id.clone());
                    done.skipped.push((
                        id,
                        bridge_relay_domain::error::bounded_reason(e.to_string()),
                    ));
                    continue;
                }
            };
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
            done.moved.push(job);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_queue_is_the_same_queue_however_its_url_is_written() {
        use super::same_queue;
        let dlq = "https://sqs.eu-west-1.amazonaws.com/123456789012/bridge-relay-dead-letters.fifo";
        assert!(same_queue(dlq, dlq));
        assert!(same_queue(
            dlq,
            "https://eu-west-1.queue.amazonaws.com/123456789012/bridge-relay-dead-letters.fifo/"
        ));
        assert!(!same_queue(
            dlq,
            "https://sqs.eu-west-1.amazonaws.com/123456789012/bridge-relay-jobs.fifo"
        ));
    }
}
