//! PagerDuty's inbound sources: signed V3 webhooks (`/webhook`, and `/`), and the bridges a
//! person asks for with the Custom Incident Action button (`/action`) or an Incident Workflow's
//! "Send a Webhook POST" step (`/workflow`), both checked with the shared token header.

use std::time::{Duration, SystemTime};

use bridge_relay_domain::model::{IncidentToolKind, JobAction};
use bridge_relay_ports::inbound::{Headers, Inbound, InboundSource, Refusal};
use bridge_relay_ports::secrets::RelaySecrets;

use super::manual::{self, BridgeRequest, RequestError};
use super::signature;
use super::webhook::{self, ParseError};

/// PagerDuty's delivery id (`X-Webhook-Id`), for the log line; unsigned, so V3 webhooks are
/// deduplicated on their signed event id instead. The button and workflow routes use it as theirs.
pub const WEBHOOK_ID_HEADER: &str = "x-webhook-id";

/// PagerDuty's webhook ids are UUIDs; a longer one is no webhook of theirs.
pub const MAX_WEBHOOK_ID_BYTES: usize = 256;

/// PagerDuty retries a webhook for up to 48 hours; an event older than that, with an hour for
/// clocks that disagree, is no delivery of theirs but a captured body sent again. V3 signs no
/// timestamp, so the signed `occurred_at` is what bounds a replay.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(49 * 3600);

/// The V3 event types the relay follows after the bridge: they end meetings and free host
/// slots, so a subscription the relay makes always includes them.
pub const LIFECYCLE_EVENT_TYPES: [&str; 2] = ["incident.resolved", "incident.reopened"];

/// The V3 event types that carry a change of the incident its meeting follows (assignees,
/// priority; each carries the current title too, as PagerDuty sends no event of a new title).
pub const FOLLOW_EVENT_TYPES: [&str; 4] = [
    "incident.reassigned",
    "incident.escalated",
    "incident.priority_updated",
    "incident.responder.added",
];

/// The V3 event types that are lifecycle events rather than bridge triggers.
pub fn lifecycle_action(event_type: &str) -> Option<JobAction> {
    match event_type {
        "incident.resolved" => Some(JobAction::Resolved),
        "incident.reopened" => Some(JobAction::Reopened),
        _ => None,
    }
}

/// Why an event that occurred at `occurred_at` is too old to act on at `now`, if it is.
fn replayed(occurred_at: Option<SystemTime>, now: SystemTime) -> Option<String> {
    let age = now.duration_since(occurred_at?).ok()?;
    (age > REPLAY_WINDOW).then(|| {
        format!(
            "the event occurred {} hours ago, past PagerDuty's 48-hour retry window: a replayed webhook",
            age.as_secs() / 3600
        )
    })
}

/// The delivery id the sender gave, when it gave a usable one.
fn given_delivery_id(headers: &dyn Headers) -> Option<&str> {
    headers
        .header(WEBHOOK_ID_HEADER)
        .filter(|id| !id.is_empty())
}

/// Signed V3 webhooks: 202 queued, 200 ignored, 401 for a bad signature, 400 for a body that is
/// not a V3 webhook, 431 for a header too long to be PagerDuty's.
pub struct PagerDutyWebhooks;

impl InboundSource for PagerDutyWebhooks {
    fn paths(&self) -> &[&'static str] {
        &["/webhook", ""]
    }

