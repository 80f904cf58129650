//! Zoom: Server-to-Server OAuth, meetings (create, list, get, end), users, the AI Companion
//! summary, and the meeting events Zoom sends.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::server::{Call, Reply};
use crate::{Credentials, Meeting, Outbound, Person};

/// Zoom's documented daily limit of meeting creates per user (`Meeting Create/Update API
/// requests`, 100 per user per day).
const DAILY_CREATES_PER_HOST: usize = 100;
const DAILY_LIMIT_MESSAGE: &str = "You have exceeded the daily rate limit (100) of Meeting Create/Update API requests permitted for this particular user. You may resume these requests at GMT 00:00:00.";
const TOKEN_LIFETIME: Duration = Duration::from_secs(3599);
/// How long after a meeting ends Zoom's AI Companion announces its summary (minutes in real
/// life; a moment here).
const SUMMARY_AFTER: Duration = Duration::from_millis(300);

struct Token {
    value: String,
    issued: Instant,
}

struct ZoomMeeting {
    meeting: Meeting,
    uuid: String,
    passcode: String,
    created_at: String,
    start_time: String,
    /// Day of the create, for the host's daily limit.
    created_day: u64,
    /// Day of each update, for the same limit.
    updates: Vec<u64>,
}

pub(crate) struct Zoom {
    /// Every token issued, newest last: only the newest is good, as Zoom voids the others.
    tokens: Vec<Token>,
    hosts: Vec<String>,
    /// The account's other users: e-mail and `type` (1 Basic, 2 Licensed).
    members: Vec<(String, u8)>,
    meetings: BTreeMap<u64, ZoomMeeting>,
    next_meeting: u64,
}

fn error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(status, json!({"code": code, "message": message}))
}

fn day_of(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 86_400
}

impl Zoom {
    pub fn new(host: &str) -> Zoom {
        Zoom {
            tokens: Vec::new(),
            hosts: vec![host.to_owned()],
            members: vec![
                ("earline@sandbox.example".to_owned(), 2),
                ("grace@sandbox.example".to_owned(), 2),
                ("linus@sandbox.example".to_owned(), 1),
            ],
            meetings: BTreeMap::new(),
            next_meeting: 85_000_000_000,
        }
    }

    pub fn handle(
        &mut self,
        credentials: &Credentials,
        call: &Call,
        rest: &[&str],
    ) -> (Reply, Vec<Outbound>) {
        match rest {
            ["oauth", "token"] if call.method == "POST" => (self.token(credentials, call), vec![]),
            ["v2", api @ ..] => {
                if let Err(refused) = self.authorize(call) {
                    return (refused, vec![]);
                }
                self.api(call, api)
            }
            _ => (error(404, 404, "Not found"), vec![]),
        }
    }

    /// `POST /oauth/token?grant_type=account_credentials&account_id=…` with the app's client
    /// id and secret as HTTP Basic credentials.
    fn token(&mut self, credentials: &Credentials, call: &Call) -> Reply {
        let expected = STANDARD.encode(format!(
            "{}:{}",
            credentials.zoom_client_id, credentials.zoom_client_secret
        ));
        let basic = call
            .header("authorization")
            .and_then(|h| h.strip_prefix("Basic "));
        if basic != Some(expected.as_str()) {
            return Reply::json(
                401,
                json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"}),
            );
        }
        if call.query.get("grant_type").map(String::as_str) != Some("account_credentials") {
            return Reply::json(
                400,
                json!({"reason": "Unsupported grant type", "error": "unsupported_grant_type"}),
            );
        }
        if call.query.get("account_id") != Some(&credentials.zoom_account_id) {
            return Reply::json(
                400,
                json!({"reason": "Invalid account_id", "error": "invalid_request"}),
            );
        }
        let value = crate::random_text("sandbox-zoom-access-");
        self.tokens.push(Token {
            value: value.clone(),
            issued: Instant::now(),
        });
        Reply::json(
            200,
            json!({
                "access_token": value, "token_type": "bearer",
                "expires_in": TOKEN_LIFETIME.as_secs(),
                "scope": "meeting:write:meeting:admin meeting:read:meeting:admin meeting:update:status:admin meeting:read:summary:admin user:read:user:admin",
                "api_url": "https://api.zoom.us",
            }),
        )
    }

