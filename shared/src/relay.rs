//! The use case, written once against the ports: accept a webhook, and turn a job into a bridge.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::error::JobError;
use crate::model::Job;
use crate::pagerduty::webhook::{self, ParseError};
use crate::pagerduty::{IncidentTool, IncidentToolError, signature};
use crate::policy::{BridgePolicy, Decision};
use crate::queue::JobQueue;
use crate::secrets::SecretCache;
use crate::zoom::{MeetingError, MeetingProvider, new_passcode, translate};

/// PagerDuty guarantees delivery up to 55 KB and drops webhooks over 256 KB; larger is not theirs.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

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
    fn new(status: u16, outcome: Outcome) -> Self {
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

    fn rejected(status: u16, reason: impl Into<String>) -> Self {
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
    secrets: Arc<SecretCache>,
    queue: Arc<dyn JobQueue>,
    policy: BridgePolicy,
}

impl Ingress {
    pub fn new(secrets: Arc<SecretCache>, queue: Arc<dyn JobQueue>, policy: BridgePolicy) -> Self {
        Ingress {
            secrets,
            queue,
            policy,
        }
    }

    /// 202 queued, 200 ignored, 4xx for the sender's mistakes (PagerDuty does not retry those),
    /// 5xx only for the relay's own trouble, so PagerDuty retries and nothing is lost.
    pub async fn handle(&self, request: WebhookRequest<'_>) -> WebhookResponse {
        if request.body.len() > MAX_BODY_BYTES {
            return WebhookResponse::rejected(
                413,
                format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            );
        }
        if request.body.is_empty() {
            return WebhookResponse::rejected(400, "the body is empty");
        }
        let secrets = match self.secrets.get().await {
            Ok(secrets) => secrets,
            Err(e) => {
                tracing::error!(error = %e, "cannot verify webhooks without the secret");
                return WebhookResponse::new(
                    503,
                    Outcome::Failed {
                        reason: "the relay cannot read its secret; retry later".into(),
                    },
                );
            }
        };
        if let Err(e) = signature::verify(
            request.signature,
            request.body,
            &secrets.pagerduty.webhook_secrets,
        ) {
            return WebhookResponse::rejected(401, e.to_string());
        }
        let event = match webhook::parse(request.body) {
            Ok(event) => event,
            Err(e @ (ParseError::NotJson(_) | ParseError::Shape(_))) => {
                return WebhookResponse::rejected(400, e.to_string());
            }
        };
        let incident = match self.policy.decide(&event) {
            Decision::Bridge(incident) => incident,
            Decision::Ignore(reason) => {
                return WebhookResponse::new(
                    200,
                    Outcome::Ignored {
                        event_type: event.event_type,
                        reason,
                    },
                );
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
            incident,
        };
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
                WebhookResponse::new(
                    503,
                    Outcome::Failed {
                        reason: "the relay could not queue the job; retry later".into(),
                    },
                )
            }
        }
    }
}

/// What a finished job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    pub incident_id: String,
    pub meeting_id: u64,
    pub has_dial_in: bool,
}

/// The worker: one Zoom meeting, then the bridge, then the note.
pub struct Worker {
    meetings: Arc<dyn MeetingProvider>,
    incidents: Arc<dyn IncidentTool>,
}

impl Worker {
    pub fn new(meetings: Arc<dyn MeetingProvider>, incidents: Arc<dyn IncidentTool>) -> Self {
        Worker {
            meetings,
            incidents,
        }
    }

    pub async fn handle_job(&self, job: &Job) -> Result<JobReport, JobError> {
        let incident = &job.incident;
        let request = translate::meeting_request(incident, &new_passcode(), SystemTime::now());
        let meeting = self
            .meetings
            .create_meeting(&request)
            .await
            .map_err(|e| match e {
                MeetingError::Secrets(e) => JobError::Secrets(e),
                MeetingError::Upstream(e) => JobError::Meeting(e),
            })?;
        tracing::info!(incident = %incident.id, meeting_id = meeting.id, "zoom meeting created");
        let bridge = translate::bridge(&meeting);
        self.incidents
            .set_bridge(&incident.id, &bridge)
            .await
            .map_err(|e| tool_error(e, JobError::Bridge))?;
        self.incidents
            .add_note(&incident.id, &translate::note(&meeting))
            .await
            .map_err(|e| tool_error(e, JobError::Note))?;
        tracing::info!(incident = %incident.id, meeting_id = meeting.id, "bridge posted");
        Ok(JobReport {
            incident_id: incident.id.clone(),
            meeting_id: meeting.id,
            has_dial_in: bridge.conference_number.is_some(),
        })
    }
}

fn tool_error(
    e: IncidentToolError,
    upstream: fn(crate::error::UpstreamError) -> JobError,
) -> JobError {
    match e {
        IncidentToolError::Secrets(e) => JobError::Secrets(e),
        IncidentToolError::Upstream(e) => upstream(e),
    }
}
