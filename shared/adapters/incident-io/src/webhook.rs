//! incident.io webhook bodies: `{"event_type": T, T: payload}`. For
//! `public_incident.incident_created_v2` and `…incident_updated_v2` the payload is the incident
//! (`IncidentV2`); for `…incident_status_updated_v2` it is `{incident, previous_status,
//! new_status}`. `private_incident.*` payloads carry only the incident's id, so nothing of a
//! private incident can leak through them. Fields the relay does not use are not decoded.

use serde::Deserialize;
use serde_json::Value;

use bridge_relay_domain::error::bounded_reason as bounded;
use bridge_relay_domain::hosts::MAX_RESPONDERS;
use bridge_relay_domain::model::{
    Bridge, Incident, IncidentEvent, IncidentToolKind, JobAction, Responder,
};
pub use bridge_relay_domain::policy::{INCIDENT_CREATED, PRIVATE_PREFIX};

pub const INCIDENT_UPDATED: &str = "public_incident.incident_updated_v2";
pub const INCIDENT_STATUS_UPDATED: &str = "public_incident.incident_status_updated_v2";

/// One parsed incident.io webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentIoEvent {
    pub event_type: String,
    /// A private incident: its payload is withheld (private events) or marked private.
    pub private: bool,
    /// The incident, for incident events; `None` for other events (follow-ups, alerts, …).
    pub incident: Option<Incident>,
    /// The status category (`triage`, `live`, `learning`, `closed`, …) of a status update,
    /// before and after it.
    pub previous_category: Option<String>,
    pub category: Option<String>,
}

/// Status categories in which the incident is over for its responders (incident.io's
/// `IncidentStatusV1.category`, official SDK `incident-io/sdk-rust`): the call can end.
const ENDED_CATEGORIES: [&str; 5] = ["learning", "closed", "declined", "merged", "canceled"];

impl IncidentIoEvent {
    /// The event in the relay's terms, for the policy. incident.io webhooks carry no event id
    /// of their own: `message_id` is the Svix message id, the same on every retry.
    pub fn into_incident_event(self, message_id: &str) -> IncidentEvent {
        IncidentEvent {
            tool: IncidentToolKind::INCIDENT_IO,
            id: message_id.to_owned(),
            event_type: self.event_type,
            incident: self.incident,
            private: self.private,
        }
    }

