//! The bridge job, written once against the ports: claim the incident, create its one meeting,
//! set the bridge and post the note; and how a delivery settles (done, retried, requeued or
//! dead-lettered with a note). The [`Worker`] and what a delivery is live below it, in `worker`.

use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use crate::health::RollCallTimer;
use bridge_relay_domain::error::{JobError, Service, UpstreamError};
use bridge_relay_domain::meeting::MeetingLabels;
use bridge_relay_domain::model::{IncidentKey, Job, JobAction, Meeting};
use bridge_relay_ports::incident_tool::{IncidentTool, IncidentToolError};
use bridge_relay_ports::meetings::{MeetingError, new_passcode};
use bridge_relay_ports::store::{
    Claim, HostTake, IncidentRecord, MeetingLifecycle, Stage, StoredMeeting, new_owner,
};

pub(crate) use crate::worker::{CreateFailed, CreateFrom, Prepared, meeting_error, tool_error};
pub use crate::worker::{Delivery, FailureNote, JobReport, Settled, Worker, WorkerSettings};

/// Marks the webhook id of a job queued again because another delivery held its incident
/// through every receive; such a job is not queued again a second time.
const BUSY_REQUEUE_MARK: &str = "#busy-";

/// How old a job must be before the worker asks whether its incident resolved meanwhile.
const WAITED_MS: u64 = 60_000;

/// A job still waiting for a free host past the policy's wait gives up: a bridge opened hours
/// into an incident helps nobody, and a job requeued for ever would open one days later.
fn gave_up_waiting(job: &Job, error: JobError) -> JobError {
    let JobError::PoolFull(full) = error else {
        return error;
    };
    let now = bridge_relay_domain::telemetry::epoch_millis(SystemTime::now());
    let waited_ms = job
        .received_at_ms
        .map_or(0, |received| now.saturating_sub(received));
    let wait = job.meeting.host_wait();
    if u128::from(waited_ms) <= wait.as_millis() {
        return JobError::PoolFull(full);
    }
    JobError::NoHostInTime {
        waited_minutes: waited_ms / 60_000,
        full,
    }
}

/// Whether the job has waited since its webhook (or is too old to say).
fn has_waited(job: &Job) -> bool {
    let now = bridge_relay_domain::telemetry::epoch_millis(SystemTime::now());
    job.received_at_ms
        .is_none_or(|received| now.saturating_sub(received) > WAITED_MS)
}

impl Worker {
    /// Runs a delivered job and decides its fate. A job that fails for good, or fails on its
    /// last delivery, leaves a note on the incident saying why; a job that fails for good is put
    /// in the dead-letter queue at once instead of waiting out its retries.
    pub async fn handle_delivery(&self, job: &Job, delivery: Delivery) -> Settled {
        let error = match self.handle_job(job, delivery.deadline).await {
            Ok(report) => return Settled::Done(report),
            Err(e) => gave_up_waiting(job, e),
        };
        let incident = &job.incident.id;
        if let JobError::PoolFull(full) = &error {
            self.note_pool_full_once(job, full, delivery.deadline).await;
        }
        if matches!(error, JobError::Busy(_)) && job.action.is_bridge() {
            return self.settle_busy(job, delivery, error).await;
        }
        if delivery.receive_count >= self.settings.max_receives
            && let Some(jobs) = &self.requeue
            && let Some(fresh) = self.requeue_on_last_receive(job, &error).await
        {
            match jobs.enqueue(&fresh).await {
                Ok(()) => {
                    tracing::warn!(incident = %incident, error = %error, "the job's receives went to waiting for a host; it is queued again");
                    return Settled::Requeued(error);
                }
                Err(e) => {
                    tracing::error!(incident = %incident, error = %e, "could not queue the waiting job again");
                }
            }
        }
        if !error.is_retryable() {
            tracing::error!(incident = %incident, error = %error, "job failed for good");
            self.let_go_after_failure(job, delivery.deadline).await;
            let note = self.note_failure(job, &error).await;
            let mut dead = job.clone();
            dead.failure = Some(error.to_string());
            return match self.dead_letters.enqueue(&dead).await {
                Ok(()) => Settled::DeadLettered(error, note),
                Err(e) => {
                    tracing::error!(incident = %incident, error = %e, "could not dead-letter the job; it stays queued");
                    Settled::Retry(error)
                }
            };
        }
        if delivery.receive_count >= self.settings.max_receives {
            tracing::error!(incident = %incident, error = %error, receives = delivery.receive_count, "last delivery failed; the job goes to the dead-letter queue");
            self.let_go_after_failure(job, delivery.deadline).await;
            let note = self.note_failure(job, &error).await;
            return Settled::LastDelivery(error, note);
        }
        tracing::warn!(incident = %incident, error = %error, receives = delivery.receive_count, "job failed; it will be delivered again");
        Settled::Retry(error)
    }

