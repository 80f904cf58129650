//! Errors of the relay, each saying what failed and whether trying again can help.

use std::fmt;
use std::time::Duration;

/// The outside systems the relay talks to, named in errors and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Zoom,
    ZoomOAuth,
    PagerDuty,
    IncidentIo,
    SecretsManager,
    Sqs,
    /// Where the deployment's one Zoom token is kept (the table).
    TokenStore,
    /// Any other system, by the name errors and logs give it (an incident tool added by its
    /// adapter alone: `Service::Other("Rootly API")`).
    Other(&'static str),
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Zoom => "Zoom API",
            Service::ZoomOAuth => "Zoom OAuth",
            Service::PagerDuty => "PagerDuty API",
            Service::IncidentIo => "incident.io API",
            Service::SecretsManager => "Secrets Manager",
            Service::Sqs => "SQS",
            Service::TokenStore => "the shared Zoom token store",
            Service::Other(name) => name,
        })
    }
}

/// A bad deployment setting; the message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// A call to Zoom or PagerDuty that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("{service} answered HTTP {status}: {message}")]
    Status {
        service: Service,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{service} could not be reached: {reason}")]
    Transport { service: Service, reason: String },
    /// Zoom's 100 meeting creates and updates per host and day are used up (until 00:00 UTC).
    #[error("{service} daily limit reached: {message}")]
    DailyLimit { service: Service, message: String },
    #[error("{service} answered with a body the relay could not read: {reason}")]
    Decode { service: Service, reason: String },
    /// Zoom refused the access token again right after the relay took a newer one: something
    /// else voids it (another holder of the app's credentials). Nothing was done; a later try
    /// with the fleet's next token can pass, so it is retried, never dead-lettered at once.
    #[error("{service} refused the relay's access token twice: {message}")]
    TokenRefused { service: Service, message: String },
}

impl UpstreamError {
    /// 5xx, 408, 429 and network failures may pass; other answers will not change on a retry.
    pub fn is_retryable(&self) -> bool {
        match self {
            UpstreamError::Status { status, .. } => {
                *status >= 500 || *status == 408 || *status == 429
            }
            UpstreamError::Transport { .. } | UpstreamError::TokenRefused { .. } => true,
            UpstreamError::Decode { .. } | UpstreamError::DailyLimit { .. } => false,
        }
    }

    /// Whether the call may have taken effect although it failed (a create that timed out).
    pub fn is_ambiguous(&self) -> bool {
        match self {
            UpstreamError::Status { status, .. } => *status >= 500 || *status == 408,
            UpstreamError::Transport { .. } => true,
            UpstreamError::Decode { .. } => true,
            UpstreamError::DailyLimit { .. } | UpstreamError::TokenRefused { .. } => false,
        }
    }

    pub fn service(&self) -> Service {
        match self {
            UpstreamError::Status { service, .. }
            | UpstreamError::Transport { service, .. }
            | UpstreamError::DailyLimit { service, .. }
            | UpstreamError::Decode { service, .. }
            | UpstreamError::TokenRefused { service, .. } => *service,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            UpstreamError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            UpstreamError::Status { status, .. } => Some(*status),
            UpstreamError::DailyLimit { .. } => Some(429),
            UpstreamError::TokenRefused { .. } => Some(401),
            _ => None,
        }
    }

    /// What an incident's timeline may say about this failure: the service's own answer for
    /// a refusal (it tells the responder what is wrong), no more than "could not be reached"
    /// for a transport failure, whose details (addresses, TLS) belong in the logs.
    pub fn note_reason(&self) -> String {
        match self {
            UpstreamError::Status { .. }
            | UpstreamError::DailyLimit { .. }
            | UpstreamError::TokenRefused { .. } => self.to_string(),
            UpstreamError::Transport { service, .. } => format!("{service} could not be reached"),
            UpstreamError::Decode { service, .. } => {
                format!("{service} answered with a body the relay could not read")
            }
        }
    }
}

/// The relay's secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {source_name} could not be read: {reason}")]
    Unavailable {
        source_name: String,
        reason: String,
        retryable: bool,
    },
    #[error("secret {source_name} does not match the expected schema: {reason}")]
    Malformed { source_name: String, reason: String },
    /// The document parses but lacks what this function reads it for (a secret of the other
    /// function, or one half of a split done too early).
    #[error("secret {source_name} has no {keys}, which the {role} needs")]
    Incomplete {
        source_name: String,
        keys: &'static str,
        role: &'static str,
    },
}

impl SecretsError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SecretsError::Unavailable {
                retryable: true,
                ..
            }
        )
    }
}

/// The job queue refused or failed to take a job.
#[derive(Debug, thiserror::Error)]
#[error("the job queue did not take the job: {0}")]
pub struct QueueError(pub String);

