//! The idempotency store: one record per incident that moves
//! claimed -> creating -> meeting created -> bridge set -> done.
//! A retry after any partial failure resumes from the record, so an incident never gets a
//! second meeting. A claim is a lease: a claim left by a dead container expires and is taken over.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use bridge_relay_domain::after_call::ArtifactChoice;
pub use bridge_relay_domain::error::StoreError;
use bridge_relay_domain::hosts::HostCheck;
use bridge_relay_domain::meeting::MeetingLabels;
use bridge_relay_domain::model::{DialInNumber, IncidentKey, Meeting};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Claimed; nothing sent to Zoom yet.
    Claimed,
    /// A create call was sent; whether Zoom made the meeting is unknown until looked up.
    Creating,
    /// The meeting exists and is recorded.
    MeetingCreated,
    /// The incident shows the bridge.
    BridgeSet,
    /// The note is posted too (or the incident kept a bridge a person had set).
    Done,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Claimed => "claimed",
            Stage::Creating => "creating",
            Stage::MeetingCreated => "meeting_created",
            Stage::BridgeSet => "bridge_set",
            Stage::Done => "done",
        }
    }

    pub fn parse(value: &str) -> Option<Stage> {
        [
            Stage::Claimed,
            Stage::Creating,
            Stage::MeetingCreated,
            Stage::BridgeSet,
            Stage::Done,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// The meeting as the store keeps it (no host link: the relay never has it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMeeting {
    pub id: u64,
    pub join_url: String,
    pub passcode: Option<String>,
    pub phone_passcode: Option<String>,
    pub dial_in: Vec<DialInNumber>,
}

impl From<&Meeting> for StoredMeeting {
    fn from(m: &Meeting) -> Self {
        StoredMeeting {
            id: m.id,
            join_url: m.join_url.clone(),
            passcode: m.passcode.clone(),
            phone_passcode: m.phone_passcode.clone(),
            dial_in: m.dial_in.clone(),
        }
    }
}

impl From<StoredMeeting> for Meeting {
    fn from(m: StoredMeeting) -> Self {
        Meeting {
            id: m.id,
            join_url: m.join_url,
            passcode: m.passcode,
            phone_passcode: m.phone_passcode,
            dial_in: m.dial_in,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    pub incident_id: String,
    pub stage: Stage,
    pub meeting: Option<StoredMeeting>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the incident until its lease ends; the record says how far earlier attempts got.
    Acquired(IncidentRecord),
    /// Another worker holds a live claim.
    Busy,
    /// The work is finished.
    Done(IncidentRecord),
}

/// The meeting index: which incident owns a meeting. The ingress is handed only this part of
/// the store (it matches Zoom's events to incidents and may read only `meeting#` items).
#[async_trait]
pub trait MeetingIndex: Send + Sync {
    /// Records which incident owns Zoom meeting `meeting_id` (the `meeting#<id>` item), so a
    /// Zoom event is matched to its incident without listing incidents.
    async fn index_meeting(
        &self,
        meeting_id: u64,
        incident_id: &IncidentKey,
    ) -> Result<(), StoreError>;

    /// The incident that owns `meeting_id`, if the relay made that meeting.
    async fn meeting_owner(&self, meeting_id: u64) -> Result<Option<IncidentKey>, StoreError>;
}

/// The meeting's lifecycle after the bridge, one item per incident, changed read-modify-write.
#[async_trait]
pub trait MeetingLifecycles: Send + Sync {
    /// The incident's meeting lifecycle (the `lifecycle#<incident>` item) and its version;
    /// version 0 and the default lifecycle when there is none yet.
    async fn lifecycle(
        &self,
        incident_id: &IncidentKey,
    ) -> Result<(MeetingLifecycle, u64), StoreError>;

    /// Saves the lifecycle if it is still at `version` (optimistic concurrency). `Ok(false)`:
    /// another worker changed it since it was read; read it again and redo the change.
    async fn save_lifecycle(
        &self,
        incident_id: &IncidentKey,
        lifecycle: &MeetingLifecycle,
        version: u64,
    ) -> Result<bool, StoreError>;
}

/// The host pool's slots (items `host#<user>#slot#<n>`) and daily create counters (items
/// `host#<user>#<YYYY-MM-DD>`); every change is a conditional write.
#[async_trait]
pub trait HostSlots: Send + Sync {
    /// Takes slot `slot` of `host` for `incident_id` if it is free, held by this incident
    /// already, or held longer than `max_age` (a holder that never gave it back). True if taken.
    async fn take_host_slot(
        &self,
        host: &str,
        slot: u32,
        incident_id: &IncidentKey,
        max_age: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives slot `slot` of `host` back if `incident_id` still holds it. True if it did.
    async fn release_host_slot(
        &self,
        host: &str,
        slot: u32,
        incident_id: &IncidentKey,
    ) -> Result<bool, StoreError>;

    /// Counts one meeting create against `host` on `day` (`YYYY-MM-DD`, UTC) unless `limit`
    /// creates are counted already or the host is marked spent for the day. True if counted.
    async fn take_daily_create(
        &self,
        host: &str,
        day: &str,
        limit: u32,
    ) -> Result<bool, StoreError>;

    /// Marks `host` spent for `day` (Zoom answered its daily limit): no more creates that day.
    async fn mark_host_spent(&self, host: &str, day: &str) -> Result<(), StoreError>;
}

#[async_trait]
pub trait IdempotencyStore:
    MeetingIndex + MeetingLifecycles + HostSlots + HostChecks + MeetingEventFeed
{
    /// Claims `incident_id` for `owner` until `lease` from now, unless a live claim of another
    /// owner holds it or the work is done.
    async fn claim(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        lease: Duration,
    ) -> Result<Claim, StoreError>;

    /// A first delivery's claim and its host, all in one write or nothing: makes the record
    /// (claimed by `owner` for `lease`, stage `Creating`, `take.slot` recorded as its meeting's
    /// host), takes the slot as [`take_host_slot`](HostSlots::take_host_slot) does and counts the
    /// day's create as [`take_daily_create`](HostSlots::take_daily_create) does. False when it
    /// wrote nothing (the record exists, the slot is held, the day is spent, or the store
    /// cannot write them together): the caller claims and takes a host step by step.
    async fn claim_new_with_host(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        lease: Duration,
        take: &HostTake<'_>,
    ) -> Result<bool, StoreError> {
        let _ = (incident_id, owner, lease, take);
        Ok(false)
    }

    /// Records the meeting a claim without one has just created, all in one write or nothing:
    /// the meeting on the record (stage `MeetingCreated`, if `owner` still holds the claim), its
    /// `meeting#<id>` index item and the incident's first lifecycle item (`lifecycle`: the
    /// bridge's time and the after-call choice). False when it wrote nothing (the incident has a lifecycle item already, the claim
    /// is lost, or the store cannot write them together): the caller records them one by one,
    /// which also tells a lost claim.
    async fn record_new_meeting(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        meeting: &StoredMeeting,
        lifecycle: &MeetingLifecycle,
    ) -> Result<bool, StoreError> {
        let _ = (incident_id, owner, meeting, lifecycle);
        Ok(false)
    }

    /// Moves the record on, if `owner` still holds the claim. `meeting` is stored when given.
    async fn advance(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        stage: Stage,
        meeting: Option<&StoredMeeting>,
    ) -> Result<(), StoreError>;

    /// Gives the claim up after a failure so the next delivery can go on at once.
    async fn release(&self, incident_id: &IncidentKey, owner: &str) -> Result<(), StoreError>;

    async fn get(&self, incident_id: &IncidentKey) -> Result<Option<IncidentRecord>, StoreError>;

    /// Records on the incident's record which host slot its meeting uses (`None`: none), if
    /// `owner` still holds the claim.
    async fn record_meeting_host(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        slot: Option<&HostSlot>,
    ) -> Result<(), StoreError>;

    /// The host slot recorded on the incident's record.
    async fn meeting_host(&self, incident_id: &IncidentKey)
    -> Result<Option<HostSlot>, StoreError>;

    /// The incident's record, the host slot it names and its lifecycle (as
    /// [`lifecycle`](MeetingLifecycles::lifecycle) gives it), in one read where the store can.
    async fn get_with_lifecycle(
        &self,
        incident_id: &IncidentKey,
    ) -> Result<IncidentView, StoreError> {
        let (record, host) = self.get_with_host(incident_id).await?;
        let (lifecycle, lifecycle_version) = self.lifecycle(incident_id).await?;
        Ok(IncidentView {
            record,
            host,
            lifecycle,
            lifecycle_version,
        })
    }

    /// The incident's record and the host slot it names, in one read where the store can.
    async fn get_with_host(
        &self,
        incident_id: &IncidentKey,
    ) -> Result<(Option<IncidentRecord>, Option<HostSlot>), StoreError> {
        Ok((
            self.get(incident_id).await?,
            self.meeting_host(incident_id).await?,
        ))
    }

    /// Marks that the incident was told the pool is full. True the first time only.
    async fn first_pool_full_notice(&self, incident_id: &IncidentKey) -> Result<bool, StoreError>;

    /// Whether the incident ever waited for a free host (its pool-full note is marked).
    async fn waited_for_host(&self, incident_id: &IncidentKey) -> Result<bool, StoreError>;

    /// Frees the host slot the incident's meeting holds (when the incident ends). Returns the
    /// slot if this call freed it; `None` if the incident holds none any more (freed before,
    /// expired and taken by another incident, or never taken). Safe to call more than once.
    async fn free_host_slot(
        &self,
        incident_id: &IncidentKey,
    ) -> Result<Option<HostSlot>, StoreError> {
        match self.meeting_host(incident_id).await? {
            Some(held)
                if self
                    .release_host_slot(&held.host, held.slot, incident_id)
                    .await? =>
            {
                Ok(Some(held))
            }
            _ => Ok(None),
        }
    }
}

/// One of a Zoom host's concurrent-meeting slots, held by an incident's meeting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostSlot {
    /// The Zoom user (email or id) who hosts the meeting.
    pub host: String,
    /// Which of the host's slots (0 up to the per-host meeting limit).
    pub slot: u32,
}

/// What [`IdempotencyStore::get_with_lifecycle`] reads of an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentView {
    pub record: Option<IncidentRecord>,
    /// The host slot the record names.
    pub host: Option<HostSlot>,
    pub lifecycle: MeetingLifecycle,
    /// 0 when the incident has no lifecycle item yet.
    pub lifecycle_version: u64,
}

/// A host slot and the day's create to take with a first claim
/// ([`IdempotencyStore::claim_new_with_host`]).
#[derive(Debug, Clone)]
pub struct HostTake<'a> {
    pub slot: &'a HostSlot,
    /// A slot held longer than this counts as free.
    pub max_age: Duration,
    /// The UTC day (`YYYY-MM-DD`) whose create is counted.
    pub day: &'a str,
    /// The host's creates per day.
    pub creates_per_day: u32,
}

/// The store key of a host's slot.
pub fn host_slot_key(host: &str, slot: u32) -> String {
    format!("host#{host}#slot#{slot}")
}

/// The store key of a host's counter for one UTC day; a new day is a new item, so the count
/// starts again at 00:00 UTC by construction.
pub fn host_day_key(host: &str, day: &str) -> String {
    format!("host#{host}#{day}")
}

/// People tracked by name in one meeting's lifecycle; beyond this they are only counted, so
/// the item stays below DynamoDB's 400 KB with every name, id and e-mail at its longest
/// (`health::tests` builds that item).
pub const MAX_TRACKED_PARTICIPANTS: usize = 300;

/// What happened to an incident's meeting after the bridge: when it ran, who joined, and
/// whether the incident is resolved (and which resolution a pending end belongs to).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingLifecycle {
    /// When the bridge was posted (the meeting's length when Zoom events are not set up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridged_at_ms: Option<u64>,
    /// From Zoom's `meeting.started`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<Attendance>,
    /// Joins of people beyond [`MAX_TRACKED_PARTICIPANTS`].
    #[serde(default)]
    pub untracked_joins: u32,
    /// The first join was put on the timeline.
    #[serde(default)]
    pub first_join_noted: bool,
    /// Set while the incident is resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at_ms: Option<u64>,
    /// Moves on with every resolve and reopen; a grace timer only ends the meeting when its
    /// generation is still the current one.
    #[serde(default)]
    pub generation: u64,
    /// The generation whose closing note is posted (never twice for one resolution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_generation: Option<u64>,
    /// The generation whose end timer is queued and announced: a resolve delivered again
    /// after its send or its note failed queues it again instead of finding "resolved".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_scheduled: Option<u64>,
    /// The relay ended the meeting.
    #[serde(default)]
    pub ended_by_relay: bool,
    /// Resolved with the meeting kept while the call ran: its host slot stays taken until
    /// Zoom's `meeting.ended` (or the slot's maximum age), not freed under the people on it.
    #[serde(default)]
    pub slot_held_for_call: bool,
    /// Why Zoom would not end the meeting, when it refused (not the host, on-premise, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_refused: Option<String>,
    /// A create of the review meeting was sent; its outcome is looked up before another.
    #[serde(default)]
    pub review_creating: bool,
    /// The pool host the review meeting is created on (one of its creates that day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_host: Option<String>,
    /// The follow-up review meeting, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<StoredMeeting>,
    /// The review's note is on the incident.
    #[serde(default)]
    pub review_noted: bool,
    /// Which of Zoom's after-call artifacts the incident gets, as the policy said when its
    /// bridge was made; `None` for bridges made before the relay kept it (the default then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_call: Option<ArtifactChoice>,
    /// The after-call notes posted, each once: `summary:<meeting uuid>`, `recording:<uuid>`, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts_posted: Vec<String>,
    /// The topic and agenda the relay last gave the meeting; `None` for meetings made before
    /// the relay kept them (the next change of the incident sets them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<MeetingLabels>,
    /// Zoom no longer knows the meeting (deleted by hand): it is not updated again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub meeting_gone: bool,
    /// The policy turned the bridge's health notes off (`meeting.health: false`), as it said
    /// when the bridge was made.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub health_off: bool,
    /// The meeting was made with join-before-host off: only a host starts it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_host_to_start: bool,
    /// The relay removed the meeting at the resolve: nobody had used it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed_unused: bool,
    /// The alternative hosts (e-mails) the relay last gave the meeting; `None` before it gave any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative_hosts: Option<Vec<String>>,
    /// The responders (by [`responder_key`]) the incident was told cannot be hosts, each once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_hosts_noted: Vec<String>,
    /// The bridge's health: who was paged, who waits, which health notes are posted.
    #[serde(default, skip_serializing_if = "CallHealth::is_empty")]
    pub health: CallHealth,
}

