//! Zoom's after-call events (`meeting.summary_completed`, `meeting.summary_updated`,
//! `recording.completed`, `recording.transcript_completed`) and the meeting summary answer, read
//! into the relay's neutral types.
//!
//! A recording event carries a `download_token` (a bearer token for the files, valid 24 hours)
//! and a `download_url` per file. Neither is read: the wire types below have no field for them,
//! so they cannot reach a job, a log or a note.

use serde::Deserialize;
use serde_json::Value;

use bridge_relay_domain::after_call::{
    Artifact, ArtifactEvent, MAX_LINK_CHARS, MAX_UUID_CHARS, MeetingSummary, RecordingFile,
    RecordingShare,
};

/// The summary fields of `meeting.summary_*` events and of `GET /meetings/{uuid}/meeting_summary`
/// (the same names in both; `summary_content` and `summary_doc_url` are the current ones, the
/// others deprecated but still sent).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SummaryWire {
    #[serde(default)]
    summary_title: Option<String>,
    #[serde(default)]
    summary_content: Option<String>,
    #[serde(default)]
    summary_overview: Option<String>,
    #[serde(default)]
    next_steps: Option<Vec<Value>>,
    #[serde(default)]
    summary_doc_url: Option<String>,
}

impl SummaryWire {
    pub(crate) fn into_summary(self) -> MeetingSummary {
        MeetingSummary {
            title: self.summary_title,
            content: self.summary_content,
            overview: self.summary_overview,
            // Strings only: a step of another type is no text to show.
            next_steps: self
                .next_steps
                .unwrap_or_default()
                .into_iter()
                .filter_map(|step| match step {
                    Value::String(text) => Some(text),
                    _ => None,
                })
                .collect(),
            doc_url: self.summary_doc_url,
        }
        .bounded()
    }
}

/// What a recording event's object holds that may be shown: no `download_url`, no token.
#[derive(Debug, Default, Deserialize)]
struct RecordingWire {
    #[serde(default)]
    share_url: Option<String>,
    /// The passcode of the share link, when the recording has one.
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    duration: Option<Value>,
    #[serde(default)]
    recording_files: Option<Vec<RecordingFileWire>>,
}

/// A file of the recording; a `file_type` that is no string is a kind the relay does not know.
#[derive(Debug, Deserialize)]
struct RecordingFileWire {
    #[serde(default)]
    file_type: Option<Value>,
}

impl RecordingWire {
    fn into_share(self) -> RecordingShare {
        let mut files: Vec<RecordingFile> = Vec::new();
        for file in self.recording_files.unwrap_or_default() {
            if let Some(kind) = file
                .file_type
                .as_ref()
                .and_then(Value::as_str)
                .and_then(RecordingFile::from_file_type)
                && !files.contains(&kind)
            {
                files.push(kind);
            }
        }
        RecordingShare {
            share_url: link(self.share_url),
            passcode: self
                .password
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty() && p.chars().count() <= 64),
            duration_minutes: self.duration.as_ref().and_then(Value::as_u64),
            files,
        }
    }
}

/// An `https` link of reasonable length, else nothing.
fn link(url: Option<String>) -> Option<String> {
    url.map(|u| u.trim().to_owned())
        .filter(|u| u.starts_with("https://") && u.chars().count() <= MAX_LINK_CHARS)
        .filter(|u| !u.contains(char::is_whitespace))
}

