//! The worker's parts, below the steps that use them: the `Worker` with its ports and settings,
//! what a delivery is and how it settles, and the host pool's settings. The steps themselves
//! (`relay` for the bridge, `hostpool` for placing the meeting, `lifecycle` for what follows) are
//! `impl Worker` blocks in their own files, each importing this module and none the others.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_relay_domain::error::{JobError, UpstreamError};
use bridge_relay_domain::model::{IncidentToolKind, Job};
use bridge_relay_ports::incident_tool::{IncidentTool, IncidentToolError};
use bridge_relay_ports::meetings::{MeetingError, MeetingProvider};
use bridge_relay_ports::queue::JobQueue;
use bridge_relay_ports::retry::RetryPolicy;
use bridge_relay_ports::store::{HostSlot, IdempotencyStore, Stage};

pub const DEFAULT_MEETINGS_PER_HOST: u32 = 1;
/// Zoom's limit: 100 meeting creates and updates per host and day.
pub const DEFAULT_CREATES_PER_DAY: u32 = 100;
pub const DEFAULT_SLOT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The hosts and their limits (`ZOOM_HOST_USERS`, `ZOOM_HOST_MAX_MEETINGS`,
/// `ZOOM_HOST_DAILY_CREATES`, `ZOOM_HOST_SLOT_MAX_AGE_MINUTES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPool {
    /// In the order they are tried; never empty.
    pub hosts: Vec<String>,
    /// Meetings one host may hold at once.
    pub meetings_per_host: u32,
    /// Meeting creates one host may make per UTC day.
    pub creates_per_day: u32,
    /// After this long a slot counts as free even if nobody freed it.
    pub slot_max_age: Duration,
}

impl HostPool {
    pub fn new(hosts: Vec<String>) -> Self {
        HostPool {
            hosts,
            meetings_per_host: DEFAULT_MEETINGS_PER_HOST,
            creates_per_day: DEFAULT_CREATES_PER_DAY,
            slot_max_age: DEFAULT_SLOT_MAX_AGE,
        }
    }

    /// The first host tried, the default host of meetings the pool does not place (reviews).
    pub fn first_host(&self) -> String {
        self.hosts.first().cloned().unwrap_or_default()
    }

    /// The hosts a job may use: the one the policy pins, else the pool.
    pub fn candidates<'a>(&'a self, pinned: Option<&'a str>) -> Vec<&'a str> {
        match pinned {
            Some(host) => vec![host],
            None => self.hosts.iter().map(String::as_str).collect(),
        }
    }
}

/// What a finished job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobReport {
    /// The bridge and note are on the incident (now or by an earlier delivery).
    Bridged {
        incident_id: String,
        meeting_id: u64,
        /// When the bridge and its note were on the incident (ms since the Unix epoch): the
        /// time to bridge ends here, not after what the job does next (host controls).
        bridged_at_ms: u64,
    },
    /// An earlier delivery finished the work.
    AlreadyDone { incident_id: String },
    /// A person had set a bridge already, and the relay is told not to overwrite it.
    KeptExistingBridge { incident_id: String },
    /// A lifecycle job (Zoom event, resolve, reopen, end) did what `summary` says.
    Lifecycle {
        incident_id: String,
        summary: String,
    },
}

/// How long a claim outlives the delivery's deadline: the Lambda entry keeps 5 s between that
/// deadline and the function's timeout, when Lambda stops it, and a claim must not expire while
/// its holder may still be at work. Lambda hosts' clocks agree to well under a second.
pub const CLAIM_PAST_DEADLINE: Duration = Duration::from_secs(10);

/// How the worker behaves: what `config` reads from the environment, the same for the Lambda,
/// the local runner and the tests. Every meeting is placed on a host of `host_pool`.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub retry: RetryPolicy,
    pub overwrite_existing_bridge: bool,
    /// The queue's `maxReceiveCount`: the delivery after which a job is dead-lettered.
    pub max_receives: u32,
    /// The Zoom hosts and their limits.
    pub host_pool: HostPool,
    /// When a failed delivery comes back, by its receive (the last for every later one).
    pub redelivery_backoff: Vec<Duration>,
}