/// People waiting to be let in, tracked by name in one lifecycle; more are only counted.
pub const MAX_TRACKED_WAITING: usize = 20;

/// What the bridge's health checks keep of one call: small and bounded whatever the call's
/// size (counts, and the few names a note needs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallHealth {
    /// The checks the policy gave the bridge; `None` for bridges made before the relay kept
    /// them (the defaults then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<bridge_relay_domain::health::HealthChecks>,
    /// The paged responders (assigned and added), at most
    /// [`MAX_RESPONDERS`](bridge_relay_domain::hosts::MAX_RESPONDERS), in the order paged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paged: Vec<PagedResponder>,
    /// People waiting in the waiting room or for a host, at most [`MAX_TRACKED_WAITING`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<Waiting>,
    /// People on the call beyond [`MAX_TRACKED_PARTICIPANTS`] (joins less leaves).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub untracked_present: u32,
    /// When the count of untracked people last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untracked_changed_ms: Option<u64>,
    /// The roll call is on the incident.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub roll_call_noted: bool,
    /// The start of the stretch of one person alone whose note is posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alone_noted_since: Option<u64>,
    /// The start of the empty stretch whose note is posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_noted_since: Option<u64>,
    /// The longest the call sat empty between two people on it (ms).
    #[serde(default, skip_serializing_if = "is_zero_ms")]
    pub longest_empty_ms: u64,
    /// When the queued health check is due; a later event queues none before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_due_ms: Option<u64>,
    /// The incident is acknowledged (PagerDuty), as its last event said.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acknowledged: bool,
    /// Notes posted that someone is stuck waiting.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stuck_notes: u32,
    /// Notes posted that one person is alone on the call, or that it is empty.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub empty_notes: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_ms(n: &u64) -> bool {
    *n == 0
}

