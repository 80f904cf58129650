//! The relay's meeting ([`MeetingSpec`]) -> Zoom's create-meeting body, and Zoom's answer ->
//! the relay's [`Meeting`]. Zoom's wire names (`type`, `jbh_time`, `approval_type`) stay here.

use serde::{Deserialize, Serialize};

use bridge_relay_domain::meeting::MeetingSpec;
use bridge_relay_domain::model::{DialInNumber, Meeting};

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

impl From<&MeetingSpec> for MeetingRequest {
    /// A scheduled meeting (type 2): unlike an instant one it honours `join_before_host`.
    fn from(spec: &MeetingSpec) -> Self {
        MeetingRequest {
            topic: spec.topic.clone(),
            kind: 2,
            // Clamped: a start RFC 3339 cannot write must not panic the worker.
            start_time: bridge_relay_domain::telemetry::rfc3339_seconds(spec.start)
                .unwrap_or_else(|| "9999-12-31T23:59:59Z".into()),
            duration: spec.minutes,
            timezone: "UTC".into(),
            agenda: spec.agenda.clone(),
            password: spec.passcode.clone(),
            settings: MeetingSettings {
                join_before_host: spec.join_before_host,
                jbh_time: 0,
                waiting_room: spec.waiting_room,
                use_pmi: false,
                approval_type: 2,
                audio: "both",
                host_video: false,
                participant_video: false,
                auto_recording: spec.auto_recording.map(|r| r.as_str()),
                mute_upon_entry: spec.mute_upon_entry,
                meeting_authentication: spec.meeting_authentication,
                global_dial_in_countries: spec.dial_in_countries.clone(),
                meeting_invitees: spec
                    .invitees
                    .iter()
                    .map(|email| Invitee {
                        email: email.clone(),
                    })
                    .collect(),
            },
            host_user: spec.host_user.clone(),
        }
    }
}

/// The body of `PATCH /meetings/{id}`: only what changes. Alternative hosts are one
/// `;`-separated string, and Zoom sends them no e-mail per incident.
pub fn update_body(
    labels: Option<&bridge_relay_domain::meeting::MeetingLabels>,
    alternative_hosts: Option<&[String]>,
) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    if let Some(labels) = labels {
        body.insert("topic".into(), labels.topic.clone().into());
        body.insert("agenda".into(), labels.agenda.clone().into());
    }
    if let Some(hosts) = alternative_hosts {
        body.insert(
            "settings".into(),
            serde_json::json!({
                "alternative_hosts": hosts.join(";"),
                "alternative_hosts_email_notification": false,
            }),
        );
    }
    serde_json::Value::Object(body)
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

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_relay_domain::meeting::*;
    use bridge_relay_domain::model::{Incident, MeetingOptions};
    use bridge_relay_domain::texts::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn meeting_request(
        incident: &Incident,
        passcode: &str,
        now: std::time::SystemTime,
    ) -> MeetingRequest {
        MeetingRequest::from(&bridge_meeting(incident, passcode, now))
    }

    fn meeting_request_with(
        incident: &Incident,
        options: &MeetingOptions,
        passcode: &str,
        now: std::time::SystemTime,
    ) -> MeetingRequest {
        MeetingRequest::from(&meeting_spec(incident, options, passcode, now))
    }

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
