//! The relay's own data: what it knows of an incident, the job it queues, the meeting and bridge.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::after_call::{AfterCall, ArtifactChoice, ArtifactEvent};

/// An incident tool's event, verified and read by that tool's adapter: what the policy decides
/// on, in the relay's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentEvent {
    pub tool: IncidentToolKind,
    /// The sender's id of the event.
    pub id: String,
    /// The sender's name of the event (`incident.triggered`, `public_incident.incident_created_v2`).
    pub event_type: String,
    /// The incident, as complete as the payload allows; `None` for events about something else.
    pub incident: Option<Incident>,
    /// The tool withholds the incident's details (an incident.io private incident).
    pub private: bool,
}

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
    pub service_id: Option<String>,
    /// The incident's teams (id and name), for team rules of the policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<TeamRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// The bridge the incident already had when the webhook was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conference_bridge: Option<Bridge>,
    /// The severity name, for tools that grade incidents by severity (incident.io: `SEV1`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// The status name, for tools whose webhooks carry one (incident.io: `Investigating`, …;
    /// PagerDuty: `triggered`, `acknowledged`, `resolved`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Who is responding (PagerDuty: the assignees; incident.io: the role assignees, lead
    /// first), at most [`crate::hosts::MAX_RESPONDERS`]: who the meeting's host controls go to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responders: Vec<Responder>,
    /// The event carried a reference to the incident, not the incident: its title is the
    /// reference's summary, its priority and assignees are unknown, so the meeting's topic is
    /// not rendered from it and nobody's host controls are taken away by it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reference_only: bool,
}

/// One responder of an incident, as the incident tool names them: by user id (PagerDuty, whose
/// e-mail is looked up), or by e-mail (incident.io).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Responder {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Responder {
    /// How the responder is named in a note: their name, else their e-mail, else their id.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .or(self.email.as_deref())
            .or(self.id.as_deref())
            .unwrap_or("a responder")
    }
}

impl Incident {
    pub fn new(id: impl Into<String>) -> Self {
        Incident {
            id: id.into(),
            number: None,
            title: None,
            html_url: None,
            service: None,
            service_id: None,
            teams: Vec::new(),
            urgency: None,
            priority: None,
            conference_bridge: None,
            severity: None,
            status: None,
            responders: Vec::new(),
            reference_only: false,
        }
    }
}

/// The incident tool an incident lives in, by the name its adapter gives it (`pagerduty`,
/// `incident_io`, …). Open: a new tool's adapter names its own kind
/// ([`IncidentToolKind::named`]), and nothing here needs to learn of it. A job names its tool;
/// old queue messages, written before there was a choice, are PagerDuty's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncidentToolKind(Cow<'static, str>);

impl IncidentToolKind {
    pub const PAGERDUTY: IncidentToolKind = IncidentToolKind::named("pagerduty");
    pub const INCIDENT_IO: IncidentToolKind = IncidentToolKind::named("incident_io");

