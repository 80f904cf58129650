//! Zoom event notifications (webhooks): the `x-zm-signature` check, the
//! `endpoint.url_validation` challenge, and the meeting events the relay puts on the timeline.
//!
//! Zoom signs `v0:{x-zm-request-timestamp}:{raw body}` with HMAC-SHA256 under the app's secret
//! token and sends `v0=<hex>`; the challenge is answered with the plain token and its hex
//! HMAC-SHA256 under the same secret.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Sha256;

use bridge_relay_domain::after_call::ArtifactEvent;
pub use bridge_relay_domain::model::{MeetingEvent, MeetingEventKind};

type HmacSha256 = Hmac<Sha256>;

pub const SIGNATURE_HEADER: &str = "x-zm-signature";
pub const TIMESTAMP_HEADER: &str = "x-zm-request-timestamp";

/// How far a request's timestamp may be from the relay's clock (either way) before it is
/// refused as a replay. Zoom delivers within seconds; five minutes allows for clock skew.
pub const TIMESTAMP_TOLERANCE_SECONDS: u64 = 300;
/// `v0=` and 64 hex digits; anything much longer is no signature of Zoom's.
pub const MAX_SIGNATURE_BYTES: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoomSignatureError {
    #[error("the x-zm-signature header is missing")]
    MissingSignature,
    #[error("the x-zm-request-timestamp header is missing")]
    MissingTimestamp,
    #[error("the x-zm-request-timestamp header is not a Unix time in seconds")]
    BadTimestamp,
    #[error(
        "the x-zm-request-timestamp is more than {TIMESTAMP_TOLERANCE_SECONDS} s away from now (a replay or a stale delivery)"
    )]
    Stale,
    #[error("the x-zm-signature header is not a v0= hex signature")]
    Malformed,
    #[error("x-zm-signature does not match the body")]
    Mismatch,
}

impl ZoomSignatureError {
    /// 400 for a request that is not shaped like Zoom's, 401 for one that fails the check.
    pub fn status(&self) -> u16 {
        match self {
            ZoomSignatureError::BadTimestamp | ZoomSignatureError::Malformed => 400,
            _ => 401,
        }
    }
}

/// Checks the signature and the timestamp's age. The MAC is compared in constant time
/// (`Mac::verify_slice`), and the timestamp is checked only after the signature matched, so
/// an unsigned request learns nothing about the clock.
pub fn verify(
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    secret: &SecretString,
    now_seconds: u64,
) -> Result<(), ZoomSignatureError> {
    let signature = signature.ok_or(ZoomSignatureError::MissingSignature)?;
    let timestamp = timestamp.ok_or(ZoomSignatureError::MissingTimestamp)?;
    if signature.len() > MAX_SIGNATURE_BYTES {
        return Err(ZoomSignatureError::Malformed);
    }
    // The MAC covers the header exactly as sent; so does the parse.
    let sent_at: u64 = timestamp
        .parse()
        .map_err(|_| ZoomSignatureError::BadTimestamp)?;
    let expected = signature
        .trim()
        .strip_prefix("v0=")
        .and_then(|hex_sig| hex::decode(hex_sig).ok())
        .ok_or(ZoomSignatureError::Malformed)?;
    mac(secret, timestamp, body)
        .verify_slice(&expected)
        .map_err(|_| ZoomSignatureError::Mismatch)?;
    if sent_at.abs_diff(now_seconds) > TIMESTAMP_TOLERANCE_SECONDS {
        return Err(ZoomSignatureError::Stale);
    }
    Ok(())
}

