//! The worker Lambda: jobs from the FIFO queue -> Zoom meeting -> bridge and note on the incident.

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use bridge_relay::config::process_env;
use bridge_relay::incident_io::IncidentIoApi;
use bridge_relay::model::IncidentToolKind;
use bridge_relay::pagerduty::PagerDutyApi;
use bridge_relay::queue::{SqsJobQueue, SqsTimerQueue};
use bridge_relay::relay::Worker;
use bridge_relay::secrets::{SecretCache, SecretRole};
use bridge_relay::store::DynamoDbStore;
use bridge_relay::zoom::ZoomApi;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    bridge_relay::init_lambda_tracing();
    let config = process_env().worker()?;
    let aws = bridge_relay::aws::sdk_config().await;
    let secrets = SecretCache::secrets_manager_for(
        SecretRole::Worker,
        &aws,
        config.secret_id,
        config.secret_ttl,
    );
    secrets.log_start(config.secret_var);
    let http = bridge_relay::http::client();
    let endpoints = &config.endpoints;
    // One table for the claims and for the Zoom token every container shares.
    let store = Arc::new(DynamoDbStore::from_sdk_config(&aws, config.table_name));
    let zoom = ZoomApi::new(
        http.clone(),
        &endpoints.zoom_api,
        &endpoints.zoom_oauth,
        config.zoom_host_user,
        secrets.clone(),
    )
    .with_shared_token(store.clone());
    let pagerduty = PagerDutyApi::new(http.clone(), &endpoints.pagerduty_api, secrets.clone());
    let incident_io = IncidentIoApi::new(
        http,
        &endpoints.incident_io_api,
        secrets,
        config.incident_io_notify_channel,
    );
    let mut worker = Worker::new(
        Arc::new(zoom),
        Arc::new(pagerduty),
        store,
        Arc::new(SqsJobQueue::from_sdk_config(
            &aws,
            config.dead_letter_queue_url,
        )),
        config.settings,
    )
    .with_incident_tool(IncidentToolKind::IncidentIo, Arc::new(incident_io));
    if let Some(queue_url) = config.queue_url {
        worker = worker.with_requeue(Arc::new(SqsJobQueue::from_sdk_config(&aws, queue_url)));
    }
    if let Some(timer_queue_url) = config.timer_queue_url {
        worker = worker.with_timer(Arc::new(SqsTimerQueue::from_sdk_config(
            &aws,
            timer_queue_url,
        )));
    }
    let worker = Arc::new(worker);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        bridge_relay::lambda::handle_sqs(worker.clone(), event)
    }))
    .await
}
