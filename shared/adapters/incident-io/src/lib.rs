//! incident.io: the second incident tool. Svix-style webhook signatures, webhook bodies, the
//! ingress route (`/incident-io`) and the REST adapter of the incident-tool port.
//!
//! The adapter calls only endpoints of incident.io's public API as its official SDK
//! (`incident-io/sdk-rust`, generated from the OpenAPI description) lists them:
//! - the bridge: `POST /v2/incidents/{id}/actions/edit` with
//!   `{"incident":{"call_url":…},"notify_incident_channel":…}` (`incidents_v2_api.rs`);
//! - the note: `POST /v2/incident_timeline_items` with `{incident_id, idempotency_key, timestamp,
//!   title, description}`, a custom item on the incident's timeline; a repeat with the same
//!   idempotency key returns the first item instead of adding another
//!   (`incident_timeline_items_v2_api.rs`);
//! - the note check: `GET /v2/incident_timeline_items?incident_id=…` (first page only);
//! - `bridge-relay doctor`'s key check: `GET /v1/identity` (`utilities_v1_api.rs`).

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

pub mod ingress;
pub mod signature;
pub mod webhook;

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};

use bridge_relay_domain::error::{SecretsError, Service, UpstreamError};
use bridge_relay_domain::model::Bridge;
use bridge_relay_http::status_error;
use bridge_relay_ports::incident_tool::{IncidentTool, IncidentToolError};
use bridge_relay_ports::secrets::{RelaySecrets, SecretCache};

pub const DEFAULT_API_BASE: &str = "https://api.incident.io";

/// A timeline item's title is its first line, kept short; the whole note is its description.
const TITLE_MAX_CHARS: usize = 120;
/// The longest description the relay posts. incident.io's OpenAPI (as in `incident-io/sdk-rust`,
/// `IncidentTimelineItemsCreatePayloadV2`) gives `description` no `maxLength`; 4,096 is the
/// limit the same spec sets on its other long texts (status page update messages), so a cut
/// summary is what incident.io surely accepts.
pub const NOTE_MAX_CHARS: usize = 4_096;
/// Timeline items read when looking for an earlier note (the largest page the list allows is
/// not documented; 250 is what the SDK's other list calls accept).
const NOTE_PAGE_SIZE: u32 = 250;

/// incident.io REST API v2.
pub struct IncidentIoApi {
    http: reqwest::Client,
    api_base: String,
    secrets: Arc<SecretCache>,
    notify_incident_channel: bool,
}

impl IncidentIoApi {
    /// `api_base` is `https://api.incident.io`. `notify_incident_channel`: whether incident.io
    /// announces the new call link in the incident's Slack or Teams channel.
    pub fn new(
        http: reqwest::Client,
        api_base: &str,
        secrets: Arc<SecretCache>,
        notify_incident_channel: bool,
    ) -> Self {
        IncidentIoApi {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            secrets,
            notify_incident_channel,
        }
    }

