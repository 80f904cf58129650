//! The meeting keeps in step with its incident: when the incident is reassigned, escalated,
//! re-prioritised or retitled, the meeting's topic and agenda are rendered again from the
//! incident as the event carries it, and sent to Zoom only when they differ from what the
//! relay last set (recorded in the incident's lifecycle), so a redelivered or repeated event
//! changes nothing.
//!
//! Zoom counts every update against the host's 100 creates and updates a day: an update is
//! counted like a create, and gives way to creates when the day's budget runs low, since a
//! bridge for the next incident is worth more than a title. The bridge never waits for any of
//! this: follow jobs come after the incident's bridge job in its queue group.

use std::time::{Instant, SystemTime};

use crate::worker::{Worker, meeting_error};
use bridge_relay_domain::error::{JobError, UpstreamError};
use bridge_relay_domain::meeting::MeetingLabels;
use bridge_relay_domain::model::Job;
use bridge_relay_ports::meetings::MeetingError;
use bridge_relay_ports::store::Stage;

/// Of a host's daily creates, how many updates leave for creates: past this, no update is sent
/// that day.
pub const CREATES_KEPT_FROM_UPDATES: u32 = 10;

impl Worker {
    /// Brings the meeting's topic and agenda in step with the job's incident; says what it did.
    pub(crate) async fn follow(&self, job: &Job, deadline: Instant) -> Result<String, JobError> {
        let key = job.incident_key();
        let view = self.store.get_with_lifecycle(&key).await?;
        let meeting = match view.record {
            Some(record) if record.stage >= Stage::BridgeSet => match record.meeting {
                Some(meeting) => meeting,
                None => {
                    return Ok(
                        "the incident's bridge is not the relay's; nothing to follow".into(),
                    );
                }
            },
            _ => {
                return Ok(
                    "the incident has no bridge from the relay yet; nothing to follow".into(),
                );
            }
        };
        if view.lifecycle.meeting_gone {
            return Ok(format!(
                "Zoom meeting {} is gone; it is no longer updated",
                meeting.id
            ));
        }
        let wanted = MeetingLabels::of(&job.keyed_incident(), &job.meeting);
        if view.lifecycle.labels.as_ref() == Some(&wanted) {
            return Ok("the meeting's topic and agenda are the incident's already".into());
        }
        let pool = &self.settings.host_pool;
        let host = match &view.host {
            Some(slot) => slot.host.clone(),
            None => job
                .meeting
                .host_user
                .clone()
                .unwrap_or_else(|| pool.first_host()),
        };
        let day = crate::hostpool::utc_day(SystemTime::now());
        let budget = pool
            .creates_per_day
            .saturating_sub(CREATES_KEPT_FROM_UPDATES);
        if !self.store.take_daily_create(&host, &day, budget).await? {
            bridge_relay_domain::telemetry::record_meeting_update(false);
            return Ok(format!(
                "not updated: {host} has used {budget} of its {} Zoom creates and updates today, the rest are kept for bridges",
                pool.creates_per_day
            ));
        }
        let sent = self
            .settings
            .retry
            .run(deadline, "update meeting", || {
                self.meetings.update_meeting(meeting.id, &wanted)
            })
            .await;
        let known = Some((view.lifecycle, view.lifecycle_version));
        match sent {
            Ok(()) => {
                bridge_relay_domain::telemetry::record_meeting_update(true);
                let topic = wanted.topic.clone();
                self.update_known_lifecycle(&key, known, |lifecycle| {
                    lifecycle.labels = Some(wanted.clone());
                })
                .await?;
                Ok(format!("Zoom meeting {} now reads \"{topic}\"", meeting.id))
            }
            Err(MeetingError::Upstream(UpstreamError::Status { status: 404, .. })) => {
                let note = gone_note(meeting.id);
                self.post(job, &note, deadline).await?;
                self.update_known_lifecycle(&key, known, |lifecycle| {
                    lifecycle.meeting_gone = true;
                })
                .await?;
                Ok(format!(
                    "Zoom meeting {} is gone; said so, and it is no longer updated",
                    meeting.id
                ))
            }
            // The bridge is fine: a meeting that keeps its old topic is no failure to tell the
            // incident of, nor worth a dead letter.
            Err(e) => {
                let error = meeting_error(e, JobError::UpdateMeeting);
                tracing::warn!(incident = %key, meeting_id = meeting.id, error = %error, "gave up updating the meeting");
                bridge_relay_domain::telemetry::record_meeting_update(false);
                Ok(format!(
                    "Zoom meeting {} not updated, given up: {error}",
                    meeting.id
                ))
            }
        }
    }
}

/// The note when Zoom no longer knows the incident's meeting (posted once).
pub fn gone_note(meeting_id: u64) -> String {
    format!(
        "The Zoom meeting {} of this incident no longer exists in Zoom (deleted there?): its link on the incident no longer works, and bridge-relay stops updating it.",
        crate::lifecycle::meeting_number(meeting_id)
    )
}
