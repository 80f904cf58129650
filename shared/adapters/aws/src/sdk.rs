//! AWS SDK configuration: one rustls stack (ring) for the SDK and reqwest alike.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

pub use bridge_relay_http::install_crypto_provider;

/// Loads region, credentials and endpoints the standard way (`AWS_REGION`, `AWS_ENDPOINT_URL`, …).
pub async fn sdk_config() -> SdkConfig {
    config_loader().load().await
}

/// A new connection to an AWS endpoint (TCP and TLS) takes this long at most.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One attempt of an SDK call takes this long at most; the SDK retries a timed-out attempt
/// within the operation's time.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// One SDK call, retries included, takes this long at most. Below the ingress's request budget
/// (the ingress's `REQUEST_BUDGET`, 4 s of a 5 s function), so a hung SQS or Secrets
/// Manager call ends as an error the ingress answers and logs, not as a Lambda timeout.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);

/// The time limits of every SDK client the relay builds; the SDK sets none by default, and a
/// call to an endpoint that accepts and never answers would otherwise wait until the function
/// is killed.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The standard loader with the relay's HTTP client and time limits; tests add their endpoint
/// and credentials.
pub fn config_loader() -> ConfigLoader {
    install_crypto_provider();
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeout_config())
}
