//! The inbound-source port: each tool's adapter (PagerDuty's webhooks and buttons, incident.io's
//! webhooks, Zoom's event notifications) checks a request's signature with the ingress's secret
//! and reads it into the relay's terms ([`Inbound`]). The ingress pipeline (size, secret, this
//! port, policy, queue) is written once over it, in `bridge-relay-core`.

use std::collections::HashMap;
use std::time::SystemTime;

use bridge_relay_domain::after_call::ArtifactEvent;
use bridge_relay_domain::model::{
    Incident, IncidentEvent, IncidentToolKind, JobAction, MeetingEvent,
};

use crate::secrets::RelaySecrets;

/// The headers of a request, looked up by lowercase name.
pub trait Headers {
    fn header(&self, name: &str) -> Option<&str>;
}

impl Headers for HashMap<String, String> {
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

/// Why a request is not taken, and the status that tells the sender: 4xx for the sender's
/// mistake (not retried), 503 for what the relay cannot do yet (retried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
}

impl Refusal {
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Refusal {
            status,
            reason: reason.into(),
        }
    }
}

/// What a verified request asks of the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// An incident tool's event; the policy decides whether it opens a bridge.
    Event {
        event: IncidentEvent,
        /// The sender's delivery id, the same on every retry (the queue's dedup key).
        delivery_id: String,
    },
    /// The incident resolved or reopened: the worker follows its meeting.
    Lifecycle {
        tool: IncidentToolKind,
        incident: Incident,
        action: JobAction,
        event_id: String,
        event_type: String,
        delivery_id: String,
    },
    /// A person asked for a bridge (a button, a workflow step); the policy's request rule decides.
    Asked {
        tool: IncidentToolKind,
        incident: Incident,
        requested_by: Option<String>,
        event_id: String,
        event_type: String,
        delivery_id: String,
    },
    /// A meeting's event; the ingress finds the meeting's incident in the meeting index.
    Meeting(MeetingEvent),
    /// One of Zoom's after-call artifacts of a meeting, for the ingress to match to its incident.
    Artifact(ArtifactEvent),
    /// Answered with `body` at once, nothing queued (Zoom's endpoint URL validation).
    Answer {
        event_type: String,
        reason: String,
        body: serde_json::Value,
    },
    /// Nothing for the relay to do.
    Ignored { event_type: String, reason: String },
}

/// One kind of request the ingress takes, on its own paths.
pub trait InboundSource: Send + Sync {
    /// The paths it is posted to (`/webhook`); the first is the one the 404 answer names.
    fn paths(&self) -> &[&'static str];

    /// What is posted there, for the 404 answer (`V3 webhooks`).
    fn what(&self) -> &'static str;

    /// The header naming the sender's delivery, for the log line.
    fn delivery_header(&self) -> Option<&'static str> {
        None
    }

    /// Checks that need no secret, made before it is read (a header too long to be the
    /// sender's, an empty body).
    fn precheck(&self, _headers: &dyn Headers, _body: &[u8]) -> Result<(), Refusal> {
        Ok(())
    }

    /// Whether an event of `event_type` that opens no bridge still tells of a change the
    /// incident's meeting follows (a reassignment, a new title or priority).
    fn follows(&self, _event_type: &str) -> bool {
        false
    }

    /// Verifies the request with the ingress's secret at time `now` and reads it.
    fn read(
        &self,
        secrets: &RelaySecrets,
        headers: &dyn Headers,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Inbound, Refusal>;
}