/// Reads an after-call event of `event_type`; `Ok(None)` for any other event type, `Err` with
/// what is wrong with the payload's shape.
pub(crate) fn parse(event_type: &str, payload: &Value) -> Result<Option<ArtifactEvent>, String> {
    let shape = |reason: &str| reason.to_owned();
    let edited = match event_type {
        "meeting.summary_completed" => Some(false),
        "meeting.summary_updated" => Some(true),
        "recording.completed" | "recording.transcript_completed" => None,
        _ => return Ok(None),
    };
    let object = payload
        .get("object")
        .filter(|o| o.is_object())
        .ok_or_else(|| shape("no `payload.object` object"))?;
    // Summary events name the meeting `meeting_id` / `meeting_uuid`, recording events `id` / `uuid`.
    let (id_field, uuid_field) = match edited {
        Some(_) => ("meeting_id", "meeting_uuid"),
        None => ("id", "uuid"),
    };
    let meeting_id = match object.get(id_field) {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| shape(&format!("`payload.object.{id_field}` is not a meeting id")))?;
    let meeting_uuid = object
        .get(uuid_field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|u| !u.is_empty() && u.chars().count() <= MAX_UUID_CHARS)
        .ok_or_else(|| {
            shape(&format!(
                "`payload.object.{uuid_field}` is not a meeting UUID"
            ))
        })?
        .to_owned();
    let artifact = match edited {
        Some(edited) => {
            let summary = SummaryWire::deserialize(object)
                .map_err(|e| shape(&format!("the summary fields: {e}")))?
                .into_summary();
            Artifact::Summary {
                edited,
                summary: (summary.has_text() || edited).then_some(summary),
            }
        }
        None => {
            let share = RecordingWire::deserialize(object)
                .map_err(|e| shape(&format!("the recording fields: {e}")))?
                .into_share();
            if event_type == "recording.completed" {
                Artifact::Recording(share)
            } else {
                Artifact::Transcript(share)
            }
        }
    };
    Ok(Some(ArtifactEvent {
        meeting_id,
        meeting_uuid,
        artifact,
    }))
}

/// The path segment of a meeting UUID: Zoom asks for a UUID that starts with `/` or holds `//`
/// to be encoded twice. The URL builder encodes a segment once; this is the first encoding.
pub(crate) fn uuid_segment(uuid: &str) -> String {
    if !(uuid.starts_with('/') || uuid.contains("//")) {
        return uuid.to_owned();
    }
    let mut encoded = String::with_capacity(uuid.len().saturating_mul(3));
    for byte in uuid.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_events_keep_the_share_link_and_never_a_download_link() {
        let payload = serde_json::json!({"object": {
            "id": 85012345678u64, "uuid": "4444AAAiAAAAAiAiAiiAii==",
            "share_url": "https://zoom.us/rec/share/abc", "password": "132456", "duration": 60,
            "recording_files": [
                {"file_type": "M4A", "download_url": "https://zoom.us/rec/download/SECRET-A"},
                {"file_type": "MP4", "download_url": "https://zoom.us/rec/download/SECRET-B"},
                {"file_type": "MP4"}, {"file_type": "SOMETHING_NEW"}, {"file_type": 7}
            ]
        }});
        let event = parse("recording.completed", &payload).unwrap().unwrap();
        let text = format!("{event:?}");
        assert!(!text.contains("SECRET"), "{text}");
        assert_eq!(
            event.artifact,
            Artifact::Recording(RecordingShare {
                share_url: Some("https://zoom.us/rec/share/abc".into()),
                passcode: Some("132456".into()),
                duration_minutes: Some(60),
                files: vec![RecordingFile::Audio, RecordingFile::Video],
            })
        );
    }

    #[test]
    fn summaries_without_text_are_fetched_and_bad_ids_refused() {
        let payload = serde_json::json!({"object": {"meeting_id": "85012345678", "meeting_uuid": "/ab//c=="}});
        let event = parse("meeting.summary_completed", &payload)
            .unwrap()
            .unwrap();
        assert_eq!(
            event.artifact,
            Artifact::Summary {
                edited: false,
                summary: None
            }
        );
        assert_eq!(uuid_segment(&event.meeting_uuid), "%2Fab%2F%2Fc%3D%3D");
        assert_eq!(
            uuid_segment("aDYlohsHRtCd4ii1uC2+hA=="),
            "aDYlohsHRtCd4ii1uC2+hA=="
        );
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"object": {"meeting_id": 1}}),
            serde_json::json!({"object": {"meeting_id": 1, "meeting_uuid": "x".repeat(65)}}),
            serde_json::json!({"object": {"meeting_id": -1, "meeting_uuid": "u"}}),
            serde_json::json!({"object": {"meeting_id": 1, "meeting_uuid": "u", "next_steps": "one"}}),
        ] {
            assert!(parse("meeting.summary_completed", &bad).is_err(), "{bad}");
        }
        assert_eq!(parse("meeting.created", &serde_json::json!({})), Ok(None));
    }
}
