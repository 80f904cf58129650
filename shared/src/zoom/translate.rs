//! Incident -> Zoom meeting request, and Zoom meeting -> PagerDuty bridge and note.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::policy::render_template;
use bridge_relay_domain::model::{
    Bridge, DialInNumber, Incident, IncidentToolKind, Meeting, MeetingOptions,
};

/// Zoom's limit on a meeting topic (the meeting response schema's `maxLength`).
pub const TOPIC_MAX_CHARS: usize = 200;
/// Zoom's limit on an agenda.
pub const AGENDA_MAX_CHARS: usize = 2000;
const MEETING_MINUTES: u32 = 60;
/// Dial-in numbers listed in the note; Zoom can return dozens.
const NOTE_MAX_NUMBERS: usize = 8;

/// The body of `POST /users/{userId}/meetings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeetingRequest {
    pub topic: String,
    #[serde(rename = "type")]
    pub kind: u8,
    pub start_time: String,
    pub duration: u32,
    pub timezone: String,
    pub agenda: String,
    pub password: String,
    pub settings: MeetingSettings,
    /// The host the policy chose for this incident instead of `ZOOM_HOST_USER`; part of the
    /// path, not the body.
    #[serde(skip)]
    pub host_user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeetingSettings {
    /// Responders join the moment they click, with no host present.
    pub join_before_host: bool,
    pub jbh_time: u8,
    pub waiting_room: bool,
    pub use_pmi: bool,
    pub approval_type: u8,
    pub audio: &'static str,
    pub host_video: bool,
    pub participant_video: bool,
    /// The fields below are sent only when the policy sets them, so Zoom's account defaults apply otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_recording: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mute_upon_entry: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting_authentication: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_dial_in_countries: Option<Vec<String>>,
    /// Who Zoom invites (the follow-up review meeting only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub meeting_invitees: Vec<Invitee>,
}

/// One entry of `settings.meeting_invitees`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invitee {
    pub email: String,
}

/// How long the follow-up review meeting is scheduled for.
const REVIEW_MINUTES: u32 = 30;

/// The marker a lost review meeting is found by: not the bridge's, so neither is mistaken for
/// the other.
pub fn review_marker_id(incident_id: &str) -> String {
    format!("review {incident_id}")
}

/// The post-incident review meeting: the incident's meeting settings, starting at `start`,
/// with the responders invited. `incident` carries its key for an id (`incident_io:<id>`
/// beyond PagerDuty, see [`bridge_relay_domain::model::Job::keyed_incident`]): the agenda's marker is made
/// of it, as the lookup of a lost review is.
pub fn review_request(
    incident: &Incident,
    options: &MeetingOptions,
    passcode: &str,
    start: SystemTime,
    invitees: &[String],
) -> MeetingRequest {
    let mut request = meeting_request_with(incident, options, passcode, start);
    let (tool, id) = IncidentToolKind::split_key(&incident.id);
    let label = match incident.number {
        Some(n) => format!("#{n}"),
        None => id,
    };
    let title = incident.title.as_deref().unwrap_or("Incident");
    request.topic = truncate(
        &format!("Post-incident review: [{label}] {title}"),
        TOPIC_MAX_CHARS,
    );
    request.agenda = truncate(
        &format!(
            "Post-incident review of {} incident {label} {}\n{}",
            tool.display_name(),
            agenda_marker(&review_marker_id(&incident.id)),
            incident.html_url.as_deref().unwrap_or_default()
        ),
        AGENDA_MAX_CHARS,
    );
    request.duration = REVIEW_MINUTES;
    request.settings.meeting_invitees = invitees
        .iter()
        .map(|email| Invitee {
            email: email.clone(),
        })
        .collect();
    request
}

/// The part of Zoom's create-meeting answer the relay keeps. `start_url`, the host's link,
/// is deliberately not read, so it can never be logged or posted.
#[derive(Debug, Deserialize)]
pub struct MeetingCreated {
    pub id: u64,
    pub join_url: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub pstn_password: Option<String>,
    #[serde(default)]
    pub h323_password: Option<String>,
    #[serde(default)]
    pub settings: Option<CreatedSettings>,
}