    /// Only the newest token, and only within its lifetime: Zoom's 401 code 124 otherwise.
    fn authorize(&self, call: &Call) -> Result<(), Reply> {
        let bearer = call
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "));
        let good = self.tokens.last().is_some_and(|t| {
            Some(t.value.as_str()) == bearer && t.issued.elapsed() < TOKEN_LIFETIME
        });
        if good {
            Ok(())
        } else {
            Err(error(401, 124, "Invalid access token."))
        }
    }

    fn api(&mut self, call: &Call, api: &[&str]) -> (Reply, Vec<Outbound>) {
        let reply = match (call.method.as_str(), api) {
            ("POST", ["users", user, "meetings"]) => self.create(call, user),
            ("GET", ["users", user, "meetings"]) => self.list(user),
            ("GET", ["users", user]) => self.user(user),
            ("GET", ["meetings", id]) => match self.by_id(id) {
                Some(m) => Reply::json(200, self.meeting_json(m)),
                None => error(404, 3001, "Meeting does not exist."),
            },
            ("PUT", ["meetings", id, "status"]) => return self.end(call, id),
            ("PATCH", ["meetings", id]) => self.update(call, id),
            ("DELETE", ["meetings", id]) => self.delete(id),
            ("GET", ["past_meetings", id, "instances"]) => self.past_instances(id),
            ("GET", ["meetings", uuid, "meeting_summary"]) => self.summary(uuid),
            _ => error(404, 404, "Not found"),
        };
        (reply, vec![])
    }

    /// The creates and updates `host` made today: Zoom's daily limit counts both.
    fn requests_today(&self, host: &str, today: u64) -> usize {
        let creates = self
            .meetings
            .values()
            .filter(|m| m.meeting.host == host && m.created_day == today)
            .count();
        let updates: usize = self
            .meetings
            .values()
            .filter(|m| m.meeting.host == host)
            .map(|m| m.updates.iter().filter(|day| **day == today).count())
            .sum();
        creates.saturating_add(updates)
    }

    /// `PATCH /meetings/{id}`: the topic and agenda (checked as a create's are), 204.
    fn update(&mut self, call: &Call, id: &str) -> Reply {
        let body = match call.json() {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        if let Err(invalid) = validate_create(&body) {
            return validation_failed(invalid.0, &invalid.1);
        }
        let today = day_of(SystemTime::now());
        let Some(host) = self.by_id(id).map(|m| m.meeting.host.clone()) else {
            return error(404, 3001, "Meeting does not exist.");
        };
        // Zoom takes only licensed users of the account, never the host itself, and refuses
        // the whole update for one that is not.
        let alternative_hosts = match body["settings"]["alternative_hosts"].as_str() {
            None => None,
            Some(list) => {
                let hosts: Vec<String> = list
                    .split(';')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_lowercase)
                    .collect();
                if let Some(refused) = hosts.iter().find(|h| {
                    **h == host.to_lowercase()
                        || !self.members.iter().any(|(m, plan)| m == *h && *plan == 2)
                }) {
                    return error(
                        400,
                        1114,
                        &format!("Unable to assign '{refused}' as an alternative host."),
                    );
                }
                Some(hosts)
            }
        };
        if self.requests_today(&host, today) >= DAILY_CREATES_PER_HOST {
            return error(429, 429, DAILY_LIMIT_MESSAGE);
        }
        let Some(meeting) = id
            .parse::<u64>()
            .ok()
            .and_then(|id| self.meetings.get_mut(&id))
        else {
            return error(404, 3001, "Meeting does not exist.");
        };
        if let Some(topic) = body["topic"].as_str() {
            meeting.meeting.topic = topic.to_owned();
        }
        if let Some(agenda) = body["agenda"].as_str() {
            meeting.meeting.agenda = agenda.to_owned();
        }
        if let Some(hosts) = alternative_hosts {
            meeting.meeting.alternative_hosts = hosts;
        }
        meeting.updates.push(today);
        meeting.meeting.updates = meeting.updates.len();
        Reply::empty(204)
    }

