//! Zoom: the meetings port, its Server-to-Server OAuth adapter, and the translation rules.

mod auth;
pub mod translate;

pub use auth::{AccessToken, TokenCache};
pub use translate::MeetingRequest;

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Service, UpstreamError};
use crate::http::status_error;
use crate::model::Meeting;
use crate::secrets::SecretCache;

/// Creates meetings. The real adapter is [`ZoomApi`]; tests run it against stand-ins.
#[async_trait]
pub trait MeetingProvider: Send + Sync {
    async fn create_meeting(&self, request: &MeetingRequest) -> Result<Meeting, MeetingError>;
}

/// A failed create, with the secret read separated from the API call.
#[derive(Debug, thiserror::Error)]
pub enum MeetingError {
    #[error(transparent)]
    Secrets(#[from] crate::error::SecretsError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

pub struct ZoomApi {
    http: reqwest::Client,
    api_base: String,
    host_user: String,
    tokens: TokenCache,
    secrets: Arc<SecretCache>,
}

impl ZoomApi {
    /// `api_base` is `https://api.zoom.us/v2` and `oauth_base` `https://zoom.us` in production.
    pub fn new(
        http: reqwest::Client,
        api_base: &str,
        oauth_base: &str,
        host_user: impl Into<String>,
        secrets: Arc<SecretCache>,
    ) -> Self {
        ZoomApi {
            tokens: TokenCache::new(http.clone(), oauth_base),
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            host_user: host_user.into(),
            secrets,
        }
    }

    pub fn token_fetches(&self) -> usize {
        self.tokens.fetches()
    }

    /// A token, re-reading the secret once if Zoom refuses the client credentials (rotation).
    async fn token(&self) -> Result<AccessToken, MeetingError> {
        let secrets = self.secrets.get().await?;
        match self.tokens.token(&secrets.zoom).await {
            Err(e) if matches!(e.status(), Some(400 | 401)) => {
                let fresh = self.secrets.refresh(&secrets).await?;
                Ok(self.tokens.token(&fresh.zoom).await?)
            }
            other => Ok(other?),
        }
    }

    async fn post_meeting(
        &self,
        token: &AccessToken,
        request: &MeetingRequest,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut url =
            reqwest::Url::parse(&self.api_base).map_err(|e| UpstreamError::Transport {
                service: Service::Zoom,
                reason: format!("ZOOM_API_BASE is not a URL: {e}"),
            })?;
        url.path_segments_mut()
            .map_err(|_| UpstreamError::Transport {
                service: Service::Zoom,
                reason: "ZOOM_API_BASE cannot take a path".into(),
            })?
            .extend(["users", self.host_user.as_str(), "meetings"]);
        self.http
            .post(url)
            .header("authorization", token.bearer())
            .json(request)
            .send()
            .await
            .map_err(|e| UpstreamError::transport(Service::Zoom, e))
    }
}

#[async_trait]
impl MeetingProvider for ZoomApi {
    async fn create_meeting(&self, request: &MeetingRequest) -> Result<Meeting, MeetingError> {
        let mut token = self.token().await?;
        let mut response = self.post_meeting(&token, request).await?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            // Another process with the same app may have fetched a newer token, which voids ours.
            self.tokens.invalidate(&token).await;
            token = self.token().await?;
            response = self.post_meeting(&token, request).await?;
        }
        if !response.status().is_success() {
            return Err(status_error(Service::Zoom, response).await.into());
        }
        let created: translate::MeetingCreated =
            response.json().await.map_err(|e| UpstreamError::Decode {
                service: Service::Zoom,
                reason: e.without_url().to_string(),
            })?;
        Ok(created.into_meeting())
    }
}

/// An 8-digit passcode: numeric, so the web and phone passcodes are the same.
pub fn new_passcode() -> String {
    let mut passcode = String::with_capacity(8);
    while passcode.len() < 8 {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        // Bytes of 250 and over are skipped so each digit is equally likely.
        passcode.extend(
            bytes
                .iter()
                .filter(|b| **b < 250)
                .map(|b| char::from(b'0' + b % 10))
                .take(8 - passcode.len()),
        );
    }
    passcode
}

#[cfg(test)]
mod tests {
    #[test]
    fn passcodes_are_eight_digits_and_differ() {
        let a = super::new_passcode();
        let b = super::new_passcode();
        assert_eq!(a.len(), 8);
        assert!(a.bytes().all(|c| c.is_ascii_digit()));
        assert_ne!(a, b);
    }
}
