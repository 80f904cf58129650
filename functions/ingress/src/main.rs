//! The ingress Lambda: PagerDuty webhook in (Function URL), job on the FIFO queue, 202 out.

use std::sync::Arc;

use bridge_relay::config::process_env;
use bridge_relay::lambda::FunctionUrlRequest;
use bridge_relay::queue::SqsJobQueue;
use bridge_relay::relay::Ingress;
use bridge_relay::secrets::{SecretCache, SecretRole};
use bridge_relay::store::DynamoDbStore;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    bridge_relay::init_lambda_tracing();
    let config = process_env().ingress()?;
    let aws = bridge_relay::aws::sdk_config().await;
    let secrets = SecretCache::secrets_manager_for(
        SecretRole::Ingress,
        &aws,
        config.secret_id,
        config.secret_ttl,
    );
    secrets.log_start(config.secret_var);
    let queue = Arc::new(SqsJobQueue::from_sdk_config(&aws, config.queue_url));
    let mut ingress = Ingress::new(secrets, queue, config.policy);
    if let Some(table) = config.table_name {
        ingress = ingress.with_meeting_index(Arc::new(DynamoDbStore::from_sdk_config(&aws, table)));
    }
    let ingress = &ingress;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<FunctionUrlRequest>| async move {
            bridge_relay::lambda::handle_function_url(ingress, event).await
        },
    ))
    .await
}
