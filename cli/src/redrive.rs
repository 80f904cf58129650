//! `bridge-relay redrive`: moves the deployed dead-letter queue's jobs back to the job queue.

use crate::args::Args;

/// `bridge-relay redrive`: the dead-letter queue's jobs back onto the job queue.
pub(crate) async fn run(args: Args) -> Result<(), String> {
    let from = args
        .from
        .ok_or("redrive needs --from DEAD_LETTER_QUEUE_URL")?;
    let to = args.to.ok_or("redrive needs --to JOB_QUEUE_URL")?;
    let aws = bridge_relay::aws::sdk_config().await;
    let client = bridge_relay::queue::sqs_client(&aws);
    let done = bridge_relay::queue::redrive(&client, &from, &to)
        .await
        .map_err(|e| e.to_string())?;
    for job in &done.moved {
        println!("requeued incident {} ({})", job.incident.id, job.event_type);
    }
    for (id, reason) in &done.skipped {
        println!("skipped message {id}, which is not a job: {reason}");
    }
    println!("{} job(s) moved back to the job queue", done.moved.len());
    if !done.skipped.is_empty() {
        println!(
            "{} message(s) that are not jobs were left in the dead-letter queue",
            done.skipped.len()
        );
    }
    Ok(())
}