    fn user(&self, user: &str) -> Reply {
        if let Some((email, plan)) = self
            .members
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(user))
        {
            return Reply::json(
                200,
                json!({"id": format!("sandbox-{}", email.len()), "email": email, "type": plan,
                       "status": "active", "timezone": "UTC"}),
            );
        }
        if !self.hosts.iter().any(|h| h == user) {
            return error(404, 1001, &format!("User does not exist: {user}."));
        }
        Reply::json(
            200,
            json!({"id": "sandboxhost01", "email": user, "type": 2, "status": "active",
                   "first_name": "Incident", "last_name": "Bridge", "timezone": "UTC"}),
        )
    }

    fn create(&mut self, call: &Call, user: &str) -> Reply {
        if !self.hosts.iter().any(|h| h == user) {
            return error(404, 1001, &format!("User does not exist: {user}."));
        }
        let today = day_of(SystemTime::now());
        if self.requests_today(user, today) >= DAILY_CREATES_PER_HOST {
            return error(429, 429, DAILY_LIMIT_MESSAGE);
        }
        let body = match call.json() {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        if let Err(invalid) = validate_create(&body) {
            return validation_failed(invalid.0, &invalid.1);
        }
        self.next_meeting = self.next_meeting.saturating_add(1);
        let id = self.next_meeting;
        let passcode = body["password"].as_str().unwrap_or_default().to_owned();
        let meeting = Meeting {
            id,
            host: user.to_owned(),
            topic: body["topic"].as_str().unwrap_or_default().to_owned(),
            agenda: body["agenda"].as_str().unwrap_or_default().to_owned(),
            join_url: format!("https://sandbox.zoom.example/j/{id}?pwd=Sbx{passcode}.1"),
            start_url: format!("https://sandbox.zoom.example/s/{id}?zak=HOST-ONLY-{id}"),
            started: false,
            ended: false,
            ended_by_api: false,
            participants: Vec::new(),
            updates: 0,
            alternative_hosts: Vec::new(),
            deleted: false,
        };
        let now = crate::now_rfc3339();
        let stored = ZoomMeeting {
            uuid: format!("Sbx{id}Uu1d+w=="),
            passcode,
            start_time: body["start_time"].as_str().unwrap_or(&now).to_owned(),
            created_at: now,
            created_day: today,
            updates: Vec::new(),
            meeting,
        };
        let answer = self.meeting_json(&stored);
        self.meetings.insert(id, stored);
        Reply::json(201, answer)
    }

    fn meeting_json(&self, m: &ZoomMeeting) -> Value {
        json!({
            "uuid": m.uuid, "id": m.meeting.id, "host_id": "sandboxhost01",
            "host_email": m.meeting.host, "topic": m.meeting.topic, "type": 2,
            "status": if m.meeting.started && !m.meeting.ended { "started" } else { "waiting" },
            "start_time": m.start_time, "duration": 60, "timezone": "UTC",
            "agenda": m.meeting.agenda, "created_at": m.created_at,
            "start_url": m.meeting.start_url, "join_url": m.meeting.join_url,
            "password": m.passcode, "h323_password": m.passcode, "pstn_password": m.passcode,
            "settings": {"global_dial_in_numbers": [
                {"country": "US", "country_name": "US", "city": "San Jose", "number": "+1 6699006833", "type": "toll"},
                {"country": "GB", "country_name": "United Kingdom", "number": "+44 203 481 5240", "type": "toll"}
            ]},
        })
    }

    fn list(&self, user: &str) -> Reply {
        if !self.hosts.iter().any(|h| h == user) {
            return error(404, 1001, &format!("User does not exist: {user}."));
        }
        let meetings: Vec<Value> = self
            .meetings
            .values()
            .filter(|m| m.meeting.host == user)
            .map(|m| {
                json!({"uuid": m.uuid, "id": m.meeting.id, "host_id": "sandboxhost01",
                       "topic": m.meeting.topic, "type": 2, "start_time": m.start_time,
                       "duration": 60, "timezone": "UTC", "agenda": m.meeting.agenda,
                       "created_at": m.created_at, "join_url": m.meeting.join_url})
            })
            .collect();
        Reply::json(
            200,
            json!({"page_size": 300, "total_records": meetings.len(), "next_page_token": "", "meetings": meetings}),
        )
    }

    fn by_id(&self, id: &str) -> Option<&ZoomMeeting> {
        id.parse::<u64>()
            .ok()
            .and_then(|id| self.meetings.get(&id))
            .filter(|m| !m.meeting.deleted)
    }

    /// The meeting `id` names, unless it was deleted, to change it.
    fn live_mut(&mut self, id: &str) -> Option<&mut ZoomMeeting> {
        id.parse::<u64>()
            .ok()
            .and_then(|id| self.meetings.get_mut(&id))
            .filter(|m| !m.meeting.deleted)
    }

    /// `GET /past_meetings/{id}/instances`: the meeting's ended instances (one once it has
    /// ended); 404 for a meeting that never ran, as Zoom answers.
    fn past_instances(&self, id: &str) -> Reply {
        match self.by_id(id) {
            Some(m) if m.meeting.ended => Reply::json(
                200,
                json!({"meetings": [{"uuid": m.uuid, "start_time": m.start_time}]}),
            ),
            _ => error(404, 3001, "Meeting not found."),
        }
    }

    /// `DELETE /meetings/{id}`: 204, unless it is in progress (400 code 3002) or has ended
    /// (3007), which Zoom refuses.
    fn delete(&mut self, id: &str) -> Reply {
        let Some(meeting) = self.live_mut(id) else {
            return error(404, 3001, "Meeting does not exist.");
        };
        if meeting.meeting.ended {
            return error(
                400,
                3007,
                "Sorry, you cannot delete this meeting since it has ended.",
            );
        }
        if meeting.meeting.started {
            return error(
                400,
                3002,
                "Sorry, you cannot delete this meeting since it is in progress.",
            );
        }
        meeting.meeting.deleted = true;
        Reply::empty(204)
    }

    /// `PUT /meetings/{id}/status` `{"action": "end"}`: the meeting ends for everyone, and
    /// Zoom sends `meeting.ended` and, for a meeting people were on, the summary.
    fn end(&mut self, call: &Call, id: &str) -> (Reply, Vec<Outbound>) {
        let body = match call.json() {
            Ok(body) => body,
            Err(reply) => return (reply, vec![]),
        };
        if body["action"] != "end" && body["action"] != "recover" {
            return (
                Reply::json(
                    400,
                    json!({"code": 300, "message": "Validation Failed.", "errors": [{"field": "action", "message": "must be one of [end, recover]"}]}),
                ),
                vec![],
            );
        }
        let Some(meeting) = self.live_mut(id) else {
            return (error(404, 3001, "Meeting does not exist."), vec![]);
        };
        let was_running = meeting.meeting.started && !meeting.meeting.ended;
        meeting.meeting.ended = true;
        meeting.meeting.ended_by_api = true;
        let mut owed = Vec::new();
        if was_running {
            owed.push(Outbound {
                event: "meeting.ended".into(),
                body: meeting_event(meeting, "meeting.ended", None),
                after: Duration::ZERO,
            });
            owed.push(Outbound {
                event: "meeting.summary_completed".into(),
                body: summary_event(meeting),
                after: SUMMARY_AFTER,
            });
        }
        (Reply::empty(204), owed)
    }

    fn summary(&self, uuid: &str) -> Reply {
        match self.meetings.values().find(|m| m.uuid == uuid) {
            Some(m) if m.meeting.ended && !m.meeting.participants.is_empty() => {
                Reply::json(200, summary_object(m))
            }
            _ => error(404, 3001, "Meeting summary does not exist."),
        }
    }

    /// `person` joins: the events Zoom sends, in order. `None` if there is no such meeting.
    pub fn join(&mut self, meeting_id: u64, person: &Person) -> Option<Vec<Value>> {
        let meeting = self.meetings.get_mut(&meeting_id)?;
        let mut events = Vec::new();
        if !meeting.meeting.started {
            meeting.meeting.started = true;
            meeting.start_time = crate::now_rfc3339();
            events.push(meeting_event(meeting, "meeting.started", None));
        }
        meeting.meeting.participants.push(person.clone());
        events.push(meeting_event(
            meeting,
            "meeting.participant_joined",
            Some(person),
        ));
        Some(events)
    }

    pub fn meetings_naming(&self, incident_id: &str) -> Vec<Meeting> {
        self.meetings
            .values()
            .filter(|m| m.meeting.agenda.contains(incident_id))
            .map(|m| m.meeting.clone())
            .collect()
    }
}