/// The `x-zm-signature` value Zoom sends for `body` at `timestamp` (tests, local trials).
pub fn sign(timestamp: &str, body: &[u8], secret: &SecretString) -> String {
    format!(
        "v0={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

#[allow(clippy::expect_used, reason = "HMAC-SHA256 takes a key of any length")]
fn mac(secret: &SecretString, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// The answer to `endpoint.url_validation`: `{"plainToken", "encryptedToken"}`.
#[allow(clippy::expect_used, reason = "HMAC-SHA256 takes a key of any length")]
pub fn url_validation_answer(plain_token: &str, secret: &SecretString) -> Value {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(plain_token.as_bytes());
    serde_json::json!({
        "plainToken": plain_token,
        "encryptedToken": hex::encode(mac.finalize().into_bytes()),
    })
}

/// The meeting event a Zoom event type names.
pub fn event_kind(event_type: &str) -> Option<MeetingEventKind> {
    match event_type {
        "meeting.started" => Some(MeetingEventKind::Started),
        "meeting.ended" => Some(MeetingEventKind::Ended),
        "meeting.participant_joined" => Some(MeetingEventKind::ParticipantJoined),
        "meeting.participant_left" => Some(MeetingEventKind::ParticipantLeft),
        "meeting.participant_jbh_waiting" => Some(MeetingEventKind::WaitingForHost),
        "meeting.participant_jbh_waiting_left" | "meeting.participant_jbh_joined" => {
            Some(MeetingEventKind::StoppedWaitingForHost)
        }
        "meeting.participant_joined_waiting_room" | "meeting.participant_put_in_waiting_room" => {
            Some(MeetingEventKind::InWaitingRoom)
        }
        "meeting.participant_left_waiting_room" | "meeting.participant_admitted" => {
            Some(MeetingEventKind::LeftWaitingRoom)
        }
        _ => None,
    }
}

/// A parsed Zoom notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// `endpoint.url_validation` with its `plainToken`.
    UrlValidation { plain_token: String },
    /// A meeting event the relay records.
    Meeting(MeetingEvent),
    /// One of Zoom's after-call artifacts (summary, recording, transcript).
    Artifact(ArtifactEvent),
    /// Any other event type: answered 200 and ignored.
    Other { event_type: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoomEventError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is not a Zoom event notification: {0}")]
    Shape(String),
}

/// Longest display name kept, and longest participant id read: the timeline needs no longer
/// ones, and the lifecycle item, which keeps hundreds of them, stays under DynamoDB's 400 KB.
pub const MAX_NAME_CHARS: usize = 64;
pub const MAX_ID_BYTES: usize = 64;

/// Parses `{"event", "event_ts", "payload": {"object": {...}}}`. The meeting id may come as a
/// number or a string (Zoom's events use both); times are RFC 3339.
pub fn parse(body: &[u8]) -> Result<Notification, ZoomEventError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ZoomEventError::NotJson(format!("line {} column {}", e.line(), e.column())))?;
    let shape = |reason: &str| ZoomEventError::Shape(reason.to_owned());
    let event_type = value
        .get("event")
        .and_then(Value::as_str)
        .ok_or_else(|| shape("no `event` string at the top level"))?;
    let payload = value
        .get("payload")
        .ok_or_else(|| shape("no `payload` object"))?;
    if event_type == "endpoint.url_validation" {
        let plain_token = payload
            .get("plainToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(|| shape("`payload.plainToken` is missing or not a short string"))?;
        return Ok(Notification::UrlValidation {
            plain_token: plain_token.to_owned(),
        });
    }
    if let Some(artifact) =
        super::after_call::parse(event_type, payload).map_err(ZoomEventError::Shape)?
    {
        return Ok(Notification::Artifact(artifact));
    }
    let Some(kind) = event_kind(event_type) else {
        return Ok(Notification::Other {
            event_type: event_type.chars().take(100).collect(),
        });
    };
    let object = payload
        .get("object")
        .filter(|o| o.is_object())
        .ok_or_else(|| shape("no `payload.object` object"))?;
    let meeting_id = match object.get("id") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| shape("`payload.object.id` is not a meeting id"))?;
    let event_ts = value.get("event_ts").and_then(Value::as_u64);
    let participant = object.get("participant");
    let time_field = match kind {
        MeetingEventKind::Started => object.get("start_time"),
        MeetingEventKind::Ended => object.get("end_time"),
        MeetingEventKind::ParticipantJoined => participant.and_then(|p| p.get("join_time")),
        MeetingEventKind::ParticipantLeft => participant.and_then(|p| p.get("leave_time")),
        // The waiting events carry `date_time` (the waiting room's) or no time at all (a
        // wait for the host): `event_ts` then.
        _ => participant.and_then(|p| p.get("date_time")),
    };
    let at_ms = time_field
        .and_then(Value::as_str)
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .map(bridge_relay_domain::telemetry::epoch_millis)
        .or(event_ts)
        .ok_or_else(|| shape("the event has no time (`event_ts`)"))?;
    let (participant, participant_id, participant_email) = match kind {
        kind if kind.is_participant() => {
            let p = participant.ok_or_else(|| shape("no `payload.object.participant`"))?;
            let name = p
                .get("user_name")
                .and_then(Value::as_str)
                .map(|n| n.trim().chars().take(MAX_NAME_CHARS).collect::<String>())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "someone".into());
            let id = ["participant_uuid", "participant_user_id", "id", "user_id"]
                .iter()
                .find_map(|k| p.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
                // Zoom's ids are short ASCII; another is no id to tell people apart by.
                .filter(|s| s.len() <= MAX_ID_BYTES && s.bytes().all(|b| b.is_ascii_graphic()))
                .map(str::to_owned);
            let email = p
                .get("email")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|e| e.len() <= 254 && e.contains('@') && !e.contains(char::is_whitespace))
                .map(str::to_owned);
            (Some(name), id, email)
        }
        _ => (None, None, None),
    };
    Ok(Notification::Meeting(MeetingEvent {
        kind,
        meeting_id,
        at_ms,
        participant,
        participant_id,
        participant_email,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("zoom-secret-token".to_owned())
    }

    const BODY: &[u8] = br#"{"event":"meeting.started","event_ts":1700000000000,"payload":{"account_id":"a","object":{"id":"85012345678","uuid":"u","host_id":"h","start_time":"2026-11-23T10:00:00Z"}}}"#;

    #[test]
    fn known_vector_matches_an_independent_hmac() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'secret', b'v0:1700000000:hello', hashlib.sha256).hexdigest())"
        assert_eq!(
            sign(
                "1700000000",
                b"hello",
                &SecretString::from("secret".to_owned())
            ),
            "v0=5bf2c08f3dd3a82bee05eecbecb3c9afc1296d88a9575ebb25750a099f54012a"
        );
    }

    #[test]
    fn signatures_are_checked_with_the_timestamp() {
        let now = 1_700_000_000;
        let header = sign("1700000000", BODY, &secret());
        assert_eq!(
            verify(Some(&header), Some("1700000000"), BODY, &secret(), now),
            Ok(())
        );
        // Tampered body, tampered timestamp, wrong secret.
        let tampered = [BODY, b" "].concat();
        assert_eq!(
            verify(Some(&header), Some("1700000000"), &tampered, &secret(), now),
            Err(ZoomSignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), Some("1700000001"), BODY, &secret(), now),
            Err(ZoomSignatureError::Mismatch)
        );
        let other = SecretString::from("other".to_owned());
        assert_eq!(
            verify(Some(&header), Some("1700000000"), BODY, &other, now),
            Err(ZoomSignatureError::Mismatch)
        );
        // Stale either way, only once signed.
        for now in [now + 301, now - 301] {
            assert_eq!(
                verify(Some(&header), Some("1700000000"), BODY, &secret(), now),
                Err(ZoomSignatureError::Stale)
            );
        }
        assert_eq!(
            verify(
                Some(&header),
                Some("1700000000"),
                BODY,
                &secret(),
                now + 300
            ),
            Ok(())
        );
        // Malformed input: 400s and 401s, never a panic.
        let cases: [(Option<&str>, Option<&str>, ZoomSignatureError); 6] = [
            (None, Some("1"), ZoomSignatureError::MissingSignature),
            (Some("v0=00"), None, ZoomSignatureError::MissingTimestamp),
            (
                Some("v0=00"),
                Some("soon"),
                ZoomSignatureError::BadTimestamp,
            ),
            (Some("v1=00"), Some("1"), ZoomSignatureError::Malformed),
            (Some("v0=zz"), Some("1"), ZoomSignatureError::Malformed),
            (
                Some(&"v0=".repeat(100)),
                Some("1"),
                ZoomSignatureError::Malformed,
            ),
        ];
        for (sig, ts, expected) in cases {
            assert_eq!(verify(sig, ts, BODY, &secret(), now), Err(expected.clone()));
        }
        assert_eq!(ZoomSignatureError::Malformed.status(), 400);
        assert_eq!(ZoomSignatureError::Stale.status(), 401);
    }

    #[test]
    fn url_validation_is_answered_with_the_hmac_of_the_token() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'secret', b'qgg8vlvZRS6UYooatFL8Aw', hashlib.sha256).hexdigest())"
        let answer = url_validation_answer(
            "qgg8vlvZRS6UYooatFL8Aw",
            &SecretString::from("secret".to_owned()),
        );
        assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
        assert_eq!(
            answer["encryptedToken"],
            "72cef096bfd47c0b8664df30d07721641e4abd7e885ba432204260db477a9a3e"
        );
        assert_eq!(
            parse(br#"{"event":"endpoint.url_validation","payload":{"plainToken":"abc"},"event_ts":1}"#),
            Ok(Notification::UrlValidation {
                plain_token: "abc".into()
            })
        );
    }

    #[test]
    fn meeting_events_parse_with_string_or_number_ids() {
        assert_eq!(
            parse(BODY),
            Ok(Notification::Meeting(MeetingEvent {
                kind: MeetingEventKind::Started,
                meeting_id: 85012345678,
                at_ms: 1_795_428_000_000,
                participant: None,
                participant_id: None,
                participant_email: None,
            }))
        );
        let joined = br#"{"event":"meeting.participant_joined","event_ts":1,"payload":{"object":{"id":85012345678,"participant":{"user_id":"16778240","user_name":" Ada Lovelace ","id":"iFxeBPYun6SAiWUzBcEkX","join_time":"2026-11-23T10:02:00Z"}}}}"#;
        match parse(joined).unwrap() {
            Notification::Meeting(event) => {
                assert_eq!(event.kind, MeetingEventKind::ParticipantJoined);
                assert_eq!(event.participant.as_deref(), Some("Ada Lovelace"));
                assert_eq!(
                    event.participant_id.as_deref(),
                    Some("iFxeBPYun6SAiWUzBcEkX")
                );
                assert_eq!(event.at_ms, 1_795_428_120_000);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(br#"{"event":"recording.started","payload":{}}"#),
            Ok(Notification::Other {
                event_type: "recording.started".into()
            })
        );
    }

    #[test]
    fn zooms_waiting_events_are_read_from_its_own_examples() {
        let fixture = |name: &str| {
            let path = format!(
                "{}/../../../tests/fixtures/zoom-webhooks/{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            match parse(&std::fs::read(path).unwrap()).unwrap() {
                Notification::Meeting(event) => event,
                other => panic!("{name}: {other:?}"),
            }
        };
        for (name, kind) in [
            (
                "meeting_participant_jbh_waiting",
                MeetingEventKind::WaitingForHost,
            ),
            (
                "meeting_participant_jbh_waiting_left",
                MeetingEventKind::StoppedWaitingForHost,
            ),
            (
                "meeting_participant_joined_waiting_room",
                MeetingEventKind::InWaitingRoom,
            ),
            (
                "meeting_participant_put_in_waiting_room",
                MeetingEventKind::InWaitingRoom,
            ),
            (
                "meeting_participant_left_waiting_room",
                MeetingEventKind::LeftWaitingRoom,
            ),
            (
                "meeting_participant_admitted",
                MeetingEventKind::LeftWaitingRoom,
            ),
        ] {
            let event = fixture(name);
            assert_eq!(event.kind, kind, "{name}");
            assert_eq!(event.meeting_id, 85012345678, "{name}");
            assert!(event.participant.is_some(), "{name}");
        }
        // The waiting room's `date_time`, else (waiting for the host) `event_ts`.
        assert_eq!(
            fixture("meeting_participant_joined_waiting_room").at_ms,
            1_626_212_691_000
        );
        let waiting = fixture("meeting_participant_jbh_waiting");
        assert_eq!(waiting.at_ms, 1_626_230_691_572);
        assert_eq!(waiting.participant.as_deref(), Some("JillChill"));
        assert_eq!(waiting.participant_email, None);
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        for (body, expected) in [
            (&b"not json"[..], "not JSON"),
            (br#"[]"#, "no `event`"),
            (br#"{"event":"meeting.started"}"#, "no `payload`"),
            (
                br#"{"event":"meeting.started","payload":{"object":{"id":"x"}}}"#,
                "not a meeting id",
            ),
            (
                br#"{"event":"meeting.started","payload":{"object":{"id":1}}}"#,
                "no time",
            ),
            (
                br#"{"event":"meeting.participant_left","event_ts":1,"payload":{"object":{"id":1}}}"#,
                "participant",
            ),
            (
                br#"{"event":"endpoint.url_validation","payload":{}}"#,
                "plainToken",
            ),
        ] {
            let err = parse(body).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
