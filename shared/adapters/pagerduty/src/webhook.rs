//! PagerDuty V3 webhook envelopes: `{"event":{id, event_type, resource_type, occurred_at, agent, client, data}}`.
//! Every field but the event id and type may be missing or null; incident ids are opaque strings.

use std::time::SystemTime;

use serde::Deserialize;
use serde::de::value::MapDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use bridge_relay_domain::error::bounded_reason as bounded;
use bridge_relay_domain::hosts::MAX_RESPONDERS;
use bridge_relay_domain::model::{
    Bridge, Incident, IncidentEvent, IncidentToolKind, Responder, TeamRef,
};

/// One parsed V3 webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub id: String,
    pub event_type: String,
    /// `data.type`: `incident`, `incident_conference_bridge`, `incident_note`, …
    pub data_type: Option<String>,
    /// The user or integration that caused the event, when PagerDuty names one.
    pub agent_id: Option<String>,
    /// When the event happened (`occurred_at`), when the payload says.
    pub occurred_at: Option<SystemTime>,
    /// The incident the event is about, as complete as the payload allows.
    pub incident: Option<Incident>,
}

impl WebhookEvent {
    /// The event in the relay's terms, for the policy (moved, not copied: an incident can
    /// carry hundreds of assignees and teams).
    pub fn into_incident_event(self) -> IncidentEvent {
        IncidentEvent {
            tool: IncidentToolKind::PAGERDUTY,
            id: self.id,
            event_type: self.event_type,
            incident: self.incident,
            private: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is not a PagerDuty V3 webhook: {0}")]
    Shape(String),
}

#[derive(Deserialize)]
struct IncidentData {
    id: String,
    #[serde(default)]
    number: Option<u64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    service: Option<Reference>,
    #[serde(default)]
    urgency: Option<String>,
    /// `triggered`, `acknowledged` or `resolved`: whether it is acknowledged, for
    /// `quiet_when_acknowledged`, whatever the event.
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    priority: Option<Reference>,
    #[serde(default)]
    teams: Option<Vec<Reference>>,
    #[serde(default)]
    conference_bridge: Option<Bridge>,
    #[serde(default, deserialize_with = "first_references")]
    assignees: Vec<Reference>,
}

/// The first [`MAX_RESPONDERS`] references of a list (the rest are checked as JSON, not built).
fn first_references<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Reference>, D::Error> {
    struct First;
    impl<'de> Visitor<'de> for First {
        type Value = Vec<Reference>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of references")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut references = Vec::new();
            while references.len() < MAX_RESPONDERS {
                match seq.next_element::<Reference>()? {
                    Some(reference) => references.push(reference),
                    None => return Ok(references),
                }
            }
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(references)
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(First)
}

/// User references as responders, known by id (their e-mail is looked up).
fn responders(users: Vec<Reference>) -> Vec<Responder> {
    users
        .into_iter()
        .filter_map(|user| {
            Some(Responder {
                id: Some(user.id.filter(|id| !id.is_empty())?),
                name: user.summary,
                email: None,
            })
        })
        .collect()
}

#[derive(Deserialize)]
pub(crate) struct Reference {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) summary: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

/// Team references as PagerDuty sends them, kept by id and name.
pub(crate) fn team_refs(teams: Option<Vec<Reference>>) -> Vec<TeamRef> {
    teams
        .unwrap_or_default()
        .into_iter()
        .filter_map(|team| {
            Some(TeamRef {
                id: team.id.filter(|id| !id.is_empty())?,
                name: team.summary,
            })
        })
        .collect()
}

pub use bridge_relay_domain::error::MAX_REASON_CHARS;

/// One pass over the body: the envelope's small fields are read, every field of `data` is kept
/// as a borrowed slice of raw JSON, and only the fields the relay uses are then decoded. Large
/// parts of a payload (assignees, teams, custom fields) are checked as JSON but never built.
pub fn parse(body: &[u8]) -> Result<WebhookEvent, ParseError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => shape(format!("event: {e}")),
        _ => ParseError::NotJson(bounded(e.to_string())),
    })?;
    let event = envelope
        .event
        .ok_or_else(|| shape("no `event` object at the top level"))?;
    let id = string_field(event.id.as_ref(), "id")?;
    let event_type = string_field(event.event_type.as_ref(), "event_type")?;
    let occurred_at = occurred_at(event.occurred_at.as_ref())?;
    let agent_id = event
        .agent
        .as_ref()
        .and_then(|a| a.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let data_type = event
        .data
        .as_ref()
        .and_then(|data| data.get("type"))
        .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        .and_then(|v| v.as_str().map(str::to_owned));
    let incident = match (&event.data, data_type.as_deref()) {
        (Some(data), Some("incident")) => Some(incident_from_data(data)?),
        (Some(data), kind) => {
            nested_incident(data)
                .and_then(|v| incident_from_reference(&v))
                .map(|mut incident| {
                    if kind == Some("incident_responder") {
                        // `incident.responder.added`: the responder asked to join.
                        incident.responders = added_responder(data);
                    }
                    incident
                })
        }
        (None, _) => None,
    };
    Ok(WebhookEvent {
        id,
        event_type,
        data_type,
        agent_id,
        occurred_at,
        incident,
    })
}

/// `occurred_at` as PagerDuty writes it (`2020-10-02T18:45:22.169Z`); absent or null is none.
fn occurred_at(value: Option<&Value>) -> Result<Option<SystemTime>, ParseError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => humantime::parse_rfc3339_weak(text)
            .map(Some)
            .map_err(|_| shape("`event.occurred_at` is not an RFC 3339 time")),
        Some(_) => Err(shape("`event.occurred_at` is not a string")),
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    event: Option<EventFields<'a>>,
}

