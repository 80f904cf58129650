//! The meeting keeps in step with its incident: when the incident is reassigned, escalated,
//! re-prioritised or retitled, the meeting's topic and agenda are rendered again from the
//! incident as the event carries it, its responders who can be are made its alternative hosts
//! (Zoom's host controls: mute, admit, record, end), and the change is sent to Zoom only when
//! it differs from what the relay last set (recorded in the incident's lifecycle), so a
//! redelivered or repeated event changes nothing. Responders who cannot be hosts are named
//! once, in one note that says why.
//!
//! Zoom counts every update against the host's 100 creates and updates a day: an update is
//! counted like a create, and gives way to creates when the day's budget runs low, since a
//! bridge for the next incident is worth more than a title. The bridge never waits for any of
//! this: follow jobs come after the incident's bridge job in its queue group, and a bridge
//! job follows only once its bridge and note are posted.

use std::time::{Instant, SystemTime};

use crate::worker::{Worker, meeting_error};
use bridge_relay_domain::error::{JobError, UpstreamError};
use bridge_relay_domain::hosts::{
    HostCheck, HostVerdict, MAX_RESPONDERS, normalize_email, not_hosts_note, wanted_hosts,
};
use bridge_relay_domain::meeting::{MeetingLabels, MeetingUpdate};
use bridge_relay_domain::model::{Job, MeetingHosts};
use bridge_relay_ports::meetings::MeetingError;
use bridge_relay_ports::store::{HOST_CHECK_TTL, MeetingLifecycle, Stage, responder_key};

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
        let pool = &self.settings.host_pool;
        let host = match &view.host {
            Some(slot) => slot.host.clone(),
            None => job
                .meeting
                .host_user
                .clone()
                .unwrap_or_else(|| pool.first_host()),
        };
        let incident = &job.incident;
        // An event that only references the incident carries no title or priority to render.
        let labels = (!incident.reference_only)
            .then(|| MeetingLabels::of(&job.keyed_incident(), &job.meeting))
            .filter(|wanted| view.lifecycle.labels.as_ref() != Some(wanted));
        let mode = job.meeting.hosts.unwrap_or_default();
        let checked = if mode == MeetingHosts::None {
            Vec::new()
        } else {
            self.check_responders(job, &host, deadline).await?
        };
        let eligible: Vec<String> = checked
            .iter()
            .filter(|c| c.check.verdict == HostVerdict::Eligible)
            .filter_map(|c| c.check.email.clone())
            .collect();
        let had = view.lifecycle.alternative_hosts.as_deref();
        let hosts = wanted_hosts(
            mode,
            had.unwrap_or_default(),
            &eligible,
            incident.reference_only,
        )
        // Unchanged, or none where the meeting never had any: nothing to send.
        .filter(|wanted| had != Some(wanted.as_slice()) && !(had.is_none() && wanted.is_empty()));
        let mut not_hosts: Vec<&CheckedResponder> = checked
            .iter()
            .filter(|c| c.check.verdict != HostVerdict::Eligible)
            .filter(|c| !view.lifecycle.not_hosts_noted.contains(&c.key))
            .collect();
        let update = MeetingUpdate {
            labels,
            alternative_hosts: hosts,
        };
        // Who was paged, for the roll call (with the e-mails the host checks found).
        let emails: Vec<(String, Option<String>)> = checked
            .iter()
            .map(|c| (c.key.clone(), c.check.email.clone()))
            .collect();
        let mut roster = view.lifecycle;
        let known = if crate::health::record_paged(&mut roster, job, &emails) {
            // Saved from the copy just changed; another worker's save meanwhile fails it, and
            // the roster is recorded again on a fresh read.
            let (lifecycle, version, ()) = self
                .update_known_lifecycle(&key, Some((roster, view.lifecycle_version)), |l| {
                    crate::health::record_paged(l, job, &emails);
                })
                .await?;
            Some((lifecycle, version))
        } else {
            Some((roster, view.lifecycle_version))
        };
        if update.is_empty() {
            if not_hosts.is_empty() {
                return Ok(
                    "the meeting's topic, agenda and hosts are the incident's already".into(),
                );
            }
            self.tell_not_hosts(job, &not_hosts, known, deadline)
                .await?;
            return Ok(format!(
                "the meeting is the incident's already; said who cannot be a host ({})",
                not_hosts.len()
            ));
        }
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
                self.meetings.update_meeting(meeting.id, &update)
            })
            .await;
        match sent {
            Ok(answer) => {
                bridge_relay_domain::telemetry::record_meeting_update(true);
                let refused: Vec<CheckedResponder> = checked
                    .iter()
                    .filter(|c| {
                        c.check
                            .email
                            .as_ref()
                            .is_some_and(|email| answer.refused_hosts.contains(email))
                    })
                    .map(|c| CheckedResponder {
                        check: HostCheck {
                            email: c.check.email.clone(),
                            verdict: HostVerdict::RefusedByZoom,
                        },
                        ..c.clone()
                    })
                    .collect();
                for responder in &refused {
                    self.store
                        .cache_host_check(&responder.key, &responder.check, HOST_CHECK_TTL)
                        .await?;
                }
                not_hosts.extend(refused.iter());
                let set_hosts = update.alternative_hosts.as_ref().map(|hosts| {
                    hosts
                        .iter()
                        .filter(|h| !answer.refused_hosts.contains(h))
                        .cloned()
                        .collect::<Vec<_>>()
                });
                let labels = update.labels.clone();
                let what = describe(&update, set_hosts.as_deref());
                self.tell_not_hosts(job, &not_hosts, known.clone(), deadline)
                    .await
                    .map(drop)
                    .or_else(|e| match e {
                        // The meeting is updated: its record must say so even if the note
                        // cannot go out now (the note is tried again with the next event).
                        JobError::Note(_) => Ok(()),
                        e => Err(e),
                    })?;
                self.update_known_lifecycle(&key, None, |lifecycle| {
                    if let Some(labels) = &labels {
                        lifecycle.labels = Some(labels.clone());
                    }
                    if let Some(hosts) = &set_hosts {
                        lifecycle.alternative_hosts = Some(hosts.clone());
                    }
                })
                .await?;
                Ok(format!("Zoom meeting {} now {what}", meeting.id))
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

    /// What Zoom says of each of the job's responders (cached across containers for
    /// [`HOST_CHECK_TTL`]). A responder whose look-up fails now is left out this time, neither
    /// cached nor named: the next event of the incident asks again. `host` (the meeting's host)
    /// is never one of its alternative hosts.
    async fn check_responders(
        &self,
        job: &Job,
        host: &str,
        deadline: Instant,
    ) -> Result<Vec<CheckedResponder>, JobError> {
        let tool = self.tool_for(job)?;
        let host_email = normalize_email(host);
        let mut checked: Vec<CheckedResponder> = Vec::new();
        // After one look-up fails past its retries, the others wait for the next event too:
        // a service that is down would otherwise cost every responder the retries' time.
        let mut looked_up_in_vain = false;
        for responder in job.incident.responders.iter().take(MAX_RESPONDERS) {
            let key = responder_key(&job.tool, responder);
            if checked.iter().any(|c| c.key == key) {
                continue;
            }
            let check = match self.store.cached_host_check(&key).await? {
                Some(check) => check,
                None if looked_up_in_vain => continue,
                None => {
                    let email = self
                        .settings
                        .retry
                        .run(deadline, "look up responder", || {
                            tool.responder_email(responder)
                        })
                        .await;
                    let email = match email {
                        Ok(email) => email.as_deref().and_then(normalize_email),
                        Err(e) => {
                            tracing::warn!(incident = %job.incident_key(), responder = %key, error = %e, "could not look the responder's e-mail up; asked again with the next event");
                            looked_up_in_vain = true;
                            continue;
                        }
                    };
                    let check = match email {
                        None => HostCheck::no_email(),
                        Some(email) => {
                            let verdict = self
                                .settings
                                .retry
                                .run(deadline, "check host", || {
                                    self.meetings.host_verdict(&email)
                                })
                                .await;
                            match verdict {
                                Ok(verdict) => HostCheck {
                                    email: Some(email),
                                    verdict,
                                },
                                Err(e) => {
                                    tracing::warn!(incident = %job.incident_key(), responder = %key, error = %e, "could not ask Zoom whether the responder can be a host; asked again with the next event");
                                    looked_up_in_vain = true;
                                    continue;
                                }
                            }
                        }
                    };
                    self.store
                        .cache_host_check(&key, &check, HOST_CHECK_TTL)
                        .await?;
                    check
                }
            };
            if check.email.is_some() && check.email == host_email {
                continue;
            }
            checked.push(CheckedResponder {
                key,
                name: responder.display_name().to_owned(),
                check,
            });
        }
        Ok(checked)
    }

    /// Names, in one note, the responders who cannot be given host controls, and records them
    /// so the incident is told of each once.
    async fn tell_not_hosts(
        &self,
        job: &Job,
        not_hosts: &[&CheckedResponder],
        known: Option<(MeetingLifecycle, u64)>,
        deadline: Instant,
    ) -> Result<(), JobError> {
        if not_hosts.is_empty() {
            return Ok(());
        }
        let named: Vec<(String, HostVerdict)> = not_hosts
            .iter()
            .map(|c| (c.name.clone(), c.check.verdict))
            .collect();
        self.post(job, &not_hosts_note(&named), deadline).await?;
        let keys: Vec<String> = not_hosts.iter().map(|c| c.key.clone()).collect();
        self.update_known_lifecycle(&job.incident_key(), known, |lifecycle| {
            for key in &keys {
                if !lifecycle.not_hosts_noted.contains(key)
                    && lifecycle.not_hosts_noted.len() < MAX_NOT_HOSTS_NOTED
                {
                    lifecycle.not_hosts_noted.push(key.clone());
                }
            }
        })
        .await?;
        Ok(())
    }
}

/// Responders named as not hosts, remembered per incident (a bound, not a limit one meets).
const MAX_NOT_HOSTS_NOTED: usize = 200;

/// One responder and what Zoom said of them.
#[derive(Debug, Clone)]
struct CheckedResponder {
    key: String,
    name: String,
    check: HostCheck,
}

/// What an update changed, for the job's log line.
fn describe(update: &MeetingUpdate, hosts: Option<&[String]>) -> String {
    let mut parts = Vec::new();
    if let Some(labels) = &update.labels {
        parts.push(format!("reads \"{}\"", labels.topic));
    }
    if let Some(hosts) = hosts {
        parts.push(format!("has {} alternative host(s)", hosts.len()));
    }
    parts.join(" and ")
}

/// The note when Zoom no longer knows the incident's meeting (posted once).
pub fn gone_note(meeting_id: u64) -> String {
    format!(
        "The Zoom meeting {} of this incident no longer exists in Zoom (deleted there?): its link on the incident no longer works, and bridge-relay stops updating it.",
        crate::lifecycle::meeting_number(meeting_id)
    )
}