/// Why a bridge job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("creating the Zoom meeting failed: {0}")]
    Meeting(UpstreamError),
    #[error("setting the conference bridge on the incident failed: {0}")]
    Bridge(UpstreamError),
    #[error("adding the timeline note failed: {0}")]
    Note(UpstreamError),
    #[error("the queue message is not a bridge job: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("another worker is handling incident {0}")]
    Busy(String),
    /// No Zoom host has a free meeting slot and creates left today; a later delivery tries again.
    #[error("{0}")]
    PoolFull(PoolFull),
    /// The job waited for a free host as long as the policy allows, and the relay gave up.
    #[error("no Zoom host became free within {waited_minutes} min ({full})")]
    NoHostInTime { waited_minutes: u64, full: PoolFull },
    #[error("ending the Zoom meeting failed: {0}")]
    EndMeeting(UpstreamError),
    /// A timer job (`of`: what it does when it fires) could not be queued.
    #[error("scheduling {of} failed: {reason}")]
    Timer { of: &'static str, reason: String },
    #[error("creating the post-incident review meeting failed: {0}")]
    Review(UpstreamError),
    #[error("reading the Zoom meeting summary failed: {0}")]
    Summary(UpstreamError),
    #[error("updating the Zoom meeting's topic and agenda failed: {0}")]
    UpdateMeeting(UpstreamError),
    /// The invocation's deadline came before the job finished (or left too little to start
    /// it): it is delivered again.
    #[error("the worker's invocation ran out of time before the job finished")]
    OutOfTime,
}

impl JobError {
    pub fn is_retryable(&self) -> bool {
        match self {
            JobError::Secrets(e) => e.is_retryable(),
            JobError::Meeting(e)
            | JobError::Bridge(e)
            | JobError::Note(e)
            | JobError::EndMeeting(e)
            | JobError::Review(e)
            | JobError::Summary(e)
            | JobError::UpdateMeeting(e) => e.is_retryable(),
            JobError::Malformed(_) | JobError::NoHostInTime { .. } => false,
            JobError::Store(_)
            | JobError::Busy(_)
            | JobError::PoolFull(_)
            | JobError::Timer { .. }
            | JobError::OutOfTime => true,
        }
    }
}

impl JobError {
    /// The outside system's answer (or silence) the job failed on, if that is why it failed.
    pub fn upstream(&self) -> Option<&UpstreamError> {
        match self {
            JobError::Meeting(e)
            | JobError::Bridge(e)
            | JobError::Note(e)
            | JobError::EndMeeting(e)
            | JobError::Review(e)
            | JobError::Summary(e)
            | JobError::UpdateMeeting(e) => Some(e),
            _ => None,
        }
    }
}

/// A cause that fails every job alike until a person fixes it: a service refuses the worker's
/// credentials, or cannot be reached at all. The worker says it once, with the fix, rather than
/// once per retry of every job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessProblem {
    CredentialsRefused(Service),
    Unreachable(Service),
}

impl AccessProblem {
    pub fn of(error: &UpstreamError) -> Option<AccessProblem> {
        match error {
            // Zoom answers a token request with wrong client credentials or account 400 or 401.
            UpstreamError::Status {
                service: Service::ZoomOAuth,
                status: 400 | 401 | 403,
                ..
            } => Some(AccessProblem::CredentialsRefused(Service::ZoomOAuth)),
            // A Zoom 403 is about the meeting or an account setting, not the credentials.
            UpstreamError::Status {
                service: Service::Zoom,
                status: 401,
                ..
            } => Some(AccessProblem::CredentialsRefused(Service::Zoom)),
            UpstreamError::Status {
                service: service @ (Service::PagerDuty | Service::IncidentIo | Service::Other(_)),
                status: 401 | 403,
                ..
            } => Some(AccessProblem::CredentialsRefused(*service)),
            UpstreamError::Transport { service, .. } => Some(AccessProblem::Unreachable(*service)),
            _ => None,
        }
    }

