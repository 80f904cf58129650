//! The bridge's health: a roll call of the paged responders, and a note when someone waits to
//! be let in with nobody on the call who can, when one person sits alone on the call, or when
//! the call of an open incident stays empty.
//!
//! Zoom's participant events of one meeting are many, come out of order and twice, so no note
//! is decided on one event: every event is recorded (`lifecycle`), and one timer per incident
//! (the queue's delay, like the end of a meeting after a resolve) fires when the first pending
//! check is due and judges from the recorded call. It queues itself again for the next one.
//!
//! Health timers are consumed beside the incident's queue group, so two workers may judge one
//! call at once: a note is claimed in the lifecycle (a conditional write) before it is posted,
//! and the claim is given back when the post fails, so the retry posts it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use crate::worker::Worker;
use bridge_relay_domain::error::JobError;
use bridge_relay_domain::health::{HealthChecks, MAX_HEALTH_AFTER_SECONDS};
use bridge_relay_domain::hosts::{MAX_RESPONDERS, normalize_email};
use bridge_relay_domain::model::{HealthTimer, Job, JobAction};
use bridge_relay_domain::texts::{clock, display_meeting_id as meeting_number};
use bridge_relay_ports::store::{
    Attendance, MAX_TRACKED_WAITING, MeetingLifecycle, PagedResponder, StoredMeeting, Waiting,
    responder_key,
};

/// Names in one health note; the rest are counted.
const MAX_NAMES: usize = 20;

fn now_ms() -> u64 {
    bridge_relay_domain::telemetry::epoch_millis(SystemTime::now())
}

fn seconds_ms(seconds: u32) -> u64 {
    u64::from(seconds).saturating_mul(1000)
}

/// The later of a recorded time and `at_ms` (events come out of order).
pub(crate) fn latest(recorded: Option<u64>, at_ms: u64) -> Option<u64> {
    Some(recorded.map_or(at_ms, |at| at.max(at_ms)))
}

/// Who is on the call now, as the recorded events tell, and since when the count is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occupancy {
    pub present: u64,
    /// The time of the last change of who is on the call.
    pub since_ms: Option<u64>,
}

/// Whether the person was on the call at the last of their recorded events.
pub fn is_present(person: &Attendance) -> bool {
    let joined = person.last_joined_ms.or(Some(person.first_joined_ms));
    match (joined, person.last_left_ms) {
        (Some(joined), Some(left)) => joined > left,
        (Some(_), None) => person.present,
        (None, _) => false,
    }
}

pub fn occupancy(lifecycle: &MeetingLifecycle) -> Occupancy {
    let tracked = lifecycle
        .participants
        .iter()
        .filter(|p| is_present(p))
        .count();
    let present = u64::try_from(tracked)
        .unwrap_or(u64::MAX)
        .saturating_add(u64::from(lifecycle.health.untracked_present));
    // Zoom's times of events older than the bridge count from the bridge.
    let since_ms = lifecycle
        .participants
        .iter()
        .flat_map(|p| [p.last_joined_ms.or(Some(p.first_joined_ms)), p.last_left_ms])
        .flatten()
        .chain(lifecycle.health.untracked_changed_ms)
        .max()
        .map(|since| since.max(lifecycle.bridged_at_ms.unwrap_or_default()));
    Occupancy { present, since_ms }
}

/// Whether anyone was ever on the call.
fn anyone_joined(lifecycle: &MeetingLifecycle) -> bool {
    !lifecycle.participants.is_empty() || lifecycle.untracked_joins > 0
}

/// Whether Zoom told the relay anything of this call.
fn events_seen(lifecycle: &MeetingLifecycle) -> bool {
    lifecycle.started_at_ms.is_some()
        || anyone_joined(lifecycle)
        || !lifecycle.health.waiting.is_empty()
}

/// The person's e-mail or name matches the paged responder's.
fn is_responder(person: &Attendance, paged: &PagedResponder) -> bool {
    match (
        person.email.as_deref().and_then(normalize_email),
        &paged.email,
    ) {
        (Some(email), Some(paged_email)) => email == *paged_email,
        _ => same_name(&person.name, &paged.name),
    }
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Someone on the call can let people in: one of the alternative hosts the relay set.
fn host_on_call(lifecycle: &MeetingLifecycle) -> bool {
    let hosts = lifecycle.alternative_hosts.as_deref().unwrap_or_default();
    lifecycle
        .participants
        .iter()
        .filter(|p| is_present(p))
        .any(|p| {
            p.email
                .as_deref()
                .and_then(normalize_email)
                .is_some_and(|email| hosts.iter().any(|h| h.eq_ignore_ascii_case(&email)))
        })
}

/// A health check the timer found due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheck {
    RollCall,
    Waiting,
    Alone,
    Empty,
}

