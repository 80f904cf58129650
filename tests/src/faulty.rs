//! A Zoom + PagerDuty stand-in that fails on purpose, for the storm and crash tests: a share
//! of calls answer 500, 429 with a retry hint, answer too late (after doing the work), or drop
//! the connection (after doing the work, the worst case for "exactly once"). It records what
//! it created so the test can count meetings and bridges per incident.
//!
//! Zoom tokens are voided only as Zoom voids them: when it issues a newer one (to the relay in
//! [`State::newest_token_only`] mode, or to another client, [`State::token_fetched_elsewhere`]),
//! never at random: the deployment's containers share one token, so a random void would hit
//! them all at once, at a time no test chose.
//!
//! Routes: `/zoom-oauth/oauth/token`, `/zoom/v2/users/{u}/meetings` (POST, GET),
//! `/zoom/v2/meetings/{id}` (GET, PATCH), `/zoom/v2/users/{email}` (GET), `/pd/incidents/{id}`
//! (PUT), `/pd/incidents/{id}/notes` (POST), `/pd/users/{id}` (GET).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    ServerError,
    RateLimited,
    /// The work is done, the answer comes after the client gave up.
    Slow,
    /// The work is done, the connection is closed with no answer.
    Dropped,
}

#[derive(Default)]
pub struct State {
    rng: u64,
    pub fault_rate: f64,
    /// Only Zoom calls fail; PagerDuty always answers (to watch failure notes arrive).
    pub faults_on_zoom_only: bool,
    pub slow_for: Duration,
    next_meeting: u64,
    issued_tokens: HashSet<String>,
    revoked_tokens: HashSet<String>,
    /// As Zoom does: a newly issued token voids every token issued before it. Off, the tokens
    /// the relay fetches stay good side by side (for the tests that are not about the token).
    pub newest_token_only: bool,
    /// The `expires_in` of issued tokens (Zoom's 3599 s unless a test wants renewals).
    pub token_lifetime_seconds: u64,
    /// 401s for a token that a newer one voided.
    pub voided_token_refusals: usize,
    /// Tokens issued to another client of the app ([`State::token_fetched_elsewhere`]).
    tokens_fetched_elsewhere: usize,
    /// Every Zoom API call is answered 401 code 124, whatever the token.
    pub refuse_every_token: bool,
    /// The PagerDuty API token the stand-in accepts now.
    pub pagerduty_token: String,
    /// Incidents whose next bridge PUT never answers (the crash test).
    pub hang_bridge_for: HashSet<String>,
    /// Incidents whose next meeting create makes the meeting and never answers.
    pub hang_create_for: HashSet<String>,
    /// Incidents whose next N note posts PagerDuty answers with a 500 (nothing posted).
    pub refuse_notes_for: HashMap<String, usize>,
    /// Zoom API calls still to answer 401 code 4711 (the token lacks a scope), token valid.
    pub scope_refusals: usize,
    /// Meetings ended through Zoom's API (`PUT /meetings/{id}/status`), in order.
    pub ended_by_api: Vec<u64>,
    pub meetings: HashMap<u64, Value>,
    pub meetings_by_incident: HashMap<String, Vec<u64>>,
    pub bridges: HashMap<String, Vec<Value>>,
    pub notes: HashMap<String, Vec<String>>,
    pub faults: HashMap<&'static str, usize>,
    /// Service time added to every answer, as a real API takes it.
    pub latency: Duration,
    /// Per incident: when its bridge PUT was answered, and the time the stand-in spent on its
    /// create and bridge calls (for the latency benchmark).
    pub bridged_at: HashMap<String, std::time::Instant>,
    pub server_time: HashMap<(String, &'static str), Duration>,
    pub calls: usize,
    pub token_fetches: usize,
    /// 401s for voided Zoom tokens.
    pub unauthorized: usize,
    /// 401s for a PagerDuty token that is no longer valid.
    pub pagerduty_unauthorized: usize,
    /// The host pool as Zoom sees it: per host, the meetings made, the ones not yet ended (see
    /// [`State::end_meeting`]), the most that were open at once, and its daily create limit.
    pub meetings_by_host: HashMap<String, Vec<u64>>,
    pub open_by_host: HashMap<String, HashSet<u64>>,
    pub most_open_by_host: HashMap<String, usize>,
    /// Creates a host may make before Zoom answers its daily-limit 429 (absent: no limit).
    pub daily_limit_for: HashMap<String, usize>,
    pub daily_limit_answers: HashMap<String, usize>,
}

impl State {
    /// Another client of the same Zoom app (a script, another deployment) fetches a token: as
    /// Zoom does, that voids every token issued before it, the relay's included, whatever
    /// `newest_token_only` says. The way for a test to have the relay's token refused mid-run.
    pub fn token_fetched_elsewhere(&mut self) {
        self.tokens_fetched_elsewhere += 1;
        let token = format!("elsewhere-token-{}", self.tokens_fetched_elsewhere);
        self.issue(token, true);
    }