    /// Another delivery of the incident holds its claim: a slow one, or one that crashed with
    /// its lease still running. It may yet finish, so meeting its claim is no failure and gets
    /// no failure note: the job is delivered again, and on its last receive goes back to the
    /// queue as a fresh message (once) to finish after the holder. A job that still meets a
    /// claim after that is dead-lettered for replay without a note; the holder, which is
    /// plainly at work, posts its own if it fails.
    async fn settle_busy(&self, job: &Job, delivery: Delivery, error: JobError) -> Settled {
        let incident = &job.incident.id;
        if delivery.receive_count < self.settings.max_receives {
            tracing::warn!(incident = %incident, receives = delivery.receive_count, "another delivery holds the incident; this one is delivered again later");
            return Settled::Retry(error);
        }
        if !job.webhook_id.contains(BUSY_REQUEUE_MARK)
            && let Some(jobs) = &self.requeue
        {
            let mut fresh = job.clone();
            // A new dedup id, or SQS drops the copy as a repeat of the first message.
            fresh.webhook_id = format!("{}{BUSY_REQUEUE_MARK}{}", job.webhook_id, new_owner());
            match jobs.enqueue(&fresh).await {
                Ok(()) => {
                    tracing::warn!(incident = %incident, "another delivery held the incident through every receive; the job is queued again to finish after it");
                    return Settled::Requeued(error);
                }
                Err(e) => {
                    tracing::error!(incident = %incident, error = %e, "could not queue the job again");
                }
            }
        }
        tracing::error!(incident = %incident, receives = delivery.receive_count, "another delivery held the incident through every receive; the job goes to the dead-letter queue without a failure note");
        Settled::LastDelivery(
            error,
            FailureNote::NotNeeded("another delivery held the incident, and posts its own"),
        )
    }

    /// Waiting for a free host uses up receives without a failure, so on the last receive a
    /// job still waiting, or one that found its host only now and failed, goes back to the queue
    /// as a new message (the latter once) instead of to the dead-letter queue.
    async fn requeue_on_last_receive(&self, job: &Job, error: &JobError) -> Option<Job> {
        let still_waiting = matches!(error, JobError::PoolFull(_));
        let first_failure_after_waiting = !still_waiting
            && job.action.is_bridge()
            && error.is_retryable()
            && !job.requeued_after_waiting
            && self
                .store
                .waited_for_host(&job.incident_key())
                .await
                .unwrap_or(false);
        if !still_waiting && !first_failure_after_waiting {
            return None;
        }
        let mut fresh = job.clone();
        // A new dedup id, or SQS drops the copy as a repeat of the first message.
        let original = job.webhook_id.split("#wait-").next().unwrap_or_default();
        fresh.webhook_id = format!("{original}#wait-{}", new_owner());
        fresh.requeued_after_waiting |= first_failure_after_waiting;
        Some(fresh)
    }

