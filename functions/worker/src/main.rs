//! The worker Lambda: jobs from the FIFO queue -> Zoom meeting -> bridge and note on the incident.

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use bridge_relay::config::process_env;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    bridge_relay::init_lambda_tracing();
    let config = process_env().worker()?;
    let aws = bridge_relay::aws::sdk_config().await;
    let built = bridge_relay::compose::lambda_worker(&aws, config, bridge_relay::http::client());
    let worker = Arc::new(built.worker);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        bridge_relay::lambda::handle_sqs(worker.clone(), event)
    }))
    .await
}
