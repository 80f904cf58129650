//! After the call: Zoom's summary, recording and transcript of an incident's meeting as notes
//! on the incident, each once, as the policy chose when the bridge was made.
//!
//! The ingress matches the event to its incident by the meeting index and queues it in the
//! incident's message group, so these jobs run one at a time with the incident's other jobs.
//! Each note is remembered in the lifecycle (`artifacts_posted`) after it is posted: a repeated
//! delivery finds it there; a crash between the post and the save posts it again at worst,
//! never loses it.

use std::time::Instant;

use crate::worker::Worker;
use bridge_relay_domain::after_call::{
    self, Artifact, ArtifactChoice, ArtifactEvent, ArtifactKind, MeetingSummary, SummaryRefusal,
};
use bridge_relay_domain::error::JobError;
use bridge_relay_domain::model::Job;
use bridge_relay_domain::texts::display_meeting_id;
use bridge_relay_ports::meetings::SummaryAnswer;

/// The once-key of an artifact note: what it is and of which meeting instance.
fn posted_key(what: &str, event: &ArtifactEvent) -> String {
    format!("{what}:{}", event.meeting_uuid)
}

/// The once-key of the note that says Zoom refused the summary: each refusal once per incident
/// (a second meeting instance of an account without summaries says nothing new).
fn refused_key(refusal: SummaryRefusal) -> String {
    format!("summary_refused:{}", refusal.as_str())
}

/// What an artifact job does, decided from the lifecycle before anything is posted.
enum Plan {
    Skip(String),
    /// Post `note` and remember `key`.
    Post {
        note: String,
        key: String,
    },
    /// Post `note` saying why Zoom gave no summary (no artifact reached the incident), and
    /// remember `key`.
    Refused {
        note: String,
        key: String,
    },
}

impl Worker {
    pub(crate) async fn post_artifact(
        &self,
        job: &Job,
        event: &ArtifactEvent,
        deadline: Instant,
    ) -> Result<String, JobError> {
        let key = job.incident_key();
        let id = &key;
        let kind = event.artifact.kind();
        let (lifecycle, version) = self.store.lifecycle(id).await?;
        let choice = lifecycle
            .after_call
            .unwrap_or_else(ArtifactChoice::default_choice);
        if !choice.allows(kind) {
            return Ok(format!(
                "{} of meeting {} not posted: the policy's after_call leaves {} off for this incident",
                event.artifact.event_type(),
                event.meeting_id,
                kind.as_str()
            ));
        }
        let limit = self.tool_for(job)?.note_limit();
        let meeting = display_meeting_id(event.meeting_id);
        let plan = match &event.artifact {
            Artifact::Summary { edited, summary } => {
                let summary_key = posted_key("summary", event);
                let posted = lifecycle.artifact_posted(&summary_key);
                if posted && !edited {
                    Plan::Skip("the summary is on the incident already".into())
                } else if posted {
                    let edited_key = posted_key("summary_edited", event);
                    if lifecycle.artifact_posted(&edited_key) {
                        Plan::Skip("the summary's edit is on the incident already".into())
                    } else {
                        let doc_url = summary.as_ref().and_then(|s| s.doc_url.as_deref());
                        Plan::Post {
                            note: after_call::summary_edited_note(&meeting, doc_url, limit),
                            key: edited_key,
                        }
                    }
                } else {
                    match self.summary_text(event, summary.as_ref(), deadline).await? {
                        Ok(summary) => Plan::Post {
                            note: after_call::summary_note(&meeting, &summary, limit),
                            key: summary_key,
                        },
                        Err(refusal) if lifecycle.artifact_posted(&refused_key(refusal)) => {
                            Plan::Skip("Zoom refused the summary; that is said already".into())
                        }
                        Err(refusal) => Plan::Refused {
                            note: after_call::summary_refused_note(&meeting, refusal),
                            key: refused_key(refusal),
                        },
                    }
                }
            }
            Artifact::Recording(recording) | Artifact::Transcript(recording) => {
                let key = posted_key(kind.as_str(), event);
                if lifecycle.artifact_posted(&key) {
                    Plan::Skip(format!("the {} is on the incident already", kind.as_str()))
                } else if kind == ArtifactKind::Recording {
                    Plan::Post {
                        note: after_call::recording_note(&meeting, recording, limit),
                        key,
                    }
                } else {
                    Plan::Post {
                        note: after_call::transcript_note(&meeting, recording, limit),
                        key,
                    }
                }
            }
        };
        let (note, key, artifact_posted) = match plan {
            Plan::Skip(why) => {
                return Ok(format!(
                    "{} of meeting {}: {why}",
                    event.artifact.event_type(),
                    event.meeting_id
                ));
            }
            Plan::Post { note, key } => (note, key, true),
            Plan::Refused { note, key } => (note, key, false),
        };
        self.post(job, &note, deadline).await?;
        if artifact_posted {
            bridge_relay_domain::telemetry::record_artifact_posted(kind);
        }
        self.update_known_lifecycle(id, Some((lifecycle, version)), |l| {
            l.mark_artifact_posted(&key)
        })
        .await?;
        Ok(format!(
            "{} of meeting {} posted ({key})",
            event.artifact.event_type(),
            event.meeting_id
        ))
    }

    /// The summary's text: the event's, or Zoom's answer when the event came without it.
    /// `Ok(Err(refusal))`: Zoom has none to give, and says why.
    async fn summary_text(
        &self,
        event: &ArtifactEvent,
        carried: Option<&MeetingSummary>,
        deadline: Instant,
    ) -> Result<Result<MeetingSummary, SummaryRefusal>, JobError> {
        if let Some(summary) = carried.filter(|s| s.has_text()) {
            return Ok(Ok(summary.clone()));
        }
        let answer = self
            .settings
            .retry
            .run(deadline, "get meeting summary", || {
                self.meetings.meeting_summary(&event.meeting_uuid)
            })
            .await
            .map_err(|e| crate::worker::meeting_error(e, JobError::Summary))?;
        Ok(match answer {
            SummaryAnswer::Summary(summary) if summary.has_text() => Ok(summary),
            SummaryAnswer::Summary(_) => Err(SummaryRefusal::NotFound),
            SummaryAnswer::Refused(refusal) => Err(refusal),
        })
    }
}
