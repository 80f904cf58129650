use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::JobQueue;
use crate::error::QueueError;
use crate::model::Job;
use crate::relay::{Delivery, Settled, Worker};

/// The local runner's queue: jobs go to a worker task in the same process.
pub struct InProcessQueue {
    sender: mpsc::UnboundedSender<Job>,
}

impl InProcessQueue {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Job>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (InProcessQueue { sender }, receiver)
    }

    /// The grace timer for the local worker: delayed jobs come back through this queue.
    pub fn timer(&self) -> super::LocalTimer {
        super::LocalTimer {
            sender: self.sender.clone(),
        }
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

/// What a job gets locally: this many deliveries, then the dead-letter log.
pub const LOCAL_DELIVERIES: u32 = 4;
/// The time one local delivery may take, as the Lambda worker's timeout does in AWS.
const LOCAL_DELIVERY_BUDGET: Duration = Duration::from_secs(50);

/// The local runner's dead-letter queue: jobs that failed every delivery, logged and kept.
#[derive(Default)]
pub struct DeadLetterLog {
    jobs: std::sync::Mutex<Vec<Job>>,
}

impl DeadLetterLog {
    pub fn jobs(&self) -> Vec<Job> {
        self.jobs.lock().expect("not poisoned").clone()
    }
}

#[async_trait]
impl JobQueue for DeadLetterLog {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        tracing::error!(incident = %job.incident.id, failure = job.failure.as_deref().unwrap_or("-"), "job dead-lettered");
        self.jobs.lock().expect("not poisoned").push(job.clone());
        Ok(())
    }
}

/// Runs each job as it arrives, concurrently, delivering it again after a transient failure the
/// way SQS would. Returns when every sender is gone and the jobs have finished.
pub async fn run_local_worker(
    worker: Arc<Worker>,
    dead_letters: Arc<DeadLetterLog>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    redelivery_delay: Duration,
) {
    let mut running = tokio::task::JoinSet::new();
    while let Some(job) = jobs.recv().await {
        let worker = worker.clone();
        let dead_letters = dead_letters.clone();
        running.spawn(async move {
            for receive_count in 1..=LOCAL_DELIVERIES {
                let delivery = Delivery {
                    receive_count,
                    deadline: Instant::now() + LOCAL_DELIVERY_BUDGET,
                };
                let (settled, calls) =
                    crate::telemetry::observe(worker.handle_delivery(&job, delivery)).await;
                // The local runner's readable line per job; metrics are for CloudWatch only.
                crate::telemetry::JobOutcome::new(
                    &job,
                    delivery,
                    &settled,
                    LOCAL_DELIVERIES,
                    calls,
                )
                .log(None);
                match settled {
                    Settled::Done(_) | Settled::DeadLettered(_) | Settled::Requeued(_) => return,
                    Settled::Retry(_) if receive_count < LOCAL_DELIVERIES => {
                        tokio::time::sleep(redelivery_delay).await;
                    }
                    Settled::Retry(error) => {
                        let mut dead = job.clone();
                        dead.failure = Some(error.to_string());
                        let _ = dead_letters.enqueue(&dead).await;
                    }
                }
            }
        });
    }
    while running.join_next().await.is_some() {}
}
