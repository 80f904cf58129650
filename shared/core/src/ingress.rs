//! The ingress, written once: size -> secret -> the source's check and reading -> the policy's
//! decision -> the queue, for every inbound source (each tool's adapter implements
//! [`InboundSource`]). It never calls Zoom or an incident tool; it answers within
//! [`REQUEST_BUDGET`], 2xx once the job is queued, 4xx for the sender's mistakes (not
//! retried), 5xx only for the relay's own trouble (retried, so nothing is lost).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use bridge_relay_domain::after_call::ArtifactEvent;
use bridge_relay_domain::model::{
    Incident, IncidentEvent, IncidentToolKind, Job, JobAction, MeetingEvent, MeetingOptions,
    incident_id_problem,
};
use bridge_relay_domain::policy::{BridgePolicy, Decision};
use bridge_relay_domain::telemetry::epoch_millis;
use bridge_relay_ports::inbound::{Headers, Inbound, InboundSource, Refusal};
use bridge_relay_ports::queue::JobQueue;
use bridge_relay_ports::secrets::SecretCache;
use bridge_relay_ports::store::MeetingIndex;

/// The time the ingress gives any request, on every route. The function stops at 5 s (and
/// PagerDuty waits 16 s for a button's answer): answering 503 after 4 s beats a function
/// timeout, which has no log line and no metric, and tells the sender to try again.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(4);

/// PagerDuty guarantees delivery up to 55 KB and drops webhooks over 256 KB; larger is not theirs.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

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
    pub fn new(status: u16, outcome: Outcome) -> Self {
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
    pub fn ignored(event_type: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(
            200,
            Outcome::Ignored {
                event_type: event_type.into(),
                reason: reason.into(),
            },
        )
    }

    /// 503: the relay's own trouble; the sender delivers again later.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::new(
            503,
            Outcome::Failed {
                reason: reason.into(),
            },
        )
    }

    /// A source's refusal: 503 is the relay's trouble (retried), any other status the sender's.
    pub fn refused(refusal: Refusal) -> Self {
        if refusal.status == 503 {
            Self::unavailable(refusal.reason)
        } else {
            Self::rejected(refusal.status, refusal.reason)
        }
    }

    /// 413 for a body over [`MAX_BODY_BYTES`].
    pub fn body_too_large() -> Self {
        Self::rejected(
            413,
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )
    }

    pub fn rejected(status: u16, reason: impl Into<String>) -> Self {
        Self::new(
            status,
            Outcome::Rejected {
                reason: reason.into(),
            },
        )
    }
}

/// The ingress: verify, read, decide, enqueue, over the inbound sources it is given.
pub struct Ingress {
    secrets: Arc<SecretCache>,
    queue: Arc<dyn JobQueue>,
    policy: BridgePolicy,
    /// Finds the incident of a meeting (Zoom's events); without it meeting events are ignored.
    meeting_index: Option<Arc<dyn MeetingIndex>>,
    sources: Vec<Arc<dyn InboundSource>>,
}

/// A source of the ingress, found by its path ([`Ingress::route`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route(usize);

impl Ingress {
    /// An ingress with no source yet: add each with [`Ingress::with_source`].
    pub fn new(secrets: Arc<SecretCache>, queue: Arc<dyn JobQueue>, policy: BridgePolicy) -> Self {
        Ingress {
            secrets,
            queue,
            policy,
            meeting_index: None,
            sources: Vec::new(),
        }
    }

