//! Bridges a person asks for: the Custom Incident Action button (PagerDuty posts the older V2
//! webhook shape, unsigned) and the Incident Workflow step "Send a Webhook POST" (a body the
//! user pastes into PagerDuty). Both carry a shared secret in [`TOKEN_HEADER`].
//!
//! V2 custom action: `{"messages":[{"id", "event":"incident.custom", "incident":{id,
//! incident_number, title, html_url, urgency, service, teams, priority, …}, "log_entries":[{"type":
//! "custom_log_entry", "agent":{user_reference}}]}]}`.
//!
//! Workflow body ([`WORKFLOW_BODY_TEMPLATE`]): `{"incident":{"id", "number", "title", "url",
//! "urgency", "priority", "service", "service_id"}, "requested_by"}`, every value a string the
//! workflow filled in; only `incident.id` is required.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::webhook::{Reference, team_refs};
use bridge_relay_domain::model::{Bridge, Incident};

pub const TOKEN_HEADER: &str = "x-bridge-relay-token";

/// What to paste into the workflow step's Body field.
pub const WORKFLOW_BODY_TEMPLATE: &str = r#"{
  "incident": {
    "id": "{{incident.id}}",
    "number": "{{incident.number}}",
    "title": "{{incident.title}}",
    "url": "{{incident.html_url}}",
    "urgency": "{{incident.urgency}}",
    "priority": "{{incident.priority.name}}",
    "service": "{{incident.service.name}}",
    "service_id": "{{incident.service.id}}"
  },
  "requested_by": "Incident Workflow"
}"#;

/// A request a person made, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRequest {
    /// A stable id of the request for the queue's de-duplication.
    pub request_id: String,
    pub incident: Incident,
    pub requested_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the {TOKEN_HEADER} header is missing")]
    MissingToken,
    #[error("the {TOKEN_HEADER} header does not match pagerduty.action_secret")]
    WrongToken,
    #[error(
        "the relay has no pagerduty.action_secret in its secret, so it accepts no button or workflow requests"
    )]
    NotConfigured,
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is not a {kind} request: {reason}")]
    Shape { kind: &'static str, reason: String },
    /// A V2 webhook about something other than a button click (e.g. a V2 `incident.trigger`).
    #[error("{0}")]
    NotACustomAction(String),
}

/// Compares the header with the configured secret in constant time (over SHA-256 digests, so
/// not even the length leaks).
pub fn verify_token(
    header: Option<&str>,
    secret: Option<&SecretString>,
) -> Result<(), RequestError> {
    let secret = secret.ok_or(RequestError::NotConfigured)?;
    let given = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(RequestError::MissingToken)?;
    let expected = Sha256::digest(secret.expose_secret().as_bytes());
    let given = Sha256::digest(given.as_bytes());
    if bool::from(expected.as_slice().ct_eq(given.as_slice())) {
        Ok(())
    } else {
        Err(RequestError::WrongToken)
    }
}

#[derive(Deserialize)]
struct V2Incident {
    id: String,
    #[serde(default)]
    incident_number: Option<u64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    service: Option<V2Named>,
    #[serde(default)]
    teams: Option<Vec<Reference>>,
    #[serde(default)]
    priority: Option<V2Named>,
    #[serde(default)]
    conference_bridge: Option<Bridge>,
}

/// V2 objects carry `name` and `summary`; references carry `summary` only.
#[derive(Deserialize)]
struct V2Named {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    summary: Option<String>,
}

impl V2Named {
    fn label(&self) -> Option<String> {
        self.name
            .clone()
            .or_else(|| self.summary.clone())
            .filter(|s| !s.is_empty())
    }
}

