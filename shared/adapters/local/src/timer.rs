//! The local runner's grace timer: where AWS has a standard SQS queue with `DelaySeconds`, a
//! task sleeps, then puts the job on the in-process job queue. Long waits hop as in AWS.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use bridge_relay_domain::error::QueueError;
use bridge_relay_domain::model::Job;
use bridge_relay_ports::queue::{TimerQueue, timer_hop};

use crate::queue::{InProcessQueue, LocalMessage};

/// The local runner's timer: a task sleeps, then puts the job on the in-process job queue.
pub struct LocalTimer {
    sender: mpsc::UnboundedSender<LocalMessage>,
}

impl LocalTimer {
    /// The grace timer for the local worker: delayed jobs come back through `queue`.
    pub fn for_queue(queue: &InProcessQueue) -> Self {
        LocalTimer {
            sender: queue.sender(),
        }
    }
}

#[async_trait]
impl TimerQueue for LocalTimer {
    async fn enqueue_after(&self, job: &Job, delay: Duration) -> Result<(), QueueError> {
        // The runner keeps its timers in memory, so a stop drops every timer not yet fired;
        // one asked for by a job it finishes on the way out goes the same way. Failing that
        // job instead would only have it retried until the exit, and its redelivery lost too.
        if self.sender.is_closed() {
            tracing::warn!(incident = %job.incident_key(), action = job.action.as_str(), "the local runner is stopping: this timer will not fire");
            return Ok(());
        }
        let (sender, job) = (self.sender.clone(), job.clone());
        tokio::spawn(async move {
            tokio::time::sleep(timer_hop(delay)).await;
            // A standard queue in AWS: no message group, no deduplication (a job that hops
            // again keeps its id).
            let message = LocalMessage { job, group: None };
            if sender.send(message).is_err() {
                tracing::warn!("the local worker stopped before a timer fired");
            }
        });
        Ok(())
    }
}