    /// A bridge job that fails for good without a recorded meeting gives its host slot back
    /// (ending a meeting its create may have made), so one failed job does not keep the next
    /// incidents from a host; a replay of the job takes a slot again.
    async fn let_go_after_failure(&self, job: &Job, deadline: Instant) {
        if !job.action.is_bridge() {
            return;
        }
        let key = job.incident_key();
        let let_go = async {
            let (record, held) = self.store.get_with_host(&key).await?;
            match record {
                Some(record) if record.meeting.is_none() => {
                    let maybe_created = record.stage == Stage::Creating;
                    self.let_go_of_unrecorded_create(job, held, maybe_created, deadline)
                        .await
                }
                _ => Ok(None),
            }
        };
        if let Err(e) = let_go.await {
            tracing::error!(incident = %key, error = %e, "could not give the failed job's host slot back; it frees at its maximum age or the incident's resolve");
        }
    }

    async fn note_failure(&self, job: &Job, error: &JobError) -> FailureNote {
        if job.action == JobAction::Follow {
            tracing::error!(incident = %job.incident_key(), error = %error, "could not bring the meeting in step with the incident");
            return FailureNote::NotNeeded(
                "the bridge is on the incident; only its topic is behind",
            );
        }
        let Ok(tool) = self.tool_for(job) else {
            tracing::error!(incident = %job.incident_key(), "no adapter to post the failure note with");
            return FailureNote::NotPosted;
        };
        if job.action.is_bridge()
            && let Ok(Some(record)) = self.store.get(&job.incident_key()).await
            && record.stage >= Stage::BridgeSet
        {
            // The bridge is on the incident: "could not open a Zoom bridge" would be false.
            tracing::error!(incident = %job.incident_key(), error = %error, "the job failed after its bridge was set; no failure note");
            return FailureNote::NotNeeded("the bridge is on the incident");
        }
        let note = if job.action.is_bridge() {
            failure_note(error)
        } else {
            crate::lifecycle::failure_note(job, error)
        };
        match tool.add_note(&job.incident.id, &note).await {
            Ok(()) => FailureNote::Posted,
            Err(e) => {
                tracing::error!(incident = %job.incident.id, error = %e, "could not post the failure note");
                FailureNote::NotPosted
            }
        }
    }

    pub async fn handle_job(&self, job: &Job, deadline: Instant) -> Result<JobReport, JobError> {
        if !job.action.is_bridge() {
            return self.handle_lifecycle(job, deadline).await;
        }
        let tool = self.tool_for(job)?;
        // The store and logs know the incident by its key (`<tool>:<id>` beyond PagerDuty).
        let key = job.incident_key();
        let incident_id = &key;
        let owner = new_owner();
        let lease = crate::worker::claim_lease(deadline);
        let (claim, prepared) = self.claim_for(job, incident_id, &owner, lease).await?;
        let record = match claim {
            Claim::Done(_) => {
                // A later event of the incident's (the policy's bridge trigger again, or an
                // escalation) carries it as it is now: its meeting follows.
                let followed = self.follow(job, deadline).await?;
                tracing::info!(incident = %incident_id, "already bridged; {followed}");
                // Its first delivery sent the health timer before calling it done; this only
                // queues one that was lost (its time long past, say).
                self.arm_health(job, None, false).await?;
                return Ok(JobReport::AlreadyDone {
                    incident_id: incident_id.to_string(),
                });
            }
            Claim::Busy => {
                // Another delivery holds the claim. Once it has set the bridge, what is left
                // (the note) is its work, and this delivery has nothing to do.
                if let Some(record) = self.store.get(incident_id).await?
                    && record.stage >= Stage::BridgeSet
                {
                    tracing::info!(incident = %incident_id, stage = record.stage.as_str(), "another delivery has set the bridge; nothing to do");
                    return Ok(JobReport::AlreadyDone {
                        incident_id: incident_id.to_string(),
                    });
                }
                return Err(JobError::Busy(incident_id.to_string()));
            }
            Claim::Acquired(record) => record,
        };
        let result = self
            .resume(job, tool, &owner, record, prepared, deadline)
            .await;
        if result.is_err()
            && let Err(e) = self.store.release(incident_id, &owner).await
        {
            tracing::warn!(incident = %incident_id, error = %e, "could not release the claim; it expires with its lease");
        }
        let report = result?;
        if let JobReport::Bridged { .. } = &report {
            // The bridge and its note are posted: now the responders get host controls and the
            // roll call its roster. A failure here redelivers the job, which finds the incident
            // bridged and follows it again.
            if !job.incident.responders.is_empty() {
                let followed = self.follow(job, deadline).await?;
                tracing::info!(incident = %incident_id, "bridged; {followed}");
            }
        }
        Ok(report)
    }

