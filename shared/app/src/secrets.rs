//! Where the relay's secret documents come from, under one name for the application: Secrets
//! Manager in AWS (`bridge-relay-aws`), a file locally (`bridge-relay-local`). The documents,
//! their cache and the [`SecretSource`] port are `bridge_relay_ports::secrets`.

pub use bridge_relay_aws::SecretsManagerSource;
pub use bridge_relay_local::FileSecretSource;
pub use bridge_relay_ports::secrets::*;

use std::sync::Arc;
use std::time::Duration;

/// The cache over a Secrets Manager secret that serves both roles.
pub fn secrets_manager(
    config: &aws_config::SdkConfig,
    secret_id: impl Into<String>,
    ttl: Duration,
) -> Arc<SecretCache> {
    secrets_manager_for(SecretRole::Both, config, secret_id, ttl)
}

/// The cache over a Secrets Manager secret read for `role`, as each Lambda function uses it.
pub fn secrets_manager_for(
    role: SecretRole,
    config: &aws_config::SdkConfig,
    secret_id: impl Into<String>,
    ttl: Duration,
) -> Arc<SecretCache> {
    Arc::new(
        SecretCache::new(
            Arc::new(SecretsManagerSource::from_sdk_config(config, secret_id)),
            ttl,
        )
        .with_role(role),
    )
}