impl CallHealth {
    pub fn is_empty(&self) -> bool {
        *self == CallHealth::default()
    }

    /// The checks the bridge gets.
    pub fn checks(&self) -> bridge_relay_domain::health::HealthChecks {
        self.checks.unwrap_or_default()
    }
}

/// One paged responder, as the roll call names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagedResponder {
    /// Their [`responder_key`].
    pub key: String,
    pub name: String,
    /// Their e-mail, when the tool or the host check gave one: Zoom reports it for people of
    /// the same Zoom account who join signed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// When they first joined the call, once the relay matched them to a participant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_ms: Option<u64>,
}

/// Someone waiting to be let in: in the waiting room, or for a host (join-before-host off).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When this stretch of waiting began.
    pub since_ms: u64,
    /// When it ended (let in, gone, or the meeting ended); a wait that began later is a new
    /// stretch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_ms: Option<u64>,
    /// The incident was told of this stretch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub noted: bool,
    /// Waiting for a host to start the meeting, rather than in the waiting room.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub for_host: bool,
}

impl Waiting {
    /// Whether they still wait, as their last recorded event tells.
    pub fn still_waiting(&self) -> bool {
        self.left_ms.is_none_or(|left| self.since_ms > left)
    }

    /// The same person: by Zoom's participant id when both have one, else by name.
    pub fn same_person(&self, other: &Waiting) -> bool {
        match (&self.id, &other.id) {
            (Some(a), Some(b)) => a == b,
            _ => self.name == other.name,
        }
    }
}