    /// Issues `token`, voiding the ones issued before it if `voids_earlier`.
    fn issue(&mut self, token: String, voids_earlier: bool) {
        if voids_earlier {
            let voided: Vec<String> = self.issued_tokens.iter().cloned().collect();
            self.revoked_tokens.extend(voided);
        }
        self.issued_tokens.insert(token);
    }

    /// The meeting is over (its incident resolved): its host may hold another one.
    pub fn end_meeting(&mut self, id: u64) {
        for open in self.open_by_host.values_mut() {
            open.remove(&id);
        }
    }

    fn random(&mut self) -> f64 {
        // xorshift64*: deterministic for a given seed, so a failing storm can be replayed.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn fault(&mut self) -> Fault {
        self.calls += 1;
        if self.random() >= self.fault_rate {
            return Fault::None;
        }
        let fault = match (self.random() * 4.0) as u32 {
            0 => Fault::ServerError,
            1 => Fault::RateLimited,
            2 => Fault::Slow,
            _ => Fault::Dropped,
        };
        *self.faults.entry(fault_name(fault)).or_default() += 1;
        fault
    }
}

fn fault_name(fault: Fault) -> &'static str {
    match fault {
        Fault::None => "none",
        Fault::ServerError => "500",
        Fault::RateLimited => "429",
        Fault::Slow => "timeout",
        Fault::Dropped => "dropped connection",
    }
}

/// A host user Zoom does not know.
pub const UNKNOWN_USER: &str = "nobody@example.com";