/// When `check` is due for the call as recorded, if it is still to come (or due now).
fn due_at(lifecycle: &MeetingLifecycle, checks: &HealthChecks, check: HealthCheck) -> Option<u64> {
    let health = &lifecycle.health;
    let quiet = checks.quiet_when_acknowledged && health.acknowledged;
    match check {
        HealthCheck::RollCall => (checks.roll_call_after_seconds > 0 && !health.roll_call_noted)
            .then_some(lifecycle.bridged_at_ms?)
            .map(|at| at.saturating_add(seconds_ms(checks.roll_call_after_seconds))),
        HealthCheck::Waiting => {
            // A host on the call can let them in: no wait is news while one is there, and
            // when the last one leaves, whoever still waits is (that leave arms the timer).
            if checks.waiting_after_seconds == 0 || host_on_call(lifecycle) {
                return None;
            }
            health
                .waiting
                .iter()
                .filter(|w| !w.noted && w.still_waiting())
                .map(|w| waiting_due(lifecycle.bridged_at_ms, checks, w))
                .min()
        }
        HealthCheck::Alone => {
            let occupancy = occupancy(lifecycle);
            let since = occupancy.since_ms?;
            (checks.alone_after_seconds > 0
                && !quiet
                && occupancy.present == 1
                && health.alone_noted_since != Some(since))
            .then(|| since.saturating_add(seconds_ms(checks.alone_after_seconds)))
        }
        HealthCheck::Empty => {
            let occupancy = occupancy(lifecycle);
            let since = occupancy.since_ms?;
            (checks.empty_after_seconds > 0
                && !quiet
                && occupancy.present == 0
                && anyone_joined(lifecycle)
                && health.empty_noted_since != Some(since))
            .then(|| since.saturating_add(seconds_ms(checks.empty_after_seconds)))
        }
    }
}

/// When a wait to be let in is news: `waiting_after_seconds` into it, counted from the bridge
/// for a wait Zoom dates before it.
fn waiting_due(bridged_at_ms: Option<u64>, checks: &HealthChecks, waiting: &Waiting) -> u64 {
    waiting
        .since_ms
        .max(bridged_at_ms.unwrap_or_default())
        .saturating_add(seconds_ms(checks.waiting_after_seconds))
}

/// In the order their notes go out when several are due at once: who waits first (they wait
/// now), then the roll call, then the state of the call.
const CHECKS: [HealthCheck; 4] = [
    HealthCheck::Waiting,
    HealthCheck::RollCall,
    HealthCheck::Alone,
    HealthCheck::Empty,
];

/// Whether the bridge still has anything to watch: its incident open, its meeting not removed.
fn watched(lifecycle: &MeetingLifecycle) -> bool {
    lifecycle.resolved_at_ms.is_none() && !lifecycle.removed_unused && !lifecycle.meeting_gone
}

/// Keeps with a bridge just made (`bridged_at_ms` set) the checks its policy gives it, and
/// records the roll call's timer, which the bridge job sends once the bridge is posted. What
/// an earlier delivery recorded stays; the job's event says whether the incident is
/// acknowledged.
pub fn start_watching(lifecycle: &mut MeetingLifecycle, job: &Job) {
    note_acknowledgement(lifecycle, job);
    let policy = job.meeting.health.unwrap_or_default();
    lifecycle.health_off |= policy.is_off();
    let checks = *lifecycle.health.checks.get_or_insert(policy.checks());
    if lifecycle.health.timer_due_ms.is_none() {
        lifecycle.health.timer_due_ms = due_at(lifecycle, &checks, HealthCheck::RollCall);
    }
}

/// What the bridge job knows of the roll call's timer when it sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RollCallTimer {
    /// This delivery recorded the bridge's watch: the timer it recorded (`None`: no check is
    /// due before Zoom's events say something).
    Recorded(Option<u64>),
    /// An earlier delivery did, and may have stopped before sending its timer.
    RecordedEarlier,
}

/// When the first pending check of the call is due.
pub fn next_due(lifecycle: &MeetingLifecycle) -> Option<u64> {
    if !watched(lifecycle) {
        return None;
    }
    let checks = lifecycle.health.checks();
    CHECKS
        .iter()
        .filter_map(|check| due_at(lifecycle, &checks, *check))
        .min()
}

/// The checks due at `now`, claimed in `lifecycle` (each marked as noted), with the note of
/// each. `feed` says whether Zoom's meeting events reach the relay at all: without them an
/// empty call and no events look the same, and the roll call says nothing of who joined.
pub fn claim_due_notes(
    lifecycle: &mut MeetingLifecycle,
    meeting: &StoredMeeting,
    now: u64,
    feed: bool,
) -> Vec<(HealthCheck, String)> {
    if !watched(lifecycle) {
        return Vec::new();
    }
    let checks = lifecycle.health.checks();
    let mut notes = Vec::new();
    for check in CHECKS {
        if due_at(lifecycle, &checks, check).is_none_or(|due| due > now) {
            continue;
        }
        let note = match check {
            HealthCheck::RollCall => {
                lifecycle.health.roll_call_noted = true;
                if !feed && !events_seen(lifecycle) {
                    tracing::info!(
                        meeting_id = meeting.id,
                        "no roll call: no Zoom meeting event has reached the relay, so it cannot tell who joined"
                    );
                    continue;
                }
                roll_call_note(lifecycle, meeting, checks.roll_call_after_seconds)
            }
            HealthCheck::Waiting => {
                let bridged = lifecycle.bridged_at_ms;
                let mut names = Vec::new();
                for waiting in &mut lifecycle.health.waiting {
                    if !waiting.noted
                        && waiting.still_waiting()
                        && waiting_due(bridged, &checks, waiting) <= now
                    {
                        waiting.noted = true;
                        names.push((waiting.name.clone(), waiting.for_host));
                    }
                }
                if names.is_empty() {
                    continue;
                }
                lifecycle.health.stuck_notes = lifecycle.health.stuck_notes.saturating_add(1);
                waiting_note(lifecycle, meeting, &names, now)
            }
            HealthCheck::Alone => {
                let occupancy = occupancy(lifecycle);
                lifecycle.health.alone_noted_since = occupancy.since_ms;
                lifecycle.health.empty_notes = lifecycle.health.empty_notes.saturating_add(1);
                let who = lifecycle
                    .participants
                    .iter()
                    .find(|p| is_present(p))
                    .map_or("One person", |p| p.name.as_str());
                format!(
                    "{who} has been alone on the Zoom meeting {} since {} (Zoom ends a meeting with one person left after about 40 min). The bridge: {}",
                    meeting_number(meeting.id),
                    occupancy.since_ms.map_or_else(|| "a while".into(), clock),
                    meeting.join_url
                )
            }
            HealthCheck::Empty => {
                let occupancy = occupancy(lifecycle);
                lifecycle.health.empty_noted_since = occupancy.since_ms;
                lifecycle.health.empty_notes = lifecycle.health.empty_notes.saturating_add(1);
                format!(
                    "Nobody has been on the Zoom meeting {} since {}, and the incident is still open. The bridge: {}",
                    meeting_number(meeting.id),
                    occupancy.since_ms.map_or_else(|| "a while".into(), clock),
                    meeting.join_url
                )
            }
        };
        notes.push((check, note));
    }
    notes
}