    /// Takes requests of `source` on its paths.
    pub fn with_source(mut self, source: Arc<dyn InboundSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Lets the ingress match meeting events to incidents through the store's meeting index.
    pub fn with_meeting_index(mut self, index: Arc<dyn MeetingIndex>) -> Self {
        self.meeting_index = Some(index);
        self
    }

    /// The source that takes `path` (a trailing `/` ignored).
    pub fn route(&self, path: &str) -> Option<Route> {
        let path = path.trim_end_matches('/');
        self.sources
            .iter()
            .position(|source| {
                source
                    .paths()
                    .iter()
                    .any(|p| p.trim_end_matches('/') == path)
            })
            .map(Route)
    }

    /// The source a route of this ingress leads to.
    pub fn source_of(&self, route: Route) -> Option<&dyn InboundSource> {
        self.sources.get(route.0).map(Arc::as_ref)
    }

    /// Where each kind of request goes: what its source takes, and the path it names (its
    /// first non-empty one), in the order the sources were added.
    pub fn places(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.sources.iter().filter_map(|source| {
            let path = source.paths().iter().find(|p| !p.is_empty())?;
            Some((source.what(), *path))
        })
    }

    /// The 404 answer's body: where each kind of request goes.
    pub fn unknown_path_body(&self) -> String {
        let places: Vec<String> = self
            .places()
            .map(|(what, path)| format!("{what} to {path}"))
            .collect();
        // Written out so the keys keep the order of every other answer (status first).
        let error = Value::String(format!("POST {}", places.join(", ")));
        format!(r#"{{"status":"rejected","error":{error}}}"#)
    }

    /// The id the sender gave its delivery, for the log line.
    pub fn delivery_id<'h>(&self, headers: &'h dyn Headers) -> Option<&'h str> {
        self.sources
            .iter()
            .filter_map(|source| source.delivery_header())
            .find_map(|name| headers.header(name))
    }

    /// One request on `route`, from either entry point (the Lambda's Function URL event, the
    /// local runner's HTTP server), within [`REQUEST_BUDGET`]: a request not accepted in time
    /// (a hung Secrets Manager or SQS call) is answered 503, so the sender delivers it again.
    pub async fn handle_route(
        &self,
        route: Route,
        headers: &(dyn Headers + Sync),
        body: &[u8],
    ) -> WebhookResponse {
        let accepted = self.accept(route, headers, body, SystemTime::now());
        match tokio::time::timeout(REQUEST_BUDGET, accepted).await {
            Ok(response) => response,
            Err(_) => {
                tracing::error!(route = ?route, budget = ?REQUEST_BUDGET, "request not accepted within its budget");
                WebhookResponse::unavailable(
                    "the relay could not accept the request in time; try again",
                )
            }
        }
    }

    /// The pipeline, with `now` the clock signatures' timestamps are checked against.
    pub async fn accept(
        &self,
        route: Route,
        headers: &(dyn Headers + Sync),
        body: &[u8],
        now: SystemTime,
    ) -> WebhookResponse {
        let Some(source) = self.sources.get(route.0) else {
            return WebhookResponse::rejected(404, "no such route");
        };
        if body.len() > MAX_BODY_BYTES {
            return WebhookResponse::body_too_large();
        }
        if let Err(refusal) = source.precheck(headers, body) {
            return WebhookResponse::refused(refusal);
        }
        let secrets = match self.secrets.get().await {
            Ok(secrets) => secrets,
            Err(e) => {
                tracing::error!(error = %e, source = source.what(), "cannot verify requests without the secret");
                return WebhookResponse::unavailable(
                    "the relay cannot read its secret; retry later",
                );
            }
        };
        let inbound = match source.read(&secrets, headers, body, now) {
            Ok(inbound) => inbound,
            Err(refusal) => return WebhookResponse::refused(refusal),
        };
        if let Some(refusal) = incident_id_refusal(&inbound) {
            return WebhookResponse::refused(refusal);
        }
        let received_at_ms = epoch_millis(now);
        match inbound {
            Inbound::Event { event, delivery_id } => {
                let follows = source.follows(&event.event_type);
                self.decide_event(event, delivery_id, received_at_ms, follows)
                    .await
            }
            Inbound::Lifecycle {
                tool,
                incident,
                action,
                event_id,
                event_type,
                delivery_id,
            } => {
                let meeting = self.policy.meeting_for(&incident);
                let job = Job {
                    action,
                    ..queued_job(
                        tool,
                        delivery_id,
                        event_id,
                        event_type,
                        incident,
                        meeting,
                        received_at_ms,
                    )
                };
                self.enqueue(job).await
            }
            Inbound::Asked {
                tool,
                incident,
                requested_by,
                event_id,
                event_type,
                delivery_id,
            } => {
                let incident = match self.policy.decide_request(&incident) {
                    Decision::Bridge(incident) => *incident,
                    Decision::Ignore(reason) => {
                        return WebhookResponse::ignored(event_type, reason);
                    }
                };
                let meeting = self.policy.meeting_for(&incident);
                let job = Job {
                    requested_by,
                    ..queued_job(
                        tool,
                        delivery_id,
                        event_id,
                        event_type,
                        incident,
                        meeting,
                        received_at_ms,
                    )
                };
                self.enqueue(job).await
            }
            Inbound::Meeting(event) => self.meeting_event(event, received_at_ms).await,
            Inbound::Artifact(event) => self.artifact_event(event, received_at_ms).await,
            Inbound::Answer {
                event_type,
                reason,
                body,
            } => {
                let mut response = WebhookResponse::ignored(event_type, reason);
                response.body = body;
                response
            }
            Inbound::Ignored { event_type, reason } => WebhookResponse::ignored(event_type, reason),
        }
    }