#[derive(Debug, Deserialize)]
pub struct CreatedSettings {
    #[serde(default)]
    pub global_dial_in_numbers: Vec<DialInNumber>,
}

/// A scheduled meeting (type 2) starting now: unlike instant meetings it honours
/// `join_before_host`, so nobody waits for a host who may never come.
pub fn meeting_request(incident: &Incident, passcode: &str, now: SystemTime) -> MeetingRequest {
    meeting_request_with(incident, &MeetingOptions::default(), passcode, now)
}

/// The meeting the policy's options describe; unset options keep the defaults above.
pub fn meeting_request_with(
    incident: &Incident,
    options: &MeetingOptions,
    passcode: &str,
    now: SystemTime,
) -> MeetingRequest {
    let topic = match &options.topic {
        Some(template) => truncate(render_template(template, incident).trim(), TOPIC_MAX_CHARS),
        None => topic(incident),
    };
    let agenda = match &options.agenda {
        Some(template) => truncate(
            &format!(
                "{}\n{}",
                agenda_first_line(incident),
                render_template(template, incident)
            ),
            AGENDA_MAX_CHARS,
        ),
        None => agenda(incident),
    };
    MeetingRequest {
        topic,
        kind: 2,
        // Clamped: a start RFC 3339 cannot write must not panic the worker.
        start_time: bridge_relay_domain::telemetry::rfc3339_seconds(now)
            .unwrap_or_else(|| "9999-12-31T23:59:59Z".into()),
        duration: MEETING_MINUTES,
        timezone: "UTC".into(),
        agenda,
        password: passcode.to_owned(),
        settings: MeetingSettings {
            join_before_host: options.join_before_host.unwrap_or(true),
            jbh_time: 0,
            waiting_room: options.waiting_room.unwrap_or(false),
            use_pmi: false,
            approval_type: 2,
            audio: "both",
            host_video: false,
            participant_video: false,
            auto_recording: options.auto_recording.map(|r| r.as_str()),
            mute_upon_entry: options.mute_upon_entry,
            meeting_authentication: options.meeting_authentication,
            global_dial_in_countries: options.dial_in_countries.clone(),
            meeting_invitees: Vec::new(),
        },
        host_user: options.host_user.clone(),
    }
}

/// `[#1234] Database latency on checkout`, cut to Zoom's limit on a char boundary.
pub fn topic(incident: &Incident) -> String {
    let label = match incident.number {
        Some(n) => format!("#{n}"),
        None => incident.id.clone(),
    };
    let title = incident.title.as_deref().unwrap_or("Incident");
    truncate(&format!("[{label}] {title}"), TOPIC_MAX_CHARS)
}

/// Identifies the incident in the first line of the agenda: Zoom's meeting list shows only
/// the first 250 characters of an agenda, and that is where a lost meeting is looked for.
pub fn agenda_marker(incident_id: &str) -> String {
    format!("({incident_id})")
}

/// The agenda's first line, which carries the marker a lost meeting is found by.
fn agenda_first_line(incident: &Incident) -> String {
    let number = incident
        .number
        .map(|n| format!(" #{n}"))
        .unwrap_or_default();
    // Incidents of tools other than PagerDuty arrive keyed `<tool>:<id>` (PagerDuty ids have no colon).
    let (tool, _) = IncidentToolKind::split_key(&incident.id);
    format!(
        "Incident bridge for {} incident{number} {}",
        tool.display_name(),
        agenda_marker(&incident.id)
    )
}

fn agenda(incident: &Incident) -> String {
    let mut lines = vec![agenda_first_line(incident)];
    if let Some(title) = &incident.title {
        lines.push(title.clone());
    }
    let facts: Vec<String> = [
        incident.service.as_ref().map(|s| format!("Service: {s}")),
        incident.urgency.as_ref().map(|u| format!("Urgency: {u}")),
        incident.priority.as_ref().map(|p| format!("Priority: {p}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !facts.is_empty() {
        lines.push(facts.join(" | "));
    }
    if let Some(url) = &incident.html_url {
        lines.push(url.clone());
    }
    truncate(&lines.join("\n"), AGENDA_MAX_CHARS)
}

/// Cuts to at most `max` characters, never inside a UTF-8 sequence.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((byte, _)) => text[..byte].to_owned(),
        None => text.to_owned(),
    }
}

