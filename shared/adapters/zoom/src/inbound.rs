//! `POST /zoom`: Zoom's event notifications. 200 for the endpoint URL validation (with its
//! answer) and for events the relay does not record, a meeting event for the ingress to match
//! to its incident, 401 for a missing, wrong or stale signature, 400 for a body that is not a
//! Zoom event.

use std::time::SystemTime;

use bridge_relay_domain::telemetry::epoch_millis;
use bridge_relay_ports::inbound::{Headers, Inbound, InboundSource, Refusal};
use bridge_relay_ports::secrets::RelaySecrets;

use super::webhook::{self, Notification};

/// Zoom's event notifications, signed with the app's secret token.
pub struct ZoomEvents;

impl InboundSource for ZoomEvents {
    fn paths(&self) -> &[&'static str] {
        &["/zoom"]
    }

    fn what(&self) -> &'static str {
        "Zoom event notifications"
    }

    fn read(
        &self,
        secrets: &RelaySecrets,
        headers: &dyn Headers,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Inbound, Refusal> {
        let Some(secret_token) = secrets.zoom.webhook_secret_token.as_ref() else {
            return Err(Refusal::new(
                401,
                "Zoom event notifications are not enabled: the secret has no zoom.webhook_secret_token",
            ));
        };
        if let Err(e) = webhook::verify(
            headers.header(webhook::SIGNATURE_HEADER),
            headers.header(webhook::TIMESTAMP_HEADER),
            body,
            secret_token,
            epoch_millis(now) / 1000,
        ) {
            return Err(Refusal::new(e.status(), e.to_string()));
        }
        let notification = match webhook::parse(body) {
            Ok(notification) => notification,
            Err(e) => return Err(Refusal::new(400, e.to_string())),
        };
        Ok(match notification {
            Notification::UrlValidation { plain_token } => Inbound::Answer {
                event_type: "endpoint.url_validation".into(),
                reason: "answered Zoom's endpoint URL validation".into(),
                body: webhook::url_validation_answer(&plain_token, secret_token),
            },
            Notification::Other { event_type } => Inbound::Ignored {
                event_type,
                reason: "the relay does not record this Zoom event".into(),
            },
            Notification::Meeting(event) => Inbound::Meeting(event),
            Notification::Artifact(event) => Inbound::Artifact(event),
        })
    }
}
