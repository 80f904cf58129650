//! `POST /incident-io`: an incident.io webhook in, in the relay's terms out. The same answers
//! as the PagerDuty route: 202 queued, 200 ignored, 401 for a bad signature, 400 for a body
//! that is not an incident.io webhook, 503 for the relay's own trouble (incident.io retries
//! with backoff for a day, so nothing is lost).

use std::time::SystemTime;

use bridge_relay_domain::model::IncidentToolKind;
use bridge_relay_ports::inbound::{Headers, Inbound, InboundSource, Refusal};
use bridge_relay_ports::secrets::RelaySecrets;

use super::signature::{self, SignedHeaders};
use super::webhook::{self, ParseError};

/// incident.io's webhooks, signed Svix-style.
pub struct IncidentIoWebhooks;

impl InboundSource for IncidentIoWebhooks {
    fn paths(&self) -> &[&'static str] {
        &["/incident-io"]
    }

    fn what(&self) -> &'static str {
        "incident.io webhooks"
    }

    fn delivery_header(&self) -> Option<&'static str> {
        Some(signature::ID_HEADER)
    }

    /// An update carries the incident as it is now: its name, severity and roles.
    fn follows(&self, event_type: &str) -> bool {
        event_type == webhook::INCIDENT_UPDATED
    }

    fn read(
        &self,
        secrets: &RelaySecrets,
        headers: &dyn Headers,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Inbound, Refusal> {
        let configured = secrets
            .incident_io
            .as_ref()
            .map(|section| section.webhook_secrets.as_slice())
            .unwrap_or_default();
        if configured.is_empty() {
            // The relay's set-up, not the sender's mistake: answer so incident.io retries
            // until the secret holds `incident_io.webhook_secrets`.
            tracing::error!(
                "an incident.io webhook arrived, but the secret has no incident_io.webhook_secrets"
            );
            return Err(Refusal::new(
                503,
                "the relay has no incident.io signing secret configured yet",
            ));
        }
        let signed = SignedHeaders {
            id: headers.header(signature::ID_HEADER),
            timestamp: headers.header(signature::TIMESTAMP_HEADER),
            signature: headers.header(signature::SIGNATURE_HEADER),
        };
        if let Err(e) = signature::verify(signed, body, configured, now) {
            return Err(Refusal::new(e.status(), e.to_string()));
        }
        if body.is_empty() {
            return Err(Refusal::new(400, "the body is empty"));
        }
        let event = match webhook::parse(body) {
            Ok(event) => event,
            Err(e @ (ParseError::NotJson(_) | ParseError::Shape(_))) => {
                return Err(Refusal::new(400, e.to_string()));
            }
        };
        // Verified above, so present: the Svix message id stays the same on every retry.
        let message_id = signed.id.unwrap_or_default().to_owned();
        if let Some(action) = event.lifecycle_action()
            && let Some(incident) = event.incident.clone()
        {
            return Ok(Inbound::Lifecycle {
                tool: IncidentToolKind::INCIDENT_IO,
                incident,
                action,
                event_id: message_id.clone(),
                event_type: event.event_type,
                delivery_id: message_id,
            });
        }
        Ok(Inbound::Event {
            event: event.into_incident_event(&message_id),
            delivery_id: message_id,
        })
    }
}