    /// What a status update means for the meeting: entering an ended category resolves the
    /// incident, leaving one reopens it. Other events are not lifecycle events.
    pub fn lifecycle_action(&self) -> Option<JobAction> {
        if self.private || self.event_type != INCIDENT_STATUS_UPDATED {
            return None;
        }
        let ended = |category: &Option<String>| {
            category
                .as_deref()
                .is_some_and(|c| ENDED_CATEGORIES.contains(&c))
        };
        match (ended(&self.previous_category), ended(&self.category)) {
            (false, true) => Some(JobAction::Resolved),
            (true, false) if self.category.is_some() => Some(JobAction::Reopened),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is not an incident.io webhook: {0}")]
    Shape(String),
}

#[derive(Deserialize)]
struct IncidentV2 {
    id: String,
    #[serde(default)]
    name: Option<String>,
    /// `INC-123`
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    permalink: Option<String>,
    #[serde(default)]
    call_url: Option<String>,
    #[serde(default)]
    visibility: Option<String>,
    #[serde(default)]
    severity: Option<Named>,
    #[serde(default)]
    incident_status: Option<Named>,
    #[serde(default)]
    incident_role_assignments: Vec<RoleAssignment>,
}

/// One of `incident_role_assignments[]`: a role (`role_type` `lead` for the incident lead) and
/// who holds it, if anyone.
#[derive(Deserialize)]
struct RoleAssignment {
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    assignee: Option<Assignee>,
}

#[derive(Deserialize)]
struct Role {
    #[serde(default)]
    role_type: Option<String>,
}

#[derive(Deserialize)]
struct Assignee {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// The role assignees, incident lead first, each once, at most [`MAX_RESPONDERS`]. They are
/// known by e-mail (incident.io gives it), so no look-up is needed.
fn responders(assignments: Vec<RoleAssignment>) -> Vec<Responder> {
    let (mut leads, others): (Vec<_>, Vec<_>) = assignments.into_iter().partition(|a| {
        a.role
            .as_ref()
            .and_then(|r| r.role_type.as_deref())
            .is_some_and(|t| t == "lead")
    });
    leads.extend(others);
    let mut responders: Vec<Responder> = Vec::new();
    for assignee in leads.into_iter().filter_map(|a| a.assignee) {
        let responder = Responder {
            // Known by e-mail: incident.io's user ids name nobody in Zoom.
            id: None,
            name: assignee.name.or(assignee.id),
            email: assignee.email.filter(|e| !e.trim().is_empty()),
        };
        if !responders.contains(&responder) && responders.len() < MAX_RESPONDERS {
            responders.push(responder);
        }
    }
    responders
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    category: Option<String>,
}

#[derive(Deserialize)]
struct StatusUpdated {
    incident: IncidentV2,
    #[serde(default)]
    previous_status: Option<Named>,
    #[serde(default)]
    new_status: Option<Named>,
}

#[derive(Deserialize)]
struct PrivateRef {
    id: String,
}

pub fn parse(body: &[u8]) -> Result<IncidentIoEvent, ParseError> {
    let envelope: Value = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => shape(e.to_string()),
        _ => ParseError::NotJson(bounded(e.to_string())),
    })?;
    let event_type = envelope
        .get("event_type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| shape("no `event_type` string at the top level"))?
        .to_owned();
    let payload = envelope.get(&event_type);
    let is_incident_event = |suffix: &str| {
        event_type
            .strip_prefix(PRIVATE_PREFIX)
            .or_else(|| event_type.strip_prefix("public_incident."))
            == Some(suffix)
    };
    let needs_payload =
        || payload.ok_or_else(|| shape(format!("no `{event_type}` object next to the event type")));
    if event_type.starts_with(PRIVATE_PREFIX) {
        let incident = if is_incident_event("incident_created_v2")
            || is_incident_event("incident_updated_v2")
            || is_incident_event("incident_status_updated_v2")
        {
            let private: PrivateRef = decode(needs_payload()?, &event_type)?;
            Some(Incident::new(non_empty(private.id, &event_type)?))
        } else {
            None
        };
        return Ok(IncidentIoEvent {
            event_type,
            private: true,
            incident,
            previous_category: None,
            category: None,
        });
    }
    let mut previous_category = None;
    let mut new_category = None;
    let data = match event_type.as_str() {
        INCIDENT_CREATED | INCIDENT_UPDATED => {
            Some(decode::<IncidentV2>(needs_payload()?, &event_type)?)
        }
        INCIDENT_STATUS_UPDATED => {
            let update = decode::<StatusUpdated>(needs_payload()?, &event_type)?;
            previous_category = update.previous_status.and_then(|s| s.category);
            new_category = update.new_status.and_then(|s| s.category);
            Some(update.incident)
        }
        _ => None,
    };
    let Some(data) = data else {
        return Ok(IncidentIoEvent {
            event_type,
            private: false,
            incident: None,
            previous_category: None,
            category: None,
        });
    };
    let private = data
        .visibility
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case("private"));
    let id = non_empty(data.id, &event_type)?;
    let incident = Incident {
        number: data.reference.as_deref().and_then(reference_number),
        title: data.name,
        html_url: data.permalink,
        conference_bridge: data
            .call_url
            .filter(|url| !url.trim().is_empty())
            .map(|url| Bridge {
                conference_number: None,
                conference_url: Some(url),
            }),
        severity: data.severity.and_then(|s| s.name),
        status: data.incident_status.as_ref().and_then(|s| s.name.clone()),
        responders: responders(data.incident_role_assignments),
        ..Incident::new(id)
    };
    Ok(IncidentIoEvent {
        event_type,
        private,
        incident: Some(incident),
        previous_category,
        category: new_category.or_else(|| data.incident_status.and_then(|s| s.category)),
    })
}

/// `INC-123` -> 123, for the `{number}` placeholder of meeting templates.
fn reference_number(reference: &str) -> Option<u64> {
    reference.rsplit('-').next()?.parse().ok()
}

fn decode<'a, T: Deserialize<'a>>(payload: &'a Value, event_type: &str) -> Result<T, ParseError> {
    T::deserialize(payload).map_err(|e| shape(format!("`{event_type}`: {e}")))
}

fn non_empty(id: String, event_type: &str) -> Result<String, ParseError> {
    if id.trim().is_empty() {
        return Err(shape(format!("`{event_type}`: the incident id is empty")));
    }
    Ok(id)
}

fn shape(reason: impl Into<String>) -> ParseError {
    ParseError::Shape(bounded(reason.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../../tests/fixtures/incident-io/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn incident_created_gives_the_incident() {
        let event = parse(&fixture("incident_created_v2.json")).unwrap();
        assert_eq!(event.event_type, INCIDENT_CREATED);
        assert!(!event.private);
        let incident = event.incident.unwrap();
        assert_eq!(incident.id, "01FDAG4SAP5TYPT98WGR2N7W91");
        assert_eq!(incident.number, Some(123));
        assert_eq!(incident.title.as_deref(), Some("Our database is sad"));
        assert_eq!(
            incident.html_url.as_deref(),
            Some("https://app.incident.io/acme/incidents/123")
        );
        assert_eq!(incident.severity.as_deref(), Some("Minor"));
        assert_eq!(incident.status.as_deref(), Some("Investigating"));
        assert_eq!(incident.conference_bridge, None);
    }

    /// The status-update fixture moved from `previous` to `new` (status categories).
    fn status_moved(previous: &str, new: &str) -> IncidentIoEvent {
        let mut body: Value =
            serde_json::from_slice(&fixture("incident_status_updated_v2.json")).unwrap();
        let payload = &mut body[INCIDENT_STATUS_UPDATED];
        payload["previous_status"]["category"] = previous.into();
        payload["new_status"]["category"] = new.into();
        payload["incident"]["incident_status"]["category"] = new.into();
        parse(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn entering_an_ended_status_category_resolves_and_leaving_it_reopens() {
        let fixture_event = parse(&fixture("incident_status_updated_v2.json")).unwrap();
        assert_eq!(fixture_event.previous_category.as_deref(), Some("live"));
        assert_eq!(fixture_event.category.as_deref(), Some("live"));
        assert_eq!(fixture_event.lifecycle_action(), None, "live to live");
        for ended in ["learning", "closed", "declined", "merged", "canceled"] {
            assert_eq!(
                status_moved("live", ended).lifecycle_action(),
                Some(JobAction::Resolved),
                "{ended}"
            );
            assert_eq!(
                status_moved(ended, "live").lifecycle_action(),
                Some(JobAction::Reopened),
                "{ended}"
            );
        }
        assert_eq!(status_moved("learning", "closed").lifecycle_action(), None);
        assert_eq!(status_moved("triage", "paused").lifecycle_action(), None);
        let created = parse(&fixture("incident_created_v2.json")).unwrap();
        assert_eq!(
            created.lifecycle_action(),
            None,
            "only status updates count"
        );
    }

    #[test]
    fn status_update_gives_the_incident_inside() {
        let event = parse(&fixture("incident_status_updated_v2.json")).unwrap();
        assert_eq!(event.event_type, INCIDENT_STATUS_UPDATED);
        let incident = event.incident.unwrap();
        assert_eq!(incident.id, "01FDAG4SAP5TYPT98WGR2N7W91");
        assert_eq!(incident.status.as_deref(), Some("Fixing"));
        assert_eq!(incident.severity.as_deref(), Some("Major"));
    }

    #[test]
    fn updated_incident_keeps_its_existing_call_url_as_its_bridge() {
        let event = parse(&fixture("incident_updated_v2.json")).unwrap();
        assert_eq!(event.event_type, INCIDENT_UPDATED);
        let incident = event.incident.unwrap();
        assert_eq!(
            incident.conference_bridge,
            Some(Bridge {
                conference_number: None,
                conference_url: Some("https://meet.example.com/existing-call".into()),
            })
        );
    }

    #[test]
    fn private_incidents_are_marked_and_carry_only_their_id() {
        let event = parse(&fixture("private_incident_created_v2.json")).unwrap();
        assert!(event.private);
        assert_eq!(
            event.incident,
            Some(Incident::new("01FCNDV6P870EA6S7TK1DSYDG0"))
        );
        // A public event about an incident marked private is private too.
        let body = br#"{"event_type":"public_incident.incident_created_v2","public_incident.incident_created_v2":{"id":"01X","visibility":"private","permalink":"https://app.incident.io/x"}}"#;
        assert!(parse(body).unwrap().private);
    }

    #[test]
    fn other_event_types_parse_without_an_incident() {
        let body = br#"{"event_type":"public_incident.follow_up_created_v1","public_incident.follow_up_created_v1":{"id":"F1"}}"#;
        let event = parse(body).unwrap();
        assert_eq!(event.event_type, "public_incident.follow_up_created_v1");
        assert_eq!(event.incident, None);
        let private = br#"{"event_type":"private_incident.follow_up_created_v1","private_incident.follow_up_created_v1":{"id":"F1"}}"#;
        assert_eq!(parse(private).unwrap().incident, None);
    }

    #[test]
    fn role_assignees_are_the_responders_lead_first_each_once() {
        let body = serde_json::json!({
            "event_type": "public_incident.incident_updated_v2",
            "public_incident.incident_updated_v2": {
                "id": "01INC", "name": "Checkout down",
                "incident_role_assignments": [
                    {"role": {"role_type": "reporter"}, "assignee": {"id": "U1", "name": "Ada", "email": "ada@example.com"}},
                    {"role": {"role_type": "lead"}, "assignee": {"id": "U2", "name": "Grace", "email": "grace@example.com"}},
                    {"role": {"role_type": "custom"}, "assignee": {"id": "U1", "name": "Ada", "email": "ada@example.com"}},
                    {"role": {"role_type": "custom"}},
                    {"role": {"role_type": "custom"}, "assignee": {"id": "U3", "name": "No Mail", "email": " "}}
                ]
            }
        });
        let event = parse(body.to_string().as_bytes()).unwrap();
        let responders = event.incident.unwrap().responders;
        let names: Vec<&str> = responders.iter().map(|r| r.display_name()).collect();
        assert_eq!(names, ["Grace", "Ada", "No Mail"]);
        assert_eq!(responders[0].email.as_deref(), Some("grace@example.com"));
        assert_eq!(responders[2].email, None);
    }

    #[test]
    fn malformed_bodies_say_why() {
        let cases: &[(&[u8], &str)] = &[
            (b"not json", "not JSON"),
            (b"[]", "no `event_type`"),
            (br#"{"event_type":""}"#, "no `event_type`"),
            (br#"{"event_type":7}"#, "no `event_type`"),
            (
                br#"{"event_type":"public_incident.incident_created_v2"}"#,
                "no `public_incident.incident_created_v2` object",
            ),
            (
                br#"{"event_type":"public_incident.incident_created_v2","public_incident.incident_created_v2":{"name":"x"}}"#,
                "missing field `id`",
            ),
            (
                br#"{"event_type":"public_incident.incident_created_v2","public_incident.incident_created_v2":{"id":" "}}"#,
                "id is empty",
            ),
            (
                br#"{"event_type":"public_incident.incident_status_updated_v2","public_incident.incident_status_updated_v2":{"id":"x"}}"#,
                "missing field `incident`",
            ),
        ];
        for (body, expected) in cases {
            let error = parse(body).unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{}: {error}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