    /// Claims the job's incident. A job that goes on to create the meeting (no bridge to keep,
    /// no resolution to look for first) lets the claim record what the create needs in the
    /// same write: stage `Creating`, and with the host pool a first host slot and the day's
    /// create, so a first delivery makes one store call before the create.
    async fn claim_for(
        &self,
        job: &Job,
        incident_id: &IncidentKey,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<(Claim, Prepared), JobError> {
        let keeps_bridge =
            job.incident.conference_bridge.is_some() && !self.settings.overwrite_existing_bridge;
        if keeps_bridge || has_waited(job) {
            return Ok((
                self.store.claim(incident_id, owner, lease).await?,
                Prepared::Nothing,
            ));
        }
        let pool = &self.settings.host_pool;
        if let Some(slot) =
            crate::hostpool::first_choice(pool, job.meeting.host_user.as_deref(), incident_id)
        {
            let day = crate::hostpool::utc_day(SystemTime::now());
            let take = HostTake {
                slot: &slot,
                max_age: pool.slot_max_age,
                day: &day,
                creates_per_day: pool.creates_per_day,
            };
            if self
                .store
                .claim_new_with_host(incident_id, owner, lease, &take)
                .await?
            {
                let record = IncidentRecord {
                    incident_id: incident_id.to_string(),
                    stage: Stage::Claimed,
                    meeting: None,
                };
                return Ok((Claim::Acquired(record), Prepared::Host(slot)));
            }
        }
        // A later delivery, or the first choice is busy or spent: claim, then look for a host.
        Ok((
            self.store.claim(incident_id, owner, lease).await?,
            Prepared::Nothing,
        ))
    }

    async fn resume(
        &self,
        job: &Job,
        tool: &dyn IncidentTool,
        owner: &str,
        record: IncidentRecord,
        prepared: Prepared,
        deadline: Instant,
    ) -> Result<JobReport, JobError> {
        let incident = &job.incident;
        let key = job.incident_key();
        // `id` is the store's key; the tool is called with the incident's own id.
        let id = &key;
        let tool_id = incident.id.as_str();
        if record.stage == Stage::Claimed
            && incident.conference_bridge.is_some()
            && !self.settings.overwrite_existing_bridge
        {
            tracing::info!(incident = %id, "the incident has a bridge already; keeping it");
            self.store.advance(id, owner, Stage::Done, None).await?;
            return Ok(JobReport::KeptExistingBridge {
                incident_id: id.to_string(),
            });
        }
        // A job that waited (for a free host, or through an outage) past the incident's
        // resolution makes no meeting; nothing has been sent to Zoom yet at this stage. A job
        // fresh from the webhook skips the read: its incident cannot have resolved yet.
        // A create recorded as `Creating` whose incident resolved meanwhile was let go of by
        // the resolve (its meeting, if any, ended): it is not made again either.
        if record.stage <= Stage::Creating
            && record.meeting.is_none()
            && has_waited(job)
            && self.store.lifecycle(id).await?.0.resolved_at_ms.is_some()
        {
            tracing::info!(incident = %id, "the incident resolved before its meeting was made; making none");
            self.store.advance(id, owner, Stage::Done, None).await?;
            return Ok(JobReport::Lifecycle {
                incident_id: id.to_string(),
                summary: "the incident resolved before its meeting was made; none is made".into(),
            });
        }
        // Whether the meeting, its index item and the bridge's time went in one write.
        let mut recorded_together = false;
        let mut roll_call = RollCallTimer::RecordedEarlier;
        let meeting: Meeting = match record.meeting {
            Some(stored) => stored.into(),
            None => {
                let taken = match prepared {
                    Prepared::Host(slot) => Some(slot),
                    Prepared::Nothing => None,
                };
                let pool = &self.settings.host_pool;
                let meeting = self
                    .create_in_pool(job, owner, record.stage, pool, taken, deadline)
                    .await?;
                let stored = StoredMeeting::from(&meeting);
                let mut first = MeetingLifecycle {
                    bridged_at_ms: Some(bridge_relay_ports::store::now_millis()),
                    after_call: Some(job.meeting.artifact_choice()),
                    labels: Some(MeetingLabels::of(&job.keyed_incident(), &job.meeting)),
                    needs_host_to_start: job.meeting.join_before_host == Some(false),
                    ..MeetingLifecycle::default()
                };
                crate::health::start_watching(&mut first, job);
                recorded_together = self
                    .store
                    .record_new_meeting(id, owner, &stored, &first)
                    .await?;
                if recorded_together {
                    roll_call = RollCallTimer::Recorded(first.health.timer_due_ms);
                } else {
                    self.store
                        .advance(id, owner, Stage::MeetingCreated, Some(&stored))
                        .await?;
                }
                meeting
            }
        };
        if record.stage < Stage::BridgeSet && !recorded_together {
            // Zoom events name the meeting; this index leads them to the incident.
            self.store.index_meeting(meeting.id, id).await?;
            roll_call = RollCallTimer::Recorded(self.note_bridged_at(id, job).await?);
        }
        let retry = &self.settings.retry;
        if record.stage < Stage::BridgeSet {
            let bridge = bridge_relay_domain::texts::bridge_with(&meeting, &job.meeting);
            retry
                .run(deadline, "set bridge", || tool.set_bridge(tool_id, &bridge))
                .await
                .map_err(|e| tool_error(e, JobError::Bridge))?;
            self.store
                .advance(id, owner, Stage::BridgeSet, None)
                .await?;
        }
        // An earlier attempt that set the bridge may have posted the note before it failed.
        let note = bridge_relay_domain::texts::note_with(
            &meeting,
            &job.meeting,
            job.requested_by.as_deref(),
        );
        self.post_note_once(
            tool,
            tool_id,
            &meeting,
            &note,
            record.stage == Stage::BridgeSet,
            deadline,
        )
        .await?;
        // Sent before the incident is done: a delivery that finds it done need not send it.
        self.send_roll_call_timer(job, roll_call).await?;
        self.store.advance(id, owner, Stage::Done, None).await?;
        tracing::info!(incident = %id, meeting_id = meeting.id, "bridge posted");
        Ok(JobReport::Bridged {
            incident_id: id.to_string(),
            meeting_id: meeting.id,
            bridged_at_ms: bridge_relay_ports::store::now_millis(),
        })
    }

    /// Posts the bridge note, never twice: after an attempt whose answer was lost it looks for
    /// the note (by the meeting's link) before posting again.
    async fn post_note_once(
        &self,
        tool: &dyn IncidentTool,
        incident_id: &str,
        meeting: &Meeting,
        note: &str,
        maybe_posted: bool,
        deadline: Instant,
    ) -> Result<(), JobError> {
        let maybe_posted = std::sync::atomic::AtomicBool::new(maybe_posted);
        self.settings
            .retry
            .run(deadline, "add note", || async {
                if maybe_posted.load(Ordering::Relaxed)
                    && tool.has_note(incident_id, &meeting.join_url).await?
                {
                    return Ok(());
                }
                let result = tool.add_note(incident_id, note).await;
                if result.as_ref().is_err_and(IncidentToolError::is_ambiguous) {
                    maybe_posted.store(true, Ordering::Relaxed);
                }
                result
            })
            .await
            .map_err(|e| tool_error(e, JobError::Note))
    }

    /// Creates the incident's meeting, never twice: after any attempt whose outcome is unknown
    /// (a timeout, a 5xx, a crash recorded as `Creating`), it looks for that meeting first.
    /// The meeting is made on `host` (a host of the pool). A failure says whether a meeting
    /// may exist all the same.
    pub(crate) async fn create_once(
        &self,
        job: &Job,
        owner: &str,
        from: CreateFrom,
        host: &str,
        deadline: Instant,
    ) -> Result<Meeting, CreateFailed> {
        // The meeting's agenda marker (how a lost meeting is found) carries the incident's key,
        // so equal ids of two tools never find each other's meeting.
        let keyed = job.keyed_incident();
        let incident = &keyed;
        let key = job.incident_key();
        let retry = &self.settings.retry;
        let mut maybe_created = from == CreateFrom::MaybeSent;
        let failed = |error: JobError, maybe_created: bool| CreateFailed {
            error,
            maybe_created,
        };
        if from == CreateFrom::Claimed {
            self.store
                .advance(&key, owner, Stage::Creating, None)
                .await
                .map_err(|e| failed(e.into(), false))?;
        }
        let mut request = bridge_relay_domain::meeting::meeting_spec(
            incident,
            &job.meeting,
            &new_passcode(),
            SystemTime::now(),
        );
        request.host_user = Some(host.to_owned());
        let mut attempt = 1;
        loop {
            if maybe_created {
                let found = retry
                    .run(deadline, "find meeting", || {
                        self.meetings
                            .find_meeting(&incident.id, request.host_user.as_deref())
                    })
                    .await
                    .map_err(|e| failed(meeting_error(e, JobError::Meeting), true))?;
                if let Some(meeting) = found {
                    tracing::info!(incident = %incident.id, meeting_id = meeting.id, "found the meeting of an earlier attempt");
                    return Ok(meeting);
                }
                maybe_created = false;
            }
            match self.meetings.create_meeting(&request).await {
                Ok(meeting) => {
                    tracing::info!(incident = %incident.id, meeting_id = meeting.id, "zoom meeting created");
                    return Ok(meeting);
                }
                Err(MeetingError::Upstream(e))
                    if e.is_retryable() && attempt < retry.max_attempts =>
                {
                    let wait = retry.delay(attempt, e.retry_after());
                    if !bridge_relay_ports::retry::fits_before(wait, deadline) {
                        let maybe = maybe_created || reached_zoom(&e);
                        return Err(failed(JobError::Meeting(e), maybe));
                    }
                    tracing::warn!(incident = %incident.id, attempt, error = %e, "create failed; retrying");
                    bridge_relay_domain::telemetry::record_retry();
                    // A failed token fetch never reached the create call.
                    if reached_zoom(&e) {
                        maybe_created = true;
                    }
                    tokio::time::sleep(wait).await;
                    attempt = attempt.saturating_add(1);
                }
                Err(e) => {
                    let maybe =
                        maybe_created || matches!(&e, MeetingError::Upstream(e) if reached_zoom(e));
                    return Err(failed(meeting_error(e, JobError::Meeting), maybe));
                }
            }
        }
    }
}

/// Whether a failed create may have made the meeting (a failed token fetch never reached it).
fn reached_zoom(e: &UpstreamError) -> bool {
    e.is_ambiguous() && !matches!(e.service(), Service::ZoomOAuth | Service::TokenStore)
}

/// What the responder reads on the timeline when no bridge could be opened, and what to do.
pub fn failure_note(error: &JobError) -> String {
    let hint = match error {
        JobError::Meeting(UpstreamError::DailyLimit { .. }) => {
            "The Zoom host has reached Zoom's limit of 100 meeting creates a day (it resets at 00:00 UTC). Start a meeting by hand for now."
        }
        JobError::PoolFull(_) => {
            "Every Zoom host stayed busy or at its daily limit. Start a meeting by hand for now, or add hosts (ZOOM_HOST_USERS) or slots (ZOOM_HOST_MAX_MEETINGS)."
        }
        JobError::NoHostInTime { .. } => {
            "bridge-relay has stopped waiting (the policy's meeting.host_wait_seconds) and makes no meeting for this incident. Start a meeting by hand, and add hosts (ZOOM_HOST_USERS) or slots (ZOOM_HOST_MAX_MEETINGS) for the next incidents."
        }
        JobError::Meeting(UpstreamError::Status { status: 404, .. }) => {
            "Zoom does not know the host user: check ZOOM_HOST_USER. Start a meeting by hand for now."
        }
        JobError::Meeting(UpstreamError::Status { status: 400, .. }) => {
            "Zoom refused the meeting settings or the host cannot host meetings. Start a meeting by hand for now."
        }
        JobError::Meeting(UpstreamError::Status {
            status: 401 | 403, ..
        })
        | JobError::Secrets(_) => {
            "Check the Zoom app's credentials and scopes in the relay's secret. Start a meeting by hand for now."
        }
        JobError::Bridge(UpstreamError::Status {
            status: 402 | 403, ..
        }) => {
            "The incident tool refused to set the bridge (PagerDuty: plan or permissions; incident.io: the API key's scopes); the meeting link is above if one was created."
        }
        _ => "Zoom or the incident tool kept failing. Start a meeting by hand for now.",
    };
    format!(
        "bridge-relay could not open a Zoom bridge for this incident: {}\n{hint}\nThe job is kept in the relay's dead-letter queue and can be replayed once the cause is fixed.",
        error.note_reason()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_notes_say_what_to_do() {
        let daily = JobError::Meeting(UpstreamError::DailyLimit {
            service: Service::Zoom,
            message: "You have exceeded the daily rate limit (100)".into(),
        });
        let note = failure_note(&daily);
        assert!(
            note.starts_with("bridge-relay could not open a Zoom bridge"),
            "{note}"
        );
        assert!(
            note.contains("100 meeting creates a day (it resets at 00:00 UTC)"),
            "{note}"
        );
        assert!(note.contains("dead-letter queue"), "{note}");
        let unknown_host = JobError::Meeting(UpstreamError::Status {
            service: Service::Zoom,
            status: 404,
            message: "User does not exist".into(),
            retry_after: None,
        });
        assert!(failure_note(&unknown_host).contains("check ZOOM_HOST_USER"));
        let full = JobError::PoolFull(crate::hostpool::PoolFull {
            busy: vec!["a@x".into()],
            spent: vec![],
        });
        assert!(failure_note(&full).contains("add hosts (ZOOM_HOST_USERS)"));
    }

    #[test]
    fn failure_notes_keep_the_secrets_arn_and_the_sdk_context_in_the_logs() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:bridge-relay-AbCdEf";
        let secrets = || {
            JobError::Secrets(bridge_relay_domain::error::SecretsError::Unavailable {
                source_name: arn.into(),
                reason: "service error: AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/worker is not authorized (request id 5f0c)".into(),
                retryable: false,
            })
        };
        let job = Job::from_json(
            r#"{"webhook_id":"w","event_id":"e","event_type":"incident.resolved","action":"resolved","incident":{"id":"P1"}}"#,
        )
        .unwrap();
        let transport = JobError::Note(UpstreamError::Transport {
            service: Service::PagerDuty,
            reason: "connection failed: tcp connect error 10.0.3.7:443".into(),
        });
        for note in [
            failure_note(&secrets()),
            crate::lifecycle::failure_note(&job, &secrets()),
            crate::lifecycle::failure_note(&job, &transport),
        ] {
            for detail in [
                "arn:",
                "123456789012",
                "AccessDenied",
                "request id",
                "10.0.3.7",
            ] {
                assert!(!note.contains(detail), "{detail} in the note: {note}");
            }
            assert!(
                note.contains("see the worker's logs") || note.contains("could not be reached"),
                "{note}"
            );
        }
        assert!(
            failure_note(&secrets())
                .starts_with("bridge-relay could not open a Zoom bridge for this incident: the relay could not read its secret; see the worker's logs\n")
        );
    }
}