/// 10 s, 30 s, then every 60 s: a short outage costs seconds, not the queue's visibility
/// timeout, and the incident's other jobs wait no longer than that.
pub const DEFAULT_REDELIVERY_BACKOFF: [Duration; 3] = [
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(60),
];

impl WorkerSettings {
    /// The defaults of the template's worker, over `host_pool`.
    pub fn new(host_pool: HostPool) -> Self {
        WorkerSettings {
            retry: RetryPolicy::default(),
            overwrite_existing_bridge: false,
            max_receives: 5,
            host_pool,
            redelivery_backoff: DEFAULT_REDELIVERY_BACKOFF.to_vec(),
        }
    }
}

/// How long a claim taken now holds for a delivery that must answer by `deadline`: until the
/// invocation can no longer be running, so a redelivery never takes over from a live holder,
/// and a crashed holder's claim lapses soon after.
pub(crate) fn claim_lease(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .saturating_add(CLAIM_PAST_DEADLINE)
}

/// One delivery of a job.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// 1 for the first delivery (SQS's `ApproximateReceiveCount`).
    pub receive_count: u32,
    /// When this invocation must have answered; retries stop before it.
    pub deadline: Instant,
}

/// What the queue should do with a delivered job.
#[derive(Debug)]
pub enum Settled {
    /// Finished: delete the message.
    Done(JobReport),
    /// Failed for good and handed to the dead-letter queue already: delete the message.
    DeadLettered(JobError, FailureNote),
    /// Failed, to be delivered again later.
    Retry(JobError),
    /// Failed on its last receive: SQS moves it to the dead-letter queue.
    LastDelivery(JobError, FailureNote),
    /// Waits for a free Zoom host: a fresh copy is in the job queue already (so the wait does
    /// not use up the receives): delete the message.
    Requeued(JobError),
}

/// Whether the incident was told why its job was given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureNote {
    Posted,
    /// The incident tool refused or could not be reached (the worker's log says why).
    NotPosted,
    /// None was owed, for the reason given.
    NotNeeded(&'static str),
}

/// The worker: one Zoom meeting per incident, then the bridge, then the note, resuming from the
/// idempotency record whatever an earlier delivery finished.
pub struct Worker {
    pub(crate) meetings: Arc<dyn MeetingProvider>,
    /// The incident tools by kind; a job goes to the one it names.
    pub(crate) tools: HashMap<IncidentToolKind, Arc<dyn IncidentTool>>,
    pub(crate) store: Arc<dyn IdempotencyStore>,
    pub(crate) dead_letters: Arc<dyn JobQueue>,
    pub(crate) settings: WorkerSettings,
    /// The job queue itself, for jobs that wait for a free host past their receives.
    pub(crate) requeue: Option<Arc<dyn JobQueue>>,
    /// Where grace timers wait (see [`bridge_relay_ports::queue::TimerQueue`]).
    pub(crate) timer: Option<Arc<dyn bridge_relay_ports::queue::TimerQueue>>,
    /// Hands a failed delivery back sooner than its visibility timeout.
    pub(crate) redelivery: Option<Arc<dyn bridge_relay_ports::queue::Redelivery>>,
}

impl Worker {
    pub fn new(
        meetings: Arc<dyn MeetingProvider>,
        incidents: Arc<dyn IncidentTool>,
        store: Arc<dyn IdempotencyStore>,
        dead_letters: Arc<dyn JobQueue>,
        settings: WorkerSettings,
    ) -> Self {
        Worker {
            meetings,
            tools: HashMap::from([(IncidentToolKind::PAGERDUTY, incidents)]),
            store,
            dead_letters,
            settings,
            requeue: None,
            timer: None,
            redelivery: None,
        }
    }

    /// Adds (or replaces) the incident tool that jobs of `kind` are posted to.
    pub fn with_incident_tool(
        mut self,
        kind: IncidentToolKind,
        tool: Arc<dyn IncidentTool>,
    ) -> Self {
        self.tools.insert(kind, tool);
        self
    }