    /// The tool called `name`: lowercase ASCII letters, digits and `_` (it prefixes the keys of
    /// the tool's incidents, `<name>:<id>`).
    pub const fn named(name: &'static str) -> Self {
        IncidentToolKind(Cow::Borrowed(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn is_default(&self) -> bool {
        *self == IncidentToolKind::PAGERDUTY
    }

    /// The tool's name as people know it, for agendas and notes.
    pub fn display_name(&self) -> &str {
        match self.as_str() {
            "pagerduty" => "PagerDuty",
            "incident_io" => "incident.io",
            other => other,
        }
    }

    /// The key of this tool's incident `id`: PagerDuty's bare id (as the relay has always kept
    /// them), `<tool>:<id>` for the others.
    pub fn key(&self, id: &str) -> String {
        if self.is_default() {
            id.to_owned()
        } else {
            format!("{}:{id}", self.as_str())
        }
    }

    /// The tool and the incident's own id from an incident key ([`Job::incident_key`]).
    /// PagerDuty's ids are upper-case letters and digits, so a key with a tool-name prefix is
    /// never one of them.
    pub fn split_key(key: &str) -> (IncidentToolKind, String) {
        match key.split_once(':') {
            Some((tool, id)) if is_tool_name(tool) && !id.is_empty() => {
                (IncidentToolKind(Cow::Owned(tool.to_owned())), id.to_owned())
            }
            _ => (IncidentToolKind::PAGERDUTY, key.to_owned()),
        }
    }
}

impl Default for IncidentToolKind {
    fn default() -> Self {
        IncidentToolKind::PAGERDUTY
    }
}

/// The longest incident id the relay takes from a sender. PagerDuty's are about 14 characters,
/// incident.io's 26 and the UUIDs of other tools 36. The id stands in the store's keys
/// (DynamoDB allows 2048 bytes) and, keyed `<tool>:<id>`, twice in a review agenda's first line,
/// which must fit in the 250 characters of an agenda Zoom's meeting list shows: that line is
/// what a lost meeting is found by.
pub const MAX_INCIDENT_ID_BYTES: usize = 64;

/// Why `id` cannot be an incident's id, if it cannot: empty, longer than
/// [`MAX_INCIDENT_ID_BYTES`], or with a byte other than visible ASCII. A space or a line break
/// would let the id pass for another marker in the agenda line a lost meeting is found by.
pub fn incident_id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        Some("the incident id is empty".to_owned())
    } else if id.len() > MAX_INCIDENT_ID_BYTES {
        Some(format!(
            "the incident id is {} bytes long; the relay takes at most {MAX_INCIDENT_ID_BYTES}",
            id.len()
        ))
    } else if !id.bytes().all(|b| b.is_ascii_graphic()) {
        Some("the incident id has a character other than visible ASCII".to_owned())
    } else {
        None
    }
}

/// Whether `name` may name a tool: it stands in keys and queued jobs.
pub fn is_tool_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Serialize for IncidentToolKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IncidentToolKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if !is_tool_name(&name) {
            return Err(serde::de::Error::custom(
                "an incident tool's name is 1 to 32 lowercase letters, digits and _",
            ));
        }
        Ok(match name.as_str() {
            "pagerduty" => IncidentToolKind::PAGERDUTY,
            "incident_io" => IncidentToolKind::INCIDENT_IO,
            _ => IncidentToolKind(Cow::Owned(name)),
        })
    }
}

impl std::fmt::Display for IncidentToolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An incident as the relay names it wherever it keeps or finds one: the idempotency store's
/// items, the host slot it holds, the meeting index, the queue's message group, the meeting's
/// agenda marker. The tool and the tool's id in one value (`<tool>:<id>`, PagerDuty's bare id),
/// so a tool's own id cannot stand where the key belongs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentKey(String);

impl IncidentKey {
    pub fn new(tool: &IncidentToolKind, id: &str) -> Self {
        IncidentKey(tool.key(id))
    }

