use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::mpsc;

use bridge_relay_domain::error::QueueError;
use bridge_relay_domain::model::Job;
use bridge_relay_ports::queue::{JobQueue, fifo_id};

/// SQS FIFO's deduplication window: a message with a dedup id sent in the last 5 minutes is
/// accepted and dropped.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(300);

/// A job on its way to the local worker. `group` is the FIFO message group of a job from the
/// job queue; jobs of the grace timer (a standard queue in AWS) have none.
#[derive(Debug, Clone)]
pub struct LocalMessage {
    pub job: Job,
    pub group: Option<String>,
}

/// The local runner's queue: jobs go to a worker task in the same process, with the FIFO
/// semantics of the SQS job queue (`bridge_relay_aws::SqsJobQueue`): a redelivery with the same
/// webhook id within [`DEDUP_WINDOW`] is dropped, and the local runner (`bridge_relay::local::run_local_worker`) runs one job of an
/// incident (its message group) at a time. Without them, PagerDuty's duplicate deliveries ran
/// at once, met each other's claim, and gave up with a false failure note.
pub struct InProcessQueue {
    sender: mpsc::UnboundedSender<LocalMessage>,
    /// Dedup ids and when they were first sent.
    sent: Mutex<HashMap<String, Instant>>,
}

impl InProcessQueue {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<LocalMessage>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let queue = InProcessQueue {
            sender,
            sent: Mutex::new(HashMap::new()),
        };
        (queue, receiver)
    }

    /// Where delayed jobs are put back on this queue (the grace timer's end).
    pub(crate) fn sender(&self) -> mpsc::UnboundedSender<LocalMessage> {
        self.sender.clone()
    }

    /// Whether `dedup_id` was sent within the window; records it when not. Ids older than the
    /// window are forgotten, as SQS forgets them.
    fn is_repeat(&self, dedup_id: String) -> bool {
        // The map holds no invariant a panicking holder could break; go on with it.
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        sent.retain(|_, at| now.saturating_duration_since(*at) < DEDUP_WINDOW);
        if sent.contains_key(&dedup_id) {
            return true;
        }
        sent.insert(dedup_id, now);
        false
    }
}

#[async_trait]
impl JobQueue for InProcessQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        if self.sender.is_closed() {
            return Err(QueueError("the local worker has stopped".into()));
        }
        // The same ids the SQS adapter sends as MessageDeduplicationId and MessageGroupId.
        if self.is_repeat(fifo_id(&job.webhook_id)) {
            tracing::info!(incident = %job.incident.id, webhook_id = %job.webhook_id, "a repeat of a queued job; dropped as SQS FIFO drops it");
            return Ok(());
        }
        let message = LocalMessage {
            job: job.clone(),
            group: Some(fifo_id(job.incident_key().as_str())),
        };
        self.sender.send(message).map_err(|_| {
            // Not queued, so a later send of the same job is no repeat.
            self.sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&fifo_id(&job.webhook_id));
            QueueError("the local worker has stopped".into())
        })
    }
}

/// What a job gets locally: this many deliveries, then the dead-letter log.
pub const LOCAL_DELIVERIES: u32 = 4;
/// The time one local delivery may take, as the Lambda worker's timeout does in AWS.
pub const LOCAL_DELIVERY_BUDGET: Duration = Duration::from_secs(50);

/// The local runner's dead-letter queue: jobs that failed every delivery, logged and kept.
#[derive(Default)]
pub struct DeadLetterLog {
    jobs: std::sync::Mutex<Vec<Job>>,
}

impl DeadLetterLog {
    pub fn jobs(&self) -> Vec<Job> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl JobQueue for DeadLetterLog {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        tracing::error!(incident = %job.incident.id, failure = job.failure.as_deref().unwrap_or("-"), "job dead-lettered");
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(job.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(incident: &str, webhook_id: &str) -> Job {
        Job::from_json(&format!(
            r#"{{"webhook_id":"{webhook_id}","event_id":"e","event_type":"incident.triggered","incident":{{"id":"{incident}"}}}}"#
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn a_repeated_webhook_id_is_dropped_and_jobs_carry_the_sqs_group() {
        let (queue, mut jobs) = InProcessQueue::new();
        queue.enqueue(&job("P1", "w1")).await.unwrap();
        queue.enqueue(&job("P1", "w1")).await.unwrap();
        queue.enqueue(&job("P1", "w2")).await.unwrap();
        let spaced = "an id with spaces";
        queue.enqueue(&job(spaced, "w3")).await.unwrap();
        let received: Vec<LocalMessage> = std::iter::from_fn(|| jobs.try_recv().ok()).collect();
        let ids: Vec<&str> = received.iter().map(|m| m.job.webhook_id.as_str()).collect();
        assert_eq!(ids, ["w1", "w2", "w3"], "the repeat of w1 is dropped");
        assert_eq!(received[0].group.as_deref(), Some("P1"));
        assert_eq!(received[2].group, Some(fifo_id(spaced)));
    }
}
