//! PagerDuty: the REST API's incidents, notes and users, and V3 webhooks.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::server::{Call, Reply};
use crate::{Bridge, Credentials, Incident, IncidentEvent, NewIncident, Note, Person, Tool};

pub(crate) struct PagerDuty {
    base: String,
    pub incidents: BTreeMap<String, Incident>,
    users: Vec<(String, Person)>,
    next_number: u32,
}

fn error(status: u16, code: u32, message: &str, errors: &[&str]) -> Reply {
    Reply::json(
        status,
        json!({"error": {"message": message, "code": code, "errors": errors}}),
    )
}

impl PagerDuty {
    pub fn new(base: &str, relay_user: &Person) -> PagerDuty {
        PagerDuty {
            base: base.to_owned(),
            incidents: BTreeMap::new(),
            users: [
                relay_user.clone(),
                Person::new("Earline Greenholt", "earline@sandbox.example"),
                Person::new("Grace Hopper", "grace@sandbox.example"),
            ]
            .into_iter()
            .map(|person| (user_id(&person), person))
            .collect(),
            next_number: 0,
        }
    }

    pub fn open(&mut self, new: NewIncident) -> String {
        self.next_number = self.next_number.saturating_add(1);
        let id = format!("PSBX{:03}", self.next_number);
        if !self
            .users
            .iter()
            .any(|(_, p)| p.email == new.assignee.email)
        {
            self.users
                .push((user_id(&new.assignee), new.assignee.clone()));
        }
        let incident = Incident::opened(
            Tool::PagerDuty,
            &id,
            format!("#{}", self.next_number),
            format!("https://sandbox.pagerduty.example/incidents/{id}"),
            new,
            "triggered",
        );
        self.incidents.insert(id.clone(), incident);
        id
    }

    pub fn handle(&mut self, credentials: &Credentials, call: &Call, rest: &[&str]) -> Reply {
        let token = format!("Token token={}", credentials.pagerduty_api_token);
        if call.header("authorization") != Some(token.as_str()) {
            return error(401, 2006, "Unauthorized", &[]);
        }
        // The REST API answers 406 to a request that does not ask for version 2.
        if call
            .header("accept")
            .is_none_or(|a| !a.contains("application/vnd.pagerduty+json;version=2"))
        {
            return error(
                406,
                2001,
                "Invalid Input Provided",
                &["Accept must be application/vnd.pagerduty+json;version=2"],
            );
        }
        if call
            .header("content-type")
            .is_none_or(|c| !c.starts_with("application/json"))
        {
            return error(415, 2001, "Unsupported Media Type", &[]);
        }
        match (call.method.as_str(), rest) {
            ("GET", ["incidents", id]) => match self.incidents.get(*id) {
                Some(incident) => {
                    Reply::json(200, json!({"incident": self.incident_json(incident)}))
                }
                None => error(404, 2100, "Not Found", &[]),
            },
            ("PUT", ["incidents", id]) => self.update(call, id),
            ("GET", ["incidents", id, "notes"]) => match self.incidents.get(*id) {
                Some(incident) => {
                    let notes: Vec<Value> = incident
                        .notes
                        .iter()
                        .enumerate()
                        .map(|(n, note)| json!({"id": format!("PNOTE{n:02}"), "content": note.content, "user": {"summary": note.by}}))
                        .collect();
                    Reply::json(200, json!({"notes": notes}))
                }
                None => error(404, 2100, "Not Found", &[]),
            },
            ("POST", ["incidents", id, "notes"]) => self.add_note(call, id),
            ("GET", ["users"]) => {
                let query = call
                    .query
                    .get("query")
                    .map(|q| q.to_lowercase())
                    .unwrap_or_default();
                let users: Vec<Value> = self
                    .users
                    .iter()
                    .filter(|(_, p)| {
                        p.name.to_lowercase().contains(&query) || p.email.to_lowercase().contains(&query)
                    })
                    .map(|(id, p)| json!({"id": id, "type": "user", "name": p.name, "email": p.email, "role": "admin"}))
                    .collect();
                Reply::json(
                    200,
                    json!({"users": users, "limit": 25, "offset": 0, "more": false}),
                )
            }
            ("GET", ["users", id]) => match self.users.iter().find(|(user, _)| user == id) {
                Some((id, p)) => Reply::json(
                    200,
                    json!({"user": {"id": id, "type": "user", "name": p.name, "email": p.email,
                                    "role": "user", "time_zone": "Etc/UTC"}}),
                ),
                None => error(404, 2100, "Not Found", &[]),
            },
            _ => error(404, 2100, "Not Found", &[]),
        }
    }

    /// The `From` header of a write: PagerDuty refuses one that names no user of the account.
    fn requester(&self, call: &Call) -> Result<String, Reply> {
        let from = call.header("from").unwrap_or_default();
        match self
            .users
            .iter()
            .find(|(_, p)| p.email.eq_ignore_ascii_case(from))
        {
            Some((_, person)) => Ok(person.name.clone()),
            None => Err(error(
                400,
                2001,
                "Invalid Input Provided",
                &["Requester User Not Found"],
            )),
        }
    }

