//! Bridges a person asks for, through the ingress: the Custom Incident Action button
//! (`POST /action`) and the Incident Workflow step (`POST /workflow`). V3 webhooks stay on
//! `/webhook` (and `/`). Both entry points (Lambda Function URL, local runner) route the same way.

use std::time::Duration;

use crate::incident_io::signature as svix;
use crate::pagerduty::manual::{self, BridgeRequest, RequestError};
use crate::relay::{Ingress, MAX_BODY_BYTES, WebhookResponse};
use bridge_relay_domain::model::Job;
use bridge_relay_domain::policy::Decision;

/// The time the ingress gives any request, on every route. The function stops at 5 s (and
/// PagerDuty waits 16 s for a button's answer): answering 503 after 4 s beats a function
/// timeout, which has no log line and no metric, and tells the sender to try again.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// The Custom Incident Action button (V2 `incident.custom` payload).
    CustomAction,
    /// The Incident Workflow step "Send a Webhook POST".
    Workflow,
}

impl RequestKind {
    /// The event type the job records.
    pub fn event_type(self) -> &'static str {
        match self {
            RequestKind::CustomAction => "incident.custom",
            RequestKind::Workflow => "incident.workflow.webhook",
        }
    }
}

/// Which handler a path goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A signed V3 webhook.
    Webhook,
    Request(RequestKind),
    /// An incident.io webhook (Svix-style signature).
    IncidentIo,
    /// A Zoom event notification.
    Zoom,
}

pub fn route(path: &str) -> Option<Route> {
    match path.trim_end_matches('/') {
        "" | "/webhook" => Some(Route::Webhook),
        "/action" => Some(Route::Request(RequestKind::CustomAction)),
        "/workflow" => Some(Route::Request(RequestKind::Workflow)),
        "/incident-io" => Some(Route::IncidentIo),
        "/zoom" => Some(Route::Zoom),
        _ => None,
    }
}

/// The headers a route reads, looked up by lowercase name.
pub trait Headers {
    fn header(&self, name: &str) -> Option<&str>;
}

impl Ingress {
    /// One request on `route`, from either entry point (the Lambda's Function URL event, the
    /// local runner's HTTP server): the headers that route reads, then its handler, within
    /// [`REQUEST_BUDGET`]: a request not accepted in time (a hung Secrets Manager or SQS call)
    /// is answered 503, so the sender delivers it again.
    pub async fn handle_route(
        &self,
        route: Route,
        headers: &impl Headers,
        body: &[u8],
    ) -> WebhookResponse {
        match tokio::time::timeout(REQUEST_BUDGET, self.dispatch(route, headers, body)).await {
            Ok(response) => response,
            Err(_) => {
                tracing::error!(route = ?route, budget = ?REQUEST_BUDGET, "request not accepted within its budget");
                WebhookResponse::unavailable(
                    "the relay could not accept the request in time; try again",
                )
            }
        }
    }

    async fn dispatch(&self, route: Route, headers: &impl Headers, body: &[u8]) -> WebhookResponse {
        let header = |name: &str| headers.header(name);
        match route {
            Route::Webhook => {
                self.handle(crate::relay::WebhookRequest {
                    signature: header(crate::pagerduty::signature::HEADER),
                    webhook_id: header(WEBHOOK_ID_HEADER),
                    body,
                })
                .await
            }
            Route::Request(kind) => {
                self.handle_request(ManualRequest {
                    kind,
                    token: header(manual::TOKEN_HEADER),
                    webhook_id: header(WEBHOOK_ID_HEADER),
                    body,
                })
                .await
            }
            Route::IncidentIo => {
                self.handle_incident_io(crate::incident_io::ingress::IncidentIoRequest {
                    headers: svix::SignedHeaders {
                        id: header(svix::ID_HEADER),
                        timestamp: header(svix::TIMESTAMP_HEADER),
                        signature: header(svix::SIGNATURE_HEADER),
                    },
                    body,
                })
                .await
            }
            Route::Zoom => {
                self.handle_zoom(crate::lifecycle::ZoomRequest {
                    signature: header(crate::zoom::webhook::SIGNATURE_HEADER),
                    timestamp: header(crate::zoom::webhook::TIMESTAMP_HEADER),
                    body,
                })
                .await
            }
        }
    }
}

impl Headers for std::collections::HashMap<String, String> {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name)
            .or_else(|| {
                self.iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, value)| value)
            })
            .map(String::as_str)
    }
}