    fn url(&self, segments: &[&str]) -> Result<reqwest::Url, UpstreamError> {
        let invalid = |reason: String| UpstreamError::Transport {
            service: Service::IncidentIo,
            reason,
        };
        let mut url = reqwest::Url::parse(&self.api_base)
            .map_err(|e| invalid(format!("INCIDENT_IO_API_BASE is not a URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|_| invalid("INCIDENT_IO_API_BASE cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn api_key(secrets: &RelaySecrets) -> Result<&SecretString, SecretsError> {
        secrets
            .incident_io
            .as_ref()
            .and_then(|section| section.api_key.as_ref())
            .ok_or_else(|| SecretsError::Incomplete {
                source_name: secrets.source_name().to_owned(),
                keys: "incident_io.api_key",
                role: "worker (for incident.io incidents)",
            })
    }

    async fn send_once(
        &self,
        secrets: &RelaySecrets,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, IncidentToolError> {
        let key = Self::api_key(secrets)?;
        let started = std::time::Instant::now();
        let response = request
            .bearer_auth(key.expose_secret())
            .header("accept", "application/json")
            .send()
            .await;
        bridge_relay_domain::telemetry::record_call(
            Service::IncidentIo,
            started,
            response.as_ref().ok().map(|r| r.status().as_u16()),
        );
        Ok(response.map_err(|e| bridge_relay_http::transport_error(Service::IncidentIo, e))?)
    }

    /// Sends with the cached key; on a 401 re-reads the secret once (the key was rotated).
    async fn send(
        &self,
        build: impl Fn() -> Result<reqwest::RequestBuilder, UpstreamError>,
    ) -> Result<reqwest::Response, IncidentToolError> {
        let secrets = self.secrets.get().await?;
        let mut response = self.send_once(&secrets, build()?).await?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            let fresh = self.secrets.refresh(&secrets).await?;
            response = self.send_once(&fresh, build()?).await?;
        }
        if !response.status().is_success() {
            return Err(status_error(Service::IncidentIo, response).await.into());
        }
        Ok(response)
    }
}

/// Who the API key is, as `GET /v1/identity` ("Test if your API key is valid, and which roles
/// it has") says: its name and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyIdentity {
    pub name: String,
    pub roles: Vec<String>,
}

impl IncidentIoApi {
    /// For `bridge-relay doctor`: whether incident.io accepts the key. Reads only.
    pub async fn identity(&self) -> Result<ApiKeyIdentity, IncidentToolError> {
        let url = self.url(&["v1", "identity"])?;
        let response = self.send(|| Ok(self.http.get(url.clone()))).await?;
        let body: serde_json::Value = response.json().await.map_err(|e| UpstreamError::Decode {
            service: Service::IncidentIo,
            reason: e.without_url().to_string(),
        })?;
        let identity = body.get("identity").unwrap_or(&serde_json::Value::Null);
        Ok(ApiKeyIdentity {
            name: identity["name"].as_str().unwrap_or("unnamed").to_owned(),
            roles: identity["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|role| role.as_str().map(str::to_owned))
                .collect(),
        })
    }
}

/// The same note on the same incident always gets the same key, so a retry after a lost
/// answer cannot add it twice.
pub fn note_idempotency_key(incident_id: &str, content: &str) -> String {
    let digest = Sha256::new()
        .chain_update(incident_id.as_bytes())
        .chain_update([0])
        .chain_update(content.as_bytes())
        .finalize();
    format!("bridge-relay-{}", &hex::encode(digest)[..32])
}

fn note_title(content: &str) -> String {
    let first = content.lines().next().unwrap_or_default().trim();
    if first.chars().count() <= TITLE_MAX_CHARS {
        return first.to_owned();
    }
    let mut cut: String = first.chars().take(TITLE_MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[async_trait]
impl IncidentTool for IncidentIoApi {
    async fn set_bridge(
        &self,
        incident_id: &str,
        bridge: &Bridge,
    ) -> Result<(), IncidentToolError> {
        // incident.io has one call link per incident and no separate phone number field.
        let call_url = bridge
            .conference_url
            .as_deref()
            .or(bridge.conference_number.as_deref());
        let body = json!({
            "incident": {"call_url": call_url},
            "notify_incident_channel": self.notify_incident_channel,
        });
        let url = self.url(&["v2", "incidents", incident_id, "actions", "edit"])?;
        self.send(|| Ok(self.http.post(url.clone()).json(&body)))
            .await
            .map(drop)
    }

    async fn add_note(&self, incident_id: &str, content: &str) -> Result<(), IncidentToolError> {
        let body = json!({
            "incident_id": incident_id,
            "idempotency_key": note_idempotency_key(incident_id, content),
            "timestamp": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            "title": note_title(content),
            "description": content,
        });
        let url = self.url(&["v2", "incident_timeline_items"])?;
        self.send(|| Ok(self.http.post(url.clone()).json(&body)))
            .await
            .map(drop)
    }

    fn note_limit(&self) -> usize {
        NOTE_MAX_CHARS
    }

    async fn has_note(&self, incident_id: &str, needle: &str) -> Result<bool, IncidentToolError> {
        let mut url = self.url(&["v2", "incident_timeline_items"])?;
        url.query_pairs_mut()
            .append_pair("incident_id", incident_id)
            .append_pair("page_size", &NOTE_PAGE_SIZE.to_string());
        let response = self.send(|| Ok(self.http.get(url.clone()))).await?;
        let items: serde_json::Value =
            response.json().await.map_err(|e| UpstreamError::Decode {
                service: Service::IncidentIo,
                reason: e.without_url().to_string(),
            })?;
        Ok(items
            .get("incident_timeline_items")
            .unwrap_or(&serde_json::Value::Null)
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|item| [item["description"].as_str(), item["title"].as_str()])
            .flatten()
            .any(|text| text.contains(needle)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_keys_depend_on_incident_and_content_only() {
        let a = note_idempotency_key("01A", "Zoom bridge opened");
        assert_eq!(a, note_idempotency_key("01A", "Zoom bridge opened"));
        assert_ne!(a, note_idempotency_key("01B", "Zoom bridge opened"));
        assert_ne!(a, note_idempotency_key("01A", "Zoom bridge opened."));
        // No ambiguity from where the id ends and the content starts.
        assert_ne!(
            note_idempotency_key("01", "Ax"),
            note_idempotency_key("01A", "x")
        );
    }

    #[test]
    fn titles_are_the_first_line_kept_short() {
        assert_eq!(note_title("First line\nJoin: x"), "First line");
        let long = "x".repeat(300);
        assert_eq!(note_title(&long).chars().count(), TITLE_MAX_CHARS);
    }
}
