//! PagerDuty: the incident-tool port, its REST adapter, and V3 webhook signatures and payloads.

// Input never panics the relay: no unwrap, expect, unchecked indexing or unchecked arithmetic
// on what came from outside; the few justified exceptions say why where they stand.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod account;
pub mod inbound;
pub mod manual;
pub mod signature;
pub mod webhook;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde_json::json;

use bridge_relay_domain::error::{Service, UpstreamError};
use bridge_relay_domain::model::{Bridge, Responder};
use bridge_relay_http::status_error;
use bridge_relay_ports::secrets::{PagerDutyCredentials, SecretCache};

pub use account::{PagerDutyUser, WebhookSubscription};
// The port moved to its own module when incident.io joined; the old path keeps working.
pub use bridge_relay_ports::incident_tool::{IncidentTool, IncidentToolError};

/// PagerDuty REST API v2.
pub struct PagerDutyApi {
    http: reqwest::Client,
    api_base: String,
    secrets: Arc<SecretCache>,
}

impl PagerDutyApi {
    /// `api_base` is `https://api.pagerduty.com` (or `https://api.eu.pagerduty.com`).
    pub fn new(http: reqwest::Client, api_base: &str, secrets: Arc<SecretCache>) -> Self {
        PagerDutyApi {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            secrets,
        }
    }

    fn url(&self, segments: &[&str]) -> Result<reqwest::Url, UpstreamError> {
        let invalid = |reason: String| UpstreamError::Transport {
            service: Service::PagerDuty,
            reason,
        };
        let mut url = reqwest::Url::parse(&self.api_base)
            .map_err(|e| invalid(format!("PAGERDUTY_API_BASE is not a URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|_| invalid("PAGERDUTY_API_BASE cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn send_once(
        &self,
        credentials: &PagerDutyCredentials,
        method: reqwest::Method,
        url: reqwest::Url,
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut request = self.http.request(method, url);
        // The API's reference marks Content-Type required on every call, GETs included.
        request = if body.is_null() {
            request.header("content-type", "application/json")
        } else {
            request.json(body)
        };
        let started = std::time::Instant::now();
        let response = request
            .header(
                "authorization",
                format!("Token token={}", credentials.api_token.expose_secret()),
            )
            .header("accept", "application/vnd.pagerduty+json;version=2")
            .header("from", &credentials.from_email)
            .send()
            .await;
        bridge_relay_domain::telemetry::record_call(
            Service::PagerDuty,
            started,
            response.as_ref().ok().map(|r| r.status().as_u16()),
        );
        response.map_err(|e| bridge_relay_http::transport_error(Service::PagerDuty, e))
    }

    /// Sends with the cached token; on a 401 re-reads the secret once (the token was rotated).
    async fn send(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        body: serde_json::Value,
    ) -> Result<reqwest::Response, IncidentToolError> {
        let url = self.url(segments)?;
        let secrets = self.secrets.get().await?;
        let mut response = self
            .send_once(secrets.pagerduty_api()?, method.clone(), url.clone(), &body)
            .await?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            let fresh = self.secrets.refresh(&secrets).await?;
            response = self
                .send_once(fresh.pagerduty_api()?, method, url, &body)
                .await?;
        }
        if !response.status().is_success() {
            return Err(status_error(Service::PagerDuty, response).await.into());
        }
        Ok(response)
    }
}

/// `GET /users/{id}`'s answer, as much as the relay reads.
#[derive(serde::Deserialize)]
struct UserAnswer {
    #[serde(default)]
    user: Option<UserEmail>,
}

#[derive(serde::Deserialize)]
struct UserEmail {
    #[serde(default)]
    email: Option<String>,
}

/// The longest note the relay posts. PagerDuty documents no limit on a note's `content` (the
/// REST spec's `createIncidentNote` caps only the count, 2,000 notes per incident, and
/// PagerDuty/developer-docs names none); a meeting summary is cut to this so the incident's
/// timeline stays readable, with the link to the whole text kept.
pub const NOTE_MAX_CHARS: usize = 10_000;

#[async_trait]
impl IncidentTool for PagerDutyApi {
    async fn set_bridge(
        &self,
        incident_id: &str,
        bridge: &Bridge,
    ) -> Result<(), IncidentToolError> {
        let body = json!({"incident": {"type": "incident_reference", "conference_bridge": bridge}});
        self.send(reqwest::Method::PUT, &["incidents", incident_id], body)
            .await
            .map(drop)
    }

    async fn add_note(&self, incident_id: &str, content: &str) -> Result<(), IncidentToolError> {
        let body = json!({"note": {"content": content}});
        self.send(
            reqwest::Method::POST,
            &["incidents", incident_id, "notes"],
            body,
        )
        .await
        .map(drop)
    }

    fn note_limit(&self) -> usize {
        NOTE_MAX_CHARS
    }

    /// PagerDuty names responders by user reference: `GET /users/{id}` gives `user.email`.
    /// A user PagerDuty no longer has (404) has none.
    async fn responder_email(
        &self,
        responder: &Responder,
    ) -> Result<Option<String>, IncidentToolError> {
        if responder.email.is_some() {
            return Ok(responder.email.clone());
        }
        let Some(id) = responder.id.as_deref().filter(|id| !id.is_empty()) else {
            return Ok(None);
        };
        let response = match self
            .send(
                reqwest::Method::GET,
                &["users", id],
                serde_json::Value::Null,
            )
            .await
        {
            Ok(response) => response,
            Err(IncidentToolError::Upstream(UpstreamError::Status { status: 404, .. })) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let user: UserAnswer = response.json().await.map_err(|e| UpstreamError::Decode {
            service: Service::PagerDuty,
            reason: e.without_url().to_string(),
        })?;
        Ok(user.user.and_then(|user| user.email))
    }

    async fn has_note(&self, incident_id: &str, needle: &str) -> Result<bool, IncidentToolError> {
        let response = self
            .send(
                reqwest::Method::GET,
                &["incidents", incident_id, "notes"],
                serde_json::Value::Null,
            )
            .await?;
        let notes: serde_json::Value =
            response.json().await.map_err(|e| UpstreamError::Decode {
                service: Service::PagerDuty,
                reason: e.without_url().to_string(),
            })?;
        Ok(notes
            .get("notes")
            .unwrap_or(&serde_json::Value::Null)
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|note| note["content"].as_str())
            .any(|content| content.contains(needle)))
    }
}