    /// A key as the relay wrote it (in the store, the meeting index, an agenda marker).
    pub fn from_stored(key: impl Into<String>) -> Self {
        IncidentKey(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The tool and the tool's own id.
    pub fn split(&self) -> (IncidentToolKind, String) {
        IncidentToolKind::split_key(&self.0)
    }
}

impl PartialEq<str> for IncidentKey {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for IncidentKey {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for IncidentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One accepted request and what it asks of the worker; the body of a queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "JobMessage", into = "JobMessage")]
pub struct Job {
    /// `X-Webhook-Id`, or the event id when the sender gave none: the queue's dedup key.
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub incident: Incident,
    /// Who asked for the bridge (the user who clicked a button), for the note.
    pub requested_by: Option<String>,
    /// How the meeting looks, as the policy decided when the job was accepted.
    pub meeting: MeetingOptions,
    /// When the ingress received the webhook (ms since the Unix epoch), for the time to bridge.
    pub received_at_ms: Option<u64>,
    /// Why the job was dead-lettered, on messages in the dead-letter queue.
    pub failure: Option<String>,
    /// The incident tool the incident lives in.
    pub tool: IncidentToolKind,
    /// What to do, with what that needs.
    pub action: JobAction,
    /// The job was queued again with fresh retries because its earlier deliveries went to
    /// waiting for a host; it gets that once.
    pub requeued_after_waiting: bool,
}

/// What a job asks the worker to do, with what that needs: an action's data cannot be
/// missing, nor come with another action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum JobAction {
    /// Open the incident's bridge.
    #[default]
    Bridge,
    /// Record a Zoom meeting event and put it on the timeline.
    ZoomEvent(MeetingEvent),
    /// Put one of Zoom's after-call artifacts (summary, recording, transcript) on the timeline.
    ZoomArtifact(ArtifactEvent),
    /// The incident was resolved: keep or (after the grace period) end its meeting.
    Resolved,
    /// The incident was reopened: a pending end is cancelled.
    Reopened,
    /// The grace period of a resolution is over: end the meeting if still resolved.
    EndMeeting(EndTimer),
    /// The incident changed (reassigned, escalated, re-prioritised, retitled): the meeting's
    /// topic and agenda follow it.
    Follow,
    /// A health check of the bridge is due (roll call, someone waiting, alone or empty call):
    /// judged from the recorded call when it fires.
    CheckHealth(HealthTimer),
}

impl JobAction {
    pub fn is_bridge(&self) -> bool {
        *self == JobAction::Bridge
    }

    /// What a timer job of this action does when it fires, for the words of a failure.
    pub fn timer_of(&self) -> &'static str {
        match self {
            JobAction::EndMeeting(_) => "the end of the Zoom meeting",
            JobAction::CheckHealth(_) => "the bridge's health check",
            _ => "a timer job",
        }
    }

    pub fn as_str(&self) -> &'static str {
        self.name().as_str()
    }

    fn name(&self) -> ActionName {
        match self {
            JobAction::Bridge => ActionName::Bridge,
            JobAction::ZoomEvent(_) => ActionName::ZoomEvent,
            JobAction::ZoomArtifact(_) => ActionName::ZoomArtifact,
            JobAction::Resolved => ActionName::Resolved,
            JobAction::Reopened => ActionName::Reopened,
            JobAction::EndMeeting(_) => ActionName::EndMeeting,
            JobAction::Follow => ActionName::Follow,
            JobAction::CheckHealth(_) => ActionName::CheckHealth,
        }
    }
}

/// An action's name in a queue message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ActionName {
    #[default]
    Bridge,
    ZoomEvent,
    ZoomArtifact,
    Resolved,
    Reopened,
    EndMeeting,
    Follow,
    CheckHealth,
}

impl ActionName {
    fn as_str(self) -> &'static str {
        match self {
            ActionName::Bridge => "bridge",
            ActionName::ZoomEvent => "zoom_event",
            ActionName::ZoomArtifact => "zoom_artifact",
            ActionName::Resolved => "resolved",
            ActionName::Reopened => "reopened",
            ActionName::EndMeeting => "end_meeting",
            ActionName::Follow => "follow",
            ActionName::CheckHealth => "check_health",
        }
    }

    fn is_bridge(&self) -> bool {
        *self == ActionName::Bridge
    }
}