/// Zoom's answer to a body it does not take.
fn validation_failed(field: &str, message: &str) -> Reply {
    Reply::json(
        400,
        json!({"code": 300, "message": "Validation Failed.", "errors": [{"field": field, "message": message}]}),
    )
}

/// What Zoom checks of a create body (its `Validation Failed.` answers), for the fields the
/// relay sends.
fn validate_create(body: &Value) -> Result<(), (&'static str, String)> {
    let topic = body["topic"].as_str().unwrap_or_default();
    if topic.chars().count() > 200 {
        return Err(("topic", "must be at most 200 characters".into()));
    }
    match body["type"].as_u64() {
        Some(1 | 2 | 3 | 8) | None => {}
        Some(other) => return Err(("type", format!("{other} is not a meeting type"))),
    }
    if body["agenda"]
        .as_str()
        .is_some_and(|a| a.chars().count() > 2000)
    {
        return Err(("agenda", "must be at most 2000 characters".into()));
    }
    if let Some(password) = body.get("password") {
        let text = password.as_str().unwrap_or_default();
        let allowed = |c: char| c.is_ascii_alphanumeric() || "@-_*".contains(c);
        if text.is_empty() || text.chars().count() > 10 || !text.chars().all(allowed) {
            return Err((
                "password",
                "must be 1 to 10 characters: letters, numbers and @ - _ *".into(),
            ));
        }
    }
    if let Some(duration) = body.get("duration")
        && duration.as_u64().is_none()
    {
        return Err(("duration", "must be a whole number of minutes".into()));
    }
    if let Some(settings) = body.get("settings")
        && !settings.is_object()
    {
        return Err(("settings", "must be an object".into()));
    }
    if let Some(start) = body.get("start_time")
        && start
            .as_str()
            .is_none_or(|s| humantime::parse_rfc3339(s).is_err())
    {
        return Err(("start_time", "must be yyyy-MM-ddTHH:mm:ssZ".into()));
    }
    Ok(())
}