#[derive(Deserialize)]
struct EventFields<'a> {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    event_type: Option<Value>,
    #[serde(default)]
    occurred_at: Option<Value>,
    #[serde(default)]
    agent: Option<Value>,
    #[serde(default, borrow, deserialize_with = "raw_fields")]
    data: Option<RawFields<'a>>,
}

/// The top-level fields of an object, each as its raw JSON.
struct RawFields<'a>(Vec<(String, &'a RawValue)>);

impl<'a> RawFields<'a> {
    fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, raw)| *raw)
    }

    fn decode<T: Deserialize<'a>>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(MapDeserializer::new(
            self.0.iter().map(|(key, raw)| (key.as_str(), *raw)),
        ))
    }
}

/// `data` may be anything; only an object is looked into.
fn raw_fields<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RawFields<'de>>, D::Error> {
    struct Fields;
    impl<'de> Visitor<'de> for Fields {
        type Value = Option<RawFields<'de>>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut fields = Vec::new();
            while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                fields.push(entry);
            }
            Ok(Some(RawFields(fields)))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }

        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(Fields)
}

fn incident_from_data(data: &RawFields) -> Result<Incident, ParseError> {
    let data: IncidentData = data
        .decode()
        .map_err(|e| shape(format!("event.data of type incident: {e}")))?;
    if data.id.is_empty() {
        return Err(shape("event.data.id is empty"));
    }
    Ok(Incident {
        id: data.id,
        number: data.number,
        title: data.title,
        html_url: data.html_url,
        service_id: data.service.as_ref().and_then(|s| s.id.clone()),
        service: data.service.and_then(|s| s.summary),
        teams: team_refs(data.teams),
        urgency: data.urgency,
        status: data.status,
        priority: data.priority.and_then(|p| p.summary),
        conference_bridge: data
            .conference_bridge
            .filter(|b| b.conference_url.is_some() || b.conference_number.is_some()),
        responders: responders(data.assignees),
        ..Incident::new(String::new())
    })
}

/// `data.incident`, or in list-shaped data (`incident_role_assignments[]`) the first item's.
fn nested_incident(data: &RawFields) -> Option<Value> {
    let decoded = |raw: &RawValue| serde_json::from_str::<Value>(raw.get()).ok();
    if let Some(incident) = data.get("incident") {
        return decoded(incident);
    }
    data.0
        .iter()
        .filter(|(_, raw)| raw.get().starts_with('['))
        .find_map(|(_, raw)| {
            decoded(raw)?
                .get_mut(0)?
                .get_mut("incident")
                .map(Value::take)
        })
}

