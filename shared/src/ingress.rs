//! The ingress's parts, below the routes that use them: the `Ingress` with its ports, what a
//! webhook brings and what the ingress answers. The routes (`relay` for PagerDuty's V3
//! webhooks, `requests`, `incident_io::ingress`, `lifecycle` for Zoom's events) are
//! `impl Ingress` blocks in their own files.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::queue::JobQueue;
use crate::secrets::SecretCache;
use crate::store::IdempotencyStore;
use bridge_relay_domain::policy::BridgePolicy;

/// PagerDuty guarantees delivery up to 55 KB and drops webhooks over 256 KB; larger is not theirs.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// PagerDuty's webhook ids are UUIDs; a longer one is no webhook of theirs.
pub const MAX_WEBHOOK_ID_BYTES: usize = 256;

/// A webhook as any entry point (Lambda, local HTTP server) hands it over.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub signature: Option<&'a str>,
    pub webhook_id: Option<&'a str>,
    pub body: &'a [u8],
}

/// What the ingress answers, and what it did, for the entry point to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    pub body: Value,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Queued {
        incident_id: String,
        event_type: String,
    },
    Ignored {
        event_type: String,
        reason: String,
    },
    Rejected {
        reason: String,
    },
    Failed {
        reason: String,
    },
}

impl WebhookResponse {
    pub(crate) fn new(status: u16, outcome: Outcome) -> Self {
        let body = match &outcome {
            Outcome::Queued { incident_id, .. } => {
                json!({"status": "accepted", "incident": incident_id})
            }
            Outcome::Ignored { reason, .. } => json!({"status": "ignored", "reason": reason}),
            Outcome::Rejected { reason } => json!({"status": "rejected", "error": reason}),
            Outcome::Failed { reason } => json!({"status": "error", "error": reason}),
        };
        WebhookResponse {
            status,
            body,
            outcome,
        }
    }

    /// 200: the sender's event is fine, but not one the relay acts on.
    pub(crate) fn ignored(event_type: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(
            200,
            Outcome::Ignored {
                event_type: event_type.into(),
                reason: reason.into(),
            },
        )
    }

    /// 503: the relay's own trouble; the sender delivers again later.
    pub(crate) fn unavailable(reason: impl Into<String>) -> Self {
        Self::new(
            503,
            Outcome::Failed {
                reason: reason.into(),
            },
        )
    }

    /// 413 for a body over [`MAX_BODY_BYTES`].
    pub(crate) fn body_too_large() -> Self {
        Self::rejected(
            413,
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )
    }

    pub(crate) fn rejected(status: u16, reason: impl Into<String>) -> Self {
        Self::new(
            status,
            Outcome::Rejected {
                reason: reason.into(),
            },
        )
    }
}

/// The ingress: verify, parse, decide, enqueue. It never calls Zoom or PagerDuty.
pub struct Ingress {
    pub(crate) secrets: Arc<SecretCache>,
    pub(crate) queue: Arc<dyn JobQueue>,
    pub(crate) policy: BridgePolicy,
    /// Finds the incident of a Zoom meeting (`/zoom`); without it Zoom events are ignored.
    pub(crate) meeting_index: Option<Arc<dyn IdempotencyStore>>,
}

impl Ingress {
    pub fn new(secrets: Arc<SecretCache>, queue: Arc<dyn JobQueue>, policy: BridgePolicy) -> Self {
        Ingress {
            secrets,
            queue,
            policy,
            meeting_index: None,
        }
    }

    /// Lets the ingress match Zoom events to incidents through the idempotency store (read only).
    pub fn with_meeting_index(mut self, store: Arc<dyn IdempotencyStore>) -> Self {
        self.meeting_index = Some(store);
        self
    }
}
