//! Zoom Server-to-Server OAuth tokens. A new token invalidates the previous one, so a container
//! keeps one token and lets a single caller fetch a new one while the others wait for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::error::{Service, UpstreamError};
use crate::http::status_error;
use crate::secrets::ZoomCredentials;

/// Renew this long before Zoom's expiry so a token never dies mid-request.
const EXPIRY_MARGIN: Duration = Duration::from_secs(120);

#[derive(Clone)]
pub struct AccessToken(Arc<SecretString>);

impl AccessToken {
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0.expose_secret())
    }
}

pub struct TokenCache {
    http: reqwest::Client,
    token_url: String,
    current: Mutex<Option<(AccessToken, Instant)>>,
    fetches: AtomicUsize,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default = "default_expires_in")]
    expires_in: u64,
}

const MAX_TOKEN_LIFETIME_SECONDS: u64 = 24 * 3600;

fn default_expires_in() -> u64 {
    3600
}

impl TokenCache {
    /// `oauth_base` is `https://zoom.us` in production.
    pub fn new(http: reqwest::Client, oauth_base: &str) -> Self {
        TokenCache {
            http,
            token_url: format!("{}/oauth/token", oauth_base.trim_end_matches('/')),
            current: Mutex::new(None),
            fetches: AtomicUsize::new(0),
        }
    }

    /// How many tokens this cache has fetched (one per container is the goal).
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::Relaxed)
    }

    pub async fn token(&self, creds: &ZoomCredentials) -> Result<AccessToken, UpstreamError> {
        let mut current = self.current.lock().await;
        if let Some((token, expires_at)) = current.as_ref()
            && Instant::now() + EXPIRY_MARGIN < *expires_at
        {
            return Ok(token.clone());
        }
        let (token, expires_at) = self.fetch(creds).await?;
        *current = Some((token.clone(), expires_at));
        Ok(token)
    }

    /// Drops `used` after Zoom refused it, unless another caller already replaced it.
    pub async fn invalidate(&self, used: &AccessToken) {
        let mut current = self.current.lock().await;
        if current
            .as_ref()
            .is_some_and(|(token, _)| Arc::ptr_eq(&token.0, &used.0))
        {
            *current = None;
        }
    }

    async fn fetch(
        &self,
        creds: &ZoomCredentials,
    ) -> Result<(AccessToken, Instant), UpstreamError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            creds.client_id,
            creds.client_secret.expose_secret()
        ));
        let mut url =
            reqwest::Url::parse(&self.token_url).map_err(|e| UpstreamError::Transport {
                service: Service::ZoomOAuth,
                reason: format!("ZOOM_OAUTH_BASE is not a URL: {e}"),
            })?;
        url.query_pairs_mut()
            .append_pair("grant_type", "account_credentials")
            .append_pair("account_id", &creds.account_id);
        let started = Instant::now();
        let response = self
            .http
            .post(url)
            .header("authorization", format!("Basic {basic}"))
            .send()
            .await;
        crate::telemetry::record_call(
            Service::ZoomOAuth,
            started,
            response.as_ref().ok().map(|r| r.status().as_u16()),
        );
        let response = response.map_err(|e| UpstreamError::transport(Service::ZoomOAuth, e))?;
        if !response.status().is_success() {
            return Err(status_error(Service::ZoomOAuth, response).await);
        }
        let body: TokenResponse = response.json().await.map_err(|e| UpstreamError::Decode {
            service: Service::ZoomOAuth,
            reason: e.without_url().to_string(),
        })?;
        // Zoom says 3600; a wild value must neither overflow the clock nor pin a token for days.
        let lifetime = Duration::from_secs(body.expires_in.min(MAX_TOKEN_LIFETIME_SECONDS));
        let expires_at = Instant::now() + lifetime;
        tracing::info!(expires_in = body.expires_in, "zoom token fetched");
        Ok((AccessToken(Arc::new(body.access_token)), expires_at))
    }
}
