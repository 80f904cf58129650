//! The ingress Lambda: PagerDuty webhook in (Function URL), job on the FIFO queue, 202 out.

use bridge_relay::config::process_env;
use bridge_relay::lambda::FunctionUrlRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    bridge_relay::init_lambda_tracing();
    let config = process_env().ingress()?;
    let aws = bridge_relay::aws::sdk_config().await;
    let ingress = &bridge_relay::compose::lambda_ingress(&aws, config);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<FunctionUrlRequest>| async move {
            bridge_relay::lambda::handle_function_url(ingress, event).await
        },
    ))
    .await
}
