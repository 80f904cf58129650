//! `POST /incident-io`: an incident.io webhook in, a job for the worker out. The same answers
//! as the PagerDuty route: 202 queued, 200 ignored, 401 for a bad signature, 400 for a body
//! that is not an incident.io webhook, 503 for the relay's own trouble (incident.io retries
//! with backoff for a day, so nothing is lost).

use std::time::SystemTime;

use super::signature::{self, SignedHeaders};
use super::webhook::{self, ParseError};
use crate::lifecycle::LifecycleEvent;
use crate::relay::{Ingress, MAX_BODY_BYTES, WebhookResponse};
use bridge_relay_domain::model::{IncidentToolKind, Job};
use bridge_relay_domain::policy::Decision;

/// An incident.io webhook as any entry point hands it over.
#[derive(Debug, Clone, Copy)]
pub struct IncidentIoRequest<'a> {
    pub headers: SignedHeaders<'a>,
    pub body: &'a [u8],
}

impl Ingress {
    pub async fn handle_incident_io(&self, request: IncidentIoRequest<'_>) -> WebhookResponse {
        self.accept_incident_io(request, SystemTime::now()).await
    }

    /// `now` is the clock the signature's timestamp is checked against.
    pub async fn accept_incident_io(
        &self,
        request: IncidentIoRequest<'_>,
        now: SystemTime,
    ) -> WebhookResponse {
        if request.body.len() > MAX_BODY_BYTES {
            return WebhookResponse::body_too_large();
        }
        let secrets = match self.secrets.get().await {
            Ok(secrets) => secrets,
            Err(e) => {
                tracing::error!(error = %e, "cannot verify incident.io webhooks without the secret");
                return WebhookResponse::unavailable(
                    "the relay cannot read its secret; retry later",
                );
            }
        };
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
            return WebhookResponse::unavailable(
                "the relay has no incident.io signing secret configured yet",
            );
        }
        if let Err(e) = signature::verify(request.headers, request.body, configured, now) {
            return WebhookResponse::rejected(e.status(), e.to_string());
        }
        if request.body.is_empty() {
            return WebhookResponse::rejected(400, "the body is empty");
        }
        let event = match webhook::parse(request.body) {
            Ok(event) => event,
            Err(e @ (ParseError::NotJson(_) | ParseError::Shape(_))) => {
                return WebhookResponse::rejected(400, e.to_string());
            }
        };
        // Verified above, so present: the Svix message id stays the same on every retry.
        let message_id = request.headers.id.unwrap_or_default().to_owned();
        if let Some(action) = event.lifecycle_action()
            && let Some(incident) = event.incident.clone()
        {
            return self
                .enqueue_lifecycle(LifecycleEvent {
                    tool: IncidentToolKind::IncidentIo,
                    incident,
                    webhook_id: message_id.clone(),
                    event_id: message_id,
                    event_type: event.event_type,
                    action,
                })
                .await;
        }
        let incident = match self
            .policy
            .decide_incident_io(&event.incident_event(&message_id))
        {
            Decision::Bridge(incident) => *incident,
            Decision::Ignore(reason) => {
                return WebhookResponse::ignored(event.event_type, reason);
            }
        };
        let job = Job {
            webhook_id: message_id.clone(),
            event_id: message_id,
            event_type: event.event_type,
            meeting: self.policy.meeting_for(&incident),
            incident,
            requested_by: None,
            received_at_ms: Some(bridge_relay_domain::telemetry::epoch_millis(now)),
            failure: None,
            tool: IncidentToolKind::IncidentIo,
            action: Default::default(),
            zoom_event: None,
            timer: None,
            requeued_after_waiting: false,
        };
        self.enqueue(job).await
    }
}