pub struct FaultyApis {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl FaultyApis {
    pub async fn start(
        seed: u64,
        fault_rate: f64,
        slow_for: Duration,
        pagerduty_token: &str,
    ) -> FaultyApis {
        let state = Arc::new(Mutex::new(State {
            rng: seed | 1,
            fault_rate,
            slow_for,
            next_meeting: 80_000_000_000,
            pagerduty_token: pagerduty_token.to_owned(),
            token_lifetime_seconds: 3599,
            ..State::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { handle(state, request).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultyApis { url, state }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ZOOM_HOST_USER", crate::HOST_USER.to_owned()),
            ("ZOOM_API_BASE", format!("{}/zoom/v2", self.url)),
            ("ZOOM_OAUTH_BASE", format!("{}/zoom-oauth", self.url)),
            ("PAGERDUTY_API_BASE", format!("{}/pd", self.url)),
        ]
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

fn reply(status: u16, body: Value, headers: &[(&'static str, &str)]) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    for (name, value) in headers {
        response.headers_mut().insert(*name, value.parse().unwrap());
    }
    Ok(response)
}

/// Applies the fault to an answer whose work has been done already.
async fn deliver(fault: Fault, slow_for: Duration, answer: Answer) -> Answer {
    match fault {
        Fault::Slow => {
            tokio::time::sleep(slow_for).await;
            answer
        }
        Fault::Dropped => Err(std::io::Error::other("connection dropped on purpose")),
        _ => answer,
    }
}

/// Faults that fail the call before any work is done.
fn refused(fault: Fault) -> Option<Answer> {
    match fault {
        Fault::ServerError => Some(reply(
            500,
            json!({"code": 500, "message": "Internal error"}),
            &[],
        )),
        Fault::RateLimited => Some(reply(
            429,
            json!({"code": 429, "message": "Too many requests"}),
            &[("retry-after", "1"), ("ratelimit-reset", "1")],
        )),
        _ => None,
    }
}

async fn handle(state: Arc<Mutex<State>>, request: Request<hyper::body::Incoming>) -> Answer {
    let received = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let auth = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (fault, slow_for) = {
        let mut s = state.lock().unwrap();
        let spared = s.faults_on_zoom_only && segments.first() == Some(&"pd");
        (if spared { Fault::None } else { s.fault() }, s.slow_for)
    };
    if let Some(answer) = refused(fault) {
        return answer;
    }
    let answer = match (method.as_str(), segments.as_slice()) {
        ("POST", ["zoom-oauth", "oauth", "token"]) => {
            assert!(query.contains("grant_type=account_credentials"), "{query}");
            let mut s = state.lock().unwrap();
            s.token_fetches += 1;
            let token = format!("token-{}", s.token_fetches);
            let voids_earlier = s.newest_token_only;
            s.issue(token.clone(), voids_earlier);
            let expires_in = s.token_lifetime_seconds;
            reply(
                200,
                json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in,
                       "scope": ZOOM_APP_SCOPES}),
                &[],
            )
        }
        (_, ["zoom", "v2", rest @ ..]) => {
            let (answer, hang) = {
                let token = auth.strip_prefix("Bearer ").unwrap_or_default().to_owned();
                let mut s = state.lock().unwrap();
                if s.refuse_every_token
                    || !s.issued_tokens.contains(&token)
                    || s.revoked_tokens.contains(&token)
                {
                    s.unauthorized += 1;
                    if s.revoked_tokens.contains(&token) {
                        s.voided_token_refusals += 1;
                    }
                    return reply(
                        401,
                        json!({"code": 124, "message": "Invalid access token."}),
                        &[],
                    );
                }
                if s.scope_refusals > 0 {
                    s.scope_refusals -= 1;
                    return reply(
                        401,
                        json!({"code": 4711, "message": "Invalid access token, does not contain scopes:[meeting:write:meeting:admin]."}),
                        &[],
                    );
                }
                let answer = zoom(&mut s, method.as_str(), rest, &body);
                let incident = incident_of(body["agenda"].as_str().unwrap_or_default());
                // Only a create that made the meeting hangs (not a refused one).
                let made = answer.as_ref().is_ok_and(|r| r.status().is_success());
                let hang = method == "POST"
                    && made
                    && incident.is_some_and(|i| s.hang_create_for.remove(&i));
                (answer, hang)
            };
            if hang {
                std::future::pending::<()>().await;
            }
            answer
        }
        (_, ["pd", "incidents", id, rest @ ..]) => {
            let id = id.to_string();
            let hang = {
                let mut s = state.lock().unwrap();
                if auth != format!("Token token={}", s.pagerduty_token) {
                    s.pagerduty_unauthorized += 1;
                    return reply(
                        401,
                        json!({"error": {"message": "Unauthorized", "code": 2006}}),
                        &[],
                    );
                }
                method == "PUT" && s.hang_bridge_for.remove(&id)
            };
            if hang {
                std::future::pending::<()>().await;
            }
            let mut s = state.lock().unwrap();
            match (method.as_str(), rest) {
                ("PUT", []) => {
                    s.bridges
                        .entry(id.clone())
                        .or_default()
                        .push(body["incident"]["conference_bridge"].clone());
                    reply(
                        200,
                        json!({"incident": {"id": id, "type": "incident"}}),
                        &[],
                    )
                }
                ("GET", ["notes"]) => {
                    let notes: Vec<Value> = s
                        .notes
                        .get(&id)
                        .into_iter()
                        .flatten()
                        .map(|content| json!({"id": "PNOTE01", "content": content}))
                        .collect();
                    reply(200, json!({"notes": notes}), &[])
                }
                ("POST", ["notes"])
                    if s.refuse_notes_for.get(&id).is_some_and(|left| *left > 0) =>
                {
                    if let Some(left) = s.refuse_notes_for.get_mut(&id) {
                        *left -= 1;
                    }
                    reply(
                        500,
                        json!({"error": {"message": "Internal Server Error"}}),
                        &[],
                    )
                }
                ("POST", ["notes"]) => {
                    let content = body["note"]["content"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    s.notes.entry(id).or_default().push(content);
                    reply(201, json!({"note": {"id": "PNOTE01"}}), &[])
                }
                _ => reply(404, json!({"error": {"message": "Not Found"}}), &[]),
            }
        }
        // Every assignee is a user of the account with an e-mail made of their id.
        ("GET", ["pd", "users", id]) => reply(
            200,
            json!({"user": {"id": id, "type": "user", "email": format!("{}@example.com", id.to_lowercase())}}),
            &[],
        ),
        _ => reply(404, json!({"message": "no such route"}), &[]),
    };
    let latency = state.lock().unwrap().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let call = match (method.as_str(), segments.as_slice()) {
        ("POST", ["zoom", "v2", "users", _, "meetings"]) => {
            incident_of(body["agenda"].as_str().unwrap_or_default()).map(|i| (i, "create"))
        }
        ("PUT", ["pd", "incidents", id]) => Some((id.to_string(), "bridge")),
        _ => None,
    };
    if let Some(key) = call {
        let mut s = state.lock().unwrap();
        if key.1 == "bridge" {
            s.bridged_at
                .insert(key.0.clone(), std::time::Instant::now());
        }
        s.server_time.insert(key, received.elapsed());
    }
    deliver(fault, slow_for, answer).await
}

fn incident_of(agenda: &str) -> Option<String> {
    let first = agenda.lines().next()?;
    let start = first.rfind('(')?;
    Some(first[start + 1..first.len() - 1].to_owned())
}

fn zoom(s: &mut State, method: &str, rest: &[&str], body: &Value) -> Answer {
    match (method, rest) {
        ("POST", ["users", user, "meetings"]) if *user == UNKNOWN_USER => reply(
            404,
            json!({"code": 1001, "message": "User does not exist: nobody@example.com."}),
            &[],
        ),
        ("POST", ["users", user, "meetings"])
            if s.daily_limit_for.get(*user).is_some_and(|limit| {
                s.meetings_by_host.get(*user).map_or(0, Vec::len) >= *limit
            }) =>
        {
            *s.daily_limit_answers.entry(user.to_string()).or_default() += 1;
            reply(
                429,
                json!({"code": 429, "message": "You have exceeded the daily rate limit (100) of Meeting Create/Update API requests permitted for this particular user. You may resume these requests at GMT 00:00:00."}),
                &[],
            )
        }
        ("POST", ["users", user, "meetings"]) => {
            let agenda = body["agenda"].as_str().unwrap_or_default();
            let incident = incident_of(agenda).unwrap_or_default();
            s.next_meeting += 1;
            let id = s.next_meeting;
            let passcode = body["password"].as_str().unwrap_or_default().to_owned();
            let meeting = json!({
                "id": id, "topic": body["topic"], "agenda": agenda, "type": 2,
                "host_email": user,
                "join_url": format!("https://zoom.example/j/{id}?pwd=x{id}"),
                "start_url": format!("https://zoom.example/s/{id}?zak=HOST-ONLY"),
                "password": passcode, "h323_password": passcode,
                "settings": {"global_dial_in_numbers": [
                    {"city": "San Jose", "country": "US", "country_name": "US", "number": "+1 6699006833", "type": "toll"}
                ]}
            });
            s.meetings.insert(id, meeting.clone());
            s.meetings_by_incident.entry(incident).or_default().push(id);
            s.meetings_by_host
                .entry(user.to_string())
                .or_default()
                .push(id);
            let open = s.open_by_host.entry(user.to_string()).or_default();
            open.insert(id);
            let now_open = open.len();
            let most = s.most_open_by_host.entry(user.to_string()).or_default();
            *most = (*most).max(now_open);
            reply(201, meeting, &[])
        }
        ("GET", ["users", user, "meetings"]) => {
            // Each host lists its own meetings only, as Zoom does.
            let listed: Vec<Value> = s
                .meetings
                .values()
                .filter(|m| m["host_email"] == *user)
                .map(|m| json!({"id": m["id"], "topic": m["topic"], "agenda": m["agenda"], "join_url": m["join_url"]}))
                .collect();
            reply(
                200,
                json!({"page_size": 300, "total_records": listed.len(), "meetings": listed}),
                &[],
            )
        }
        ("PUT", ["meetings", id, "status"]) if body["action"] == "end" => {
            match id
                .parse::<u64>()
                .ok()
                .filter(|id| s.meetings.contains_key(id))
            {
                Some(id) => {
                    s.end_meeting(id);
                    s.ended_by_api.push(id);
                    reply(204, Value::Null, &[])
                }
                None => reply(
                    404,
                    json!({"code": 3001, "message": "Meeting does not exist"}),
                    &[],
                ),
            }
        }
        // Every meeting has run once (the tests that end meetings watch the end, not a removal).
        ("GET", ["past_meetings", id, "instances"]) => {
            match id
                .parse::<u64>()
                .ok()
                .filter(|id| s.meetings.contains_key(id))
            {
                Some(_) => reply(
                    200,
                    json!({"meetings": [{"uuid": "ran-once==", "start_time": "2026-11-23T10:00:00Z"}]}),
                    &[],
                ),
                None => reply(
                    404,
                    json!({"code": 3001, "message": "Meeting not found"}),
                    &[],
                ),
            }
        }
        // Every e-mail is a licensed user of the account; updates are taken.
        ("GET", ["users", user]) if user.contains('@') => reply(
            200,
            json!({"id": format!("u-{user}"), "email": user, "type": 2, "status": "active"}),
            &[],
        ),
        ("PATCH", ["meetings", id]) => {
            match id
                .parse::<u64>()
                .ok()
                .filter(|id| s.meetings.contains_key(id))
            {
                Some(_) => reply(204, Value::Null, &[]),
                None => reply(
                    404,
                    json!({"code": 3001, "message": "Meeting does not exist"}),
                    &[],
                ),
            }
        }
        ("GET", ["meetings", id]) => {
            match id.parse::<u64>().ok().and_then(|id| s.meetings.get(&id)) {
                Some(meeting) => reply(200, meeting.clone(), &[]),
                None => reply(
                    404,
                    json!({"code": 3001, "message": "Meeting does not exist"}),
                    &[],
                ),
            }
        }
        _ => reply(404, json!({"message": "no such route"}), &[]),
    }
}

/// The scopes the stand-in's Zoom app has, listed with each token as Zoom lists them.
pub const ZOOM_APP_SCOPES: &str = "meeting:write:meeting:admin meeting:read:summary:admin cloud_recording:read:list_recording_files:admin";