/// A job as a queue message holds it (a wire format: read tolerantly, since a newer ingress may
/// add a field an older worker does not know): the action's name, and its data beside it.
#[derive(Serialize, Deserialize)]
struct JobMessage {
    webhook_id: String,
    event_id: String,
    event_type: String,
    incident: Incident,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requested_by: Option<String>,
    #[serde(default, skip_serializing_if = "MeetingOptions::is_empty")]
    meeting: MeetingOptions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    received_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure: Option<String>,
    /// Old messages, written before there was a choice, are PagerDuty's.
    #[serde(default, skip_serializing_if = "IncidentToolKind::is_default")]
    tool: IncidentToolKind,
    /// Messages without it open the bridge.
    #[serde(default, skip_serializing_if = "ActionName::is_bridge")]
    action: ActionName,
    /// The Zoom meeting event of a `zoom_event` job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zoom_event: Option<MeetingEvent>,
    /// Zoom's after-call artifact of a `zoom_artifact` job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact: Option<ArtifactEvent>,
    /// When an `end_meeting` job is due, and which resolution it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timer: Option<EndTimer>,
    /// When a `check_health` job is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    health_timer: Option<HealthTimer>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    requeued_after_waiting: bool,
}

impl TryFrom<JobMessage> for Job {
    type Error = String;

    fn try_from(message: JobMessage) -> Result<Job, String> {
        let missing = |what: &str| format!("a {} job without its {what}", message.action.as_str());
        let action = match message.action {
            ActionName::Bridge => JobAction::Bridge,
            ActionName::ZoomEvent => {
                JobAction::ZoomEvent(message.zoom_event.ok_or_else(|| missing("event"))?)
            }
            ActionName::ZoomArtifact => {
                JobAction::ZoomArtifact(message.artifact.ok_or_else(|| missing("artifact"))?)
            }
            ActionName::Resolved => JobAction::Resolved,
            ActionName::Reopened => JobAction::Reopened,
            ActionName::EndMeeting => {
                JobAction::EndMeeting(message.timer.ok_or_else(|| missing("timer"))?)
            }
            ActionName::Follow => JobAction::Follow,
            ActionName::CheckHealth => JobAction::CheckHealth(
                message
                    .health_timer
                    .ok_or_else(|| missing("health timer"))?,
            ),
        };
        Ok(Job {
            webhook_id: message.webhook_id,
            event_id: message.event_id,
            event_type: message.event_type,
            incident: message.incident,
            requested_by: message.requested_by,
            meeting: message.meeting,
            received_at_ms: message.received_at_ms,
            failure: message.failure,
            tool: message.tool,
            action,
            requeued_after_waiting: message.requeued_after_waiting,
        })
    }
}

impl From<Job> for JobMessage {
    fn from(job: Job) -> JobMessage {
        let name = job.action.name();
        let (zoom_event, artifact, timer, health_timer) = match job.action {
            JobAction::ZoomEvent(event) => (Some(event), None, None, None),
            JobAction::ZoomArtifact(artifact) => (None, Some(artifact), None, None),
            JobAction::EndMeeting(timer) => (None, None, Some(timer), None),
            JobAction::CheckHealth(health) => (None, None, None, Some(health)),
            JobAction::Bridge | JobAction::Resolved | JobAction::Reopened | JobAction::Follow => {
                (None, None, None, None)
            }
        };
        JobMessage {
            webhook_id: job.webhook_id,
            event_id: job.event_id,
            event_type: job.event_type,
            incident: job.incident,
            requested_by: job.requested_by,
            meeting: job.meeting,
            received_at_ms: job.received_at_ms,
            failure: job.failure,
            tool: job.tool,
            action: name,
            zoom_event,
            artifact,
            timer,
            health_timer,
            requeued_after_waiting: job.requeued_after_waiting,
        }
    }
}

/// The grace timer of an `end_meeting` job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndTimer {
    /// When the meeting may be ended (ms since the Unix epoch).
    pub due_at_ms: u64,
    /// The resolution this end belongs to; a reopen (or a later resolve) moves it on.
    pub generation: u64,
}

/// The timer of a `check_health` job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthTimer {
    /// When the first of the bridge's pending checks is due (ms since the Unix epoch).
    pub due_at_ms: u64,
}

/// The longest grace period before a resolved incident's meeting ends (a day).
pub const MAX_END_GRACE_SECONDS: u32 = 86_400;