/// Whether Zoom's meeting events reach the relay: without them, nobody on the call and no
/// events look the same, and the roll call must not say nobody joined.
#[async_trait]
pub trait MeetingEventFeed: Send + Sync {
    /// Records that a Zoom meeting event arrived (item `feed#zoom-meeting-events`), kept for
    /// [`MEETING_EVENT_FEED_TTL`].
    async fn mark_meeting_events_seen(&self) -> Result<(), StoreError>;

    /// Whether a Zoom meeting event arrived within [`MEETING_EVENT_FEED_TTL`].
    async fn meeting_events_seen(&self) -> Result<bool, StoreError>;
}

/// How long one Zoom meeting event vouches for the feed: a month.
pub const MEETING_EVENT_FEED_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// How a responder is known to the host-check cache and the lifecycle: `<tool>:user:<id>` for
/// a tool's user id, `email:<e-mail>` for an e-mail alone, `name:<name>` for neither.
pub fn responder_key(
    tool: &bridge_relay_domain::model::IncidentToolKind,
    responder: &bridge_relay_domain::model::Responder,
) -> String {
    if let Some(id) = responder.id.as_deref().filter(|id| !id.is_empty()) {
        return format!("{}:user:{id}", tool.as_str());
    }
    match responder
        .email
        .as_deref()
        .and_then(bridge_relay_domain::hosts::normalize_email)
    {
        Some(email) => format!("email:{email}"),
        None => format!("name:{}", responder.display_name()),
    }
}

