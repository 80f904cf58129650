//! After the call: the artifacts Zoom makes of a meeting (the AI Companion summary, the cloud
//! recording, its transcript), which ones the policy puts on the incident's timeline, and the
//! notes that carry them.
//!
//! Only what may be shown to every responder travels in a job or a note: the share link and its
//! passcode, never a recording's `download_url`s or the `download_token` Zoom sends with them.

use serde::{Deserialize, Serialize};

/// Longest summary text a job carries (characters): above every incident tool's note limit,
/// so a note is cut once, where the tool needs it, and a job stays far below the queue's size.
pub const MAX_SUMMARY_CHARS: usize = 60_000;
/// Longest next-step line kept.
const MAX_STEP_CHARS: usize = 500;
/// Next steps kept from one summary.
pub const MAX_NEXT_STEPS: usize = 50;
/// A meeting UUID is 24 characters in Zoom's examples; anything far longer is not one.
pub const MAX_UUID_CHARS: usize = 64;
/// Longest link or passcode kept from an event.
pub const MAX_LINK_CHARS: usize = 2_000;

/// The policy's `after_call`: which artifacts of the meeting go on the incident's timeline.
/// Every field unset means the default (summary and recording on, transcript off; nothing for
/// a sensitive incident).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AfterCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<bool>,
    /// Sensitive incidents (the policy's `sensitive`, and incident.io's private incidents) get
    /// artifacts only when this is true: a summary or a recording link on the timeline shows
    /// what was said to everyone who can read the incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_sensitive: Option<bool>,
}

impl AfterCall {
    /// `self` with every field `over` sets replaced by it.
    pub fn overlaid_with(&self, over: &AfterCall) -> AfterCall {
        AfterCall {
            summary: over.summary.or(self.summary),
            recording: over.recording.or(self.recording),
            transcript: over.transcript.or(self.transcript),
            include_sensitive: over.include_sensitive.or(self.include_sensitive),
        }
    }

    /// What an incident gets, `sensitive` or not.
    pub fn choice(&self, sensitive: bool) -> ArtifactChoice {
        if sensitive && !self.include_sensitive.unwrap_or(false) {
            return ArtifactChoice::NONE;
        }
        ArtifactChoice {
            summary: self.summary.unwrap_or(true),
            recording: self.recording.unwrap_or(true),
            transcript: self.transcript.unwrap_or(false),
        }
    }
}

/// Which artifacts one incident gets, decided when its bridge is made and kept with its
/// meeting's lifecycle (Zoom's events name only the meeting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactChoice {
    pub summary: bool,
    pub recording: bool,
    pub transcript: bool,
}

impl ArtifactChoice {
    pub const NONE: ArtifactChoice = ArtifactChoice {
        summary: false,
        recording: false,
        transcript: false,
    };

    /// What a bridge made before the relay kept a choice gets: the default.
    pub fn default_choice() -> ArtifactChoice {
        AfterCall::default().choice(false)
    }

    pub fn allows(&self, kind: ArtifactKind) -> bool {
        match kind {
            ArtifactKind::Summary => self.summary,
            ArtifactKind::Recording => self.recording,
            ArtifactKind::Transcript => self.transcript,
        }
    }
}

/// The three artifacts, for the policy and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    Summary,
    Recording,
    Transcript,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Summary => "summary",
            ArtifactKind::Recording => "recording",
            ArtifactKind::Transcript => "transcript",
        }
    }
}

/// One of Zoom's after-call events about a meeting the relay may have made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactEvent {
    pub meeting_id: u64,
    /// The meeting instance (a meeting started again is a new instance with its own artifacts).
    pub meeting_uuid: String,
    pub artifact: Artifact,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Artifact {
    /// `meeting.summary_completed` (`edited: false`) or `meeting.summary_updated`. `summary` is
    /// `None` when the event came without the summary's text: the worker fetches it.
    Summary {
        edited: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<MeetingSummary>,
    },
    /// `recording.completed`.
    Recording(RecordingShare),
    /// `recording.transcript_completed`.
    Transcript(RecordingShare),
}