    /// An incident tool's event: a bridge job when the policy says so; else, for an event
    /// that `follows` (a change of the incident), a job keeping its meeting in step.
    async fn decide_event(
        &self,
        event: IncidentEvent,
        delivery_id: String,
        received_at_ms: u64,
        follows: bool,
    ) -> WebhookResponse {
        let (incident, action) = match self.policy.decide_event(&event) {
            Decision::Bridge(incident) => (*incident, JobAction::Bridge),
            Decision::Ignore(reason) => match event.incident {
                // A private incident's events carry nothing to show on its meeting.
                Some(incident)
                    if follows
                        && !event.private
                        && self.follow_changes_anything(&event.event_type, &incident) =>
                {
                    (incident, JobAction::Follow)
                }
                _ => return WebhookResponse::ignored(event.event_type, reason),
            },
        };
        let mut meeting = self.policy.meeting_for(&incident);
        if event.private {
            // The tool withholds the incident from most people: so does the relay's timeline.
            meeting.sensitive = Some(true);
        }
        let job = Job {
            action,
            ..queued_job(
                event.tool,
                delivery_id,
                event.id,
                event.event_type,
                incident,
                meeting,
                received_at_ms,
            )
        };
        self.enqueue(job).await
    }

    /// Whether following `event_type` can change anything: an acknowledgement only quiets the
    /// call's health notes, for incidents whose policy asks for that.
    fn follow_changes_anything(&self, event_type: &str, incident: &Incident) -> bool {
        !bridge_relay_domain::health::ACKNOWLEDGEMENT_EVENT_TYPES.contains(&event_type)
            || self
                .policy
                .meeting_for(incident)
                .health
                .unwrap_or_default()
                .checks()
                .quiet_when_acknowledged
    }

    /// The incident that owns `meeting_id`, or the answer to give when there is none to queue
    /// the event for.
    async fn meeting_owner(
        &self,
        meeting_id: u64,
        event_type: &str,
    ) -> Result<(IncidentToolKind, String), WebhookResponse> {
        let Some(index) = &self.meeting_index else {
            return Err(WebhookResponse::ignored(
                event_type,
                "this ingress has no idempotency table to find the meeting's incident",
            ));
        };
        match index.meeting_owner(meeting_id).await {
            Ok(Some(key)) => Ok(key.split()),
            Ok(None) => Err(WebhookResponse::ignored(
                event_type,
                format!("meeting {meeting_id} is not one of the relay's"),
            )),
            Err(e) => {
                tracing::error!(error = %e, meeting_id, "cannot look the meeting up");
                Err(WebhookResponse::unavailable(
                    "the relay cannot look the meeting up; retry later",
                ))
            }
        }
    }