/// Gives back the claim of `check` (its note could not be posted), so the retry posts it:
/// what the claim changed from `before` to `claimed` is undone where nothing changed it since.
pub fn unclaim(
    lifecycle: &mut MeetingLifecycle,
    before: &MeetingLifecycle,
    claimed: &MeetingLifecycle,
    check: HealthCheck,
) {
    let health = &mut lifecycle.health;
    match check {
        HealthCheck::RollCall => health.roll_call_noted = before.health.roll_call_noted,
        HealthCheck::Waiting => {
            let newly_noted = |waiting: &Waiting| {
                let in_claim = claimed
                    .health
                    .waiting
                    .iter()
                    .find(|w| w.same_person(waiting));
                let in_before = before
                    .health
                    .waiting
                    .iter()
                    .find(|w| w.same_person(waiting));
                in_claim.is_some_and(|w| w.noted && w.since_ms == waiting.since_ms)
                    && !in_before.is_some_and(|w| w.noted && w.since_ms == waiting.since_ms)
            };
            for waiting in &mut health.waiting {
                if newly_noted(waiting) {
                    waiting.noted = false;
                }
            }
            health.stuck_notes = health.stuck_notes.saturating_sub(1);
        }
        HealthCheck::Alone => {
            if health.alone_noted_since == claimed.health.alone_noted_since {
                health.alone_noted_since = before.health.alone_noted_since;
            }
            health.empty_notes = health.empty_notes.saturating_sub(1);
        }
        HealthCheck::Empty => {
            if health.empty_noted_since == claimed.health.empty_noted_since {
                health.empty_noted_since = before.health.empty_noted_since;
            }
            health.empty_notes = health.empty_notes.saturating_sub(1);
        }
    }
}

fn list(names: &[String], more: usize) -> String {
    let mut text = names.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

fn roll_call_note(
    lifecycle: &MeetingLifecycle,
    meeting: &StoredMeeting,
    after_seconds: u32,
) -> String {
    let mut note = format!(
        "Roll call of the Zoom meeting {}, {} after the bridge:",
        meeting_number(meeting.id),
        duration_text(u64::from(after_seconds))
    );
    let present: Vec<&Attendance> = lifecycle
        .participants
        .iter()
        .filter(|p| is_present(p))
        .collect();
    let paged = &lifecycle.health.paged;
    let (on_call, absent): (Vec<&PagedResponder>, Vec<&PagedResponder>) = paged
        .iter()
        .partition(|r| present.iter().any(|p| is_responder(p, r)));
    let names = |list: &[&PagedResponder]| -> Vec<String> {
        list.iter()
            .take(MAX_NAMES)
            .map(|r| r.name.clone())
            .collect()
    };
    if !on_call.is_empty() {
        note.push_str(&format!(
            "\nOn the call: {}.",
            list(&names(&on_call), on_call.len().saturating_sub(MAX_NAMES))
        ));
    }
    if !absent.is_empty() {
        note.push_str(&format!(
            "\nPaged, not on the call: {}.",
            list(&names(&absent), absent.len().saturating_sub(MAX_NAMES))
        ));
    }
    let others = present
        .iter()
        .filter(|p| !paged.iter().any(|r| is_responder(p, r)))
        .count();
    let others = u64::try_from(others)
        .unwrap_or(u64::MAX)
        .saturating_add(u64::from(lifecycle.health.untracked_present));
    let nobody = present.is_empty() && lifecycle.health.untracked_present == 0;
    match others {
        _ if nobody => note.push_str(&format!(
            "\nNobody is on the call yet. The bridge: {}",
            meeting.join_url
        )),
        0 => {}
        1 => note.push_str("\n1 other person is on the call."),
        n => note.push_str(&format!("\n{n} other people are on the call.")),
    }
    note
}

fn waiting_note(
    lifecycle: &MeetingLifecycle,
    meeting: &StoredMeeting,
    names: &[(String, bool)],
    now: u64,
) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(MAX_NAMES)
        .map(|(name, for_host)| match for_host {
            true => format!("{name} (waiting for a host to start the meeting)"),
            false => format!("{name} (in the waiting room)"),
        })
        .collect();
    let mut note = format!(
        "Waiting to be let into the Zoom meeting {} at {}: {}. Nobody on the call can let them in.",
        meeting_number(meeting.id),
        clock(now),
        list(&shown, names.len().saturating_sub(MAX_NAMES))
    );
    let hosts = lifecycle.alternative_hosts.as_deref().unwrap_or_default();
    if hosts.is_empty() {
        // What lets them in without a host: the waiting room off, or join before host on.
        let in_room = names.iter().any(|(_, for_host)| !for_host);
        let for_host = names.iter().any(|(_, for_host)| *for_host);
        let without_host = match (in_room, for_host) {
            (true, true) => "turn the waiting room off and join before host on",
            (false, true) => "turn join before host on",
            _ => "turn the waiting room off",
        };
        note.push_str(&format!(" No responder has the meeting's host controls (policy `meeting.hosts`); {without_host}, or let responders be hosts."));
    } else {
        let host_names: Vec<String> = hosts
            .iter()
            .take(MAX_NAMES)
            .map(|email| {
                lifecycle
                    .health
                    .paged
                    .iter()
                    .find(|r| r.email.as_deref() == Some(email.as_str()))
                    .map_or_else(|| email.clone(), |r| r.name.clone())
            })
            .collect();
        note.push_str(&format!(
            " These alternative hosts can, by joining with the bridge: {}.",
            list(&host_names, hosts.len().saturating_sub(MAX_NAMES))
        ));
    }
    note
}

