use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use secrecy::SecretString;

use bridge_relay_domain::error::SecretsError;
use bridge_relay_ports::secrets::SecretSource;

/// The secret in AWS Secrets Manager, by name or ARN.
pub struct SecretsManagerSource {
    client: Client,
    secret_id: String,
}

impl SecretsManagerSource {
    pub fn from_sdk_config(config: &aws_config::SdkConfig, secret_id: impl Into<String>) -> Self {
        Self::new(Client::new(config), secret_id)
    }

    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        SecretsManagerSource {
            client,
            secret_id: secret_id.into(),
        }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    fn name(&self) -> &str {
        &self.secret_id
    }

    async fn fetch(&self) -> Result<SecretString, SecretsError> {
        let unavailable = |reason: String, retryable: bool| SecretsError::Unavailable {
            source_name: self.secret_id.clone(),
            reason,
            retryable,
        };
        let started = std::time::Instant::now();
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await;
        let status = match &output {
            Ok(_) => Some(200),
            Err(SdkError::ServiceError(e)) => Some(e.raw().status().as_u16()),
            Err(_) => None,
        };
        bridge_relay_domain::telemetry::record_call(
            bridge_relay_domain::Service::SecretsManager,
            started,
            status,
        );
        let output = output.map_err(|e| {
            // Timeouts, dispatch failures and throttling pass with time; a missing secret
            // or a denied permission needs a person.
            let retryable = match &e {
                SdkError::ServiceError(service) => {
                    let err = service.err();
                    err.is_internal_service_error()
                        || service.raw().status().as_u16() >= 500
                        || service.raw().status().as_u16() == 429
                }
                _ => true,
            };
            unavailable(DisplayErrorContext(&e).to_string(), retryable)
        })?;
        output.secret_string.map(SecretString::from).ok_or_else(|| {
            unavailable(
                "the secret has no SecretString (binary secrets are not supported)".into(),
                false,
            )
        })
    }
}