    /// What is wrong and what to do about it, for whoever runs the relay.
    pub fn advice(&self) -> String {
        const CHECK: &str =
            "`bridge-relay doctor` checks the credentials and the way to each service";
        match self {
            AccessProblem::CredentialsRefused(Service::ZoomOAuth) => format!(
                "Zoom refused the worker's Server-to-Server OAuth credentials (zoom.account_id, \
                 zoom.client_id, zoom.client_secret in the worker's secret): copy them from the \
                 app's App Credentials page in the Zoom App Marketplace. No meeting can be made \
                 until they are fixed; {CHECK}"
            ),
            AccessProblem::CredentialsRefused(Service::Zoom) => format!(
                "Zoom refused the worker's access token: the Server-to-Server OAuth app lacks a \
                 scope the relay needs (meeting:write:meeting:admin) or is deactivated; add the \
                 scope or activate the app in the Zoom App Marketplace; {CHECK}"
            ),
            AccessProblem::CredentialsRefused(Service::PagerDuty) => format!(
                "PagerDuty refused the worker's REST API key (pagerduty.api_token in the worker's \
                 secret), or the key may not write: create a full-access key under Integrations > \
                 API Access Keys; {CHECK}"
            ),
            AccessProblem::CredentialsRefused(Service::IncidentIo) => format!(
                "incident.io refused the worker's API key (incident_io.api_key in the worker's \
                 secret), or the key may not edit incidents: create one under Settings > API keys \
                 with the incident editor role; {CHECK}"
            ),
            AccessProblem::CredentialsRefused(service) => format!(
                "{service} refused the worker's credentials: fix them in the worker's secret; {CHECK}"
            ),
            AccessProblem::Unreachable(service) => format!(
                "the worker cannot reach {service}: check its network path (DNS, a VPC without a NAT \
                 gateway, a proxy) and the base URL it is configured with (ZOOM_API_BASE, \
                 ZOOM_OAUTH_BASE, PAGERDUTY_API_BASE, INCIDENT_IO_API_BASE); jobs are retried \
                 meanwhile; {CHECK}"
            ),
        }
    }
}

impl JobError {
    /// A short reason for the incident's timeline. The whole error (a secret's ARN, the AWS
    /// SDK's context, table names) goes to the worker's logs only: the timeline is read by
    /// everyone on the incident, and the details help only whoever runs the relay.
    pub fn note_reason(&self) -> String {
        const SEE_LOGS: &str = "see the worker's logs";
        match self {
            JobError::Secrets(_) => format!("the relay could not read its secret; {SEE_LOGS}"),
            JobError::Meeting(e) => {
                format!("creating the Zoom meeting failed: {}", e.note_reason())
            }
            JobError::Bridge(e) => format!(
                "setting the conference bridge on the incident failed: {}",
                e.note_reason()
            ),
            JobError::Note(e) => format!("adding the timeline note failed: {}", e.note_reason()),
            JobError::Malformed(_) => {
                format!("the queued job could not be read; {SEE_LOGS}")
            }
            JobError::Store(_) => {
                format!("the relay could not use its idempotency table; {SEE_LOGS}")
            }
            JobError::Busy(_) => "another worker kept handling this incident".into(),
            JobError::PoolFull(full) => full.to_string(),
            e @ JobError::NoHostInTime { .. } => e.to_string(),
            JobError::EndMeeting(e) => {
                format!("ending the Zoom meeting failed: {}", e.note_reason())
            }
            JobError::Timer { of, .. } => {
                format!("the relay could not schedule {of}; {SEE_LOGS}")
            }
            JobError::Review(e) => format!(
                "creating the post-incident review meeting failed: {}",
                e.note_reason()
            ),
            JobError::Summary(e) => format!(
                "reading the Zoom meeting summary failed: {}",
                e.note_reason()
            ),
            JobError::UpdateMeeting(e) => format!(
                "updating the Zoom meeting's topic failed: {}",
                e.note_reason()
            ),
            JobError::OutOfTime => {
                format!("the worker kept running out of time on this job; {SEE_LOGS}")
            }
        }
    }
}

/// The idempotency store failed, or what it holds says another worker has the incident.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the idempotency store failed: {0}")]
    Unavailable(String),
    #[error("the claim on incident {0} was lost to another worker")]
    ClaimLost(String),
    #[error("the idempotency record of incident {incident_id} is unreadable: {reason}")]
    Corrupt { incident_id: String, reason: String },
}

/// Why no host could take the meeting now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolFull {
    /// Hosts with every meeting slot taken.
    pub busy: Vec<String>,
    /// Hosts with no creates left today.
    pub spent: Vec<String>,
}

impl std::fmt::Display for PoolFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |hosts: &[String]| {
            if hosts.is_empty() {
                "none".to_owned()
            } else {
                hosts.join(", ")
            }
        };
        write!(
            f,
            "every Zoom host is busy or spent for the day (busy: {}; daily limit reached: {})",
            list(&self.busy),
            list(&self.spent)
        )
    }
}

/// The longest reason a parse error gives: serde quotes offending values, and the answer to
/// the sender should say where the body is wrong, not hand its content back.
pub const MAX_REASON_CHARS: usize = 200;

/// `reason` cut to [`MAX_REASON_CHARS`] (on a char boundary), marked with `…` when cut.
pub fn bounded_reason(reason: String) -> String {
    if reason.chars().count() <= MAX_REASON_CHARS {
        return reason;
    }
    let mut cut: String = reason.chars().take(MAX_REASON_CHARS).collect();
    cut.push('…');
    cut
}