/// Whole seconds from the bridge to `at_ms`, a time Zoom dated; `None` for a time before the
/// bridge (a meeting used before it), which says nothing of it. Zoom dates its events to the
/// second and the bridge is dated to the millisecond, so a join within the bridge's own
/// second is 0 s after it, not before it.
pub fn seconds_after_bridge(bridged_ms: u64, at_ms: u64) -> Option<u64> {
    (at_ms / 1000 >= bridged_ms / 1000).then(|| at_ms.saturating_sub(bridged_ms) / 1000)
}

/// `90 s`, `5 min` (whole minutes from two on).
pub fn duration_text(seconds: u64) -> String {
    if seconds < 120 {
        format!("{seconds} s")
    } else {
        format!("{} min", seconds / 60)
    }
}

/// Records who was paged (the job's responders, with what the host checks found of their
/// e-mails); returns whether the roster changed.
pub fn record_paged(
    lifecycle: &mut MeetingLifecycle,
    job: &Job,
    emails: &[(String, Option<String>)],
) -> bool {
    let mut changed = false;
    for responder in job.incident.responders.iter().take(MAX_RESPONDERS) {
        let key = responder_key(&job.tool, responder);
        let email = emails
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, email)| email.clone())
            .or_else(|| responder.email.as_deref().and_then(normalize_email));
        let paged = &mut lifecycle.health.paged;
        match paged.iter().position(|r| r.key == key) {
            Some(n) => {
                let Some(known) = paged.get_mut(n) else {
                    continue;
                };
                if known.email.is_none() && email.is_some() {
                    known.email = email;
                    changed = true;
                }
            }
            None if paged.len() < MAX_RESPONDERS => {
                paged.push(PagedResponder {
                    key,
                    name: responder.display_name().to_owned(),
                    email,
                    joined_ms: None,
                });
                changed = true;
            }
            None => {}
        }
    }
    note_acknowledgement(lifecycle, job) || changed
}

/// Records whether the incident is acknowledged, when the job's event says; returns whether
/// that changed.
fn note_acknowledgement(lifecycle: &mut MeetingLifecycle, job: &Job) -> bool {
    let said = bridge_relay_domain::health::acknowledged_of(
        &job.event_type,
        job.incident.status.as_deref(),
    );
    match said {
        Some(acknowledged) if lifecycle.health.acknowledged != acknowledged => {
            lifecycle.health.acknowledged = acknowledged;
            true
        }
        _ => false,
    }
}

/// The paged responder a join is of (by e-mail, else by name) joined at the event's time.
pub fn match_paged(
    lifecycle: &mut MeetingLifecycle,
    event: &bridge_relay_domain::model::MeetingEvent,
) {
    let person = Attendance {
        name: event.participant.clone().unwrap_or_default(),
        id: None,
        first_joined_ms: event.at_ms,
        last_left_ms: None,
        last_joined_ms: None,
        email: event.participant_email.clone(),
        present: true,
    };
    for paged in &mut lifecycle.health.paged {
        if is_responder(&person, paged) {
            paged.joined_ms = Some(
                paged
                    .joined_ms
                    .map_or(event.at_ms, |at| at.min(event.at_ms)),
            );
        }
    }
}

