//! The ingress's side of the meeting after the bridge: Zoom's event notifications (`/zoom`) and
//! the incident tools' resolve and reopen events, queued for the worker. The worker's side (the
//! lifecycle record, the notes, ending the meeting) is `bridge_relay_core::lifecycle`,
//! re-exported here.

use std::time::SystemTime;

use crate::ingress::{Ingress, MAX_BODY_BYTES, WebhookResponse};
use crate::pagerduty::webhook::WebhookEvent;
use crate::zoom::webhook::{self, Notification};
use bridge_relay_domain::model::{Incident, IncidentToolKind, Job, JobAction};

pub use bridge_relay_core::lifecycle::*;

/// The V3 event types the relay follows after the bridge: they end meetings and free host
/// slots, so a subscription the relay makes always includes them.
pub const LIFECYCLE_EVENT_TYPES: [&str; 2] = ["incident.resolved", "incident.reopened"];

/// The V3 event types that are lifecycle events rather than bridge triggers.
pub fn lifecycle_action(event_type: &str) -> Option<JobAction> {
    match event_type {
        "incident.resolved" => Some(JobAction::Resolved),
        "incident.reopened" => Some(JobAction::Reopened),
        _ => None,
    }
}

/// A Zoom event notification as any entry point hands it over.
#[derive(Debug, Clone, Copy)]
pub struct ZoomRequest<'a> {
    /// `x-zm-signature`.
    pub signature: Option<&'a str>,
    /// `x-zm-request-timestamp`.
    pub timestamp: Option<&'a str>,
    pub body: &'a [u8],
}

fn now_ms() -> u64 {
    bridge_relay_domain::telemetry::epoch_millis(SystemTime::now())
}

impl Ingress {
    /// `/zoom`: 200 for the URL validation (with its answer) and for events the relay does not
    /// record, 202 once a meeting event of one of the relay's meetings is queued, 401 for a
    /// missing, wrong or stale signature, 400 for a body that is not a Zoom event, 503 when
    /// the relay cannot decide now (Zoom delivers again).
    pub async fn handle_zoom(&self, request: ZoomRequest<'_>) -> WebhookResponse {
        if request.body.len() > MAX_BODY_BYTES {
            return WebhookResponse::body_too_large();
        }
        let secrets = match self.secrets.get().await {
            Ok(secrets) => secrets,
            Err(e) => {
                tracing::error!(error = %e, "cannot verify Zoom events without the secret");
                return WebhookResponse::unavailable(
                    "the relay cannot read its secret; retry later",
                );
            }
        };
        let Some(secret_token) = secrets.zoom.webhook_secret_token.as_ref() else {
            return WebhookResponse::rejected(
                401,
                "Zoom event notifications are not enabled: the secret has no zoom.webhook_secret_token",
            );
        };
        let now_seconds = now_ms() / 1000;
        if let Err(e) = webhook::verify(
            request.signature,
            request.timestamp,
            request.body,
            secret_token,
            now_seconds,
        ) {
            return WebhookResponse::rejected(e.status(), e.to_string());
        }
        let notification = match webhook::parse(request.body) {
            Ok(notification) => notification,
            Err(e) => return WebhookResponse::rejected(400, e.to_string()),
        };
        let event = match notification {
            Notification::UrlValidation { plain_token } => {
                let mut response = WebhookResponse::ignored(
                    "endpoint.url_validation",
                    "answered Zoom's endpoint URL validation",
                );
                response.body = webhook::url_validation_answer(&plain_token, secret_token);
                return response;
            }
            Notification::Other { event_type } => {
                return WebhookResponse::ignored(
                    &event_type,
                    "the relay does not record this Zoom event",
                );
            }
            Notification::Meeting(event) => event,
        };
        let event_type = event.kind.event_type();
        let Some(index) = &self.meeting_index else {
            return WebhookResponse::ignored(
                event_type,
                "this ingress has no idempotency table to find the meeting's incident",
            );
        };
        let (tool, incident_id) = match index.meeting_owner(event.meeting_id).await {
            Ok(Some(key)) => IncidentToolKind::split_key(&key),
            Ok(None) => {
                return WebhookResponse::ignored(
                    event_type,
                    format!("meeting {} is not one of the relay's", event.meeting_id),
                );
            }
            Err(e) => {
                tracing::error!(error = %e, meeting_id = event.meeting_id, "cannot look the meeting up");
                return WebhookResponse::unavailable(
                    "the relay cannot look the meeting up; retry later",
                );
            }
        };
        // The same event delivered again (Zoom retries) carries the same content: one job.
        let event_key = format!(
            "zoom:{}:{}:{}:{}",
            event.meeting_id,
            event_type,
            event.participant_id.as_deref().unwrap_or("-"),
            event.at_ms
        );
        let job = Job {
            webhook_id: event_key.clone(),
            event_id: event_key,
            event_type: event_type.into(),
            incident: Incident::new(incident_id),
            tool,
            requested_by: None,
            meeting: Default::default(),
            received_at_ms: Some(now_ms()),
            failure: None,
            action: JobAction::ZoomEvent,
            zoom_event: Some(event),
            timer: None,
            requeued_after_waiting: false,
        };
        self.enqueue(job).await
    }

    /// `incident.resolved` and `incident.reopened`: queued for the worker, in the incident's
    /// order (the FIFO group), with the meeting settings the policy gives the incident.
    pub(crate) async fn accept_lifecycle(
        &self,
        event: WebhookEvent,
        action: JobAction,
        webhook_id: Option<&str>,
    ) -> WebhookResponse {
        let Some(incident) = event.incident else {
            return WebhookResponse::ignored(&event.event_type, "the event names no incident");
        };
        let webhook_id = webhook_id
            .filter(|id| !id.is_empty())
            .unwrap_or(&event.id)
            .to_owned();
        self.enqueue_lifecycle(LifecycleEvent {
            tool: IncidentToolKind::PagerDuty,
            incident,
            webhook_id,
            event_id: event.id,
            event_type: event.event_type,
            action,
        })
        .await
    }

    /// Queues a lifecycle job of any incident tool.
    pub(crate) async fn enqueue_lifecycle(&self, event: LifecycleEvent) -> WebhookResponse {
        let job = Job {
            webhook_id: event.webhook_id,
            event_id: event.event_id,
            event_type: event.event_type,
            meeting: self.policy.meeting_for(&event.incident),
            incident: event.incident,
            requested_by: None,
            received_at_ms: Some(now_ms()),
            failure: None,
            tool: event.tool,
            action: event.action,
            zoom_event: None,
            timer: None,
            requeued_after_waiting: false,
        };
        self.enqueue(job).await
    }
}

/// An incident tool's word that an incident resolved or reopened.
pub(crate) struct LifecycleEvent {
    pub tool: IncidentToolKind,
    pub incident: Incident,
    /// The sender's delivery id (the queue's dedup key).
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub action: JobAction,
}