/// What happens to an incident's meeting when the incident resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnResolve {
    /// The meeting stays open; only the closing note is posted.
    Keep,
    /// The meeting is ended once the incident has stayed resolved for the grace period.
    End,
}

impl Job {
    pub fn from_json(body: &str) -> Result<Job, crate::error::JobError> {
        serde_json::from_str(body).map_err(|e| crate::error::JobError::Malformed(e.to_string()))
    }

    #[allow(
        clippy::expect_used,
        reason = "a job is strings, numbers and maps with string keys, which JSON always takes"
    )]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a job always serializes")
    }

    /// The key of the incident in the idempotency store and the queue's message group:
    /// PagerDuty's bare id, `<tool>:<id>` for other tools, so equal ids of two tools never meet.
    pub fn incident_key(&self) -> IncidentKey {
        IncidentKey::new(&self.tool, &self.incident.id)
    }

    /// Whether this follow job may be left out for `next`, the incident's job queued right
    /// after it: both follow the same incident, and `next` carries the whole incident (not a
    /// reference), so it renders what this one would, newer. A burst of changes then sends
    /// one update.
    pub fn is_superseded_by(&self, next: &Job) -> bool {
        self.action == JobAction::Follow
            && next.action == JobAction::Follow
            && !next.incident.reference_only
            && self.incident_key() == next.incident_key()
    }

    /// `next` with this (superseded) job's responders too, after its own, where the policy
    /// keeps every responder the incident has had as a host: coalescing loses nobody.
    pub fn coalesce_into(self, mut next: Job) -> Job {
        if next.meeting.hosts.unwrap_or_default() == MeetingHosts::Accumulate {
            for responder in self.incident.responders {
                if next.incident.responders.len() >= crate::hosts::MAX_RESPONDERS {
                    break;
                }
                if !next.incident.responders.contains(&responder) {
                    next.incident.responders.push(responder);
                }
            }
        }
        next
    }

    /// The incident with its key for an id: what a meeting request is made from, so the
    /// agenda marker a lost meeting is found by carries the key the lookup uses.
    pub fn keyed_incident(&self) -> Incident {
        Incident {
            id: self.incident_key().into_string(),
            ..self.incident.clone()
        }
    }
}

/// A team an incident belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamRef {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Zoom's `settings.auto_recording`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoRecording {
    None,
    Local,
    Cloud,
}

impl AutoRecording {
    pub fn as_str(self) -> &'static str {
        match self {
            AutoRecording::None => "none",
            AutoRecording::Local => "local",
            AutoRecording::Cloud => "cloud",
        }
    }
}

/// What a meeting looks like, from the policy; every field unset means the relay's default.
/// Read tolerantly, as part of a queued job (a wire format: a newer ingress may add a field an
/// older worker does not know); the policy reads it strictly (`policy::StrictMeetingOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingOptions {
    /// The Zoom user who hosts the meeting instead of `ZOOM_HOST_USER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_user: Option<String>,
    /// Topic template, e.g. `[{priority}] #{number} {title}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Agenda template; the relay keeps its own first line (it finds lost meetings by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agenda: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_recording: Option<AutoRecording>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_room: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_before_host: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mute_upon_entry: Option<bool>,
    /// Only signed-in Zoom users may join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_authentication: Option<bool>,
    /// Countries (ISO codes such as `US`, `GB`) whose dial-in numbers come first; the first
    /// one that Zoom lists becomes the one-touch number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dial_in_countries: Option<Vec<String>>,
    /// What happens to the meeting when the incident resolves (default: keep it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_resolve: Option<OnResolve>,
    /// How long the incident must stay resolved before its meeting is ended (`on_resolve: end`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_grace_seconds: Option<u32>,
    /// Schedule a post-incident review meeting this long after the incident resolves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_after_minutes: Option<u32>,
    /// How long a bridge waits for a free Zoom host before the relay gives up with a note
    /// (default [`DEFAULT_HOST_WAIT_SECONDS`]): a bridge opened hours late helps nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_wait_seconds: Option<u32>,
    /// Which of Zoom's after-call artifacts go on the incident's timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_call: Option<AfterCall>,
    /// The incident is sensitive: no after-call artifacts unless `after_call.include_sensitive`.
    /// incident.io's private incidents are marked so by the ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<bool>,
    /// Which responders get host controls of the meeting (default: every responder the
    /// incident has had, [`MeetingHosts::Accumulate`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<MeetingHosts>,
    /// The bridge's health checks (roll call, someone waiting, alone or empty call, a meeting
    /// that ended while its incident is open): `false` turns them off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::HealthPolicy>,
}

