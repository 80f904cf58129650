//! The meeting after the bridge: Zoom events on the incident's timeline, and what happens to the
//! meeting when the incident resolves (kept, or ended after a grace period; a reopen cancels).
//!
//! The ingress only verifies, looks the meeting's incident up and queues; the worker keeps the
//! lifecycle in the idempotency table (`lifecycle#<incident>`) and posts the notes.
//!
//! Timeline noise: a big call would flood the incident with a note per join and leave, so only
//! `meeting.started`, the first join and `meeting.ended` are posted as they happen; every join
//! and leave is recorded and the closing notes (meeting ended, incident resolved) list who was
//! on the call.

use std::time::{Duration, Instant, SystemTime};

use crate::health::latest;
use crate::worker::{JobReport, Worker};
use bridge_relay_domain::error::{JobError, UpstreamError};
use bridge_relay_domain::meeting::MeetingLabels;
use bridge_relay_domain::model::{
    EndTimer, IncidentKey, Job, JobAction, MeetingEvent, MeetingEventKind, OnResolve,
};
use bridge_relay_domain::texts::{clock, day_and_clock};
use bridge_relay_ports::meetings::{MeetingError, Removal};
use bridge_relay_ports::queue::MAX_TIMER_HOP;
use bridge_relay_ports::store::{
    Attendance, HostSlot, MAX_TRACKED_PARTICIPANTS, MeetingLifecycle, StoredMeeting,
};

/// How long an incident stays resolved before its meeting ends, when the policy says `end`
/// and gives no `end_grace_seconds`.
pub const DEFAULT_END_GRACE_SECONDS: u32 = 600;
pub use bridge_relay_domain::model::MAX_END_GRACE_SECONDS;
/// Names listed in a closing note; the rest are counted.
const MAX_NAMES_IN_NOTE: usize = 50;
/// Read-modify-write attempts on a lifecycle before the job is retried later.
const LIFECYCLE_ATTEMPTS: usize = 5;

fn now_ms() -> u64 {
    bridge_relay_domain::telemetry::epoch_millis(SystemTime::now())
}

impl Worker {
    pub(crate) async fn handle_lifecycle(
        &self,
        job: &Job,
        deadline: Instant,
    ) -> Result<JobReport, JobError> {
        let summary = match &job.action {
            JobAction::ZoomEvent(event) => self.record_zoom_event(job, event, deadline).await?,
            JobAction::ZoomArtifact(event) => self.post_artifact(job, event, deadline).await?,
            JobAction::Resolved => self.resolved(job, deadline).await?,
            JobAction::Reopened => {
                let reopened = self.reopened(job, deadline).await?;
                // Open again, the call is watched again.
                self.arm_health(job, None, false).await?;
                reopened
            }
            JobAction::EndMeeting(timer) => self.end_timer_fired(job, *timer, deadline).await?,
            JobAction::Follow => {
                let followed = self.follow(job, deadline).await?;
                // An acknowledgement may have quieted a check, an unacknowledgement woken one.
                self.arm_health(job, None, false).await?;
                followed
            }
            JobAction::CheckHealth(timer) => self.health_timer_fired(job, *timer, deadline).await?,
            JobAction::Bridge => {
                return Err(JobError::Malformed(
                    "a bridge job reached the lifecycle path".into(),
                ));
            }
        };
        tracing::info!(incident = %job.incident_key(), action = job.action.as_str(), "{summary}");
        Ok(JobReport::Lifecycle {
            incident_id: job.incident.id.clone(),
            summary,
        })
    }

    /// Records when the bridge was posted (for the meeting's length without Zoom events), which
    /// after-call artifacts the incident gets, and the topic and agenda its meeting was made with;
    /// returns the health timer it records (the roll call's), for the bridge job to send.
    pub(crate) async fn note_bridged_at(
        &self,
        incident_id: &IncidentKey,
        job: &Job,
    ) -> Result<Option<u64>, JobError> {
        let after_call = job.meeting.artifact_choice();
        let labels = MeetingLabels::of(&job.keyed_incident(), &job.meeting);
        self.update_lifecycle(incident_id, |lifecycle| {
            lifecycle.bridged_at_ms.get_or_insert_with(now_ms);
            lifecycle.after_call.get_or_insert(after_call);
            lifecycle.labels.get_or_insert_with(|| labels.clone());
            // As the one write of a new meeting records it (only a host starts such a call).
            lifecycle.needs_host_to_start |= job.meeting.join_before_host == Some(false);
            crate::health::start_watching(lifecycle, job);
        })
        .await
        .map(|(lifecycle, ())| lifecycle.health.timer_due_ms)
    }

    /// Reads, changes and saves the incident's lifecycle, again from a fresh read when another
    /// worker saved in between.
    pub(crate) async fn update_lifecycle<T>(
        &self,
        incident_id: &IncidentKey,
        change: impl FnMut(&mut MeetingLifecycle) -> T,
    ) -> Result<(MeetingLifecycle, T), JobError> {
        self.update_known_lifecycle(incident_id, None, change)
            .await
            .map(|(lifecycle, _, out)| (lifecycle, out))
    }

    /// [`update_lifecycle`](Self::update_lifecycle) starting from `known`, a copy of the
    /// lifecycle and its version this job has just read or saved, instead of reading it again;
    /// when another worker saved in between, the save fails and it goes on from a fresh read.
    /// Returns the lifecycle saved and its version.
    pub(crate) async fn update_known_lifecycle<T>(
        &self,
        incident_id: &IncidentKey,
        mut known: Option<(MeetingLifecycle, u64)>,
        mut change: impl FnMut(&mut MeetingLifecycle) -> T,
    ) -> Result<(MeetingLifecycle, u64, T), JobError> {
        let attempts = LIFECYCLE_ATTEMPTS.saturating_add(usize::from(known.is_some()));
        for _ in 0..attempts {
            let (mut lifecycle, version) = match known.take() {
                Some(known) => known,
                None => self.store.lifecycle(incident_id).await?,
            };
            let out = change(&mut lifecycle);
            if self
                .store
                .save_lifecycle(incident_id, &lifecycle, version)
                .await?
            {
                return Ok((lifecycle, version.saturating_add(1), out));
            }
        }
        Err(JobError::Busy(incident_id.to_string()))
    }

    /// Posts a note on the job's incident, in the incident tool the job names.
    pub(crate) async fn post(
        &self,
        job: &Job,
        note: &str,
        deadline: Instant,
    ) -> Result<(), JobError> {
        let tool = self.tool_for(job)?;
        self.settings
            .retry
            .run(deadline, "add note", || {
                tool.add_note(&job.incident.id, note)
            })
            .await
            .map_err(|e| crate::worker::tool_error(e, JobError::Note))
    }