/// Other event types carry an `incident_reference`: id, summary and links only.
fn incident_from_reference(reference: &Value) -> Option<Incident> {
    let id = reference
        .get("id")?
        .as_str()
        .filter(|id| !id.is_empty())?
        .to_owned();
    let summary = Reference::deserialize(reference).ok();
    let mut incident = Incident::new(id);
    incident.reference_only = true;
    if let Some(summary) = summary {
        incident.title = summary.summary;
        incident.html_url = summary.html_url;
    }
    Some(incident)
}

/// The user of an `incident_responder` (`data.user`), as the one responder.
fn added_responder(data: &RawFields) -> Vec<Responder> {
    data.get("user")
        .and_then(|raw| serde_json::from_str::<Reference>(raw.get()).ok())
        .map(|user| responders(vec![user]))
        .unwrap_or_default()
}

fn string_field(value: Option<&Value>, name: &str) -> Result<String, ParseError> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) if name == "id" => Ok(n.to_string()),
        Some(_) => Err(shape(format!("event.{name} is not a non-empty string"))),
        None => Err(shape(format!("event.{name} is missing"))),
    }
}

fn shape(reason: impl Into<String>) -> ParseError {
    ParseError::Shape(bounded(reason.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/fixtures/pagerduty-webhooks")
    }

    fn read(path: &str) -> Vec<u8> {
        std::fs::read(fixtures().join(path)).unwrap()
    }

    #[test]
    fn every_captured_payload_parses() {
        let dir = fixtures().join("captured-zulip");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let body = std::fs::read(&path).unwrap();
            let event = parse(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                event.event_type.starts_with("incident."),
                "{}",
                path.display()
            );
            let incident = event
                .incident
                .unwrap_or_else(|| panic!("{}: no incident", path.display()));
            assert!(!incident.id.is_empty());
            seen += 1;
        }
        assert_eq!(seen, 10, "all captured payloads were read");
    }

    #[test]
    fn triggered_payload_without_optional_fields() {
        let event = parse(&read("captured-zulip/triggered_v3.json")).unwrap();
        assert_eq!(event.id, "01BZYIL05THJDFF2Y08X9SVMTU");
        assert_eq!(event.event_type, "incident.triggered");
        assert_eq!(event.agent_id.as_deref(), Some("PJ0LVEB"));
        let incident = event.incident.unwrap();
        assert_eq!(incident.id, "PFQZPSY");
        assert_eq!(incident.number, Some(9));
        assert_eq!(incident.title.as_deref(), Some("Test Incident 3"));
        assert_eq!(incident.service.as_deref(), Some("pig208"));
        assert_eq!(incident.urgency.as_deref(), Some("high"));
        assert_eq!(incident.priority, None);
        assert_eq!(incident.conference_bridge, None);
        assert_eq!(
            incident.html_url.as_deref(),
            Some("https://pig208.pagerduty.com/incidents/PFQZPSY")
        );
    }

    #[test]
    fn official_envelope_keeps_priority_and_existing_bridge() {
        let event = parse(&read(
            "official-developer-docs/envelope_incident_priority_updated.json",
        ))
        .unwrap();
        assert_eq!(event.event_type, "incident.priority_updated");
        let incident = event.incident.unwrap();
        assert_eq!(incident.priority.as_deref(), Some("P1"));
        // Service and teams by id and name, for the policy's allow and deny lists.
        assert_eq!(incident.service.as_deref(), Some("API Service"));
        assert_eq!(incident.service_id.as_deref(), Some("PF9KMXH"));
        assert_eq!(
            incident.teams,
            vec![bridge_relay_domain::model::TeamRef {
                id: "PFCVPS0".into(),
                name: Some("Engineering".into())
            }]
        );
        let bridge = incident.conference_bridge.unwrap();
        assert_eq!(
            bridge.conference_number.as_deref(),
            Some("+1 1234123412,,987654321#")
        );
    }

    #[test]
    fn service_event_has_no_incident() {
        let event = parse(&read(
            "official-developer-docs/envelope_service_updated.json",
        ))
        .unwrap();
        assert_eq!(event.event_type, "service.updated");
        assert_eq!(event.incident, None);
        assert_eq!(event.agent_id, None);
    }

    #[test]
    fn every_documented_data_type_parses_in_an_envelope() {
        let dir = fixtures().join("official-developer-docs");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if !name.starts_with("data_") {
                continue;
            }
            let data: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let body = serde_json::json!({"event": {
                "id": "01TEST", "event_type": "incident.test", "resource_type": "incident",
                "occurred_at": "2026-11-23T10:00:00Z", "agent": null, "client": null, "data": data
            }});
            let event =
                parse(body.to_string().as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            if name.starts_with("data_incident") {
                assert!(event.incident.is_some(), "{name}: incident expected");
            }
            seen += 1;
        }
        assert!(seen >= 11, "only {seen} data fixtures");
    }

    fn in_envelope(event_type: &str, data: Value) -> WebhookEvent {
        let body = serde_json::json!({"event": {
            "id": "01TEST", "event_type": event_type, "resource_type": "incident",
            "occurred_at": "2026-11-23T10:00:00Z", "agent": null, "client": null, "data": data
        }});
        parse(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn assignees_are_the_responders_at_most_fifty() {
        let mut data: Value =
            serde_json::from_slice(&read("official-developer-docs/data_incident.json")).unwrap();
        data["assignees"] = (0..500)
            .map(|n| serde_json::json!({"id": format!("PU{n:03}"), "summary": format!("User {n}"), "type": "user_reference"}))
            .chain([serde_json::json!({"id": "", "type": "user_reference"})])
            .collect();
        let incident = in_envelope("incident.reassigned", data).incident.unwrap();
        assert_eq!(incident.responders.len(), MAX_RESPONDERS);
        assert_eq!(incident.responders[0].id.as_deref(), Some("PU000"));
        assert_eq!(incident.responders[0].name.as_deref(), Some("User 0"));
        assert!(!incident.reference_only);
    }

    #[test]
    fn an_added_responder_is_the_one_responder_of_a_reference_only_incident() {
        let data: Value = serde_json::from_slice(&read(
            "official-developer-docs/data_incident_responder.json",
        ))
        .unwrap();
        let incident = in_envelope("incident.responder.added", data)
            .incident
            .unwrap();
        assert!(
            incident.reference_only,
            "the title is a summary, the priority unknown"
        );
        assert_eq!(incident.responders.len(), 1);
        assert_eq!(incident.responders[0].id.as_deref(), Some("PVMGSML"));
        assert_eq!(incident.responders[0].name.as_deref(), Some("Maeve"));
    }

    #[test]
    fn a_reference_without_an_id_names_no_incident() {
        let body = br#"{"event":{"id":"1","event_type":"incident.annotated","data":{"type":"incident_note","incident":{"id":""}}}}"#;
        assert_eq!(parse(body).unwrap().incident, None);
    }

    #[test]
    fn reasons_do_not_hand_the_body_back() {
        let long = "A".repeat(5000);
        let body = format!(
            r#"{{"event":{{"id":"1","event_type":"incident.triggered","data":{{"type":"incident","id":"P1","number":"{long}"}}}}}}"#
        );
        match parse(body.as_bytes()) {
            Err(ParseError::Shape(reason)) => {
                assert!(reason.contains("invalid type"), "{reason}");
                assert!(reason.chars().count() <= MAX_REASON_CHARS + 1, "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_bodies_say_why() {
        assert!(matches!(parse(b"not json"), Err(ParseError::NotJson(_))));
        assert_eq!(
            parse(b"{}"),
            Err(ParseError::Shape(
                "no `event` object at the top level".into()
            ))
        );
        assert_eq!(
            parse(br#"{"event":{"id":"1"}}"#),
            Err(ParseError::Shape("event.event_type is missing".into()))
        );
        assert_eq!(
            parse(br#"{"event":{"id":"1","event_type":7}}"#),
            Err(ParseError::Shape(
                "event.event_type is not a non-empty string".into()
            ))
        );
        let no_id =
            br#"{"event":{"id":"1","event_type":"incident.triggered","data":{"type":"incident"}}}"#;
        match parse(no_id) {
            Err(ParseError::Shape(reason)) => {
                assert!(reason.contains("missing field `id`"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}
