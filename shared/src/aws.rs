//! AWS SDK configuration: one rustls stack (ring) for the SDK and reqwest alike.

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// reqwest is built without a crypto provider of its own; install ring once per process.
pub fn install_crypto_provider() {
    // Err means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Loads region, credentials and endpoints the standard way (`AWS_REGION`, `AWS_ENDPOINT_URL`, …).
pub async fn sdk_config() -> SdkConfig {
    config_loader().load().await
}

/// The standard loader with the relay's HTTP client; tests add their endpoint and credentials.
pub fn config_loader() -> ConfigLoader {
    install_crypto_provider();
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http)
}
