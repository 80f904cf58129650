//! The relay's own data: what it knows of an incident, the job it queues, the meeting and bridge.

use serde::{Deserialize, Serialize};

/// What the relay needs to know of an incident to open a bridge for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// The bridge the incident already had when the webhook was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conference_bridge: Option<Bridge>,
}

impl Incident {
    pub fn new(id: impl Into<String>) -> Self {
        Incident {
            id: id.into(),
            number: None,
            title: None,
            html_url: None,
            service: None,
            urgency: None,
            priority: None,
            conference_bridge: None,
        }
    }
}

/// One accepted webhook that asks for a bridge; the body of a queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// `X-Webhook-Id`, or the event id when the sender gave none: the queue's dedup key.
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub incident: Incident,
    /// When the ingress received the webhook (ms since the Unix epoch), for the time to bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at_ms: Option<u64>,
    /// Why the job was dead-lettered, on messages in the dead-letter queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl Job {
    pub fn from_json(body: &str) -> Result<Job, crate::JobError> {
        serde_json::from_str(body).map_err(|e| crate::JobError::Malformed(e.to_string()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a job always serializes")
    }
}

/// A Zoom dial-in number as Zoom lists it for a meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialInNumber {
    pub number: String,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub country_name: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A created meeting, as much of it as may leave the worker. The host's `start_url` is not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    pub id: u64,
    pub join_url: String,
    pub passcode: Option<String>,
    /// The numeric passcode a phone caller types, when Zoom gave one.
    pub phone_passcode: Option<String>,
    pub dial_in: Vec<DialInNumber>,
}

/// A conference bridge as PagerDuty shows it on an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bridge {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conference_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conference_url: Option<String>,
}