impl Artifact {
    pub fn kind(&self) -> ArtifactKind {
        match self {
            Artifact::Summary { .. } => ArtifactKind::Summary,
            Artifact::Recording(_) => ArtifactKind::Recording,
            Artifact::Transcript(_) => ArtifactKind::Transcript,
        }
    }

    /// The event's name as Zoom sends it.
    pub fn event_type(&self) -> &'static str {
        match self {
            Artifact::Summary { edited: false, .. } => "meeting.summary_completed",
            Artifact::Summary { edited: true, .. } => "meeting.summary_updated",
            Artifact::Recording(_) => "recording.completed",
            Artifact::Transcript(_) => "recording.transcript_completed",
        }
    }
}

/// Zoom's AI Companion meeting summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `summary_content`: the whole summary, in Markdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// `summary_overview`, for summaries without `summary_content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overview: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_steps: Vec<String>,
    /// `summary_doc_url`: the summary in Zoom Docs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_url: Option<String>,
}

impl MeetingSummary {
    /// Whether there is anything to post (a summary event may come without its text).
    pub fn has_text(&self) -> bool {
        self.content.is_some() || self.overview.is_some() || !self.next_steps.is_empty()
    }

    /// Keeps what a note can use: texts cut to their limits, blank ones dropped.
    pub fn bounded(self) -> MeetingSummary {
        MeetingSummary {
            title: bounded(self.title, 300),
            content: bounded(self.content, MAX_SUMMARY_CHARS),
            overview: bounded(self.overview, MAX_SUMMARY_CHARS),
            next_steps: self
                .next_steps
                .into_iter()
                .filter_map(|step| bounded(Some(step), MAX_STEP_CHARS))
                .take(MAX_NEXT_STEPS)
                .collect(),
            doc_url: bounded(self.doc_url, MAX_LINK_CHARS),
        }
    }
}

/// Trimmed, cut to `max` characters, `None` when blank.
fn bounded(text: Option<String>, max: usize) -> Option<String> {
    let text = text?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    Some(cut_to(trimmed, max).to_owned())
}

/// A cloud recording (or its transcript) as responders may see it: the share link, its
/// passcode, the length and which files exist. No download link or token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingShare {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_url: Option<String>,
    /// The passcode a viewer of the share link types, when Zoom set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode: Option<String>,
    /// Minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u64>,
    /// Kinds of files, each once, in the order Zoom listed them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<RecordingFile>,
}

/// A recording file's kind, from Zoom's `file_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingFile {
    Video,
    Audio,
    Chat,
    Transcript,
    Captions,
    Summary,
    Timeline,
}

impl RecordingFile {
    /// Zoom's `file_type` (`MP4`, `M4A`, `CHAT`, `TRANSCRIPT`, `CC`, `SUMMARY`, `TIMELINE`, …).
    pub fn from_file_type(file_type: &str) -> Option<RecordingFile> {
        Some(match file_type.to_ascii_uppercase().as_str() {
            "MP4" => RecordingFile::Video,
            "M4A" => RecordingFile::Audio,
            "CHAT" => RecordingFile::Chat,
            "TRANSCRIPT" => RecordingFile::Transcript,
            "CC" => RecordingFile::Captions,
            "SUMMARY" => RecordingFile::Summary,
            "TIMELINE" => RecordingFile::Timeline,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordingFile::Video => "video",
            RecordingFile::Audio => "audio",
            RecordingFile::Chat => "chat",
            RecordingFile::Transcript => "transcript",
            RecordingFile::Captions => "captions",
            RecordingFile::Summary => "summary",
            RecordingFile::Timeline => "timeline",
        }
    }
}

/// Why Zoom gave no summary when the relay asked for it: said once on the incident, never a
/// dead letter (a retry cannot change it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryRefusal {
    /// 400 code 200: meeting summaries need a paid Zoom account.
    NotPaidAccount,
    /// 403 code 2305: an account setting restricts access to summaries.
    Restricted,
    /// 404 code 3001: Zoom has no summary of this meeting.
    NotFound,
}