    /// Started, first join and ended go on the timeline now; every join and leave is recorded
    /// for the closing notes. The note is posted before the change is saved, so a failed post
    /// is retried with the job (at worst a note appears twice, never not at all).
    async fn record_zoom_event(
        &self,
        job: &Job,
        event: &MeetingEvent,
        deadline: Instant,
    ) -> Result<String, JobError> {
        let key = job.incident_key();
        let id = &key;
        let (lifecycle, version) = self.store.lifecycle(id).await?;
        let mut preview = lifecycle.clone();
        if let Some(note) = apply_event(&mut preview, event) {
            self.post(job, &note, deadline).await?;
        }
        // Saved from the copy just read; a change by another worker meanwhile fails the save,
        // and the event is applied again to a fresh read. The end of a call whose incident
        // resolved with the meeting kept lets go of its host slot.
        let paged_before = lifecycle.health.paged.clone();
        let (saved, saved_version, let_go) = self
            .update_known_lifecycle(id, Some((lifecycle, version)), |lifecycle| {
                apply_event(lifecycle, event);
                let let_go = event.kind == MeetingEventKind::Ended
                    && lifecycle.slot_held_for_call
                    && lifecycle.resolved_at_ms.is_some();
                if let_go {
                    lifecycle.slot_held_for_call = false;
                }
                let_go
            })
            .await?;
        for seconds in crate::health::newly_joined_after_seconds(&paged_before, &saved) {
            bridge_relay_domain::telemetry::record_responder_joined(seconds);
        }
        self.mark_event_feed().await?;
        // The timer judges the call as recorded; an event only makes sure one is queued.
        self.arm_health(job, Some((saved, saved_version)), false)
            .await?;
        if let_go {
            self.free_host_slot(id).await?;
        }
        Ok(format!(
            "{} of meeting {} recorded",
            event.kind.event_type(),
            event.meeting_id
        ))
    }

    async fn resolved(&self, job: &Job, deadline: Instant) -> Result<String, JobError> {
        let key = job.incident_key();
        let id = &key;
        let view = self.store.get_with_lifecycle(id).await?;
        let held = view.host;
        let read = Some((view.lifecycle, view.lifecycle_version));
        let Some(record) = view.record else {
            return Ok("resolved; the relay made no meeting for it".into());
        };
        let Some(meeting) = record.meeting else {
            // Its bridge job may still wait (for a free host): the resolution it will find
            // keeps it from making a meeting nobody needs, which would hold a host slot.
            self.update_known_lifecycle(id, read, |lifecycle| {
                if lifecycle.resolved_at_ms.is_none() {
                    lifecycle.resolved_at_ms = Some(now_ms());
                    lifecycle.generation = lifecycle.generation.saturating_add(1);
                }
            })
            .await?;
            // A create that failed for good, or a crash before its meeting was recorded, may
            // still hold a host slot (and have made a meeting): the resolve lets go of both.
            let maybe_created = record.stage == bridge_relay_ports::store::Stage::Creating;
            let freed = self
                .let_go_of_unrecorded_create(job, held, maybe_created, deadline)
                .await?;
            return Ok(match freed {
                Some(slot) => format!(
                    "resolved before its meeting was recorded; none will be, and slot {} of {} is free",
                    slot.slot, slot.host
                ),
                None => "resolved before its meeting was made; none will be".into(),
            });
        };
        let now = now_ms();
        // A repeated resolved webhook keeps the resolution (and its timer) it found.
        let (lifecycle, version, generation) = self
            .update_known_lifecycle(id, read, |lifecycle| {
                if lifecycle.resolved_at_ms.is_none() {
                    lifecycle.resolved_at_ms = Some(now);
                    lifecycle.generation = lifecycle.generation.saturating_add(1);
                }
                lifecycle.generation
            })
            .await?;
        let resolved_at = lifecycle.resolved_at_ms.unwrap_or(now);
        // Without a review to schedule, the lifecycle just saved is the one to close with.
        let no_review = job.meeting.review_after_minutes.is_none();
        let known = Known {
            lifecycle: no_review.then(|| (lifecycle.clone(), version)),
            host: Some(held),
        };
        match self
            .schedule_review(job, &lifecycle, resolved_at, deadline)
            .await
        {
            Ok(()) => {}
            // A review Zoom refuses must not keep the meeting from being closed.
            Err(e) if !e.is_retryable() => {
                tracing::error!(incident = %id, error = %e, "no post-incident review");
                self.post(
                    job,
                    &format!(
                        "bridge-relay could not schedule the post-incident review: {}",
                        e.note_reason()
                    ),
                    deadline,
                )
                .await?;
                self.update_lifecycle(id, |l| l.review_noted = true).await?;
            }
            Err(e) => return Err(e),
        }
        match job.meeting.on_resolve.unwrap_or(OnResolve::Keep) {
            OnResolve::Keep => {
                self.close_meeting(job, &meeting, generation, false, known, deadline)
                    .await
            }
            OnResolve::End => {
                let grace = job
                    .meeting
                    .end_grace_seconds
                    .unwrap_or(DEFAULT_END_GRACE_SECONDS);
                let due_at_ms = resolved_at.saturating_add(u64::from(grace) * 1000);
                if due_at_ms <= now_ms() {
                    return self
                        .close_meeting(job, &meeting, generation, true, known, deadline)
                        .await;
                }
                if lifecycle.end_scheduled == Some(generation) {
                    return Ok("resolved already; the end of the meeting is scheduled".into());
                }
                // Queued, announced, then recorded: a failed send or note is retried with
                // the job, never lost (a second timer finds the meeting closed already).
                let mut timer_job = job.clone();
                timer_job.action = JobAction::EndMeeting(EndTimer {
                    due_at_ms,
                    generation,
                });
                timer_job.webhook_id = format!("{}#end-{generation}", job.webhook_id);
                self.schedule(&timer_job, due_at_ms).await?;
                let wait = if grace < 60 {
                    format!("{grace} s")
                } else {
                    format!("{} min", grace.div_ceil(60))
                };
                self.post(
                    job,
                    &format!(
                        "Incident resolved. bridge-relay ends the Zoom meeting {} in {wait} if the incident stays resolved (a reopen keeps it open).",
                        meeting_number(meeting.id)
                    ),
                    deadline,
                )
                .await?;
                self.update_known_lifecycle(id, known.lifecycle, |l| {
                    if l.generation == generation {
                        l.end_scheduled = Some(generation);
                    }
                })
                .await?;
                Ok(format!(
                    "resolved; meeting {} ends in {grace} s unless reopened",
                    meeting.id
                ))
            }
        }
    }