/// What Zoom said of a responder's e-mail, kept for a while across containers so a busy
/// rotation does not cost two look-ups per incident (items `responder#<key>`).
#[async_trait]
pub trait HostChecks: Send + Sync {
    /// The check of `responder` (a [`responder_key`]), unless there is none or it expired.
    async fn cached_host_check(&self, responder: &str) -> Result<Option<HostCheck>, StoreError>;

    /// Keeps `check` of `responder` for `ttl`.
    async fn cache_host_check(
        &self,
        responder: &str,
        check: &HostCheck,
        ttl: Duration,
    ) -> Result<(), StoreError>;
}

/// How long a responder's host check is kept: a day, so a license given in Zoom shows by the
/// next day's incidents at the latest.
pub const HOST_CHECK_TTL: Duration = Duration::from_secs(24 * 3600);

/// After-call notes remembered per incident; a meeting restarted more often than this may see
/// an old instance's artifact twice, never the lifecycle item grow without bound.
pub const MAX_ARTIFACTS_POSTED: usize = 64;

impl MeetingLifecycle {
    /// Whether the after-call note `key` is on the incident.
    pub fn artifact_posted(&self, key: &str) -> bool {
        self.artifacts_posted.iter().any(|k| k == key)
    }

    /// Remembers that the after-call note `key` is on the incident (the oldest key goes when
    /// the list is full).
    pub fn mark_artifact_posted(&mut self, key: &str) {
        if self.artifact_posted(key) {
            return;
        }
        if self.artifacts_posted.len() >= MAX_ARTIFACTS_POSTED {
            self.artifacts_posted.remove(0);
        }
        self.artifacts_posted.push(key.to_owned());
    }
}

/// One person on the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendance {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub first_joined_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_left_ms: Option<u64>,
    /// Their latest join (events arrive out of order: they are on the call when it is later
    /// than their latest leave); `None` in records made before the relay kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_joined_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether they are on the call as far as the events tell.
    #[serde(default)]
    pub present: bool,
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A random claim token for one attempt.
#[allow(
    clippy::expect_used,
    reason = "without the OS random source no claim could be told from another; the process must stop"
)]
pub fn new_owner() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    hex::encode(bytes)
}
