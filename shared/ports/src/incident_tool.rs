//! The incident-tool port: where a bridge and a note are posted. PagerDuty and incident.io
//! implement it; the worker picks the one a job names ([`bridge_relay_domain::model::IncidentToolKind`]).

use async_trait::async_trait;

use bridge_relay_domain::error::{SecretsError, UpstreamError};
use bridge_relay_domain::model::{Bridge, Responder};

/// Where a bridge and a note are posted, in one incident tool.
#[async_trait]
pub trait IncidentTool: Send + Sync {
    async fn set_bridge(&self, incident_id: &str, bridge: &Bridge)
    -> Result<(), IncidentToolError>;
    async fn add_note(&self, incident_id: &str, content: &str) -> Result<(), IncidentToolError>;
    /// The longest note (in characters) the relay posts to this tool; longer texts (a meeting
    /// summary) are cut to it.
    fn note_limit(&self) -> usize;
    /// Whether a note containing `needle` is on the incident (after an attempt whose answer was lost).
    async fn has_note(&self, incident_id: &str, needle: &str) -> Result<bool, IncidentToolError>;

    /// The e-mail of one of the incident's responders, as the tool knows it: the one the
    /// event carried, else (a tool that names responders by user id) looked up. `None` when
    /// the tool has none for them.
    async fn responder_email(
        &self,
        responder: &Responder,
    ) -> Result<Option<String>, IncidentToolError> {
        Ok(responder.email.clone())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IncidentToolError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

impl IncidentToolError {
    /// Whether the call may have taken effect although it failed.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, IncidentToolError::Upstream(e) if e.is_ambiguous())
    }
}

impl crate::retry::Transient for IncidentToolError {
    fn is_retryable(&self) -> bool {
        match self {
            IncidentToolError::Secrets(e) => e.is_retryable(),
            IncidentToolError::Upstream(e) => e.is_retryable(),
        }
    }
    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            IncidentToolError::Secrets(_) => None,
            IncidentToolError::Upstream(e) => e.retry_after(),
        }
    }
}