    /// The optional post-incident review (`review_after_minutes`): one per incident, created
    /// once (a create whose answer was lost is looked up first, like the bridge's), with the
    /// people who joined the bridge invited by the email Zoom reported for them.
    async fn schedule_review(
        &self,
        job: &Job,
        lifecycle: &MeetingLifecycle,
        resolved_at_ms: u64,
        deadline: Instant,
    ) -> Result<(), JobError> {
        let Some(after) = job.meeting.review_after_minutes else {
            return Ok(());
        };
        if lifecycle.review_noted {
            return Ok(());
        }
        let key = job.incident_key();
        let id = &key;
        let invitees = invitees(lifecycle);
        let review = match &lifecycle.review {
            Some(review) => review.clone(),
            None => {
                let marker = bridge_relay_domain::meeting::review_marker_id(id.as_str());
                let mut options = job.meeting.clone();
                if lifecycle.review_host.is_some() {
                    options.host_user = lifecycle.review_host.clone();
                } else if !lifecycle.review_creating {
                    let pool = &self.settings.host_pool;
                    let Some(host) = self.take_review_create(job, pool).await? else {
                        let note = "Post-incident review not scheduled: every Zoom host of the pool has used its meeting creates for today.";
                        self.post(job, note, deadline).await?;
                        self.update_lifecycle(id, |l| l.review_noted = true).await?;
                        return Ok(());
                    };
                    self.update_lifecycle(id, |l| l.review_host = Some(host.clone()))
                        .await?;
                    options.host_user = Some(host);
                }
                let host = options.host_user.as_deref();
                let mut found = None;
                if lifecycle.review_creating {
                    found = self
                        .settings
                        .retry
                        .run(deadline, "find review meeting", || {
                            self.meetings.find_meeting(&marker, host)
                        })
                        .await
                        .map_err(|e| crate::worker::meeting_error(e, JobError::Review))?;
                } else {
                    self.update_lifecycle(id, |l| l.review_creating = true)
                        .await?;
                }
                let meeting = match found {
                    Some(meeting) => meeting,
                    None => {
                        let start = review_start(resolved_at_ms, after);
                        let request = bridge_relay_domain::meeting::review_spec(
                            &job.keyed_incident(),
                            &options,
                            &bridge_relay_ports::meetings::new_passcode(),
                            start,
                            &invitees,
                        );
                        // Not retried here: an unanswered create is looked up on the next delivery.
                        self.meetings
                            .create_meeting(&request)
                            .await
                            .map_err(|e| crate::worker::meeting_error(e, JobError::Review))?
                    }
                };
                let stored = StoredMeeting::from(&meeting);
                self.update_lifecycle(id, |l| l.review = Some(stored.clone()))
                    .await?;
                stored
            }
        };
        let start = review_start(resolved_at_ms, after);
        let mut note = format!(
            "Post-incident review scheduled for {} (30 min): {}\nMeeting ID: {}",
            day_and_clock(start),
            review.join_url,
            meeting_number(review.id)
        );
        if let Some(passcode) = &review.passcode {
            note.push_str(&format!("\nPasscode: {passcode}"));
        }
        if invitees.is_empty() {
            note.push_str("\nNo responder emails are known (Zoom reports them for people who join the bridge signed in); share the link with the team.");
        } else {
            note.push_str(&format!("\nInvited: {}", invitees.join(", ")));
        }
        self.post(job, &note, deadline).await?;
        self.update_lifecycle(id, |l| l.review_noted = true).await?;
        Ok(())
    }

    /// Counts the review's create against the first pool host (the policy's, when it pins one)
    /// with creates left today: a review takes no meeting slot now, but it is one of the host's
    /// 100 creates. `None`: every host has used them.
    async fn take_review_create(
        &self,
        job: &Job,
        pool: &crate::hostpool::HostPool,
    ) -> Result<Option<String>, JobError> {
        let day = crate::hostpool::utc_day(SystemTime::now());
        for host in pool.candidates(job.meeting.host_user.as_deref()) {
            if self
                .store
                .take_daily_create(host, &day, pool.creates_per_day)
                .await?
            {
                return Ok(Some(host.to_owned()));
            }
        }
        Ok(None)
    }

    pub(crate) async fn schedule(&self, job: &Job, due_at_ms: u64) -> Result<(), JobError> {
        let failed = |reason: String| JobError::Timer {
            of: job.action.timer_of(),
            reason,
        };
        let timer = self
            .timer
            .as_ref()
            .ok_or_else(|| failed("the worker has no timer queue (TIMER_QUEUE_URL)".into()))?;
        let wait = Duration::from_millis(due_at_ms.saturating_sub(now_ms()));
        timer
            .enqueue_after(job, wait.min(MAX_TIMER_HOP))
            .await
            .map_err(|e| failed(e.to_string()))
    }

    async fn reopened(&self, job: &Job, deadline: Instant) -> Result<String, JobError> {
        let key = job.incident_key();
        let id = &key;
        let view = self.store.get_with_lifecycle(id).await?;
        let read = Some((view.lifecycle, view.lifecycle_version));
        let Some(record) = view.record else {
            return Ok("reopened; the relay made no meeting for it".into());
        };
        if record.meeting.is_none() {
            // A bridge job still waiting may make the meeting again.
            self.update_known_lifecycle(id, read, |lifecycle| {
                if lifecycle.resolved_at_ms.take().is_some() {
                    lifecycle.generation = lifecycle.generation.saturating_add(1);
                }
            })
            .await?;
            return Ok("reopened; the relay made no meeting for it".into());
        }
        let (_, _, reopen) = self
            .update_known_lifecycle(id, read, undo_resolution)
            .await?;
        // Its meeting was let go of at the resolve: it takes its host slot back, since
        // responders return to the same bridge.
        if reopen == Reopen::Closed
            && let Some(held) = &view.host
        {
            let pool = &self.settings.host_pool;
            let taken = self
                .store
                .take_host_slot(&held.host, held.slot, id, pool.slot_max_age)
                .await?;
            if !taken {
                tracing::warn!(incident = %id, host = %held.host, slot = held.slot, "the reopened incident's host slot is held by another incident now");
            }
        }
        let pending_end = job.meeting.on_resolve == Some(OnResolve::End);
        if reopen == Reopen::EndCancelled && pending_end {
            self.post(
                job,
                "Incident reopened: the Zoom meeting stays open (its scheduled end is cancelled).",
                deadline,
            )
            .await?;
            return Ok("reopened; the pending end of the meeting is cancelled".into());
        }
        Ok("reopened".into())
    }

    async fn end_timer_fired(
        &self,
        job: &Job,
        timer: EndTimer,
        deadline: Instant,
    ) -> Result<String, JobError> {
        let key = job.incident_key();
        let id = &key;
        if now_ms() < timer.due_at_ms {
            // SQS delays at most 15 minutes: wait another hop.
            self.schedule(job, timer.due_at_ms).await?;
            return Ok("the end of the meeting is not due yet; waiting another hop".into());
        }
        let view = self.store.get_with_lifecycle(id).await?;
        let lifecycle = view.lifecycle;
        if lifecycle.resolved_at_ms.is_none() || lifecycle.generation != timer.generation {
            return Ok("the incident was reopened since; the meeting stays open".into());
        }
        let Some(meeting) = view.record.and_then(|r| r.meeting) else {
            return Ok("no meeting to end".into());
        };
        let known = Known {
            lifecycle: Some((lifecycle, view.lifecycle_version)),
            host: Some(view.host),
        };
        self.close_meeting(job, &meeting, timer.generation, true, known, deadline)
            .await
    }