/// The id a sender gave its delivery, for the log line: PagerDuty's or incident.io's.
pub fn delivery_id(headers: &impl Headers) -> Option<&str> {
    headers
        .header(WEBHOOK_ID_HEADER)
        .or_else(|| headers.header(svix::ID_HEADER))
}

/// PagerDuty's delivery id (`X-Webhook-Id`); the button and workflow routes read it too.
pub const WEBHOOK_ID_HEADER: &str = "x-webhook-id";

/// The 404 body for any other path.
pub const UNKNOWN_PATH: &str = r#"{"status":"rejected","error":"POST V3 webhooks to /webhook, button clicks to /action, workflow requests to /workflow, incident.io webhooks to /incident-io, Zoom event notifications to /zoom"}"#;

/// A person's request as any entry point hands it over.
#[derive(Debug, Clone, Copy)]
pub struct ManualRequest<'a> {
    pub kind: RequestKind,
    /// The `X-Bridge-Relay-Token` header.
    pub token: Option<&'a str>,
    /// `X-Webhook-Id`, when the sender gives one (PagerDuty does for button clicks).
    pub webhook_id: Option<&'a str>,
    pub body: &'a [u8],
}

impl Ingress {
    /// 202 queued, 200 ignored (the policy says no), 401 for a missing or wrong token, 400 for a
    /// body that is not the expected shape, 503 when the relay cannot accept it in time.
    pub async fn handle_request(&self, request: ManualRequest<'_>) -> WebhookResponse {
        match tokio::time::timeout(REQUEST_BUDGET, self.accept_request(request)).await {
            Ok(response) => response,
            Err(_) => {
                tracing::error!(kind = ?request.kind, "request not accepted within its budget");
                WebhookResponse::unavailable(
                    "the relay could not accept the request in time; try again",
                )
            }
        }
    }

    async fn accept_request(&self, request: ManualRequest<'_>) -> WebhookResponse {
        if request.body.len() > MAX_BODY_BYTES {
            return WebhookResponse::body_too_large();
        }
        let secrets = match self.secrets.get().await {
            Ok(secrets) => secrets,
            Err(e) => {
                tracing::error!(error = %e, "cannot check requests without the secret");
                return WebhookResponse::unavailable(
                    "the relay cannot read its secret; retry later",
                );
            }
        };
        if let Err(e) =
            manual::verify_token(request.token, secrets.pagerduty.action_secret.as_ref())
        {
            return WebhookResponse::rejected(401, e.to_string());
        }
        if request.body.is_empty() {
            return WebhookResponse::rejected(400, "the body is empty");
        }
        let event_type = request.kind.event_type();
        let parsed = match request.kind {
            RequestKind::CustomAction => manual::parse_custom_action(request.body),
            RequestKind::Workflow => manual::parse_workflow(request.body),
        };
        let BridgeRequest {
            request_id,
            incident,
            requested_by,
        } = match parsed {
            Ok(parsed) => parsed,
            Err(RequestError::NotACustomAction(reason)) => {
                return WebhookResponse::ignored(event_type, reason);
            }
            Err(e) => return WebhookResponse::rejected(400, e.to_string()),
        };
        let incident = match self.policy.decide_request(&incident) {
            Decision::Bridge(incident) => *incident,
            Decision::Ignore(reason) => {
                return WebhookResponse::ignored(event_type, reason);
            }
        };
        let job = Job {
            webhook_id: request
                .webhook_id
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .unwrap_or_else(|| request_id.clone()),
            event_id: request_id,
            event_type: event_type.into(),
            meeting: self.policy.meeting_for(&incident),
            incident,
            requested_by,
            received_at_ms: Some(bridge_relay_domain::telemetry::epoch_millis(
                std::time::SystemTime::now(),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_to_their_handler() {
        assert_eq!(route("/"), Some(Route::Webhook));
        assert_eq!(route("/webhook"), Some(Route::Webhook));
        assert_eq!(route("/webhook/"), Some(Route::Webhook));
        assert_eq!(
            route("/action"),
            Some(Route::Request(RequestKind::CustomAction))
        );
        assert_eq!(
            route("/workflow"),
            Some(Route::Request(RequestKind::Workflow))
        );
        assert_eq!(route("/incident-io"), Some(Route::IncidentIo));
        assert_eq!(route("/incident-io/"), Some(Route::IncidentIo));
        assert_eq!(route("/zoom"), Some(Route::Zoom));
        assert_eq!(route("/other"), None);
    }
}
