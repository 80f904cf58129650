//! What each webhook and each job did, for the people who run the relay: one log line and one
//! EMF document per webhook and per job, with the upstream calls [`bridge_relay_domain::telemetry`] recorded
//! on the way.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::metrics::{MetricSet, names};
use crate::relay::{Delivery, FailureNote, JobReport, Outcome, Settled, WebhookResponse};
use bridge_relay_domain::error::{AccessProblem, Service};
use bridge_relay_domain::model::Job;
use bridge_relay_domain::telemetry::CallStats;

const ZOOM: &[Service] = &[Service::Zoom, Service::ZoomOAuth];
const PAGERDUTY: &[Service] = &[Service::PagerDuty];
const INCIDENT_IO: &[Service] = &[Service::IncidentIo];
const SECRETS: &[Service] = &[Service::SecretsManager];
const SQS: &[Service] = &[Service::Sqs];

/// The Lambda invocation a line belongs to (None in the local runner).
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub request_id: String,
    /// The X-Ray trace id (`Root=…;Parent=…;Sampled=…`) when the invocation has one.
    pub trace_id: Option<String>,
}

impl Invocation {
    pub fn from_context(context: &lambda_runtime::Context) -> Self {
        Invocation {
            request_id: context.request_id.clone(),
            trace_id: context
                .xray_trace_id
                .clone()
                .or_else(|| std::env::var("_X_AMZN_TRACE_ID").ok())
                .filter(|t| !t.is_empty()),
        }
    }

    fn add_to(invocation: Option<&Invocation>, metrics: &mut MetricSet) {
        if let Some(invocation) = invocation {
            metrics.property("request_id", invocation.request_id.as_str());
            if let Some(trace) = &invocation.trace_id {
                metrics.property("trace_id", trace.as_str());
            }
        }
    }
}

/// What the ingress did with one webhook.
pub struct WebhookReport<'a> {
    pub response: &'a WebhookResponse,
    pub webhook_id: Option<&'a str>,
    pub calls: CallStats,
}

impl WebhookReport<'_> {
    pub fn decision(&self) -> &'static str {
        match self.response.outcome {
            Outcome::Queued { .. } => "bridge",
            Outcome::Ignored { .. } => "skipped",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Failed { .. } => "failed",
        }
    }

    /// One line: what came in, what the relay decided and why, and what it cost.
    pub fn log(&self, invocation: Option<&Invocation>) {
        let (incident, event_type, reason) = match &self.response.outcome {
            Outcome::Queued {
                incident_id,
                event_type,
            } => (Some(incident_id.as_str()), Some(event_type.as_str()), None),
            Outcome::Ignored { event_type, reason } => {
                (None, Some(event_type.as_str()), Some(reason.as_str()))
            }
            Outcome::Rejected { reason } | Outcome::Failed { reason } => {
                (None, None, Some(reason.as_str()))
            }
        };
        let (secrets_calls, secrets_ms) = self.calls.total(SECRETS);
        let (sqs_calls, sqs_ms) = self.calls.total(SQS);
        let request_id = invocation.map(|i| i.request_id.as_str());
        let trace_id = invocation.and_then(|i| i.trace_id.as_deref());
        let message = match self.response.outcome {
            Outcome::Queued { .. } => "webhook queued",
            Outcome::Ignored { .. } => "webhook ignored",
            Outcome::Rejected { .. } => "webhook rejected",
            Outcome::Failed { .. } => "webhook not accepted",
        };
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(
                    webhook_id = self.webhook_id.unwrap_or("-"),
                    status = self.response.status,
                    incident = incident,
                    event_type = event_type,
                    decision = self.decision(),
                    reason = reason,
                    secrets_manager_calls = secrets_calls,
                    secrets_manager_ms = secrets_ms,
                    sqs_calls = sqs_calls,
                    sqs_ms = sqs_ms,
                    request_id = request_id,
                    trace_id = trace_id,
                    "{message}"
                )
            };
        }
        match self.response.outcome {
            Outcome::Queued { .. } | Outcome::Ignored { .. } => line!(info),
            Outcome::Rejected { .. } => line!(warn),
            Outcome::Failed { .. } => line!(error),
        }
    }

    pub fn metrics(&self, invocation: Option<&Invocation>) -> MetricSet {
        let is = |decision| u64::from(self.decision() == decision);
        let mut metrics = MetricSet::new();
        metrics
            .count(names::WEBHOOKS_ACCEPTED, is("bridge"))
            .count(names::WEBHOOKS_SKIPPED, is("skipped"))
            .count(names::WEBHOOKS_REJECTED, is("rejected"))
            .count(names::WEBHOOKS_FAILED, is("failed"))
            .count(names::SECRETS_MANAGER_ERRORS, self.calls.errors(SECRETS))
            .property("decision", self.decision())
            .property("status", self.response.status);
        if let Some(id) = self.webhook_id {
            metrics.property("webhook_id", id);
        }
        if let Outcome::Queued { incident_id, .. } = &self.response.outcome {
            metrics.property("incident_id", incident_id.as_str());
        }
        Invocation::add_to(invocation, &mut metrics);
        metrics
    }

    /// The log line, and the metrics on stdout.
    pub fn report(&self, invocation: Option<&Invocation>) {
        self.log(invocation);
        self.metrics(invocation).emit();
    }
}