    /// The one place where the relay lets go of an incident's meeting at resolution: ends it
    /// when asked (once), posts the closing note (once per resolution), and frees the host's
    /// meeting slot. Every resolve path (keep, end at once, end after the grace) comes here.
    async fn close_meeting(
        &self,
        job: &Job,
        meeting: &StoredMeeting,
        generation: u64,
        end: bool,
        known: Known,
        deadline: Instant,
    ) -> Result<String, JobError> {
        let key = job.incident_key();
        let incident_id = &key;
        // The caller's copy when it has just read or saved the lifecycle; a stale one fails
        // its save below and is read again.
        let (mut lifecycle, mut version) = match known.lifecycle {
            Some(known) => known,
            None => self.store.lifecycle(incident_id).await?,
        };
        let mut summary = format!("meeting {} kept open", meeting.id);
        if end && !lifecycle.ended_by_relay {
            // A meeting nobody used is removed, not left on the host's list; whether it was
            // is what Zoom says, the relay's own record (no start, no join) only rules it in.
            let removed = if never_used(&lifecycle) {
                self.remove_if_unused(incident_id, meeting.id, deadline)
                    .await?
            } else {
                false
            };
            let ended = if removed {
                Ok(())
            } else {
                self.settings
                    .retry
                    .run(deadline, "end meeting", || {
                        self.meetings.end_meeting(meeting.id)
                    })
                    .await
            };
            let mut refused = None;
            match ended {
                Ok(()) if removed => {
                    summary = format!("meeting {} removed, nobody had used it", meeting.id)
                }
                Ok(()) => summary = format!("meeting {} ended", meeting.id),
                // Gone already (deleted, expired): nothing is left to end.
                Err(MeetingError::Upstream(UpstreamError::Status { status: 404, .. })) => {
                    summary = format!("meeting {} was gone already", meeting.id)
                }
                Err(MeetingError::Upstream(e)) if e.is_retryable() => {
                    return Err(JobError::EndMeeting(e));
                }
                // Refused for good (not the host, not running, …): say so in the closing note.
                Err(MeetingError::Upstream(e)) => {
                    summary = format!("Zoom would not end meeting {}: {e}", meeting.id);
                    refused = Some(e.note_reason());
                }
                Err(MeetingError::Secrets(e)) => return Err(JobError::Secrets(e)),
            }
            let now = now_ms();
            // A reopen may have come while the end was sent: the write checks the
            // generation again, so an open incident is never marked ended.
            let current;
            (lifecycle, version, current) = self
                .update_known_lifecycle(incident_id, Some((lifecycle, version)), |l| {
                    if l.generation != generation {
                        return false;
                    }
                    l.ended_by_relay = true;
                    l.removed_unused = removed;
                    l.end_refused = refused.clone();
                    if refused.is_none() && l.ended_at_ms.is_none() {
                        l.ended_at_ms = Some(now);
                    }
                    true
                })
                .await?;
            if !current {
                tracing::warn!(incident = %incident_id, meeting_id = meeting.id, "the incident was reopened while its meeting was being ended");
                return Ok(format!(
                    "the incident was reopened while meeting {} was being ended; it is not marked ended",
                    meeting.id
                ));
            }
        }
        if lifecycle.closed_generation != Some(generation) {
            let note = closing_note(meeting.id, &lifecycle, end, now_ms());
            self.post(job, &note, deadline).await?;
            (lifecycle, version, ()) = self
                .update_known_lifecycle(incident_id, Some((lifecycle, version)), |l| {
                    l.closed_generation = Some(generation)
                })
                .await?;
        }
        // A kept meeting whose call is running (Zoom said it started and has not said it
        // ended) keeps its host slot until the call ends: a second incident's meeting on the
        // same host would cut the people on this one off.
        let call_running =
            !end && lifecycle.started_at_ms.is_some() && lifecycle.ended_at_ms.is_none();
        if call_running {
            if !lifecycle.slot_held_for_call {
                self.update_known_lifecycle(incident_id, Some((lifecycle, version)), |l| {
                    l.slot_held_for_call = true
                })
                .await?;
            }
            return Ok(format!(
                "{summary}; its host slot is freed when the call ends"
            ));
        }
        // The meeting is ended or let go: its host slot is free for the next incident. The
        // record's host does not change once it has its meeting, so the job's read of it holds.
        match known.host {
            Some(held) => self.free_read_host_slot(incident_id, held).await?,
            None => self.free_host_slot(incident_id).await?,
        };
        Ok(summary)
    }
}

impl Worker {
    /// Removes the meeting if Zoom says nobody used it; true if removed. A removal Zoom
    /// cannot make now is retried with the job; one it refuses otherwise (a missing scope)
    /// leaves the meeting to be ended as any other, with a log line.
    async fn remove_if_unused(
        &self,
        incident_id: &IncidentKey,
        meeting_id: u64,
        deadline: Instant,
    ) -> Result<bool, JobError> {
        let removal = self
            .settings
            .retry
            .run(deadline, "remove unused meeting", || {
                self.meetings.remove_unused_meeting(meeting_id)
            })
            .await;
        match removal {
            Ok(Removal::Removed) => Ok(true),
            Ok(Removal::Used) => Ok(false),
            Err(MeetingError::Upstream(e)) if e.is_retryable() => Err(JobError::EndMeeting(e)),
            Err(MeetingError::Secrets(e)) => Err(JobError::Secrets(e)),
            Err(MeetingError::Upstream(e)) => {
                tracing::warn!(incident = %incident_id, meeting_id, error = %e, "could not remove the unused meeting; ending it instead");
                Ok(false)
            }
        }
    }
}

/// Whether the relay saw nobody use the meeting: Zoom never said it started, nor that anyone
/// joined.
fn never_used(lifecycle: &MeetingLifecycle) -> bool {
    lifecycle.started_at_ms.is_none()
        && lifecycle.participants.is_empty()
        && lifecycle.untracked_joins == 0
}

/// What a job has just read or saved of its incident, so closing the meeting need not read it
/// again.
struct Known {
    /// The lifecycle and its version.
    lifecycle: Option<(MeetingLifecycle, u64)>,
    /// The host slot the record names, when read with it (`Some(None)`: it names none).
    host: Option<Option<HostSlot>>,
}

/// What a reopen undid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reopen {
    /// The relay never saw the incident resolved (or saw the reopen already): nothing changes.
    NotResolved,
    /// A resolution whose meeting was closed already (kept, or ended).
    Closed,
    /// A resolution not closed yet: its scheduled end, if any, is cancelled.
    EndCancelled,
}

/// Undoes the incident's resolution, moving the generation on so the end timer of the undone
/// resolution finds it stale. The generation is compared before it moves, so a reopen of an
/// incident never resolved (generation 0) subtracts nothing.
fn undo_resolution(lifecycle: &mut MeetingLifecycle) -> Reopen {
    if lifecycle.resolved_at_ms.take().is_none() {
        return Reopen::NotResolved;
    }
    let undone = lifecycle.generation;
    lifecycle.generation = undone.saturating_add(1);
    // People may start the meeting again; the next resolve ends it again.
    lifecycle.ended_by_relay = false;
    lifecycle.end_refused = None;
    // Open again, the incident holds its slot as any open one does.
    lifecycle.slot_held_for_call = false;
    if lifecycle.closed_generation == Some(undone) {
        Reopen::Closed
    } else {
        Reopen::EndCancelled
    }
}