    /// A meeting event of one of the relay's meetings, queued for its incident's worker.
    async fn meeting_event(&self, event: MeetingEvent, received_at_ms: u64) -> WebhookResponse {
        // The same event delivered again (Zoom retries) carries the same content: one job.
        let event_key = format!(
            "zoom:{}:{}:{}:{}",
            event.meeting_id,
            event.kind.event_type(),
            event.participant_id.as_deref().unwrap_or("-"),
            event.at_ms
        );
        let (meeting_id, event_type) = (event.meeting_id, event.kind.event_type());
        self.queue_for_meeting(meeting_id, event_type, event_key, received_at_ms, |job| {
            job.action = JobAction::ZoomEvent(event);
        })
        .await
    }

    /// An after-call artifact of one of the relay's meetings, queued for its incident's worker
    /// (which knows whether the incident's policy wants it).
    async fn artifact_event(&self, event: ArtifactEvent, received_at_ms: u64) -> WebhookResponse {
        // One job per artifact of a meeting instance, however often Zoom delivers it.
        let event_type = event.artifact.event_type();
        let event_key = format!(
            "zoom:{}:{}:{}",
            event.meeting_id, event_type, event.meeting_uuid
        );
        let meeting_id = event.meeting_id;
        self.queue_for_meeting(meeting_id, event_type, event_key, received_at_ms, |job| {
            job.action = JobAction::ZoomArtifact(event);
        })
        .await
    }

    /// Queues a job of a Zoom event (`event_key` is its delivery id) for the incident that
    /// owns `meeting_id`; `attach` puts the event on it.
    async fn queue_for_meeting(
        &self,
        meeting_id: u64,
        event_type: &str,
        event_key: String,
        received_at_ms: u64,
        attach: impl FnOnce(&mut Job),
    ) -> WebhookResponse {
        let (tool, incident_id) = match self.meeting_owner(meeting_id, event_type).await {
            Ok(owner) => owner,
            Err(answer) => return answer,
        };
        let mut job = queued_job(
            tool,
            event_key.clone(),
            event_key,
            event_type.into(),
            Incident::new(incident_id),
            MeetingOptions::default(),
            received_at_ms,
        );
        attach(&mut job);
        self.enqueue(job).await
    }

    /// 202 once the queue holds the job, 503 (the sender retries) when it cannot.
    pub async fn enqueue(&self, job: Job) -> WebhookResponse {
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

/// 400 for an incident id no tool sends (see [`incident_id_problem`]), whatever the source:
/// refused here, it is not queued, retried and dead-lettered at the store's key limit. A 4xx is
/// not retried by the sender.
fn incident_id_refusal(inbound: &Inbound) -> Option<Refusal> {
    let incident = match inbound {
        Inbound::Event { event, .. } => event.incident.as_ref()?,
        Inbound::Lifecycle { incident, .. } | Inbound::Asked { incident, .. } => incident,
        Inbound::Meeting(_)
        | Inbound::Artifact(_)
        | Inbound::Answer { .. }
        | Inbound::Ignored { .. } => return None,
    };
    incident_id_problem(&incident.id).map(|problem| Refusal::new(400, problem))
}

/// A job as the ingress queues it: a bridge job of `tool` unless the caller says otherwise.
fn queued_job(
    tool: IncidentToolKind,
    webhook_id: String,
    event_id: String,
    event_type: String,
    incident: Incident,
    meeting: MeetingOptions,
    received_at_ms: u64,
) -> Job {
    Job {
        webhook_id,
        event_id,
        event_type,
        meeting,
        incident,
        requested_by: None,
        received_at_ms: Some(received_at_ms),
        failure: None,
        tool,
        action: JobAction::default(),
        requeued_after_waiting: false,
    }
}