    fn update(&mut self, call: &Call, id: &str) -> Reply {
        if let Err(reply) = self.requester(call) {
            return reply;
        }
        let body = match call.json() {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let incident_body = &body["incident"];
        if !matches!(
            incident_body["type"].as_str(),
            Some("incident" | "incident_reference")
        ) {
            return error(
                400,
                2001,
                "Invalid Input Provided",
                &["Incident type must be incident or incident_reference"],
            );
        }
        let bridge = match incident_body.get("conference_bridge") {
            None => None,
            Some(bridge) => match read_bridge(bridge) {
                Ok(bridge) => Some(bridge),
                Err(reason) => return error(400, 2001, "Invalid Input Provided", &[reason]),
            },
        };
        let Some(incident) = self.incidents.get_mut(id) else {
            return error(404, 2100, "Not Found", &[]);
        };
        if let Some(bridge) = bridge {
            incident.bridge = Some(bridge);
            incident.bridge_updates = incident.bridge_updates.saturating_add(1);
        }
        Reply::json(
            200,
            json!({"incident": incident_data(&self.base, incident)}),
        )
    }

    fn add_note(&mut self, call: &Call, id: &str) -> Reply {
        let by = match self.requester(call) {
            Ok(by) => by,
            Err(reply) => return reply,
        };
        let body = match call.json() {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let Some(content) = body["note"]["content"]
            .as_str()
            .filter(|c| !c.trim().is_empty())
        else {
            return error(
                400,
                2001,
                "Invalid Input Provided",
                &["Note content can't be blank"],
            );
        };
        let Some(incident) = self.incidents.get_mut(id) else {
            return error(404, 2100, "Not Found", &[]);
        };
        incident.notes.push(Note {
            content: content.to_owned(),
            by: by.clone(),
        });
        Reply::json(
            201,
            json!({"note": {"id": format!("PNOTE{:02}", incident.notes.len()), "content": content,
                            "user": {"summary": by, "type": "user_reference"},
                            "created_at": crate::now_rfc3339()}}),
        )
    }

    fn incident_json(&self, incident: &Incident) -> Value {
        incident_data(&self.base, incident)
    }
}

fn read_bridge(bridge: &Value) -> Result<Bridge, &'static str> {
    let field = |name: &str| match bridge.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err("Conference bridge fields must be strings"),
    };
    let url = field("conference_url")?;
    if url
        .as_deref()
        .is_some_and(|u| !u.starts_with("https://") && !u.starts_with("http://"))
    {
        return Err("Conference url must be a valid URL");
    }
    Ok(Bridge {
        url,
        number: field("conference_number")?,
    })
}

/// A person's PagerDuty user id: made from their e-mail, so a webhook's user references and
/// the users API agree.
fn user_id(person: &Person) -> String {
    let local: String = person
        .email
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(7)
        .collect();
    format!("P{}", local.to_uppercase())
}

fn user_reference(person: &Person) -> Value {
    json!({"id": user_id(person), "summary": person.name, "type": "user_reference",
           "html_url": "https://sandbox.pagerduty.example/users", "self": null})
}

fn incident_data(base: &str, incident: &Incident) -> Value {
    let number: u64 = incident
        .reference
        .trim_start_matches('#')
        .parse()
        .unwrap_or_default();
    json!({
        "id": incident.id, "type": "incident",
        "self": format!("{base}/pagerduty/incidents/{}", incident.id),
        "html_url": incident.html_url,
        "number": number, "status": incident.status, "title": incident.title,
        "service": {"id": "PSBXSVC", "summary": incident.service, "type": "service_reference",
                    "html_url": "https://sandbox.pagerduty.example/services/PSBXSVC", "self": null},
        "assignees": [user_reference(&incident.assignee)],
        "escalation_policy": {"id": "PSBXEP1", "summary": "Default", "type": "escalation_policy_reference"},
        "teams": [], "priority": null, "urgency": incident.urgency,
        "conference_bridge": incident.bridge.as_ref().map(|b| json!({"conference_number": b.number, "conference_url": b.url})),
        "resolve_reason": null,
    })
}

/// The V3 webhook of `event` for `incident`: its type and body.
pub(crate) fn webhook(incident: &Incident, event: IncidentEvent) -> (&'static str, Vec<u8>) {
    let event_type = match event {
        IncidentEvent::Triggered => "incident.triggered",
        IncidentEvent::Reassigned => "incident.reassigned",
        IncidentEvent::Resolved => "incident.resolved",
    };
    let body = json!({
        "event": {
            "id": crate::random_text("Q").chars().take(26).collect::<String>().to_uppercase(),
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": crate::now_rfc3339_millis(),
            "agent": user_reference(&incident.assignee),
            "client": null,
            "data": incident_data("https://api.pagerduty.com", incident),
        }
    });
    (event_type, body.to_string().into_bytes())
}

pub(crate) fn webhook_headers(
    credentials: &Credentials,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    vec![
        (
            "x-pagerduty-signature",
            crate::sign::pagerduty(&credentials.pagerduty_webhook_secret, body),
        ),
        ("x-webhook-id", crate::random_text("sbx-delivery-")),
        ("x-webhook-subscription", "PSBXSUB".to_owned()),
        ("user-agent", "PagerDuty-Webhook/V3.0".to_owned()),
    ]
}