/// When the review meeting starts: `after` minutes past the resolution (clamped, so no
/// time the store holds can overflow the clock).
fn review_start(resolved_at_ms: u64, after_minutes: u32) -> SystemTime {
    let at_ms = resolved_at_ms.saturating_add(u64::from(after_minutes).saturating_mul(60_000));
    bridge_relay_domain::telemetry::time_of_millis(at_ms).unwrap_or_else(SystemTime::now)
}

/// Zoom's limit on `meeting_invitees` is not documented; a review needs far fewer.
const MAX_INVITEES: usize = 100;

/// The distinct emails of the people who joined the bridge, in the order they joined.
fn invitees(lifecycle: &MeetingLifecycle) -> Vec<String> {
    let mut emails: Vec<String> = Vec::new();
    for email in lifecycle
        .participants
        .iter()
        .filter_map(|p| p.email.as_ref())
    {
        if !emails.iter().any(|e| e.eq_ignore_ascii_case(email)) && emails.len() < MAX_INVITEES {
            emails.push(email.clone());
        }
    }
    emails
}

/// Applies a Zoom event to the lifecycle; returns the note to post now, if the event is one the
/// timeline shows live (the meeting started, the first person joined, the meeting ended).
pub fn apply_event(lifecycle: &mut MeetingLifecycle, event: &MeetingEvent) -> Option<String> {
    let number = meeting_number(event.meeting_id);
    match event.kind {
        MeetingEventKind::Started => {
            let first = lifecycle.started_at_ms.is_none();
            if first && lifecycle.ended_at_ms.is_some_and(|end| event.at_ms <= end) {
                // The start of the call whose end came first: kept for its length, with no
                // note (the call is over).
                lifecycle.started_at_ms = Some(event.at_ms);
                return None;
            }
            if first || lifecycle.ended_at_ms.is_some_and(|end| event.at_ms > end) {
                lifecycle.started_at_ms = Some(event.at_ms);
                lifecycle.ended_at_ms = None;
                return Some(format!(
                    "Zoom meeting {number} started at {}.",
                    clock(event.at_ms)
                ));
            }
            None
        }
        MeetingEventKind::ParticipantJoined => {
            let name = event
                .participant
                .clone()
                .unwrap_or_else(|| "someone".into());
            note_empty_stretch(lifecycle, event.at_ms);
            // Whoever waited to be let in is in.
            if lifecycle
                .health
                .waiting
                .iter()
                .any(|w| same_participant(w.id.as_deref(), &w.name, event))
            {
                crate::health::record_waiting(
                    lifecycle,
                    &name,
                    event.participant_id.as_deref(),
                    event.at_ms,
                    false,
                    false,
                );
            }
            let tracked = lifecycle.participants.len();
            match person_of(lifecycle, event) {
                Some(person) => {
                    person.last_joined_ms = latest(person.last_joined_ms, event.at_ms);
                    person.first_joined_ms = person.first_joined_ms.min(event.at_ms);
                    if person.email.is_none() {
                        person.email = event.participant_email.clone();
                    }
                    person.present = crate::health::is_present(person);
                }
                None if tracked < MAX_TRACKED_PARTICIPANTS => {
                    lifecycle.participants.push(Attendance {
                        name: name.clone(),
                        id: event.participant_id.clone(),
                        first_joined_ms: event.at_ms,
                        last_left_ms: None,
                        last_joined_ms: Some(event.at_ms),
                        email: event.participant_email.clone(),
                        present: true,
                    })
                }
                None => {
                    lifecycle.untracked_joins = lifecycle.untracked_joins.saturating_add(1);
                    untracked_changed(lifecycle, event.at_ms, true);
                }
            }
            crate::health::match_paged(lifecycle, event);
            if lifecycle.first_join_noted {
                return None;
            }
            lifecycle.first_join_noted = true;
            Some(format!(
                "{name} joined the Zoom meeting {number} at {}, the first on the call. Later joins are listed when the meeting ends.",
                clock(event.at_ms)
            ))
        }
        MeetingEventKind::ParticipantLeft => {
            let tracked = lifecycle.participants.len();
            match person_of(lifecycle, event) {
                Some(person) => {
                    person.last_left_ms = latest(person.last_left_ms, event.at_ms);
                    person.present = crate::health::is_present(person);
                }
                // A leave before its join (events come out of order): the join, when it
                // comes, is older and leaves them off the call.
                None if tracked < MAX_TRACKED_PARTICIPANTS => {
                    lifecycle.participants.push(Attendance {
                        name: event
                            .participant
                            .clone()
                            .unwrap_or_else(|| "someone".into()),
                        id: event.participant_id.clone(),
                        first_joined_ms: event.at_ms,
                        last_left_ms: Some(event.at_ms),
                        last_joined_ms: None,
                        email: event.participant_email.clone(),
                        present: false,
                    })
                }
                None => untracked_changed(lifecycle, event.at_ms, false),
            }
            None
        }
        MeetingEventKind::WaitingForHost | MeetingEventKind::InWaitingRoom => {
            let name = event.participant.as_deref().unwrap_or("someone");
            let for_host = event.kind == MeetingEventKind::WaitingForHost;
            let id = event.participant_id.as_deref();
            crate::health::record_waiting(lifecycle, name, id, event.at_ms, true, for_host);
            None
        }
        MeetingEventKind::StoppedWaitingForHost | MeetingEventKind::LeftWaitingRoom => {
            let name = event.participant.as_deref().unwrap_or("someone");
            let id = event.participant_id.as_deref();
            crate::health::record_waiting(lifecycle, name, id, event.at_ms, false, false);
            None
        }
        MeetingEventKind::Ended => {
            // Delivered again or late: an end no later than the one recorded, or older than
            // the latest start (the meeting was started again since), is not this call's.
            if lifecycle.ended_at_ms.is_some_and(|end| end >= event.at_ms)
                || lifecycle
                    .started_at_ms
                    .is_some_and(|start| start > event.at_ms)
            {
                return None;
            }
            lifecycle.ended_at_ms = Some(event.at_ms);
            for person in &mut lifecycle.participants {
                if crate::health::is_present(person) {
                    person.present = false;
                    person.last_left_ms = Some(event.at_ms);
                }
            }
            let health = &mut lifecycle.health;
            if health.untracked_present > 0 {
                health.untracked_present = 0;
                health.untracked_changed_ms = Some(event.at_ms);
            }
            for waiting in &mut health.waiting {
                if waiting.still_waiting() {
                    waiting.left_ms = Some(event.at_ms);
                }
            }
            let mut note = format!("Zoom meeting {number} ended at {}", clock(event.at_ms));
            if let Some(length) = length_minutes(lifecycle, event.at_ms) {
                note.push_str(&format!(" after {length} min"));
            }
            note.push('.');
            if let Some(who) = who_joined(lifecycle) {
                note.push_str(&format!("\n{who}"));
            }
            // Ended while the incident is open (not resolved, not in its end's grace): the
            // bridge on the incident still works, and people should know it does.
            if lifecycle.resolved_at_ms.is_none() && !lifecycle.health_off {
                note.push_str(if lifecycle.needs_host_to_start {
                    "\nThe incident is still open, and its bridge still works: the meeting starts again when the host or an alternative host joins with the link (Zoom keeps it 30 days after its last use)."
                } else {
                    "\nThe incident is still open, and its bridge still works: joining with the link starts the meeting again (Zoom keeps it 30 days after its last use)."
                });
            }
            Some(note)
        }
    }
}