impl SummaryRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            SummaryRefusal::NotPaidAccount => "not_paid_account",
            SummaryRefusal::Restricted => "restricted",
            SummaryRefusal::NotFound => "not_found",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            SummaryRefusal::NotPaidAccount => {
                "Zoom makes AI Companion meeting summaries for paid accounts only (Zoom answered 400, code 200)"
            }
            SummaryRefusal::Restricted => {
                "an account setting in Zoom restricts access to meeting summaries (Zoom answered 403, code 2305); an admin can allow it under AI Companion settings"
            }
            SummaryRefusal::NotFound => {
                "Zoom has no summary of this meeting (Zoom answered 404, code 3001)"
            }
        }
    }
}

/// `text` cut to at most `max` characters, on a character boundary.
pub fn cut_to(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => text.get(..at).unwrap_or(text),
        None => text,
    }
}

/// Appended where a note was cut.
const CUT_MARK: &str = "\n… (cut to fit the incident's timeline)";

/// The summary note: title, next steps, the summary (or its overview), and the link to the
/// whole text in Zoom Docs; at most `limit` characters, cut inside the summary's text so the
/// next steps and the link stay.
pub fn summary_note(meeting: &str, summary: &MeetingSummary, limit: usize) -> String {
    let mut head = format!("Zoom meeting summary of meeting {meeting}");
    if let Some(title) = &summary.title {
        head.push_str(&format!(": {title}"));
    }
    if !summary.next_steps.is_empty() {
        head.push_str("\n\nNext steps:");
        for step in &summary.next_steps {
            head.push_str(&format!("\n- {step}"));
        }
    }
    let tail = match &summary.doc_url {
        Some(url) => format!("\n\nFull summary in Zoom Docs: {url}"),
        None => String::new(),
    };
    let body = summary
        .content
        .as_deref()
        .or(summary.overview.as_deref())
        .map(|text| format!("\n\n{text}"))
        .unwrap_or_default();
    fit(&head, &body, &tail, limit)
}

/// The note when a summary already posted was edited in Zoom.
pub fn summary_edited_note(meeting: &str, doc_url: Option<&str>, limit: usize) -> String {
    let note = match doc_url {
        Some(url) => format!(
            "The Zoom meeting summary of meeting {meeting} was edited in Zoom; the current text: {url}"
        ),
        None => format!(
            "The Zoom meeting summary of meeting {meeting} was edited in Zoom; the current text is in Zoom (Meetings > Summaries)."
        ),
    };
    cut_to(&note, limit).to_owned()
}

/// The recording note: the share link, its passcode, the length and the files.
pub fn recording_note(meeting: &str, recording: &RecordingShare, limit: usize) -> String {
    let mut note = format!("Zoom cloud recording of meeting {meeting} is ready");
    if let Some(minutes) = recording.duration_minutes {
        note.push_str(&format!(" ({minutes} min)"));
    }
    share_lines(&mut note, recording);
    if !recording.files.is_empty() {
        let files: Vec<&str> = recording.files.iter().map(|f| f.as_str()).collect();
        note.push_str(&format!("\nFiles: {}.", files.join(", ")));
    }
    cut_to(&note, limit).to_owned()
}

/// The transcript note: the share link (which now has the transcript) and its passcode.
pub fn transcript_note(meeting: &str, recording: &RecordingShare, limit: usize) -> String {
    let mut note = format!("Zoom transcript of meeting {meeting} is ready");
    share_lines(&mut note, recording);
    cut_to(&note, limit).to_owned()
}

fn share_lines(note: &mut String, recording: &RecordingShare) {
    match &recording.share_url {
        Some(url) => note.push_str(&format!(": {url}")),
        None => note.push_str(" in Zoom (Recordings and Transcripts)."),
    }
    if let Some(passcode) = &recording.passcode {
        note.push_str(&format!("\nPasscode: {passcode}"));
    }
}

/// The one note said when Zoom refused the summary.
pub fn summary_refused_note(meeting: &str, refusal: SummaryRefusal) -> String {
    format!(
        "No Zoom meeting summary of meeting {meeting} on this incident: {}.",
        refusal.reason()
    )
}