/// Seconds from the bridge to each paged responder's first join that `after` records and the
/// roster `before` it did not: the `RespondersJoinedAfterSeconds` of one event.
pub fn newly_joined_after_seconds(before: &[PagedResponder], after: &MeetingLifecycle) -> Vec<u64> {
    let Some(bridged) = after.bridged_at_ms else {
        return Vec::new();
    };
    after
        .health
        .paged
        .iter()
        .filter(|r| {
            !before
                .iter()
                .any(|b| b.key == r.key && b.joined_ms.is_some())
        })
        .filter_map(|r| r.joined_ms)
        .filter_map(|joined| seconds_after_bridge(bridged, joined))
        .collect()
}

/// Records a wait to be let in (`for_host`: for a host to start the meeting, else in the
/// waiting room), or its end. One entry per person: a new stretch begins only after the last
/// one ended, so a wait delivered twice or out of order is one stretch.
pub fn record_waiting(
    lifecycle: &mut MeetingLifecycle,
    name: &str,
    id: Option<&str>,
    at_ms: u64,
    waiting: bool,
    for_host: bool,
) {
    let list = &mut lifecycle.health.waiting;
    let person = Waiting {
        name: name.to_owned(),
        id: id.map(str::to_owned),
        since_ms: at_ms,
        left_ms: None,
        noted: false,
        for_host,
    };
    match list.iter_mut().find(|w| w.same_person(&person)) {
        Some(known) if waiting => {
            let waits = known.still_waiting();
            if !waits && known.left_ms.is_some_and(|left| at_ms > left) {
                *known = person;
            } else if waits && at_ms < known.since_ms {
                known.since_ms = at_ms;
            }
        }
        Some(known) => {
            known.left_ms = latest(known.left_ms, at_ms);
        }
        None => {
            if list.len() >= MAX_TRACKED_WAITING {
                // Room for this one: forget the oldest who no longer waits, else drop it.
                match list.iter().position(|w| !w.still_waiting()) {
                    Some(n) => {
                        list.remove(n);
                    }
                    None => return,
                }
            }
            list.push(Waiting {
                left_ms: (!waiting).then_some(at_ms),
                ..person
            });
        }
    }
}

/// A health timer due this long ago and not cleared was lost (a crash between its send and
/// its record): the next event queues another.
const LOST_TIMER_AFTER_MS: u64 = 3_600_000;

/// When Zoom's meeting events last vouched for the feed, in this process: one write an hour at
/// most (the mark is a month long; a cache, not a claim).
static FEED_MARKED_AT_MS: AtomicU64 = AtomicU64::new(0);
const FEED_MARK_EVERY_MS: u64 = 3_600_000;

impl Worker {
    /// Notes that Zoom's meeting events reach the relay (the roll call relies on it).
    pub(crate) async fn mark_event_feed(&self) -> Result<(), JobError> {
        let now = now_ms();
        let last = FEED_MARKED_AT_MS.load(Ordering::Relaxed);
        if now.saturating_sub(last) < FEED_MARK_EVERY_MS {
            return Ok(());
        }
        self.store.mark_meeting_events_seen().await?;
        FEED_MARKED_AT_MS.store(now, Ordering::Relaxed);
        Ok(())
    }

    /// Queues the incident's health timer for its first pending check, unless one is queued
    /// for that time or sooner (`again`: whatever is recorded, for a delivery that may have
    /// crashed before its send). Queued first, then recorded: a timer sent twice judges twice
    /// and finds its notes claimed, a timer recorded but not sent would never fire.
    pub(crate) async fn arm_health(
        &self,
        job: &Job,
        known: Option<(MeetingLifecycle, u64)>,
        again: bool,
    ) -> Result<(), JobError> {
        if self.timer.is_none() {
            tracing::debug!(incident = %job.incident_key(), "no timer queue (TIMER_QUEUE_URL): no health checks");
            return Ok(());
        }
        let key = job.incident_key();
        let (lifecycle, version) = match known {
            Some(known) => known,
            None => self.store.lifecycle(&key).await?,
        };
        let now = now_ms();
        // A check due more than a day ahead comes of a time from far in the future: none.
        let latest = now.saturating_add(seconds_ms(MAX_HEALTH_AFTER_SECONDS));
        let Some(due) = next_due(&lifecycle).filter(|due| *due <= latest) else {
            return Ok(());
        };
        // A timer queued for a time past is either on its way or was lost with a crash.
        if !again
            && lifecycle.health.timer_due_ms.is_some_and(|queued| {
                queued <= due && queued.saturating_add(LOST_TIMER_AFTER_MS) > now
            })
        {
            return Ok(());
        }
        self.send_health_timer(job, due).await?;
        self.update_known_lifecycle(&key, Some((lifecycle, version)), |l| {
            if l.health
                .timer_due_ms
                .is_none_or(|queued| queued > due || queued < now)
            {
                l.health.timer_due_ms = Some(due);
            }
        })
        .await?;
        Ok(())
    }

    /// Sends the bridge's first health timer, the roll call, before the bridge job calls the
    /// incident done, so a later delivery that finds it done knows the timer went. A delivery
    /// that recorded the bridge's watch knows when the timer is due and sends it at no store
    /// round trip; one that resumes an earlier delivery's bridge reads the record and sends
    /// whatever it says, since that delivery may have stopped before its send.
    pub(crate) async fn send_roll_call_timer(
        &self,
        job: &Job,
        timer: RollCallTimer,
    ) -> Result<(), JobError> {
        match timer {
            _ if self.timer.is_none() => Ok(()),
            RollCallTimer::Recorded(None) => Ok(()),
            RollCallTimer::Recorded(Some(due)) => self.send_health_timer(job, due).await,
            RollCallTimer::RecordedEarlier => self.arm_health(job, None, true).await,
        }
    }

