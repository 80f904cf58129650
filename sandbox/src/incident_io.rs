//! incident.io: the incident edit action (the call link), custom timeline items, the API key's
//! identity, and Svix-signed webhooks.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::server::{Call, Reply};
use crate::{Bridge, Credentials, Incident, IncidentEvent, NewIncident, Note, Tool};

/// The name incident.io gives the relay's API key on the timeline.
const API_KEY_NAME: &str = "bridge-relay (sandbox key)";

pub(crate) struct IncidentIo {
    pub incidents: BTreeMap<String, Incident>,
    /// Timeline items by idempotency key: a repeat returns the first item.
    items_by_key: HashMap<String, Value>,
    next_number: u32,
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"type": "validation_error", "status": status, "request_id": "sandbox",
               "errors": [{"code": code, "message": message}]}),
    )
}

impl IncidentIo {
    pub fn new() -> IncidentIo {
        IncidentIo {
            incidents: BTreeMap::new(),
            items_by_key: HashMap::new(),
            next_number: 0,
        }
    }

    pub fn open(&mut self, new: NewIncident) -> String {
        self.next_number = self.next_number.saturating_add(1);
        let id = format!("01SANDBOXINCIDENT{:09}", self.next_number);
        let incident = Incident::opened(
            Tool::IncidentIo,
            &id,
            format!("INC-{}", self.next_number),
            format!(
                "https://app.incident.io/sandbox/incidents/{}",
                self.next_number
            ),
            new,
            "triage",
        );
        self.incidents.insert(id.clone(), incident);
        id
    }

    pub fn handle(&mut self, credentials: &Credentials, call: &Call, rest: &[&str]) -> Reply {
        let key = format!("Bearer {}", credentials.incident_io_api_key);
        if call.header("authorization") != Some(key.as_str()) {
            return error(401, "authentication_required", "Invalid API key");
        }
        match (call.method.as_str(), rest) {
            ("GET", ["v1", "identity"]) => Reply::json(
                200,
                json!({"identity": {"name": API_KEY_NAME, "roles": ["incident_editor", "incident_creator"]}}),
            ),
            ("POST", ["v2", "incidents", id, "actions", "edit"]) => self.edit(call, id),
            ("POST", ["v2", "incident_timeline_items"]) => self.add_item(call),
            ("GET", ["v2", "incident_timeline_items"]) => {
                let incident_id = call.query.get("incident_id").cloned().unwrap_or_default();
                let items: Vec<Value> = self
                    .items_by_key
                    .values()
                    .filter(|item| item["incident_id"] == incident_id)
                    .cloned()
                    .collect();
                Reply::json(
                    200,
                    json!({"incident_timeline_items": items, "pagination_meta": {"page_size": 250}}),
                )
            }
            _ => error(404, "not_found", "Not found"),
        }
    }

    fn edit(&mut self, call: &Call, id: &str) -> Reply {
        let body = match call.json() {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        if !body["notify_incident_channel"].is_boolean() {
            return error(422, "missing_field", "notify_incident_channel is required");
        }
        let call_url = match &body["incident"]["call_url"] {
            Value::Null => None,
            Value::String(url) if url.starts_with("https://") || url.starts_with("http://") => {
                Some(url.clone())
            }
            _ => return error(422, "invalid_value", "incident.call_url must be a URL"),
        };
        let Some(incident) = self.incidents.get_mut(id) else {
            return error(404, "not_found", "Incident not found");
        };
        if let Some(url) = call_url {
            incident.bridge = Some(Bridge {
                url: Some(url),
                number: None,
            });
            incident.bridge_updates = incident.bridge_updates.saturating_add(1);
        }
        Reply::json(200, json!({"incident": incident_json(incident)}))
    }

    fn add_item(&mut self, call: &Call) -> Reply {
        let body = match call.json() {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        for field in ["incident_id", "idempotency_key", "timestamp", "title"] {
            if body[field].as_str().is_none_or(str::is_empty) {
                return error(422, "missing_field", &format!("{field} is required"));
            }
        }
        let key = body["idempotency_key"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Some(first) = self.items_by_key.get(&key) {
            return Reply::json(200, json!({"incident_timeline_item": first}));
        }
        let incident_id = body["incident_id"].as_str().unwrap_or_default();
        let Some(incident) = self.incidents.get_mut(incident_id) else {
            return error(404, "not_found", "Incident not found");
        };
        let title = body["title"].as_str().unwrap_or_default();
        let description = body["description"].as_str().unwrap_or(title);
        incident.notes.push(Note {
            content: description.to_owned(),
            by: API_KEY_NAME.to_owned(),
        });
        let item = json!({
            "id": format!("01SANDBOXITEM{:013}", self.items_by_key.len()),
            "incident_id": incident_id, "title": title, "description": description,
            "timestamp": body["timestamp"], "created_at": crate::now_rfc3339(),
        });
        self.items_by_key.insert(key, item.clone());
        Reply::json(201, json!({"incident_timeline_item": item}))
    }
}

fn status_of(incident: &Incident) -> Value {
    let category = match incident.status.as_str() {
        "resolved" => "closed",
        "triage" => "triage",
        _ => "live",
    };
    json!({"id": format!("01SANDBOXSTATUS{category}"), "name": incident.status, "category": category})
}

fn incident_json(incident: &Incident) -> Value {
    json!({
        "id": incident.id, "reference": incident.reference, "name": incident.title,
        "permalink": incident.html_url, "visibility": "public", "mode": "standard",
        "call_url": incident.bridge.as_ref().and_then(|b| b.url.clone()),
        "severity": {"id": "01SANDBOXSEVERITY", "name": incident.urgency, "rank": 1},
        "incident_status": status_of(incident),
        "incident_type": {"id": "01SANDBOXTYPE", "name": incident.service},
        "incident_role_assignments": [{
            "role": {"id": "01SANDBOXLEAD", "name": "Incident Lead", "role_type": "lead"},
            "assignee": {"id": "01SANDBOXUSER", "name": incident.assignee.name, "email": incident.assignee.email},
        }],
        "created_at": crate::now_rfc3339(), "updated_at": crate::now_rfc3339(),
        "custom_field_entries": [], "team_ids": [],
    })
}

/// The webhook of `event` for `incident`: its type and body.
pub(crate) fn webhook(incident: &Incident, event: IncidentEvent) -> (&'static str, Vec<u8>) {
    let (event_type, payload) = match event {
        // Created and updated events carry the incident itself; a status update wraps it.
        IncidentEvent::Triggered => (
            "public_incident.incident_created_v2",
            incident_json(incident),
        ),
        IncidentEvent::Reassigned => (
            "public_incident.incident_updated_v2",
            incident_json(incident),
        ),
        IncidentEvent::Resolved => {
            let previous = Incident {
                status: "fixing".into(),
                ..incident.clone()
            };
            (
                "public_incident.incident_status_updated_v2",
                json!({"incident": incident_json(incident), "previous_status": status_of(&previous),
                       "new_status": status_of(incident)}),
            )
        }
    };
    let body = json!({"event_type": event_type, event_type: payload});
    (event_type, body.to_string().into_bytes())
}

pub(crate) fn webhook_headers(
    credentials: &Credentials,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let id = crate::random_text("msg_");
    let timestamp = crate::now_seconds();
    vec![
        (
            "webhook-signature",
            crate::sign::incident_io(
                &credentials.incident_io_webhook_secret,
                &id,
                timestamp,
                body,
            ),
        ),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-id", id),
        ("user-agent", "Svix-Webhooks/1.0".to_owned()),
    ]
}