fn meeting_event(m: &ZoomMeeting, event: &str, participant: Option<&Person>) -> Value {
    let mut object = json!({
        "id": m.meeting.id.to_string(), "uuid": m.uuid, "host_id": "sandboxhost01",
        "topic": m.meeting.topic, "type": 2, "start_time": m.start_time,
        "timezone": "UTC", "duration": 60,
    });
    if event == "meeting.ended" {
        object["end_time"] = json!(crate::now_rfc3339());
    }
    if let Some(person) = participant {
        let n = m.meeting.participants.len();
        object["participant"] = json!({
            "user_id": format!("1677{n:04}"), "user_name": person.name,
            "id": format!("sbxparticipant{n}"), "participant_uuid": format!("SBX-{n}"),
            "join_time": crate::now_rfc3339(), "email": person.email,
            "registrant_id": "", "participant_user_id": format!("sbxparticipant{n}"),
        });
    }
    json!({
        "event": event,
        "event_ts": crate::now_millis(),
        "payload": {"account_id": "sandbox-account", "object": object},
    })
}

fn summary_object(m: &ZoomMeeting) -> Value {
    let names: Vec<&str> = m
        .meeting
        .participants
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    json!({
        "meeting_host_id": "sandboxhost01", "meeting_host_email": m.meeting.host,
        "meeting_uuid": m.uuid, "meeting_id": m.meeting.id, "meeting_topic": m.meeting.topic,
        "meeting_start_time": m.start_time, "meeting_end_time": crate::now_rfc3339(),
        "summary_start_time": m.start_time, "summary_end_time": crate::now_rfc3339(),
        "summary_created_time": crate::now_rfc3339(),
        "summary_last_modified_time": crate::now_rfc3339(),
        "summary_title": format!("Meeting summary for {}", m.meeting.topic),
        "summary_overview": format!("{} worked the incident on the bridge.", names.join(", ")),
        "summary_details": [],
        "next_steps": ["Write the post-incident review", "Add an alert for the failing check"],
        "summary_content": format!(
            "## Key takeaways\n- {} joined the bridge and worked the incident.\n- The incident was resolved and the meeting ended.",
            names.join(", ")
        ),
        "summary_doc_url": format!("https://docs.sandbox.zoom.example/doc/{}", m.meeting.id),
    })
}

fn summary_event(m: &ZoomMeeting) -> Value {
    json!({
        "event": "meeting.summary_completed",
        "event_ts": crate::now_millis(),
        "payload": {"account_id": "sandbox-account", "object": summary_object(m)},
    })
}