    async fn send_health_timer(&self, job: &Job, due: u64) -> Result<(), JobError> {
        let key = job.incident_key();
        let mut timer_job = job.clone();
        timer_job.action = JobAction::CheckHealth(HealthTimer { due_at_ms: due });
        timer_job.event_type = "check_health".into();
        timer_job.webhook_id = format!("{key}#health-{due}");
        timer_job.event_id = timer_job.webhook_id.clone();
        self.schedule(&timer_job, due).await
    }

    /// The health timer fired: the checks due now are judged from the recorded call, their
    /// notes claimed and posted, and the timer queued again for the next.
    pub(crate) async fn health_timer_fired(
        &self,
        job: &Job,
        timer: HealthTimer,
        deadline: Instant,
    ) -> Result<String, JobError> {
        if now_ms() < timer.due_at_ms {
            self.schedule(job, timer.due_at_ms).await?;
            return Ok("the health check is not due yet; waiting another hop".into());
        }
        let key = job.incident_key();
        let view = self.store.get_with_lifecycle(&key).await?;
        let Some(meeting) = view.record.and_then(|r| r.meeting) else {
            return Ok("no meeting to check".into());
        };
        if !watched(&view.lifecycle) {
            // Fired, so no longer queued: a reopen queues the next one.
            let fired = view
                .lifecycle
                .health
                .timer_due_ms
                .is_some_and(|due| due <= now_ms());
            if fired {
                self.update_known_lifecycle(
                    &key,
                    Some((view.lifecycle, view.lifecycle_version)),
                    |l| {
                        if l.health.timer_due_ms.is_some_and(|due| due <= now_ms()) {
                            l.health.timer_due_ms = None;
                        }
                    },
                )
                .await?;
            }
            return Ok("the incident is resolved; no health check".into());
        }
        let feed = events_seen(&view.lifecycle) || self.store.meeting_events_seen().await?;
        let now = now_ms();
        let mut notes = Vec::new();
        let mut before = view.lifecycle.clone();
        let (claimed, version, ()) = self
            .update_known_lifecycle(&key, Some((view.lifecycle, view.lifecycle_version)), |l| {
                before = l.clone();
                notes = claim_due_notes(l, &meeting, now, feed);
                if l.health.timer_due_ms.is_some_and(|due| due <= now) {
                    l.health.timer_due_ms = None;
                }
            })
            .await?;
        let mut posted = Vec::new();
        for (check, note) in &notes {
            if let Err(e) = self.post(job, note, deadline).await {
                let unposted: Vec<HealthCheck> = notes
                    .iter()
                    .map(|(c, _)| *c)
                    .filter(|c| !posted.contains(c))
                    .collect();
                self.update_lifecycle(&key, |l| {
                    for check in &unposted {
                        unclaim(l, &before, &claimed, *check);
                    }
                })
                .await?;
                return Err(e);
            }
            match check {
                HealthCheck::Waiting => bridge_relay_domain::telemetry::record_health_note(true),
                HealthCheck::Alone | HealthCheck::Empty => {
                    bridge_relay_domain::telemetry::record_health_note(false)
                }
                HealthCheck::RollCall => {}
            }
            posted.push(*check);
        }
        // Due now and still nothing to claim would judge the same call again at once: a
        // check the claim does not agree with is left to the next event instead of spinning.
        if notes.is_empty() && next_due(&claimed).is_some_and(|due| due <= now) {
            tracing::warn!(incident = %key, "a health check is due but says nothing; it waits for the next event");
        } else {
            self.arm_health(job, Some((claimed, version)), false)
                .await?;
        }
        Ok(match posted.len() {
            0 => "health checked; nothing to say".into(),
            n => format!("health checked; {n} note(s) posted"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_relay_domain::model::{MeetingEvent, MeetingEventKind};

    fn event(kind: MeetingEventKind, at_ms: u64, who: &str) -> MeetingEvent {
        MeetingEvent {
            kind,
            meeting_id: 85012345678,
            at_ms,
            participant: Some(who.to_owned()),
            participant_id: Some(format!("id-{who}")),
            participant_email: None,
        }
    }

    fn meeting() -> StoredMeeting {
        StoredMeeting {
            id: 85012345678,
            join_url: "https://zoom.example/j/85012345678".into(),
            passcode: None,
            phone_passcode: None,
            dial_in: Vec::new(),
        }
    }

    #[test]
    fn a_join_in_the_bridges_own_second_is_after_it_and_one_before_that_second_is_not() {
        // Bridged at 12.750 s; Zoom says 12 s for a join a moment later.
        assert_eq!(seconds_after_bridge(12_750, 12_000), Some(0));
        assert_eq!(seconds_after_bridge(12_750, 75_000), Some(62));
        assert_eq!(seconds_after_bridge(12_750, 11_000), None);
    }

    #[test]
    fn out_of_order_and_repeated_events_leave_the_same_count_and_never_a_negative_one() {
        use MeetingEventKind::*;
        let mut lifecycle = MeetingLifecycle {
            bridged_at_ms: Some(1_000),
            ..MeetingLifecycle::default()
        };
        let apply = |l: &mut MeetingLifecycle, e: MeetingEvent| {
            crate::lifecycle::apply_event(l, &e);
        };
        // Ada's leave comes before her join; Bob's join twice; a leave of someone never seen.
        apply(&mut lifecycle, event(ParticipantLeft, 9_000, "ada"));
        apply(&mut lifecycle, event(ParticipantJoined, 5_000, "ada"));
        apply(&mut lifecycle, event(ParticipantJoined, 6_000, "bob"));
        apply(&mut lifecycle, event(ParticipantJoined, 6_000, "bob"));
        apply(&mut lifecycle, event(ParticipantLeft, 7_000, "carol"));
        let now = occupancy(&lifecycle);
        assert_eq!(now.present, 1, "{lifecycle:#?}");
        assert_eq!(now.since_ms, Some(9_000));
        // The roll call first (bridge + 300 s), then Bob alone since Ada left: 900 s later.
        assert_eq!(next_due(&lifecycle), Some(301_000));
        lifecycle.health.roll_call_noted = true;
        assert_eq!(next_due(&lifecycle), Some(909_000));
        apply(&mut lifecycle, event(ParticipantLeft, 10_000, "bob"));
        apply(&mut lifecycle, event(ParticipantLeft, 10_000, "bob"));
        assert_eq!(occupancy(&lifecycle).present, 0);
    }

    #[test]
    fn times_before_the_bridge_count_from_it_and_a_resolved_incident_is_not_watched() {
        use MeetingEventKind::*;
        let mut lifecycle = MeetingLifecycle {
            bridged_at_ms: Some(100_000),
            ..MeetingLifecycle::default()
        };
        crate::lifecycle::apply_event(&mut lifecycle, &event(ParticipantJoined, 5, "ada"));
        assert_eq!(occupancy(&lifecycle).since_ms, Some(100_000));
        // The roll call (bridge + 300 s) comes first.
        assert_eq!(next_due(&lifecycle), Some(400_000));
        lifecycle.resolved_at_ms = Some(200_000);
        assert_eq!(next_due(&lifecycle), None);
        assert!(claim_due_notes(&mut lifecycle, &meeting(), u64::MAX, true).is_empty());
    }

    #[test]
    fn a_claimed_note_is_given_back_when_its_post_fails() {
        use MeetingEventKind::*;
        let mut lifecycle = MeetingLifecycle {
            bridged_at_ms: Some(0),
            ..MeetingLifecycle::default()
        };
        crate::lifecycle::apply_event(&mut lifecycle, &event(ParticipantJoined, 1_000, "ada"));
        let notes = claim_due_notes(&mut lifecycle, &meeting(), 2_000_000, true);
        let checks: Vec<HealthCheck> = notes.iter().map(|(c, _)| *c).collect();
        assert_eq!(checks, [HealthCheck::RollCall, HealthCheck::Alone]);
        assert!(notes[1].1.starts_with("ada has been alone"), "{notes:?}");
        // Claimed: a second judge finds nothing.
        let claimed = lifecycle.clone();
        let before = MeetingLifecycle {
            health: bridge_relay_ports::store::CallHealth {
                roll_call_noted: false,
                alone_noted_since: None,
                empty_notes: 0,
                ..claimed.health.clone()
            },
            ..claimed.clone()
        };
        assert!(claim_due_notes(&mut lifecycle, &meeting(), 2_000_000, true).is_empty());
        for check in checks {
            unclaim(&mut lifecycle, &before, &claimed, check);
        }
        assert_eq!(
            claim_due_notes(&mut lifecycle, &meeting(), 2_000_000, true).len(),
            2
        );
    }

    #[test]
    fn without_zoom_events_the_roll_call_says_nothing_of_who_joined() {
        let mut lifecycle = MeetingLifecycle {
            bridged_at_ms: Some(0),
            ..MeetingLifecycle::default()
        };
        assert!(claim_due_notes(&mut lifecycle, &meeting(), 1_000_000, false).is_empty());
        assert!(
            lifecycle.health.roll_call_noted,
            "and it is not tried again"
        );
    }

    #[test]
    fn a_huge_call_with_every_name_at_its_longest_keeps_the_item_under_dynamodbs_400_kb() {
        use MeetingEventKind::*;
        // What Zoom's parser lets through at most: 64 characters of 4 bytes each for a name, 64
        // bytes of ASCII for an id, 254 bytes of e-mail. Another part of the record at its longest too: the paged
        // responders, the alternative hosts, the responders named as not hosts, the artifacts.
        let long = |tag: usize| format!("{tag:04}{}", "\u{1F600}".repeat(60));
        let email = |tag: usize| format!("{tag:04}{}@example.com", "e".repeat(238));
        let mut lifecycle = MeetingLifecycle {
            bridged_at_ms: Some(0),
            ..MeetingLifecycle::default()
        };
        for n in 0..1_000 {
            let mut joined = event(ParticipantJoined, 1_000, "x");
            joined.participant = Some(long(n));
            joined.participant_id = Some(format!("{n:04}{}", "i".repeat(60)));
            joined.participant_email = Some(email(n));
            crate::lifecycle::apply_event(&mut lifecycle, &joined);
            let mut waiting = joined.clone();
            waiting.kind = InWaitingRoom;
            waiting.participant_id = Some(format!("{:04}{}", n + 5_000, "w".repeat(60)));
            crate::lifecycle::apply_event(&mut lifecycle, &waiting);
        }
        for n in 0..MAX_RESPONDERS {
            lifecycle.health.paged.push(PagedResponder {
                key: format!("pagerduty:user:{}", long(n)),
                name: long(n),
                email: Some(email(n)),
                joined_ms: Some(1),
            });
        }
        lifecycle.alternative_hosts = Some((0..MAX_RESPONDERS).map(email).collect());
        lifecycle.not_hosts_noted = (0..200)
            .map(|n| format!("pagerduty:user:{}", long(n)))
            .collect();
        for n in 0..100 {
            lifecycle.mark_artifact_posted(&format!("recording:{}", long(n)));
        }
        assert_eq!(
            lifecycle.participants.len(),
            bridge_relay_ports::store::MAX_TRACKED_PARTICIPANTS
        );
        assert_eq!(lifecycle.health.waiting.len(), MAX_TRACKED_WAITING);
        let size = serde_json::to_string(&lifecycle).unwrap().len();
        assert!(size < 380_000, "the lifecycle item is {size} bytes");
    }

    #[test]
    fn someone_waiting_while_a_host_is_on_the_call_is_news_once_the_host_leaves() {
        let mut lifecycle = MeetingLifecycle {
            bridged_at_ms: Some(0),
            alternative_hosts: Some(vec!["grace@example.com".into()]),
            ..MeetingLifecycle::default()
        };
        lifecycle.health.roll_call_noted = true;
        let grace = |kind, at_ms| MeetingEvent {
            kind,
            meeting_id: 85012345678,
            at_ms,
            participant: Some("Grace Hopper".into()),
            participant_id: Some("id-grace".into()),
            participant_email: Some("grace@example.com".into()),
        };
        crate::lifecycle::apply_event(
            &mut lifecycle,
            &grace(MeetingEventKind::ParticipantJoined, 1_000),
        );
        record_waiting(&mut lifecycle, "Ada", Some("a"), 2_000, true, false);
        // Grace, an alternative host, could let Ada in: her wait is nothing to say, and no
        // timer is due for it.
        assert!(claim_due_notes(&mut lifecycle, &meeting(), 100_000, true).is_empty());
        assert!(next_due(&lifecycle).is_some_and(|due| due > 100_000));
        // Grace leaves without letting her in: Ada's wait is due at once.
        crate::lifecycle::apply_event(
            &mut lifecycle,
            &grace(MeetingEventKind::ParticipantLeft, 120_000),
        );
        assert_eq!(next_due(&lifecycle), Some(62_000));
        let notes = claim_due_notes(&mut lifecycle, &meeting(), 130_000, true);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].1.contains(": Ada (in the waiting room)."),
            "{notes:?}"
        );
    }

    #[test]
    fn with_no_responder_as_host_the_waiting_note_says_what_lets_each_kind_of_wait_in() {
        let advice = |waits: &[(&str, bool)]| {
            let mut lifecycle = MeetingLifecycle {
                bridged_at_ms: Some(0),
                ..MeetingLifecycle::default()
            };
            lifecycle.health.roll_call_noted = true;
            for (name, for_host) in waits {
                record_waiting(&mut lifecycle, name, Some(name), 1_000, true, *for_host);
            }
            let notes = claim_due_notes(&mut lifecycle, &meeting(), 100_000, true);
            let note = notes[0].1.clone();
            note.split("(policy `meeting.hosts`); ")
                .nth(1)
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            advice(&[("Ada", false)]),
            "turn the waiting room off, or let responders be hosts."
        );
        assert_eq!(
            advice(&[("Bob", true)]),
            "turn join before host on, or let responders be hosts."
        );
        assert_eq!(
            advice(&[("Ada", false), ("Bob", true)]),
            "turn the waiting room off and join before host on, or let responders be hosts."
        );
    }

    #[test]
    fn giving_back_a_waiting_note_leaves_the_ones_posted_before_it() {
        let mut lifecycle = MeetingLifecycle {
            bridged_at_ms: Some(0),
            ..MeetingLifecycle::default()
        };
        lifecycle.health.roll_call_noted = true;
        record_waiting(&mut lifecycle, "Ada", Some("a"), 1_000, true, false);
        let first = claim_due_notes(&mut lifecycle, &meeting(), 100_000, true);
        assert_eq!(first.len(), 1);
        record_waiting(&mut lifecycle, "Bob", Some("b"), 200_000, true, true);
        let before = lifecycle.clone();
        let second = claim_due_notes(&mut lifecycle, &meeting(), 300_000, true);
        assert!(
            second[0]
                .1
                .contains("Bob (waiting for a host to start the meeting)")
                && !second[0].1.contains("Ada"),
            "{second:?}"
        );
        let claimed = lifecycle.clone();
        unclaim(&mut lifecycle, &before, &claimed, HealthCheck::Waiting);
        let noted: Vec<(&str, bool)> = lifecycle
            .health
            .waiting
            .iter()
            .map(|w| (w.name.as_str(), w.noted))
            .collect();
        assert_eq!(noted, [("Ada", true), ("Bob", false)]);
    }
}