pub use crate::hosts::MeetingHosts;

/// How long a bridge waits for a free host when the policy does not say: two hours.
pub const DEFAULT_HOST_WAIT_SECONDS: u32 = 2 * 3600;
/// The longest wait for a host a policy may ask for: a week.
pub const MAX_HOST_WAIT_SECONDS: u32 = 7 * 24 * 3600;

impl MeetingOptions {
    /// How long the bridge waits for a free Zoom host.
    pub fn host_wait(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(
            self.host_wait_seconds.unwrap_or(DEFAULT_HOST_WAIT_SECONDS),
        ))
    }

    pub fn is_empty(&self) -> bool {
        *self == MeetingOptions::default()
    }

    /// `self` with every field `over` sets replaced by it.
    pub fn overlaid_with(&self, over: &MeetingOptions) -> MeetingOptions {
        MeetingOptions {
            host_user: over.host_user.clone().or_else(|| self.host_user.clone()),
            topic: over.topic.clone().or_else(|| self.topic.clone()),
            agenda: over.agenda.clone().or_else(|| self.agenda.clone()),
            auto_recording: over.auto_recording.or(self.auto_recording),
            waiting_room: over.waiting_room.or(self.waiting_room),
            join_before_host: over.join_before_host.or(self.join_before_host),
            mute_upon_entry: over.mute_upon_entry.or(self.mute_upon_entry),
            meeting_authentication: over.meeting_authentication.or(self.meeting_authentication),
            dial_in_countries: over
                .dial_in_countries
                .clone()
                .or_else(|| self.dial_in_countries.clone()),
            on_resolve: over.on_resolve.or(self.on_resolve),
            end_grace_seconds: over.end_grace_seconds.or(self.end_grace_seconds),
            review_after_minutes: over.review_after_minutes.or(self.review_after_minutes),
            host_wait_seconds: over.host_wait_seconds.or(self.host_wait_seconds),
            after_call: match (self.after_call, over.after_call) {
                (Some(base), Some(over)) => Some(base.overlaid_with(&over)),
                (base, over) => over.or(base),
            },
            sensitive: over.sensitive.or(self.sensitive),
            hosts: over.hosts.or(self.hosts),
            health: match (self.health, over.health) {
                (Some(base), Some(over)) => Some(base.overlaid_with(&over)),
                (base, over) => over.or(base),
            },
        }
    }

    /// Which after-call artifacts the incident gets.
    pub fn artifact_choice(&self) -> ArtifactChoice {
        self.after_call
            .unwrap_or_default()
            .choice(self.sensitive.unwrap_or(false))
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

/// What happened in a meeting, as the worker records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingEventKind {
    Started,
    Ended,
    ParticipantJoined,
    ParticipantLeft,
    /// Someone waits for a host to start the meeting (join-before-host off).
    WaitingForHost,
    /// They stopped waiting for a host: gave up, or the meeting started.
    StoppedWaitingForHost,
    /// Someone is in the waiting room (joined it, or was put there).
    InWaitingRoom,
    /// They left the waiting room: admitted, or gave up.
    LeftWaitingRoom,
}