/// `head + body + tail` in at most `limit` characters: the body is cut first (with a mark),
/// then, if even that is too long, the whole note.
fn fit(head: &str, body: &str, tail: &str, limit: usize) -> String {
    let fixed = head.chars().count().saturating_add(tail.chars().count());
    let whole = fixed.saturating_add(body.chars().count());
    if whole <= limit {
        return format!("{head}{body}{tail}");
    }
    let room = limit
        .saturating_sub(fixed)
        .saturating_sub(CUT_MARK.chars().count());
    if room > 0 {
        return format!("{head}{}{CUT_MARK}{tail}", cut_to(body, room));
    }
    cut_to(&format!("{head}{tail}"), limit).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_choice_is_summary_and_recording_and_none_for_sensitive_incidents() {
        let default = AfterCall::default();
        assert_eq!(
            default.choice(false),
            ArtifactChoice {
                summary: true,
                recording: true,
                transcript: false
            }
        );
        assert_eq!(default.choice(true), ArtifactChoice::NONE);
        let all = AfterCall {
            transcript: Some(true),
            include_sensitive: Some(true),
            ..AfterCall::default()
        };
        assert!(all.choice(true).transcript && all.choice(true).summary);
        let overlaid = default.overlaid_with(&AfterCall {
            recording: Some(false),
            ..AfterCall::default()
        });
        assert!(!overlaid.choice(false).recording && overlaid.choice(false).summary);
    }

    #[test]
    fn a_long_summary_is_cut_in_its_text_and_keeps_next_steps_and_link() {
        let summary = MeetingSummary {
            title: Some("Checkout outage".into()),
            content: Some("é".repeat(30_000)),
            overview: None,
            next_steps: vec!["Roll back 4.2".into()],
            doc_url: Some("https://docs.zoom.us/doc/abc".into()),
        };
        let note = summary_note("850 1234 5678", &summary, 1_000);
        assert_eq!(note.chars().count(), 1_000);
        assert!(note.starts_with(
            "Zoom meeting summary of meeting 850 1234 5678: Checkout outage\n\nNext steps:\n- Roll back 4.2\n\néé"
        ));
        assert!(note.ends_with(
            "é\n… (cut to fit the incident's timeline)\n\nFull summary in Zoom Docs: https://docs.zoom.us/doc/abc"
        ));
        // A short one is whole; with no content the overview stands in.
        let short = MeetingSummary {
            content: None,
            overview: Some("We rolled back.".into()),
            ..summary.clone()
        };
        assert_eq!(
            summary_note("850 1234 5678", &short, 1_000),
            "Zoom meeting summary of meeting 850 1234 5678: Checkout outage\n\nNext steps:\n- Roll back 4.2\n\nWe rolled back.\n\nFull summary in Zoom Docs: https://docs.zoom.us/doc/abc"
        );
        // A limit below even the head and link still gives a note within it.
        assert_eq!(
            summary_note("850 1234 5678", &summary, 20).chars().count(),
            20
        );
    }

    #[test]
    fn recording_notes_list_link_passcode_length_and_files() {
        let recording = RecordingShare {
            share_url: Some("https://zoom.us/rec/share/abc".into()),
            passcode: Some("132456".into()),
            duration_minutes: Some(60),
            files: vec![RecordingFile::Audio, RecordingFile::Video],
        };
        assert_eq!(
            recording_note("850 1234 5678", &recording, 25_000),
            "Zoom cloud recording of meeting 850 1234 5678 is ready (60 min): https://zoom.us/rec/share/abc\nPasscode: 132456\nFiles: audio, video."
        );
        assert_eq!(
            transcript_note("850 1234 5678", &recording, 25_000),
            "Zoom transcript of meeting 850 1234 5678 is ready: https://zoom.us/rec/share/abc\nPasscode: 132456"
        );
    }

    #[test]
    fn blank_texts_are_dropped_and_long_ones_bounded() {
        let summary = MeetingSummary {
            title: Some("  ".into()),
            content: Some("x".repeat(MAX_SUMMARY_CHARS + 10)),
            next_steps: vec![" ".into(); 3],
            ..MeetingSummary::default()
        }
        .bounded();
        assert_eq!(summary.title, None);
        assert!(summary.next_steps.is_empty());
        assert_eq!(
            summary.content.map(|c| c.chars().count()),
            Some(MAX_SUMMARY_CHARS)
        );
    }
}
