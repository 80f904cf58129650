//! The ingress's PagerDuty V3 route (verify, parse, decide, enqueue) and the queueing every
//! route shares. The worker's side of the use case lives in `bridge-relay-core` and is
//! re-exported here, so `bridge_relay::relay` names both halves.

use std::time::SystemTime;

use crate::pagerduty::signature;
use crate::pagerduty::webhook::{self, ParseError};
use bridge_relay_domain::model::Job;
use bridge_relay_domain::policy::Decision;

pub use crate::ingress::{
    Ingress, MAX_BODY_BYTES, MAX_WEBHOOK_ID_BYTES, Outcome, WebhookRequest, WebhookResponse,
};
pub use bridge_relay_core::bridge::failure_note;
pub use bridge_relay_core::worker::{Delivery, JobReport, Settled, Worker, WorkerSettings};

impl Ingress {
    /// 202 queued, 200 ignored, 4xx for the sender's mistakes (PagerDuty does not retry those),
    /// 5xx only for the relay's own trouble, so PagerDuty retries and nothing is lost.
    pub async fn handle(&self, request: WebhookRequest<'_>) -> WebhookResponse {
        if request.body.len() > MAX_BODY_BYTES {
            return WebhookResponse::body_too_large();
        }
        if request
            .webhook_id
            .is_some_and(|id| id.len() > MAX_WEBHOOK_ID_BYTES)
        {
            return WebhookResponse::rejected(
                431,
                format!("the X-Webhook-Id header is longer than {MAX_WEBHOOK_ID_BYTES} bytes"),
            );
        }
        if request.body.is_empty() {
            return WebhookResponse::rejected(400, "the body is empty");
        }
        let secrets = match self.secrets.get().await {
            Ok(secrets) => secrets,
            Err(e) => {
                tracing::error!(error = %e, "cannot verify webhooks without the secret");
                return WebhookResponse::unavailable(
                    "the relay cannot read its secret; retry later",
                );
            }
        };
        if let Err(e) = signature::verify(
            request.signature,
            request.body,
            &secrets.pagerduty.webhook_secrets,
        ) {
            let status = match e {
                signature::SignatureError::TooLong => 431,
                _ => 401,
            };
            return WebhookResponse::rejected(status, e.to_string());
        }
        let event = match webhook::parse(request.body) {
            Ok(event) => event,
            Err(e @ (ParseError::NotJson(_) | ParseError::Shape(_))) => {
                return WebhookResponse::rejected(400, e.to_string());
            }
        };
        if let Some(action) = crate::lifecycle::lifecycle_action(&event.event_type) {
            return self
                .accept_lifecycle(event, action, request.webhook_id)
                .await;
        }
        let incident = match self.policy.decide(&event.incident_event()) {
            Decision::Bridge(incident) => *incident,
            Decision::Ignore(reason) => {
                return WebhookResponse::ignored(event.event_type, reason);
            }
        };
        let job = Job {
            webhook_id: request
                .webhook_id
                .filter(|id| !id.is_empty())
                .unwrap_or(&event.id)
                .to_owned(),
            event_id: event.id,
            event_type: event.event_type,
            meeting: self.policy.meeting_for(&incident),
            incident,
            requested_by: None,
            received_at_ms: Some(bridge_relay_domain::telemetry::epoch_millis(
                SystemTime::now(),
            )),
            failure: None,
            tool: Default::default(),
            action: Default::default(),
            zoom_event: None,
            timer: None,
            requeued_after_waiting: false,
        };
        self.enqueue(job).await
    }

    /// 202 once the queue holds the job, 503 (the sender retries) when it cannot.
    pub(crate) async fn enqueue(&self, job: Job) -> WebhookResponse {
        match self.queue.enqueue(&job).await {
            Ok(()) => WebhookResponse::new(
                202,
                Outcome::Queued {
                    incident_id: job.incident.id,
                    event_type: job.event_type,
                },
            ),
            Err(e) => {
                tracing::error!(error = %e, incident = %job.incident.id, "enqueue failed");
                WebhookResponse::unavailable("the relay could not queue the job; retry later")
            }
        }
    }
}