/// The call's figures for the closing note: how many joined, how long after the bridge the
/// first person and the first paged responder joined, and the longest the call sat empty.
fn call_figures(lifecycle: &MeetingLifecycle, until: u64) -> Option<String> {
    if lifecycle.participants.is_empty() && lifecycle.untracked_joins == 0 {
        return None;
    }
    let mut figures = Vec::new();
    if let Some(bridged) = lifecycle.bridged_at_ms {
        let after = |at: Option<u64>| {
            at.and_then(|at| crate::health::seconds_after_bridge(bridged, at))
                .map(crate::health::duration_text)
        };
        let first = lifecycle
            .participants
            .iter()
            .map(|p| p.first_joined_ms)
            .min();
        if let Some(first) = after(first) {
            figures.push(format!("the first person joined {first} after the bridge"));
        }
        let responder = lifecycle
            .health
            .paged
            .iter()
            .filter_map(|r| r.joined_ms)
            .min();
        if let Some(responder) = after(responder) {
            figures.push(format!("the first paged responder {responder} after it"));
        }
    }
    // A call empty when it closes counts its stretch up to now (or the end).
    let mut longest = lifecycle.health.longest_empty_ms;
    let occupancy = crate::health::occupancy(lifecycle);
    if occupancy.present == 0
        && lifecycle.ended_at_ms.is_none()
        && let Some(since) = occupancy.since_ms
    {
        longest = longest.max(until.saturating_sub(since));
    }
    if longest >= 1000 {
        figures.push(format!(
            "the call sat empty for {} at the longest",
            crate::health::duration_text(longest / 1000)
        ));
    }
    if figures.is_empty() {
        return None;
    }
    let mut text = figures.join("; ");
    if let Some(first) = text.get(..1) {
        text = format!(
            "{}{}.",
            first.to_uppercase(),
            text.get(1..).unwrap_or_default()
        );
    }
    Some(text)
}

/// Whether a recorded person (`id`, `name`) is the event's participant: by Zoom's id when the
/// event has one, else by name.
fn same_participant(id: Option<&str>, name: &str, event: &MeetingEvent) -> bool {
    match &event.participant_id {
        Some(event_id) => id == Some(event_id.as_str()),
        None => Some(name) == event.participant.as_deref().or(Some("someone")),
    }
}

/// One of the people beyond those tracked by name joined (`true`) or left at `at_ms`: counted,
/// never below zero.
fn untracked_changed(lifecycle: &mut MeetingLifecycle, at_ms: u64, joined: bool) {
    let health = &mut lifecycle.health;
    health.untracked_present = match joined {
        true => health.untracked_present.saturating_add(1),
        false => health.untracked_present.saturating_sub(1),
    };
    health.untracked_changed_ms = latest(health.untracked_changed_ms, at_ms);
}

/// The recorded person the event is of.
fn person_of<'a>(
    lifecycle: &'a mut MeetingLifecycle,
    event: &MeetingEvent,
) -> Option<&'a mut Attendance> {
    lifecycle
        .participants
        .iter_mut()
        .find(|p| same_participant(p.id.as_deref(), &p.name, event))
}

/// A join at `at_ms` ends an empty stretch, if the call was empty after someone had been on
/// it: the longest such stretch goes in the closing note.
fn note_empty_stretch(lifecycle: &mut MeetingLifecycle, at_ms: u64) {
    if lifecycle.participants.is_empty() && lifecycle.untracked_joins == 0 {
        return;
    }
    let occupancy = crate::health::occupancy(lifecycle);
    if occupancy.present == 0
        && let Some(since) = occupancy.since_ms
    {
        let gap = at_ms.saturating_sub(since);
        lifecycle.health.longest_empty_ms = lifecycle.health.longest_empty_ms.max(gap);
    }
}

/// The note posted when the incident resolves: what happened to the meeting, how long it ran,
/// and who joined (when Zoom event notifications are set up).
pub fn closing_note(
    meeting_id: u64,
    lifecycle: &MeetingLifecycle,
    ended: bool,
    now: u64,
) -> String {
    let number = meeting_number(meeting_id);
    if ended && lifecycle.removed_unused {
        return format!(
            "Incident resolved: nobody used the Zoom meeting {number}, so bridge-relay removed it; its link no longer works."
        );
    }
    let mut note = if let (true, Some(reason)) = (ended, &lifecycle.end_refused) {
        format!(
            "Incident resolved, but Zoom would not end the meeting {number}: {reason}\nEnd it in Zoom if it is still running."
        )
    } else if ended {
        format!("Incident resolved: bridge-relay ended the Zoom meeting {number}.")
    } else {
        format!("Incident resolved: the Zoom meeting {number} stays open.")
    };
    let until = lifecycle.ended_at_ms.unwrap_or(now);
    match (lifecycle.started_at_ms, lifecycle.bridged_at_ms) {
        (Some(started), _) => {
            let minutes = length_minutes(lifecycle, until).unwrap_or(0);
            note.push_str(&format!(
                "\nThe meeting ran for {minutes} min (started {}).",
                clock(started)
            ));
        }
        (None, Some(bridged)) => {
            note.push_str(&format!(
                "\nThe bridge was open for {} min (since {}).",
                until.saturating_sub(bridged) / 60_000,
                clock(bridged)
            ));
        }
        (None, None) => {}
    }
    match who_joined(lifecycle) {
        Some(who) => note.push_str(&format!("\n{who}")),
        None if lifecycle.started_at_ms.is_some() => note.push_str("\nNobody joined."),
        None => {}
    }
    if let Some(figures) = call_figures(lifecycle, until) {
        note.push_str(&format!("\n{figures}"));
    }
    if lifecycle
        .artifacts_posted
        .iter()
        .any(|key| key.starts_with("summary:"))
    {
        note.push_str("\nZoom's meeting summary is on the timeline above.");
    }
    note
}

fn length_minutes(lifecycle: &MeetingLifecycle, until: u64) -> Option<u64> {
    lifecycle
        .started_at_ms
        .map(|started| until.saturating_sub(started).div_ceil(60_000))
}

fn who_joined(lifecycle: &MeetingLifecycle) -> Option<String> {
    let total = lifecycle
        .participants
        .len()
        .saturating_add(usize::try_from(lifecycle.untracked_joins).unwrap_or(usize::MAX));
    if total == 0 {
        return None;
    }
    let names: Vec<&str> = lifecycle
        .participants
        .iter()
        .take(MAX_NAMES_IN_NOTE)
        .map(|p| p.name.as_str())
        .collect();
    let mut line = format!("On the call ({total}): {}", names.join(", "));
    let more = total.saturating_sub(names.len());
    if more > 0 {
        line.push_str(&format!(" and {more} more"));
    }
    line.push('.');
    Some(line)
}