/// How one delivery of a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobDecision {
    Bridged {
        meeting_id: u64,
        bridged_at_ms: u64,
    },
    AlreadyDone,
    KeptExistingBridge,
    /// A lifecycle job (Zoom event, resolve, reopen, end of the meeting) did its work.
    Lifecycle {
        summary: String,
    },
    /// Failed; the queue delivers it again.
    Retry {
        reason: String,
    },
    /// Failed for good or on its last delivery: the job is (or goes) to the dead-letter
    /// queue, and `note` says whether the incident was told why.
    DeadLettered {
        reason: String,
        note: FailureNote,
    },
}

impl JobDecision {
    /// How the delivery settled, as the report names it.
    fn of(settled: &Settled) -> Self {
        match settled {
            Settled::Done(JobReport::Bridged {
                meeting_id,
                bridged_at_ms,
                ..
            }) => JobDecision::Bridged {
                meeting_id: *meeting_id,
                bridged_at_ms: *bridged_at_ms,
            },
            Settled::Done(JobReport::AlreadyDone { .. }) => JobDecision::AlreadyDone,
            Settled::Done(JobReport::KeptExistingBridge { .. }) => JobDecision::KeptExistingBridge,
            Settled::Done(JobReport::Lifecycle { summary, .. }) => JobDecision::Lifecycle {
                summary: summary.clone(),
            },
            Settled::DeadLettered(error, note) | Settled::LastDelivery(error, note) => {
                JobDecision::DeadLettered {
                    reason: error.to_string(),
                    note: *note,
                }
            }
            Settled::Retry(error) | Settled::Requeued(error) => JobDecision::Retry {
                reason: error.to_string(),
            },
        }
    }
}

/// The end of a dead letter's sentence: whether the incident was told, and if not, why.
fn what_the_incident_was_told(note: &FailureNote) -> String {
    match note {
        FailureNote::Posted => "with a note on the incident".to_owned(),
        FailureNote::NotPosted => "and the failure note could not be posted".to_owned(),
        FailureNote::NotNeeded(why) => format!("without a note ({why})"),
    }
}

/// What one delivery of a job did.
pub struct JobOutcome<'a> {
    pub job: &'a Job,
    pub receive_count: u32,
    pub decision: JobDecision,
    pub calls: CallStats,
    /// From the ingress receiving the webhook to the bridge being set, for a bridged job.
    pub webhook_to_bridge: Option<Duration>,
    /// A cause that fails every job alike (credentials refused, a service out of reach).
    pub access_problem: Option<AccessProblem>,
}

/// The access problems this process has explained already: each is said once, with its fix,
/// however many jobs and retries fail on it.
static EXPLAINED: Mutex<Option<HashSet<AccessProblem>>> = Mutex::new(None);

/// Whether `problem` is new to this process (and from now on known).
fn first_time(problem: AccessProblem) -> bool {
    let mut explained = EXPLAINED.lock().unwrap_or_else(PoisonError::into_inner);
    explained.get_or_insert_with(HashSet::new).insert(problem)
}

