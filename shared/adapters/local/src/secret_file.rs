use std::path::PathBuf;

use async_trait::async_trait;
use secrecy::SecretString;

use bridge_relay_domain::error::SecretsError;
use bridge_relay_ports::secrets::SecretSource;

/// The secret document in a local file, for the local runner.
pub struct FileSecretSource {
    path: PathBuf,
    name: String,
}

impl FileSecretSource {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let name = path.display().to_string();
        FileSecretSource { path, name }
    }
}

#[async_trait]
impl SecretSource for FileSecretSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self) -> Result<SecretString, SecretsError> {
        tokio::fs::read_to_string(&self.path)
            .await
            .map(SecretString::from)
            .map_err(|e| SecretsError::Unavailable {
                source_name: self.name.clone(),
                reason: e.to_string(),
                retryable: false,
            })
    }
}