impl MeetingCreated {
    pub fn into_meeting(self) -> Meeting {
        let passcode = self.password.filter(|p| !p.is_empty());
        // The phone passcode is numeric; Zoom names it pstn_password in newer answers. A numeric
        // web passcode is the phone passcode too; h323_password is the numeric one for room systems.
        let numeric = |p: &String| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        let phone_passcode = self
            .pstn_password
            .filter(numeric)
            .or_else(|| passcode.clone().filter(numeric))
            .or_else(|| self.h323_password.filter(numeric));
        Meeting {
            id: self.id,
            join_url: self.join_url,
            passcode,
            phone_passcode,
            dial_in: self
                .settings
                .map(|s| s.global_dial_in_numbers)
                .unwrap_or_default(),
        }
    }
}

/// The incident's conference bridge: the join link, and a one-touch number when Zoom has dial-in.
pub fn bridge(meeting: &Meeting) -> Bridge {
    bridge_with(meeting, &MeetingOptions::default())
}

/// The bridge with the one-touch number from the first country of `dial_in_countries` that
/// Zoom lists a number for (else Zoom's first number).
pub fn bridge_with(meeting: &Meeting, options: &MeetingOptions) -> Bridge {
    Bridge {
        conference_url: Some(meeting.join_url.clone()),
        conference_number: one_touch_number(meeting, options)
            .map(|number| one_touch(&number.number, meeting)),
    }
}

/// The dial-in number the one-touch number is made of.
pub fn one_touch_number<'a>(
    meeting: &'a Meeting,
    options: &MeetingOptions,
) -> Option<&'a DialInNumber> {
    let preferred = options
        .dial_in_countries
        .iter()
        .flatten()
        .find_map(|country| {
            meeting.dial_in.iter().find(|number| {
                number
                    .country
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(country))
            })
        });
    preferred.or_else(|| meeting.dial_in.first())
}

/// `+1 669-900-6833,,85012345678#,,,,*123456#`: each comma waits a second, `#` ends an entry,
/// and `*` before the passcode skips Zoom's participant-id prompt.
pub fn one_touch(number: &str, meeting: &Meeting) -> String {
    let mut out = format!("{},,{}#", display_number(number), meeting.id);
    if let Some(passcode) = &meeting.phone_passcode {
        out.push_str(&format!(",,,,*{passcode}#"));
    }
    out
}

/// `+1 6699006833` -> `+1 669-900-6833` for North American numbers; others as Zoom gives them.
pub fn display_number(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    if number.trim_start().starts_with("+1") && digits.len() == 11 {
        format!("+1 {}-{}-{}", &digits[1..4], &digits[4..7], &digits[7..])
    } else {
        number.trim().to_owned()
    }
}

/// `85012345678` -> `850 1234 5678`, the way Zoom shows meeting ids.
pub fn display_meeting_id(id: u64) -> String {
    let digits = id.to_string();
    match digits.len() {
        11 => format!("{} {} {}", &digits[..3], &digits[3..7], &digits[7..]),
        10 => format!("{} {} {}", &digits[..3], &digits[3..6], &digits[6..]),
        9 => format!("{} {} {}", &digits[..3], &digits[3..6], &digits[6..]),
        _ => digits,
    }
}

/// The timeline note: everything a responder needs to join, by link or by phone.
pub fn note(meeting: &Meeting) -> String {
    note_with(meeting, &MeetingOptions::default(), None)
}

