//! Zoom event notifications (`/zoom`): input = `x-zm-request-timestamp` bytes, NUL, body bytes.
//! Never panics; the body signed with the secret token at that timestamp always passes, and
//! one byte more of body never does; whatever parses as a meeting event travels in a job and
//! reads back the same, and goes on through the lifecycle: applied to a meeting's record as
//! each kind of event, with every note it makes and the closing notes rendered (a time or a
//! name the notes cannot write is found here, not in the worker). After-call events (summary,
//! recording, transcript) travel in a job the same way, and every note they make stays within
//! the limit it is cut to.
#![no_main]

use bridge_relay::after_call::{self, Artifact, ArtifactEvent};
use bridge_relay::lifecycle::{apply_event, closing_note};
use bridge_relay::model::{Incident, Job, JobAction};
use bridge_relay::store::MeetingLifecycle;
use bridge_relay::zoom::webhook::{
    self, MeetingEvent, MeetingEventKind, Notification, ZoomSignatureError,
};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

fuzz_target!(|data: &[u8]| {
    let (timestamp, body) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"1795428000"[..], data),
    };
    let timestamp = String::from_utf8_lossy(timestamp);
    let secret = SecretString::from("fuzz-zoom-secret-token");
    let signature = webhook::sign(&timestamp, body, &secret);
    let now = timestamp.parse::<u64>().unwrap_or(0);
    let verdict = webhook::verify(Some(&signature), Some(&timestamp), body, &secret, now);
    match timestamp.parse::<u64>() {
        Ok(_) => assert_eq!(verdict, Ok(()), "a correctly signed body was refused"),
        Err(_) => assert_eq!(verdict, Err(ZoomSignatureError::BadTimestamp)),
    }
    let longer = [body, b"x"].concat();
    assert!(
        webhook::verify(Some(&signature), Some(&timestamp), &longer, &secret, now).is_err(),
        "a changed body passed"
    );
    // Arbitrary header values never panic either.
    let _ = webhook::verify(Some(&timestamp), Some(&timestamp), body, &secret, now);

    let (event_type, action) = match webhook::parse(body) {
        Ok(Notification::Meeting(event)) => {
            lifecycle(&event);
            (event.kind.event_type(), JobAction::ZoomEvent(event))
        }
        Ok(Notification::Artifact(event)) => {
            after_call(&event);
            (event.artifact.event_type(), JobAction::ZoomArtifact(event))
        }
        _ => return,
    };
    let job = Job {
        webhook_id: "fuzz".into(),
        event_id: "fuzz".into(),
        event_type: event_type.into(),
        incident: Incident::new("PFUZZ"),
        requested_by: None,
        meeting: Default::default(),
        received_at_ms: None,
        failure: None,
        tool: Default::default(),
        action,
        requeued_after_waiting: false,
    };
    assert_eq!(
        Job::from_json(&job.to_json()).expect("a job reads back"),
        job
    );
});

/// Every note an after-call event can make, at limits from none to PagerDuty's: never longer
/// than the limit.
fn after_call(event: &ArtifactEvent) {
    let meeting = bridge_relay::texts::display_meeting_id(event.meeting_id);
    for limit in [0, 1, 20, 200, 4_096, 10_000] {
        let notes = match &event.artifact {
            Artifact::Summary { summary, .. } => {
                let summary = summary.clone().unwrap_or_default();
                vec![
                    after_call::summary_note(&meeting, &summary, limit),
                    after_call::summary_edited_note(&meeting, summary.doc_url.as_deref(), limit),
                ]
            }
            Artifact::Recording(share) | Artifact::Transcript(share) => vec![
                after_call::recording_note(&meeting, share, limit),
                after_call::transcript_note(&meeting, share, limit),
            ],
        };
        for note in notes {
            assert!(note.chars().count() <= limit, "a note over its limit");
        }
    }
}

/// The event as it arrived, then as every kind of event at its time, on a fresh record and on
/// one that has seen a meeting already; each note made, and the closing notes, are rendered.
fn lifecycle(event: &MeetingEvent) {
    let kinds = [
        MeetingEventKind::Started,
        MeetingEventKind::ParticipantJoined,
        MeetingEventKind::ParticipantLeft,
        MeetingEventKind::Ended,
    ];
    let seen = MeetingLifecycle {
        started_at_ms: Some(1_795_428_000_000),
        bridged_at_ms: Some(1_795_427_900_000),
        ..MeetingLifecycle::default()
    };
    for mut record in [MeetingLifecycle::default(), seen] {
        let mut notes = Vec::new();
        notes.extend(apply_event(&mut record, event));
        for kind in &kinds {
            let as_kind = MeetingEvent {
                kind: kind.clone(),
                ..event.clone()
            };
            notes.extend(apply_event(&mut record, &as_kind));
        }
        for note in &notes {
            assert!(!note.is_empty());
        }
        for ended in [false, true] {
            for now in [event.at_ms, 0, u64::MAX] {
                let _ = closing_note(event.meeting_id, &record, ended, now);
            }
        }
        record.end_refused = event.participant.clone();
        let _ = closing_note(event.meeting_id, &record, true, event.at_ms);
    }
}
