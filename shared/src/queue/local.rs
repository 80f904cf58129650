use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::JobQueue;
use crate::error::QueueError;
use crate::model::Job;
use crate::relay::Worker;

/// The local runner's queue: jobs go to a worker task in the same process.
pub struct InProcessQueue {
    sender: mpsc::UnboundedSender<Job>,
}

impl InProcessQueue {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Job>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (InProcessQueue { sender }, receiver)
    }
}

#[async_trait]
impl JobQueue for InProcessQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        self.sender
            .send(job.clone())
            .map_err(|_| QueueError("the local worker has stopped".into()))
    }
}

/// How often the local worker tries a job that fails for a reason that may pass.
const LOCAL_ATTEMPTS: u32 = 4;

/// Runs each job as it arrives, concurrently, retrying transient failures with backoff the way
/// SQS redelivery would. Returns when every sender is gone and the jobs have finished.
pub async fn run_local_worker(
    worker: Arc<Worker>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    first_backoff: Duration,
) {
    let mut running = tokio::task::JoinSet::new();
    while let Some(job) = jobs.recv().await {
        let worker = worker.clone();
        running.spawn(async move {
            let mut backoff = first_backoff;
            for attempt in 1..=LOCAL_ATTEMPTS {
                match worker.handle_job(&job).await {
                    Ok(_) => return,
                    Err(e) if e.is_retryable() && attempt < LOCAL_ATTEMPTS => {
                        tracing::warn!(incident = %job.incident.id, attempt, error = %e, "job failed, retrying");
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                    }
                    Err(e) => {
                        tracing::error!(incident = %job.incident.id, attempt, error = %e, "job failed for good");
                        return;
                    }
                }
            }
        });
    }
    while running.join_next().await.is_some() {}
}