/// The note with the policy's one-touch number and, for a button click, who asked.
pub fn note_with(
    meeting: &Meeting,
    options: &MeetingOptions,
    requested_by: Option<&str>,
) -> String {
    let mut lines = vec![match requested_by {
        Some(who) => {
            format!("Zoom bridge opened for this incident (bridge-relay), requested by {who}.")
        }
        None => "Zoom bridge opened for this incident (bridge-relay).".to_owned(),
    }];
    lines.extend([
        format!("Join: {}", meeting.join_url),
        format!("Meeting ID: {}", display_meeting_id(meeting.id)),
    ]);
    if let Some(passcode) = &meeting.passcode {
        lines.push(format!("Passcode: {passcode}"));
    }
    if meeting
        .phone_passcode
        .as_ref()
        .is_some_and(|p| Some(p) != meeting.passcode.as_ref())
    {
        lines.push(format!(
            "Phone passcode: {}",
            meeting.phone_passcode.as_deref().unwrap_or_default()
        ));
    }
    if let Some(first) = one_touch_number(meeting, options) {
        lines.push(format!("One tap: {}", one_touch(&first.number, meeting)));
        lines.push("Dial in:".to_owned());
        for number in meeting.dial_in.iter().take(NOTE_MAX_NUMBERS) {
            let place = [number.city.as_deref(), number.country_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let kind = number
                .kind
                .as_deref()
                .filter(|k| *k == "tollfree")
                .map(|_| " (toll free)")
                .unwrap_or_default();
            if place.is_empty() {
                lines.push(format!("  {}{kind}", display_number(&number.number)));
            } else {
                lines.push(format!(
                    "  {} {place}{kind}",
                    display_number(&number.number)
                ));
            }
        }
    } else {
        lines.push("Dial in: this Zoom account has no dial-in numbers.".to_owned());
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn incident() -> Incident {
        Incident {
            number: Some(1234),
            title: Some("Database latency on checkout".into()),
            html_url: Some("https://acme.pagerduty.com/incidents/Q3B15VLMF3ASBD".into()),
            service: Some("checkout-api".into()),
            urgency: Some("high".into()),
            priority: Some("P1".into()),
            ..Incident::new("Q3B15VLMF3ASBD")
        }
    }

    fn created() -> MeetingCreated {
        serde_json::from_value(serde_json::json!({
            "id": 85012345678u64,
            "join_url": "https://us06web.zoom.us/j/85012345678?pwd=abcDEF",
            "start_url": "https://us06web.zoom.us/s/85012345678?zak=host-secret",
            "password": "123456",
            "h323_password": "123456",
            "settings": {"global_dial_in_numbers": [
                {"city": "San Jose", "country": "US", "country_name": "US", "number": "+1 6699006833", "type": "toll"},
                {"country": "US", "country_name": "US", "number": "+1 8887880099", "type": "tollfree"}
            ]}
        }))
        .unwrap()
    }

    #[test]
    fn meeting_request_opens_the_room_to_everyone_with_the_link() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let request = meeting_request(&incident(), "48151623", now);
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "topic": "[#1234] Database latency on checkout",
                "type": 2,
                "start_time": "2026-11-18T11:06:40Z",
                "duration": 60,
                "timezone": "UTC",
                "agenda": "Incident bridge for PagerDuty incident #1234 (Q3B15VLMF3ASBD)\nDatabase latency on checkout\nService: checkout-api | Urgency: high | Priority: P1\nhttps://acme.pagerduty.com/incidents/Q3B15VLMF3ASBD",
                "password": "48151623",
                "settings": {"join_before_host": true, "jbh_time": 0, "waiting_room": false,
                    "use_pmi": false, "approval_type": 2, "audio": "both",
                    "host_video": false, "participant_video": false}
            })
        );
    }

    #[test]
    fn topic_without_number_uses_the_id_and_is_cut_on_a_char_boundary() {
        let mut long = Incident::new("PGR0VU2");
        long.title = Some("é".repeat(300));
        let topic = topic(&long);
        assert_eq!(topic.chars().count(), TOPIC_MAX_CHARS);
        assert!(topic.starts_with("[PGR0VU2] éé"));
        // Multi-byte characters straddling the limit are dropped whole.
        let emoji = "🔥".repeat(250);
        assert_eq!(truncate(&emoji, 200), "🔥".repeat(200));
        assert_eq!(truncate("short", 200), "short");
    }

    #[test]
    fn a_topic_template_rendering_too_long_is_cut_on_a_char_boundary() {
        let mut long = incident();
        long.title = Some("Ünïcödé ".repeat(30));
        let options = MeetingOptions {
            topic: Some("[{priority}] #{number} {title} {title}".into()),
            agenda: Some("{service}: {url}".into()),
            ..MeetingOptions::default()
        };
        let request = meeting_request_with(&long, &options, "48151623", UNIX_EPOCH);
        assert_eq!(request.topic.chars().count(), TOPIC_MAX_CHARS);
        assert!(request.topic.starts_with("[P1] #1234 Ünïcödé Ünïcödé"));
        assert_eq!(
            request.agenda,
            "Incident bridge for PagerDuty incident #1234 (Q3B15VLMF3ASBD)\ncheckout-api: https://acme.pagerduty.com/incidents/Q3B15VLMF3ASBD",
            "the relay's first line stays, so a lost meeting is still found"
        );
    }

    #[test]
    fn dial_in_countries_choose_the_one_touch_number() {
        let mut created = created();
        created.settings = Some(CreatedSettings {
            global_dial_in_numbers: vec![
                DialInNumber {
                    number: "+1 6699006833".into(),
                    country: Some("US".into()),
                    country_name: Some("US".into()),
                    city: None,
                    kind: None,
                },
                DialInNumber {
                    number: "+49 69 7104 9922".into(),
                    country: Some("DE".into()),
                    country_name: Some("Germany".into()),
                    city: None,
                    kind: None,
                },
            ],
        });
        let meeting = created.into_meeting();
        let german = MeetingOptions {
            dial_in_countries: Some(vec!["FR".into(), "DE".into()]),
            ..MeetingOptions::default()
        };
        assert_eq!(
            bridge_with(&meeting, &german).conference_number.as_deref(),
            Some("+49 69 7104 9922,,85012345678#,,,,*123456#")
        );
        let unlisted = MeetingOptions {
            dial_in_countries: Some(vec!["FR".into()]),
            ..MeetingOptions::default()
        };
        assert_eq!(
            bridge_with(&meeting, &unlisted)
                .conference_number
                .as_deref(),
            Some("+1 669-900-6833,,85012345678#,,,,*123456#"),
            "no number in a listed country: Zoom's first"
        );
    }

    #[test]
    fn bridge_and_note_from_a_created_meeting() {
        let meeting = created().into_meeting();
        assert_eq!(meeting.phone_passcode.as_deref(), Some("123456"));
        let bridge = bridge(&meeting);
        assert_eq!(
            bridge.conference_url.as_deref(),
            Some("https://us06web.zoom.us/j/85012345678?pwd=abcDEF")
        );
        assert_eq!(
            bridge.conference_number.as_deref(),
            Some("+1 669-900-6833,,85012345678#,,,,*123456#")
        );
        let note = note(&meeting);
        assert_eq!(
            note,
            "Zoom bridge opened for this incident (bridge-relay).\n\
             Join: https://us06web.zoom.us/j/85012345678?pwd=abcDEF\n\
             Meeting ID: 850 1234 5678\n\
             Passcode: 123456\n\
             One tap: +1 669-900-6833,,85012345678#,,,,*123456#\n\
             Dial in:\n  +1 669-900-6833 San Jose, US\n  +1 888-788-0099 US (toll free)"
        );
        assert!(
            !note.contains("zak="),
            "the host link never reaches the note"
        );
    }

    #[test]
    fn no_dial_in_means_no_number_and_a_note_that_says_so() {
        let mut created = created();
        created.settings = None;
        created.password = Some("aB3xYz".into());
        created.h323_password = Some("804255".into());
        let meeting = created.into_meeting();
        assert_eq!(bridge(&meeting).conference_number, None);
        assert_eq!(meeting.phone_passcode.as_deref(), Some("804255"));
        let note = note(&meeting);
        assert!(
            note.contains("Passcode: aB3xYz\nPhone passcode: 804255"),
            "{note}"
        );
        assert!(note.ends_with("this Zoom account has no dial-in numbers."));
    }

    #[test]
    fn numbers_and_ids_display_like_zoom_invitations() {
        assert_eq!(display_number("+1 6469313860"), "+1 646-931-3860");
        assert_eq!(display_number("+44 203 481 5237"), "+44 203 481 5237");
        assert_eq!(display_meeting_id(85012345678), "850 1234 5678");
        assert_eq!(display_meeting_id(9876543210), "987 654 3210");
        assert_eq!(display_meeting_id(12345), "12345");
    }
}