impl MeetingEventKind {
    /// The event's name as Zoom sends it; a job of this event carries it as its event type.
    pub fn event_type(&self) -> &'static str {
        match self {
            MeetingEventKind::Started => "meeting.started",
            MeetingEventKind::Ended => "meeting.ended",
            MeetingEventKind::ParticipantJoined => "meeting.participant_joined",
            MeetingEventKind::ParticipantLeft => "meeting.participant_left",
            MeetingEventKind::WaitingForHost => "meeting.participant_jbh_waiting",
            MeetingEventKind::StoppedWaitingForHost => "meeting.participant_jbh_waiting_left",
            MeetingEventKind::InWaitingRoom => "meeting.participant_joined_waiting_room",
            MeetingEventKind::LeftWaitingRoom => "meeting.participant_left_waiting_room",
        }
    }

    /// Whether the event is about one participant (it names them).
    pub fn is_participant(&self) -> bool {
        !matches!(self, MeetingEventKind::Started | MeetingEventKind::Ended)
    }
}

/// One meeting event, small enough to travel in a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingEvent {
    pub kind: MeetingEventKind,
    pub meeting_id: u64,
    /// When it happened (ms since the Unix epoch): the event's own time where Zoom gives one
    /// (`join_time`, `leave_time`, `start_time`, `end_time`), else `event_ts`.
    pub at_ms: u64,
    /// The participant's display name, for join and leave events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
    /// Zoom's participant id (or user id), to tell two people of the same name apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
    /// The participant's email, when Zoom gives one (signed-in users); the review's invitees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_email: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_that_cannot_be_queued_is_named_for_what_it_does() {
        let failed = |action: JobAction| crate::error::JobError::Timer {
            of: action.timer_of(),
            reason: "the local worker has stopped".into(),
        };
        let health = failed(JobAction::CheckHealth(HealthTimer { due_at_ms: 1 }));
        assert_eq!(
            health.to_string(),
            "scheduling the bridge's health check failed: the local worker has stopped"
        );
        assert_eq!(
            health.note_reason(),
            "the relay could not schedule the bridge's health check; see the worker's logs"
        );
        let end = failed(JobAction::EndMeeting(EndTimer {
            due_at_ms: 1,
            generation: 1,
        }));
        assert!(
            end.to_string()
                .starts_with("scheduling the end of the Zoom meeting failed")
        );
    }

    #[test]
    fn a_job_with_fields_this_worker_does_not_know_is_still_read() {
        // Written by a newer ingress (a wire format): the fields it adds are skipped.
        let newer = r#"{"webhook_id":"w","event_id":"e","event_type":"incident.resolved",
            "incident":{"id":"P1","severity":"SEV1"},"priority_hint":3,"action":"end_meeting",
            "meeting":{"waiting_room":true,"breakout_rooms":true},
            "timer":{"due_at_ms":1,"generation":2,"jitter_ms":5}}"#;
        let job = Job::from_json(newer).unwrap();
        assert_eq!(job.incident.id, "P1");
        assert_eq!(job.meeting.waiting_room, Some(true));
        assert_eq!(
            job.action,
            JobAction::EndMeeting(EndTimer {
                due_at_ms: 1,
                generation: 2
            })
        );
    }

    #[test]
    fn an_action_without_its_data_is_refused_when_read_and_written_as_before() {
        for (action, needs) in [
            ("zoom_event", "event"),
            ("zoom_artifact", "artifact"),
            ("end_meeting", "timer"),
            ("check_health", "health timer"),
        ] {
            let text = format!(
                r#"{{"webhook_id":"w","event_id":"e","event_type":"t","incident":{{"id":"P1"}},"action":"{action}"}}"#
            );
            let err = Job::from_json(&text).unwrap_err().to_string();
            assert!(
                err.contains(&format!("a {action} job without its {needs}")),
                "{err}"
            );
        }
        // The wire format is the one older workers read: the action's name, its data beside it.
        let text = r#"{"webhook_id":"w","event_id":"e","event_type":"incident.resolved","incident":{"id":"P1"},"action":"end_meeting","timer":{"due_at_ms":5,"generation":1}}"#;
        assert_eq!(Job::from_json(text).unwrap().to_json(), text);
        let follow = r#"{"webhook_id":"w","event_id":"e","event_type":"incident.reassigned","incident":{"id":"P1","title":"New"},"action":"follow"}"#;
        let job = Job::from_json(follow).unwrap();
        assert_eq!(job.action, JobAction::Follow);
        assert_eq!(job.to_json(), follow);
    }

    #[test]
    fn a_follow_job_gives_way_to_the_next_and_hands_it_its_responders() {
        let follow = |id: &str, title: &str, who: &[&str]| {
            let mut job = Job::from_json(&format!(
                r#"{{"webhook_id":"w","event_id":"e","event_type":"incident.reassigned","incident":{{"id":"{id}","title":"{title}"}},"action":"follow"}}"#
            ))
            .unwrap();
            job.incident.responders = who
                .iter()
                .map(|w| Responder {
                    id: Some(w.to_string()),
                    name: None,
                    email: None,
                })
                .collect();
            job
        };
        let first = follow("P1", "One", &["PADA"]);
        let second = follow("P1", "Two", &["PGRACE"]);
        assert!(first.is_superseded_by(&second));
        assert!(!first.is_superseded_by(&follow("P2", "Other", &[])));
        let mut reference = follow("P1", "Summary", &["PLINUS"]);
        reference.incident.reference_only = true;
        assert!(!first.is_superseded_by(&reference), "it carries no title");
        let merged = first.clone().coalesce_into(second.clone());
        assert_eq!(merged.incident.title.as_deref(), Some("Two"));
        let ids: Vec<_> = merged
            .incident
            .responders
            .iter()
            .map(|r| r.id.clone().unwrap())
            .collect();
        assert_eq!(ids, ["PGRACE", "PADA"]);
        let mut current = second;
        current.meeting.hosts = Some(MeetingHosts::Current);
        assert_eq!(first.coalesce_into(current).incident.responders.len(), 1);
    }

    #[test]
    fn jobs_without_a_tool_are_pagerduty_jobs_and_keep_the_bare_key() {
        let old = r#"{"webhook_id":"w","event_id":"e","event_type":"incident.triggered","incident":{"id":"Q3B15VLMF3ASBD"}}"#;
        let job = Job::from_json(old).unwrap();
        assert_eq!(job.tool, IncidentToolKind::PAGERDUTY);
        assert_eq!(job.incident_key(), "Q3B15VLMF3ASBD");
        // Written back the same way, so an older worker still reads it.
        assert!(!job.to_json().contains("tool"));

        let incident_io = Job {
            tool: IncidentToolKind::INCIDENT_IO,
            ..job.clone()
        };
        assert_eq!(incident_io.incident_key(), "incident_io:Q3B15VLMF3ASBD");
        let json = incident_io.to_json();
        assert!(json.contains(r#""tool":"incident_io""#), "{json}");
        assert_eq!(Job::from_json(&json).unwrap(), incident_io);
        // A tool this build does not ship reads (its worker may have the adapter); a name that
        // could not prefix a key does not.
        let opsgenie = Job::from_json(&old.replace('}', r#","tool":"opsgenie"}"#)).unwrap();
        assert_eq!(opsgenie.incident_key(), "opsgenie:Q3B15VLMF3ASBD");
        for bad in ["", "Ops Genie", "a:b", "pagerduty2000000000000000000000000"] {
            let text = old.replace('}', &format!(r#","tool":"{bad}"}}"#));
            assert!(Job::from_json(&text).is_err(), "{bad:?}");
        }

        // Zoom events find the tool and id back from the key the meeting index holds.
        for job in [&job, &incident_io, &opsgenie] {
            assert_eq!(
                job.incident_key().split(),
                (job.tool.clone(), job.incident.id.clone())
            );
        }
    }
}