/// `850 1234 5678`, as Zoom shows meeting ids.
pub(crate) fn meeting_number(id: u64) -> String {
    bridge_relay_domain::texts::display_meeting_id(id)
}

/// The note on the incident when a lifecycle job fails for good (or on its last delivery).
pub fn failure_note(job: &Job, error: &JobError) -> String {
    match &job.action {
        JobAction::Resolved | JobAction::EndMeeting(_) => format!(
            "bridge-relay could not close the Zoom meeting of this incident: {}\nEnd it in Zoom if nobody needs it. The job is kept in the relay's dead-letter queue.",
            error.note_reason()
        ),
        JobAction::ZoomArtifact(event) => format!(
            "bridge-relay could not post Zoom's {} of the meeting on this incident: {}\nIt is in Zoom; the job is kept in the relay's dead-letter queue.",
            event.artifact.kind().as_str(),
            error.note_reason()
        ),
        // The job may have failed after its event was recorded: "could not finish", which
        // holds either way, never "could not record".
        JobAction::CheckHealth(_) => format!(
            "bridge-relay could not finish a health check of this incident's Zoom call (the roll call, someone waiting, one person alone or an empty call): {}\nThe job is kept in the relay's dead-letter queue.",
            error.note_reason()
        ),
        JobAction::Reopened => format!(
            "bridge-relay could not finish handling the reopening of this incident: {}\nIf its Zoom meeting was to end after the resolve, it may still end then.",
            error.note_reason()
        ),
        _ => format!(
            "bridge-relay could not finish handling a Zoom meeting event ({}) for this incident: {}",
            job.event_type,
            error.note_reason()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_relay_domain::texts::UNKNOWN_TIME;

    const T0: u64 = 1_795_428_000_000; // 2026-11-23T10:00:00Z

    fn event(kind: MeetingEventKind, at_min: u64, who: Option<(&str, &str)>) -> MeetingEvent {
        MeetingEvent {
            kind,
            meeting_id: 85012345678,
            at_ms: T0 + at_min * 60_000,
            participant: who.map(|(name, _)| name.to_owned()),
            participant_id: who.map(|(_, id)| id.to_owned()),
            participant_email: None,
        }
    }

    #[test]
    fn a_late_end_of_an_earlier_run_does_not_end_the_meeting_started_again() {
        use MeetingEventKind::*;
        let mut lifecycle = MeetingLifecycle::default();
        assert!(apply_event(&mut lifecycle, &event(Started, 0, None)).is_some());
        assert!(apply_event(&mut lifecycle, &event(Ended, 40, None)).is_some());
        // Started again; then Zoom delivers the first run's end once more.
        assert!(apply_event(&mut lifecycle, &event(Started, 41, None)).is_some());
        assert_eq!(apply_event(&mut lifecycle, &event(Ended, 40, None)), None);
        assert_eq!(lifecycle.ended_at_ms, None, "the call is running");
        assert_eq!(lifecycle.started_at_ms, Some(T0 + 41 * 60_000));
        // Its own end comes.
        assert!(apply_event(&mut lifecycle, &event(Ended, 50, None)).is_some());
    }

    #[test]
    fn a_start_delivered_after_its_end_leaves_the_call_ended() {
        use MeetingEventKind::*;
        let mut lifecycle = MeetingLifecycle::default();
        assert!(apply_event(&mut lifecycle, &event(Ended, 40, None)).is_some());
        assert_eq!(apply_event(&mut lifecycle, &event(Started, 0, None)), None);
        assert_eq!(lifecycle.ended_at_ms, Some(T0 + 40 * 60_000));
        assert_eq!(lifecycle.started_at_ms, Some(T0));
    }

    #[test]
    fn a_failed_health_check_or_reopen_is_not_called_an_event_not_recorded() {
        let error = JobError::Note(bridge_relay_domain::error::UpstreamError::Transport {
            service: bridge_relay_domain::error::Service::PagerDuty,
            reason: "connection reset".into(),
        });
        let job = |action: &str, extra: &str| {
            Job::from_json(&format!(
                r#"{{"webhook_id":"w","event_id":"e","event_type":"{action}","action":"{action}","incident":{{"id":"P1"}}{extra}}}"#
            ))
            .unwrap()
        };
        let health = failure_note(
            &job("check_health", r#","health_timer":{"due_at_ms":1}"#),
            &error,
        );
        assert!(
            health.starts_with(
                "bridge-relay could not finish a health check of this incident's Zoom call"
            ),
            "{health}"
        );
        let reopened = failure_note(&job("reopened", ""), &error);
        assert!(
            reopened.starts_with(
                "bridge-relay could not finish handling the reopening of this incident:"
            ),
            "{reopened}"
        );
        for note in [health, reopened] {
            assert!(!note.contains("could not record"), "{note}");
        }
    }

    #[test]
    fn only_start_first_join_and_end_are_posted_live() {
        use MeetingEventKind::*;
        let mut lifecycle = MeetingLifecycle::default();
        let started = apply_event(&mut lifecycle, &event(Started, 0, None));
        assert_eq!(
            started.as_deref(),
            Some("Zoom meeting 850 1234 5678 started at 10:00 UTC.")
        );
        assert_eq!(apply_event(&mut lifecycle, &event(Started, 0, None)), None);
        let first = apply_event(
            &mut lifecycle,
            &event(ParticipantJoined, 2, Some(("Ada", "u1"))),
        );
        assert!(
            first
                .unwrap()
                .starts_with("Ada joined the Zoom meeting 850 1234 5678 at 10:02 UTC, the first")
        );
        for n in 0..400 {
            let id = format!("p{n}");
            assert_eq!(
                apply_event(
                    &mut lifecycle,
                    &event(ParticipantJoined, 3, Some(("Bob", &id)))
                ),
                None
            );
        }
        assert_eq!(lifecycle.participants.len(), MAX_TRACKED_PARTICIPANTS);
        assert_eq!(lifecycle.untracked_joins, 101);
        assert_eq!(crate::health::occupancy(&lifecycle).present, 401);
        assert_eq!(
            apply_event(
                &mut lifecycle,
                &event(ParticipantLeft, 10, Some(("Ada", "u1")))
            ),
            None
        );
        assert_eq!(lifecycle.participants[0].last_left_ms, Some(T0 + 600_000));
        let ended = apply_event(&mut lifecycle, &event(Ended, 42, None)).unwrap();
        assert!(
            ended.starts_with("Zoom meeting 850 1234 5678 ended at 10:42 UTC after 42 min.\nOn the call (401): Ada, Bob,"),
            "{ended}"
        );
        assert!(ended.contains(" and 351 more.\n"), "{ended}");
        assert_eq!(crate::health::occupancy(&lifecycle).present, 0);
        assert_eq!(apply_event(&mut lifecycle, &event(Ended, 42, None)), None);
    }

    #[test]
    fn times_past_year_9999_are_noted_as_unknown_not_a_panic() {
        use MeetingEventKind::*;
        // A signed event may carry any `event_ts`: a year past 9999, or u64::MAX.
        let year_10000_and_one = 253_402_300_800_000 + 365 * 86_400_000;
        let mut lifecycle = MeetingLifecycle::default();
        let started = apply_event(
            &mut lifecycle,
            &MeetingEvent {
                at_ms: year_10000_and_one,
                ..event(Started, 0, None)
            },
        );
        assert_eq!(
            started.as_deref(),
            Some("Zoom meeting 850 1234 5678 started at an unknown time.")
        );
        let joined = apply_event(
            &mut lifecycle,
            &MeetingEvent {
                at_ms: u64::MAX,
                ..event(ParticipantJoined, 0, Some(("Ada", "u1")))
            },
        )
        .unwrap();
        assert!(joined.contains("at an unknown time, the first"), "{joined}");
        let ended = apply_event(
            &mut lifecycle,
            &MeetingEvent {
                at_ms: u64::MAX,
                ..event(Ended, 0, None)
            },
        )
        .unwrap();
        assert!(
            ended.starts_with("Zoom meeting 850 1234 5678 ended at an unknown time after "),
            "{ended}"
        );
        let closing = closing_note(85012345678, &lifecycle, true, T0);
        assert!(closing.contains("(started an unknown time)"), "{closing}");
        let bridged_only = MeetingLifecycle {
            bridged_at_ms: Some(u64::MAX),
            ..MeetingLifecycle::default()
        };
        assert!(
            closing_note(85012345678, &bridged_only, false, u64::MAX)
                .ends_with("(since an unknown time)."),
        );
        // A review start past what the clock writes is said to be unknown, not a panic.
        assert_eq!(
            day_and_clock(review_start(u64::MAX, u32::MAX)),
            UNKNOWN_TIME
        );
    }

    #[test]
    fn a_reopen_without_a_resolve_changes_nothing() {
        let mut never_resolved = MeetingLifecycle::default();
        assert_eq!(undo_resolution(&mut never_resolved), Reopen::NotResolved);
        assert_eq!(never_resolved, MeetingLifecycle::default());

        let mut resolved = MeetingLifecycle {
            resolved_at_ms: Some(T0),
            generation: 1,
            ended_by_relay: true,
            ..MeetingLifecycle::default()
        };
        assert_eq!(undo_resolution(&mut resolved.clone()), Reopen::EndCancelled);
        resolved.closed_generation = Some(1);
        assert_eq!(undo_resolution(&mut resolved), Reopen::Closed);
        assert_eq!(
            resolved.generation, 2,
            "the undone resolution's timer is stale"
        );
        assert_eq!(resolved.resolved_at_ms, None);
        assert!(!resolved.ended_by_relay);
        assert_eq!(
            undo_resolution(&mut resolved),
            Reopen::NotResolved,
            "a repeated reopen"
        );
        assert_eq!(resolved.generation, 2);
    }

    #[test]
    fn a_lost_review_is_looked_for_by_the_marker_its_agenda_carries() {
        for (tool, tool_name) in [("pagerduty", "PagerDuty"), ("incident_io", "incident.io")] {
            let job = Job::from_json(
                &serde_json::json!({
                    "webhook_id": "w", "event_id": "e", "event_type": "incident.resolved",
                    "action": "resolved", "tool": tool,
                    "incident": {"id": "01HXYZ", "title": "Checkout down"}
                })
                .to_string(),
            )
            .unwrap();
            // What schedule_review looks a lost review up by, and what it creates.
            let marker =
                bridge_relay_domain::meeting::review_marker_id(job.incident_key().as_str());
            let request = bridge_relay_domain::meeting::review_spec(
                &job.keyed_incident(),
                &job.meeting,
                "12345678",
                SystemTime::UNIX_EPOCH,
                &[],
            );
            assert!(
                request
                    .agenda
                    .contains(&bridge_relay_domain::meeting::agenda_marker(&marker)),
                "{tool}: {}",
                request.agenda
            );
            assert!(
                request.agenda.starts_with(&format!(
                    "Post-incident review of {tool_name} incident 01HXYZ ("
                )),
                "{}",
                request.agenda
            );
            assert_eq!(
                request.topic,
                "Post-incident review: [01HXYZ] Checkout down"
            );
        }
    }

    #[test]
    fn a_meeting_that_ends_while_the_incident_is_open_says_its_bridge_still_works() {
        let ended = |lifecycle: &mut MeetingLifecycle| {
            let event = MeetingEvent {
                meeting_id: 85012345678,
                kind: MeetingEventKind::Ended,
                at_ms: T0 + 60_000,
                participant: None,
                participant_id: None,
                participant_email: None,
            };
            apply_event(lifecycle, &event).unwrap_or_default()
        };
        let open = MeetingLifecycle {
            started_at_ms: Some(T0),
            ..MeetingLifecycle::default()
        };
        assert!(
            ended(&mut open.clone()).ends_with(
                "\nThe incident is still open, and its bridge still works: joining with the link starts the meeting again (Zoom keeps it 30 days after its last use)."
            )
        );
        let host_only = MeetingLifecycle {
            needs_host_to_start: true,
            ..open.clone()
        };
        assert!(
            ended(&mut host_only.clone()).contains("when the host or an alternative host joins")
        );
        for quiet in [
            MeetingLifecycle {
                health_off: true,
                ..open.clone()
            },
            MeetingLifecycle {
                resolved_at_ms: Some(T0 + 30_000),
                ..open.clone()
            },
        ] {
            assert!(!ended(&mut quiet.clone()).contains("still open"));
        }
        // Zoom's retry of the same end: no second note.
        let mut once = open;
        assert!(!ended(&mut once).is_empty());
        assert!(ended(&mut once).is_empty());
    }

    #[test]
    fn closing_notes_give_length_and_who_joined() {
        use MeetingEventKind::*;
        let mut lifecycle = MeetingLifecycle::default();
        apply_event(&mut lifecycle, &event(Started, 0, None));
        apply_event(
            &mut lifecycle,
            &event(ParticipantJoined, 1, Some(("Ada", "u1"))),
        );
        apply_event(
            &mut lifecycle,
            &event(ParticipantJoined, 5, Some(("Grace", "u2"))),
        );
        assert_eq!(
            closing_note(85012345678, &lifecycle, true, T0 + 30 * 60_000),
            "Incident resolved: bridge-relay ended the Zoom meeting 850 1234 5678.\nThe meeting ran for 30 min (started 10:00 UTC).\nOn the call (2): Ada, Grace."
        );
        let without_events = MeetingLifecycle {
            bridged_at_ms: Some(T0),
            ..MeetingLifecycle::default()
        };
        let refused = MeetingLifecycle {
            end_refused: Some("Zoom API answered HTTP 400: You're not the meeting host".into()),
            ..without_events.clone()
        };
        assert!(
            closing_note(85012345678, &refused, true, T0).starts_with(
                "Incident resolved, but Zoom would not end the meeting 850 1234 5678: Zoom API answered HTTP 400: You're not the meeting host\nEnd it in Zoom if it is still running."
            )
        );
        assert_eq!(
            closing_note(85012345678, &without_events, false, T0 + 12 * 60_000),
            "Incident resolved: the Zoom meeting 850 1234 5678 stays open.\nThe bridge was open for 12 min (since 10:00 UTC)."
        );
    }
}