impl<'a> JobOutcome<'a> {
    pub fn new(job: &'a Job, delivery: Delivery, settled: &Settled, calls: CallStats) -> Self {
        let decision = JobDecision::of(settled);
        let webhook_to_bridge = match decision {
            JobDecision::Bridged { bridged_at_ms, .. } => job
                .received_at_ms
                .map(|received| Duration::from_millis(bridged_at_ms.saturating_sub(received))),
            _ => None,
        };
        let access_problem = match settled {
            Settled::Done(_) => None,
            Settled::DeadLettered(error, _)
            | Settled::LastDelivery(error, _)
            | Settled::Retry(error)
            | Settled::Requeued(error) => error.upstream().and_then(AccessProblem::of),
        };
        JobOutcome {
            job,
            receive_count: delivery.receive_count,
            decision,
            calls,
            webhook_to_bridge,
            access_problem,
        }
    }

    pub fn decision_name(&self) -> &'static str {
        match self.decision {
            JobDecision::Bridged { .. } => "bridge",
            JobDecision::AlreadyDone => "skipped: already bridged",
            JobDecision::KeptExistingBridge => "skipped: kept the existing bridge",
            JobDecision::Lifecycle { .. } => "lifecycle",
            JobDecision::Retry { .. } => "retry",
            JobDecision::DeadLettered { .. } => "dead-lettered",
        }
    }

    /// A sentence a person reads: "incident P1: bridge set, meeting 812…, 1.2 s after the webhook".
    pub fn summary(&self) -> String {
        // `incident_io:<id>` for incident.io, PagerDuty's bare id: which tool is plain in the line.
        let incident = &self.job.incident_key();
        let calls = format!(
            "{} upstream calls, {} retries, delivery {}",
            self.calls.calls.len(),
            self.calls.retries,
            self.receive_count
        );
        match &self.decision {
            JobDecision::Bridged { meeting_id, .. } => {
                let after = self
                    .webhook_to_bridge
                    .map(|d| format!(", {:.1} s after the webhook", d.as_secs_f64()))
                    .unwrap_or_default();
                format!(
                    "incident {incident}: bridge and note posted, Zoom meeting {meeting_id}{after} ({calls})"
                )
            }
            JobDecision::AlreadyDone => {
                format!("incident {incident}: already bridged, nothing to do ({calls})")
            }
            JobDecision::KeptExistingBridge => {
                format!("incident {incident}: kept the bridge a person set ({calls})")
            }
            JobDecision::Lifecycle { summary } => {
                format!(
                    "incident {incident}: {} job: {summary} ({calls})",
                    self.job.action.as_str()
                )
            }
            JobDecision::Retry { reason } => {
                format!("incident {incident}: failed, will be delivered again: {reason} ({calls})")
            }
            JobDecision::DeadLettered { reason, note } => {
                let what = if self.job.action.is_bridge() {
                    "no bridge, dead-lettered".to_owned()
                } else {
                    format!("{} job dead-lettered", self.job.action.as_str())
                };
                let told = what_the_incident_was_told(note);
                format!("incident {incident}: {what} {told}: {reason} ({calls})")
            }
        }
    }

    pub fn log(&self, invocation: Option<&Invocation>) {
        if let Some(problem) = self.access_problem.filter(|p| first_time(*p)) {
            tracing::warn!(cause = ?problem, "{}", problem.advice());
        }
        let (meeting_id, reason) = match &self.decision {
            JobDecision::Bridged { meeting_id, .. } => (Some(*meeting_id), None),
            JobDecision::Retry { reason } | JobDecision::DeadLettered { reason, .. } => {
                (None, Some(reason.as_str()))
            }
            _ => (None, None),
        };
        let (zoom_calls, zoom_ms) = self.calls.total(ZOOM);
        let (pagerduty_calls, pagerduty_ms) = self.calls.total(PAGERDUTY);
        let (incident_io_calls, incident_io_ms) = self.calls.total(INCIDENT_IO);
        let (secrets_calls, secrets_ms) = self.calls.total(SECRETS);
        let request_id = invocation.map(|i| i.request_id.as_str());
        let trace_id = invocation.and_then(|i| i.trace_id.as_deref());
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(
                    incident = %self.job.incident_key(),
                    webhook_id = %self.job.webhook_id,
                    event_type = %self.job.event_type,
                    decision = self.decision_name(),
                    reason = reason,
                    meeting_id = meeting_id,
                    receive_count = self.receive_count,
                    webhook_to_bridge_ms = self.webhook_to_bridge.map(|d| d.as_millis() as u64),
                    retries = self.calls.retries,
                    zoom_calls = zoom_calls,
                    zoom_ms = zoom_ms,
                    pagerduty_calls = pagerduty_calls,
                    pagerduty_ms = pagerduty_ms,
                    incident_io_calls = incident_io_calls,
                    incident_io_ms = incident_io_ms,
                    secrets_manager_calls = secrets_calls,
                    secrets_manager_ms = secrets_ms,
                    request_id = request_id,
                    trace_id = trace_id,
                    "{}",
                    self.summary()
                )
            };
        }
        match self.decision {
            JobDecision::Retry { .. } => line!(warn),
            JobDecision::DeadLettered { .. } => line!(error),
            _ => line!(info),
        }
    }

    pub fn metrics(&self, invocation: Option<&Invocation>) -> MetricSet {
        let bridged = matches!(self.decision, JobDecision::Bridged { .. });
        let mut metrics = MetricSet::new();
        metrics
            .count(names::BRIDGES_CREATED, u64::from(bridged))
            .count(
                names::JOBS_RETRIED,
                u64::from(matches!(self.decision, JobDecision::Retry { .. })),
            )
            .count(
                names::JOBS_DEAD_LETTERED,
                u64::from(matches!(self.decision, JobDecision::DeadLettered { .. })),
            )
            .count(names::UPSTREAM_RETRIES, u64::from(self.calls.retries))
            .count(names::ZOOM_ERRORS, self.calls.errors(ZOOM))
            .count(names::PAGERDUTY_ERRORS, self.calls.errors(PAGERDUTY))
            .count(names::INCIDENT_IO_ERRORS, self.calls.errors(INCIDENT_IO))
            .count(names::SECRETS_MANAGER_ERRORS, self.calls.errors(SECRETS))
            .count(names::RATE_LIMITED, self.calls.rate_limited())
            .count(names::HOSTS_SPENT, u64::from(self.calls.hosts_spent))
            .count(names::HOST_POOL_FULL, u64::from(self.calls.pool_full))
            .count(
                names::ZOOM_TOKEN_FETCHES,
                self.calls.of(&[Service::ZoomOAuth]).count() as u64,
            )
            .count(
                names::ZOOM_TOKENS_REFUSED,
                u64::from(self.calls.tokens_refused),
            )
            .count(
                names::SUMMARIES_POSTED,
                u64::from(self.calls.summaries_posted),
            )
            .count(
                names::RECORDINGS_POSTED,
                u64::from(self.calls.recordings_posted),
            )
            .count(
                names::TRANSCRIPTS_POSTED,
                u64::from(self.calls.transcripts_posted),
            )
            .count(
                names::MEETINGS_UPDATED,
                u64::from(self.calls.meetings_updated),
            )
            .count(
                names::MEETING_UPDATES_GIVEN_UP,
                u64::from(self.calls.meeting_updates_given_up),
            )
            .count(
                names::STUCK_WAITING_NOTES,
                u64::from(self.calls.stuck_waiting_notes),
            )
            .count(
                names::EMPTY_CALL_NOTES,
                u64::from(self.calls.empty_call_notes),
            )
            .seconds(
                names::RESPONDERS_JOINED_AFTER_SECONDS,
                &self.calls.responders_joined_after_seconds,
            )
            .millis(names::ZOOM_LATENCY, &self.calls.millis(ZOOM))
            .millis(names::PAGERDUTY_LATENCY, &self.calls.millis(PAGERDUTY))
            .millis(names::INCIDENT_IO_LATENCY, &self.calls.millis(INCIDENT_IO))
            .property("incident_id", self.job.incident.id.as_str())
            .property("webhook_id", self.job.webhook_id.as_str())
            .property("event_type", self.job.event_type.as_str())
            .property("decision", self.decision_name())
            .property("receive_count", self.receive_count);
        if let Some(elapsed) = self.webhook_to_bridge {
            metrics.millis(names::WEBHOOK_TO_BRIDGE, &[elapsed.as_millis() as u64]);
        }
        if let JobDecision::Bridged { meeting_id, .. } = self.decision {
            metrics.property("meeting_id", meeting_id);
        }
        Invocation::add_to(invocation, &mut metrics);
        metrics
    }

    pub fn report(&self, invocation: Option<&Invocation>) {
        self.log(invocation);
        self.metrics(invocation).emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_relay_domain::error::{JobError, UpstreamError};
    use bridge_relay_domain::model::Incident;
    use bridge_relay_domain::telemetry::{epoch_millis, observe, record_call, record_retry};
    use std::time::{Instant, SystemTime};

    #[test]
    fn each_access_problem_is_explained_once() {
        let refused = AccessProblem::CredentialsRefused(Service::Other("made-up tool"));
        assert!(first_time(refused));
        assert!(!first_time(refused));
        assert!(first_time(AccessProblem::Unreachable(Service::Other(
            "made-up tool"
        ))));
    }

    #[test]
    fn refused_credentials_and_silence_are_access_problems_other_answers_are_not() {
        let status = |service, status| UpstreamError::Status {
            service,
            status,
            message: "no".into(),
            retry_after: None,
        };
        let of = |e: &UpstreamError| AccessProblem::of(e);
        assert_eq!(
            of(&status(Service::ZoomOAuth, 400)),
            Some(AccessProblem::CredentialsRefused(Service::ZoomOAuth))
        );
        assert_eq!(
            of(&status(Service::PagerDuty, 401)),
            Some(AccessProblem::CredentialsRefused(Service::PagerDuty))
        );
        assert_eq!(of(&status(Service::Zoom, 403)), None);
        assert_eq!(of(&status(Service::PagerDuty, 500)), None);
        let unreachable = UpstreamError::Transport {
            service: Service::ZoomOAuth,
            reason: "dns".into(),
        };
        assert_eq!(
            of(&unreachable),
            Some(AccessProblem::Unreachable(Service::ZoomOAuth))
        );
        assert!(
            AccessProblem::CredentialsRefused(Service::ZoomOAuth)
                .advice()
                .contains("zoom.client_secret")
        );
    }

    fn job() -> Job {
        Job {
            webhook_id: "w-1".into(),
            event_id: "e-1".into(),
            event_type: "incident.triggered".into(),
            incident: Incident::new("PX"),
            requested_by: None,
            meeting: Default::default(),
            received_at_ms: Some(epoch_millis(SystemTime::now()) - 1500),
            failure: None,
            tool: Default::default(),
            action: Default::default(),
            requeued_after_waiting: false,
        }
    }

    fn delivery(receive_count: u32) -> Delivery {
        Delivery {
            receive_count,
            deadline: Instant::now(),
        }
    }

    fn zoom_429() -> JobError {
        JobError::Meeting(UpstreamError::Status {
            service: Service::Zoom,
            status: 429,
            message: "Too many requests".into(),
            retry_after: None,
        })
    }

    #[tokio::test]
    async fn calls_and_retries_are_counted_within_the_scope_only() {
        record_call(Service::Zoom, Instant::now(), Some(200));
        let ((), stats) = observe(async {
            record_call(Service::ZoomOAuth, Instant::now(), Some(200));
            record_call(Service::Zoom, Instant::now(), Some(429));
            record_retry();
            record_call(Service::Zoom, Instant::now(), Some(201));
            record_call(Service::PagerDuty, Instant::now(), None);
            record_call(Service::SecretsManager, Instant::now(), Some(400));
            record_call(Service::IncidentIo, Instant::now(), Some(500));
            record_call(Service::IncidentIo, Instant::now(), Some(200));
        })
        .await;
        assert_eq!(stats.calls.len(), 7);
        assert_eq!(stats.retries, 1);
        let job = job();
        let outcome = JobOutcome::new(&job, delivery(2), &Settled::Retry(zoom_429()), stats);
        let metrics = outcome.metrics(None);
        assert_eq!(metrics.value(names::RATE_LIMITED), Some(&[1.0][..]));
        assert_eq!(metrics.value(names::ZOOM_ERRORS), Some(&[0.0][..]));
        assert_eq!(metrics.value(names::PAGERDUTY_ERRORS), Some(&[1.0][..]));
        assert_eq!(metrics.value(names::INCIDENT_IO_ERRORS), Some(&[1.0][..]));
        assert_eq!(
            metrics.value(names::INCIDENT_IO_LATENCY).map(<[f64]>::len),
            Some(2)
        );
        assert_eq!(
            metrics.value(names::SECRETS_MANAGER_ERRORS),
            Some(&[1.0][..])
        );
        assert_eq!(metrics.value(names::UPSTREAM_RETRIES), Some(&[1.0][..]));
        assert_eq!(metrics.value(names::JOBS_RETRIED), Some(&[1.0][..]));
        assert_eq!(
            metrics.value(names::ZOOM_LATENCY).map(<[f64]>::len),
            Some(3)
        );
        assert_eq!(metrics.value(names::WEBHOOK_TO_BRIDGE), None);
        assert!(outcome.summary().contains("will be delivered again"));
    }

    #[test]
    fn the_bridge_health_figures_of_a_job_are_its_metrics() {
        let job = job();
        let calls = CallStats {
            responders_joined_after_seconds: vec![95, 400],
            stuck_waiting_notes: 1,
            empty_call_notes: 2,
            ..CallStats::default()
        };
        let settled = Settled::Done(JobReport::Lifecycle {
            incident_id: "PX".into(),
            summary: "health checked".into(),
        });
        let metrics = JobOutcome::new(&job, delivery(1), &settled, calls).metrics(None);
        assert_eq!(
            metrics.value(names::RESPONDERS_JOINED_AFTER_SECONDS),
            Some(&[95.0, 400.0][..])
        );
        assert_eq!(metrics.value(names::STUCK_WAITING_NOTES), Some(&[1.0][..]));
        assert_eq!(metrics.value(names::EMPTY_CALL_NOTES), Some(&[2.0][..]));
        let doc = metrics.to_emf("worker", 0);
        let units: Vec<&serde_json::Value> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["Name"] == names::RESPONDERS_JOINED_AFTER_SECONDS)
            .map(|m| &m["Unit"])
            .collect();
        assert_eq!(units, [&serde_json::json!("Seconds")]);
    }

    #[test]
    fn decisions_follow_how_the_delivery_settled() {
        let job = job();
        let outcome = |settled: &Settled, receive_count| {
            JobOutcome::new(&job, delivery(receive_count), settled, CallStats::default())
        };
        let last = outcome(&Settled::LastDelivery(zoom_429(), FailureNote::Posted), 5);
        assert!(matches!(last.decision, JobDecision::DeadLettered { .. }));
        assert_eq!(
            last.metrics(None).value(names::JOBS_DEAD_LETTERED),
            Some(&[1.0][..])
        );
        let retried = outcome(&Settled::Retry(zoom_429()), 4);
        assert_eq!(
            retried.metrics(None).value(names::JOBS_DEAD_LETTERED),
            Some(&[0.0][..])
        );
        let for_good = outcome(&Settled::DeadLettered(zoom_429(), FailureNote::Posted), 1);
        assert!(
            for_good
                .summary()
                .contains("no bridge, dead-lettered with a note on the incident")
        );
        // A note that could not be posted, or none owed, is said as it is.
        let unposted = outcome(
            &Settled::DeadLettered(zoom_429(), FailureNote::NotPosted),
            1,
        );
        assert!(
            unposted
                .summary()
                .contains("dead-lettered and the failure note could not be posted"),
            "{}",
            unposted.summary()
        );
        let busy = outcome(
            &Settled::LastDelivery(
                JobError::Busy("PX".into()),
                FailureNote::NotNeeded("another delivery held the incident, and posts its own"),
            ),
            5,
        );
        assert!(
            busy.summary()
                .contains("without a note (another delivery held the incident, and posts its own)"),
            "{}",
            busy.summary()
        );
        let bridged = outcome(
            &Settled::Done(JobReport::Bridged {
                incident_id: "PX".into(),
                meeting_id: 42,
                bridged_at_ms: epoch_millis(SystemTime::now()),
            }),
            1,
        );
        let elapsed = bridged.webhook_to_bridge.expect("measured");
        assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
        let metrics = bridged.metrics(Some(&Invocation {
            request_id: "req-1".into(),
            trace_id: Some("Root=1-abc".into()),
        }));
        assert_eq!(metrics.value(names::BRIDGES_CREATED), Some(&[1.0][..]));
        let doc = metrics.to_emf("worker", 0);
        assert_eq!(doc["meeting_id"], 42);
        assert_eq!(doc["request_id"], "req-1");
        assert_eq!(doc["trace_id"], "Root=1-abc");
        assert!(
            bridged
                .summary()
                .contains("Zoom meeting 42, 1.5 s after the webhook")
        );
    }
}