    fn what(&self) -> &'static str {
        "V3 webhooks"
    }

    fn delivery_header(&self) -> Option<&'static str> {
        Some(WEBHOOK_ID_HEADER)
    }

    fn follows(&self, event_type: &str) -> bool {
        FOLLOW_EVENT_TYPES.contains(&event_type)
            || bridge_relay_domain::health::ACKNOWLEDGEMENT_EVENT_TYPES.contains(&event_type)
    }

    fn precheck(&self, headers: &dyn Headers, body: &[u8]) -> Result<(), Refusal> {
        if headers
            .header(WEBHOOK_ID_HEADER)
            .is_some_and(|id| id.len() > MAX_WEBHOOK_ID_BYTES)
        {
            return Err(Refusal::new(
                431,
                format!("the X-Webhook-Id header is longer than {MAX_WEBHOOK_ID_BYTES} bytes"),
            ));
        }
        if body.is_empty() {
            return Err(Refusal::new(400, "the body is empty"));
        }
        Ok(())
    }

    fn read(
        &self,
        secrets: &RelaySecrets,
        headers: &dyn Headers,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Inbound, Refusal> {
        if let Err(e) = signature::verify(
            headers.header(signature::HEADER),
            body,
            &secrets.pagerduty.webhook_secrets,
        ) {
            let status = match e {
                signature::SignatureError::TooLong => 431,
                _ => 401,
            };
            return Err(Refusal::new(status, e.to_string()));
        }
        let event = match webhook::parse(body) {
            Ok(event) => event,
            Err(e @ (ParseError::NotJson(_) | ParseError::Shape(_))) => {
                return Err(Refusal::new(400, e.to_string()));
            }
        };
        if let Some(reason) = replayed(event.occurred_at, now) {
            return Ok(Inbound::Ignored {
                event_type: event.event_type,
                reason,
            });
        }
        // The signed event id, not the unsigned X-Webhook-Id: a body sent again under a new
        // header is the same delivery. PagerDuty repeats both on each retry.
        let delivery_id = event.id.clone();
        if let Some(action) = lifecycle_action(&event.event_type) {
            let Some(incident) = event.incident else {
                return Ok(Inbound::Ignored {
                    event_type: event.event_type,
                    reason: "the event names no incident".into(),
                });
            };
            return Ok(Inbound::Lifecycle {
                tool: IncidentToolKind::PAGERDUTY,
                incident,
                action,
                event_id: event.id,
                event_type: event.event_type,
                delivery_id,
            });
        }
        Ok(Inbound::Event {
            event: event.into_incident_event(),
            delivery_id,
        })
    }
}

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

/// A person's request for a bridge: 202 queued, 200 ignored (the policy says no), 401 for a
/// missing or wrong token, 400 for a body that is not the expected shape.
pub struct PagerDutyRequests(pub RequestKind);

impl InboundSource for PagerDutyRequests {
    fn paths(&self) -> &[&'static str] {
        match self.0 {
            RequestKind::CustomAction => &["/action"],
            RequestKind::Workflow => &["/workflow"],
        }
    }

    fn what(&self) -> &'static str {
        match self.0 {
            RequestKind::CustomAction => "button clicks",
            RequestKind::Workflow => "workflow requests",
        }
    }

    fn read(
        &self,
        secrets: &RelaySecrets,
        headers: &dyn Headers,
        body: &[u8],
        _now: SystemTime,
    ) -> Result<Inbound, Refusal> {
        if let Err(e) = manual::verify_token(
            headers.header(manual::TOKEN_HEADER),
            secrets.pagerduty.action_secret.as_ref(),
        ) {
            return Err(Refusal::new(401, e.to_string()));
        }
        if body.is_empty() {
            return Err(Refusal::new(400, "the body is empty"));
        }
        let event_type = self.0.event_type();
        let parsed = match self.0 {
            RequestKind::CustomAction => manual::parse_custom_action(body),
            RequestKind::Workflow => manual::parse_workflow(body),
        };
        let BridgeRequest {
            request_id,
            incident,
            requested_by,
        } = match parsed {
            Ok(parsed) => parsed,
            Err(RequestError::NotACustomAction(reason)) => {
                return Ok(Inbound::Ignored {
                    event_type: event_type.into(),
                    reason,
                });
            }
            Err(e) => return Err(Refusal::new(400, e.to_string())),
        };
        Ok(Inbound::Asked {
            tool: IncidentToolKind::PAGERDUTY,
            incident,
            requested_by,
            delivery_id: given_delivery_id(headers)
                .map(str::to_owned)
                .unwrap_or_else(|| request_id.clone()),
            event_id: request_id,
            event_type: event_type.into(),
        })
    }
}
