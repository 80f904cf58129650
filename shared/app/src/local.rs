//! The local runner's entry adapter: the in-process queue's jobs through the worker, as the
//! Lambda's event source mapping delivers SQS messages (one job of an incident at a time,
//! deliveries again after a transient failure, the dead letter after the last), with one
//! readable log line per delivery.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::queue::{
    DeadLetterLog, JobQueue, LOCAL_DELIVERIES, LOCAL_DELIVERY_BUDGET, LocalMessage,
};
use crate::relay::{Delivery, Settled, Worker};
use bridge_relay_domain::model::Job;

/// The jobs waiting behind the running one, per message group with a job at work.
type Waiting = Arc<Mutex<HashMap<String, VecDeque<Job>>>>;

/// Runs the jobs as they arrive, delivering a job again after a transient failure the way SQS
/// would. Like a FIFO queue's consumer it runs one job of a message group at a time, in the
/// order they were sent, while other groups (other incidents) and timer jobs run concurrently:
/// a group's next job starts once the one before it is settled. Returns when every sender is
/// gone and the jobs have finished.
pub async fn run_local_worker(
    worker: Arc<Worker>,
    dead_letters: Arc<DeadLetterLog>,
    mut jobs: mpsc::UnboundedReceiver<LocalMessage>,
    redelivery_delay: Duration,
) {
    let waiting: Waiting = Arc::default();
    let mut running = tokio::task::JoinSet::new();
    while let Some(LocalMessage { job, group }) = jobs.recv().await {
        // Settled tasks are reaped as jobs come in, so a long-running runner holds no results.
        while running.try_join_next().is_some() {}
        let (worker, dead_letters) = (worker.clone(), dead_letters.clone());
        let Some(group) = group else {
            running.spawn(async move {
                deliver(&worker, &dead_letters, &job, redelivery_delay).await;
            });
            continue;
        };
        {
            let mut waiting = waiting.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(queued) = waiting.get_mut(&group) {
                queued.push_back(job);
                continue;
            }
            waiting.insert(group.clone(), VecDeque::new());
        }
        let waiting = waiting.clone();
        running.spawn(async move {
            let mut next = Some(job);
            while let Some(mut job) = next {
                // As the Lambda does with a batch: a follow job the group's next one carries
                // newer is left to it (a burst of changes sends one update).
                loop {
                    let mut waiting = waiting.lock().unwrap_or_else(PoisonError::into_inner);
                    let queued = waiting.get_mut(&group);
                    match queued {
                        Some(queued) if queued.front().is_some_and(|n| job.is_superseded_by(n)) => {
                            if let Some(newer) = queued.pop_front() {
                                tracing::info!(incident = %job.incident_key(), "follow job left to the next one of the incident, which carries it newer");
                                job = job.coalesce_into(newer);
                            }
                        }
                        _ => break,
                    }
                }
                deliver(&worker, &dead_letters, &job, redelivery_delay).await;
                let mut waiting = waiting.lock().unwrap_or_else(PoisonError::into_inner);
                next = waiting.get_mut(&group).and_then(VecDeque::pop_front);
                if next.is_none() {
                    // Removed under the same lock the receiver checks: a job sent from now on
                    // starts the group again.
                    waiting.remove(&group);
                }
            }
        });
    }
    while running.join_next().await.is_some() {}
}

/// One job through its deliveries: settled, or dead-lettered after the last.
async fn deliver(
    worker: &Worker,
    dead_letters: &DeadLetterLog,
    job: &Job,
    redelivery_delay: Duration,
) {
    for receive_count in 1..=LOCAL_DELIVERIES {
        let delivery = Delivery {
            receive_count,
            deadline: bridge_relay_ports::retry::instant_after(LOCAL_DELIVERY_BUDGET),
        };
        let (settled, calls) =
            bridge_relay_domain::telemetry::observe(worker.handle_delivery(job, delivery)).await;
        // The local runner's readable line per job; metrics are for CloudWatch only.
        crate::report::JobOutcome::new(job, delivery, &settled, calls).log(None);
        match settled {
            Settled::Done(_) | Settled::DeadLettered(..) | Settled::Requeued(_) => return,
            Settled::Retry(_) if receive_count < LOCAL_DELIVERIES => {
                tokio::time::sleep(redelivery_delay).await;
            }
            Settled::Retry(error) | Settled::LastDelivery(error, _) => {
                let mut dead = job.clone();
                dead.failure = Some(error.to_string());
                let _ = dead_letters.enqueue(&dead).await;
            }
        }
    }
}