/// The first `incident.custom` message of a Custom Incident Action webhook.
pub fn parse_custom_action(body: &[u8]) -> Result<BridgeRequest, RequestError> {
    let shape = |reason: String| RequestError::Shape {
        kind: "Custom Incident Action",
        reason,
    };
    let root: Value =
        serde_json::from_slice(body).map_err(|e| RequestError::NotJson(e.to_string()))?;
    let messages = root
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("no `messages` array at the top level".into()))?;
    let Some(message) = messages
        .iter()
        .find(|m| m.get("event").and_then(Value::as_str) == Some("incident.custom"))
    else {
        let events: Vec<&str> = messages
            .iter()
            .filter_map(|m| m.get("event").and_then(Value::as_str))
            .collect();
        return Err(RequestError::NotACustomAction(format!(
            "no incident.custom message (events: {})",
            if events.is_empty() {
                "none".to_owned()
            } else {
                events.join(", ")
            }
        )));
    };
    let incident = message
        .get("incident")
        .ok_or_else(|| shape("messages[].incident is missing".into()))?;
    let incident = V2Incident::deserialize(incident)
        .map_err(|e| shape(format!("messages[].incident: {e}")))?;
    if incident.id.is_empty() {
        return Err(shape("messages[].incident.id is empty".into()));
    }
    let requested_by = message
        .get("log_entries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("agent"))
        .find_map(|agent| {
            ["summary", "name", "email", "id"]
                .iter()
                .find_map(|key| agent.get(key)?.as_str().filter(|s| !s.is_empty()))
        })
        .map(str::to_owned);
    let request_id = message
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(|id| format!("action-{id}"))
        .unwrap_or_else(|| format!("action-{}", incident.id));
    let (service, service_id) = match incident.service {
        Some(service) => (service.label(), service.id),
        None => (None, None),
    };
    Ok(BridgeRequest {
        request_id,
        incident: Incident {
            number: incident.incident_number,
            title: incident.title,
            html_url: incident.html_url,
            service,
            service_id,
            teams: team_refs(incident.teams),
            urgency: incident.urgency,
            priority: incident.priority.as_ref().and_then(V2Named::label),
            conference_bridge: incident
                .conference_bridge
                .filter(|b| b.conference_url.is_some() || b.conference_number.is_some()),
            ..Incident::new(incident.id)
        },
        requested_by,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowBody {
    incident: WorkflowIncident,
    #[serde(default)]
    requested_by: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowIncident {
    id: String,
    #[serde(default)]
    number: Option<Value>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    service_id: Option<String>,
}

/// A value the workflow filled in; empty, or a field reference PagerDuty left unresolved, is none.
fn filled(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty() && !v.starts_with("{{"))
}

/// The body of the "Send a Webhook POST" workflow step ([`WORKFLOW_BODY_TEMPLATE`]).
pub fn parse_workflow(body: &[u8]) -> Result<BridgeRequest, RequestError> {
    let shape = |reason: String| RequestError::Shape {
        kind: "workflow",
        reason,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed: WorkflowBody =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                RequestError::NotJson(inner.to_string())
            } else {
                shape(format!("{path}: {inner}"))
            }
        })?;
    let incident = parsed.incident;
    let id = filled(Some(incident.id))
        .ok_or_else(|| shape("incident.id is empty or was not filled in".into()))?;
    let number = match incident.number {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(BridgeRequest {
        request_id: format!("workflow-{id}"),
        incident: Incident {
            number,
            title: filled(incident.title),
            html_url: filled(incident.url),
            service: filled(incident.service),
            service_id: filled(incident.service_id),
            urgency: filled(incident.urgency).map(|u| u.to_lowercase()),
            priority: filled(incident.priority),
            ..Incident::new(id)
        },
        requested_by: filled(parsed.requested_by),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> SecretString {
        SecretString::from(value.to_owned())
    }

    #[test]
    fn tokens_are_checked() {
        let s = secret("a-long-shared-secret-1234");
        assert_eq!(
            verify_token(Some("a-long-shared-secret-1234"), Some(&s)),
            Ok(())
        );
        assert_eq!(
            verify_token(Some(" a-long-shared-secret-1234 "), Some(&s)),
            Ok(())
        );
        assert_eq!(
            verify_token(Some("a-long-shared-secret-1235"), Some(&s)),
            Err(RequestError::WrongToken)
        );
        assert_eq!(
            verify_token(Some("short"), Some(&s)),
            Err(RequestError::WrongToken)
        );
        assert_eq!(
            verify_token(None, Some(&s)),
            Err(RequestError::MissingToken)
        );
        assert_eq!(
            verify_token(Some(""), Some(&s)),
            Err(RequestError::MissingToken)
        );
        assert_eq!(
            verify_token(Some("x"), None),
            Err(RequestError::NotConfigured)
        );
    }

    #[test]
    fn the_template_parses_once_filled_and_unfilled_references_count_as_missing() {
        let filled_in = WORKFLOW_BODY_TEMPLATE
            .replace("{{incident.id}}", "Q3B15VLMF3ASBD")
            .replace("{{incident.number}}", "5")
            .replace("{{incident.title}}", "Checkout down")
            .replace("{{incident.urgency}}", "High");
        let request = parse_workflow(filled_in.as_bytes()).unwrap();
        assert_eq!(request.request_id, "workflow-Q3B15VLMF3ASBD");
        assert_eq!(request.incident.number, Some(5));
        assert_eq!(request.incident.title.as_deref(), Some("Checkout down"));
        assert_eq!(request.incident.urgency.as_deref(), Some("high"));
        assert_eq!(
            request.incident.priority, None,
            "an unresolved reference is none"
        );
        assert_eq!(request.requested_by.as_deref(), Some("Incident Workflow"));
        let unfilled = parse_workflow(WORKFLOW_BODY_TEMPLATE.as_bytes()).unwrap_err();
        assert!(
            unfilled.to_string().contains("incident.id is empty"),
            "{unfilled}"
        );
    }

    #[test]
    fn malformed_requests_say_why() {
        assert!(matches!(
            parse_workflow(b"nope"),
            Err(RequestError::NotJson(_))
        ));
        let err = parse_workflow(br#"{"incident":{"id":"P1","colour":"red"}}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
        assert!(matches!(
            parse_custom_action(b"[]"),
            Err(RequestError::Shape { .. })
        ));
        let other =
            parse_custom_action(br#"{"messages":[{"event":"incident.trigger"}]}"#).unwrap_err();
        assert_eq!(
            other,
            RequestError::NotACustomAction(
                "no incident.custom message (events: incident.trigger)".into()
            )
        );
        let no_id =
            parse_custom_action(br#"{"messages":[{"event":"incident.custom","incident":{}}]}"#)
                .unwrap_err();
        assert!(no_id.to_string().contains("missing field `id`"), "{no_id}");
    }
}