    /// The tool a job is for; a job for a tool this worker was not given fails for good.
    pub(crate) fn tool_for(&self, job: &Job) -> Result<&dyn IncidentTool, JobError> {
        self.tools.get(&job.tool).map(Arc::as_ref).ok_or_else(|| {
            JobError::Malformed(format!(
                "the job is for {}, which this worker has no adapter for",
                job.tool
            ))
        })
    }

    /// Jobs that find every Zoom host busy on their last receive go back to `jobs` (the job
    /// queue) as fresh messages instead of the dead-letter queue.
    pub fn with_requeue(mut self, jobs: Arc<dyn JobQueue>) -> Self {
        self.requeue = Some(jobs);
        self
    }

    /// The queue that holds grace timers (ending a meeting after a resolve).
    pub fn with_timer(mut self, timer: Arc<dyn bridge_relay_ports::queue::TimerQueue>) -> Self {
        self.timer = Some(timer);
        self
    }

    /// Failed deliveries come back after [`WorkerSettings::redelivery_backoff`] instead of
    /// the queue's visibility timeout.
    pub fn with_redelivery(
        mut self,
        redelivery: Arc<dyn bridge_relay_ports::queue::Redelivery>,
    ) -> Self {
        self.redelivery = Some(redelivery);
        self
    }

    /// Asks the queue to deliver a failed job again after the backoff of its receive, when
    /// this worker was given a [`Redelivery`](bridge_relay_ports::queue::Redelivery); without
    /// one, or if the queue refuses, its visibility timeout brings it back.
    pub async fn redeliver_soon(&self, queue_name: &str, receipt: &str, receive_count: u32) {
        let Some(redelivery) = &self.redelivery else {
            return;
        };
        let backoff = &self.settings.redelivery_backoff;
        let nth = usize::try_from(receive_count.saturating_sub(1)).unwrap_or(usize::MAX);
        let Some(after) = backoff.get(nth).or(backoff.last()).copied() else {
            return;
        };
        if let Err(e) = redelivery.redeliver_after(queue_name, receipt, after).await {
            tracing::warn!(queue = queue_name, error = %e, "could not shorten the failed job's visibility; it comes back at its visibility timeout");
        }
    }
}

/// What a claim recorded for the create in its own write (see [`Worker::claim_for`]).
#[derive(Debug)]
pub(crate) enum Prepared {
    Nothing,
    /// Stage `Creating`, this host slot taken and named on the record, the day's create counted.
    Host(HostSlot),
}

/// How far the incident's create got before a create call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreateFrom {
    /// Nothing sent: `Creating` is recorded first, then the create is sent.
    Claimed,
    /// `Creating` is recorded already (by this attempt) and nothing was sent yet.
    Recorded,
    /// An earlier attempt may have sent the create: its meeting is looked for first.
    MaybeSent,
}

impl CreateFrom {
    pub(crate) fn of(stage: Stage) -> Self {
        match stage {
            Stage::Claimed => CreateFrom::Claimed,
            Stage::Creating => CreateFrom::MaybeSent,
            Stage::MeetingCreated | Stage::BridgeSet | Stage::Done => CreateFrom::Recorded,
        }
    }
}

/// A create that failed, and whether the meeting may exist all the same (an answer lost).
#[derive(Debug)]
pub(crate) struct CreateFailed {
    pub error: JobError,
    pub maybe_created: bool,
}

/// A meeting port's error as the job's; `step` names what the call was for (creating the
/// meeting, the review, reading the summary).
pub(crate) fn meeting_error(e: MeetingError, step: fn(UpstreamError) -> JobError) -> JobError {
    match e {
        MeetingError::Secrets(e) => JobError::Secrets(e),
        MeetingError::Upstream(e) => step(e),
    }
}

/// An incident tool port's error as the job's; `step` names what the call was for (setting
/// the bridge, posting a note).
pub(crate) fn tool_error(e: IncidentToolError, step: fn(UpstreamError) -> JobError) -> JobError {
    match e {
        IncidentToolError::Secrets(e) => JobError::Secrets(e),
        IncidentToolError::Upstream(e) => step(e),
    }
}
