//! Sandboxes of Zoom, PagerDuty and incident.io on one loopback port, for `bridge-relay demo`
//! and for tests of stateful flows that Prism cannot serve.
//!
//! They are stand-ins the relay cannot tell from the services on the paths it uses, and they
//! check what the services check: Zoom's Server-to-Server OAuth (Basic client credentials, the
//! account, the grant; a new token voids the ones before it), each host's daily create limit,
//! the create body; PagerDuty's API token, `From` (a user of the account), `Accept` and
//! bodies; incident.io's bearer key and bodies. A relay that gets a call wrong gets the error
//! the service would give. The other way, they deliver webhooks as the services do, signed as
//! each service signs them: PagerDuty V3 events, Zoom's meeting events (after Zoom's URL
//! validation of the receiver) and summary, incident.io's Svix-signed events.
//!
//! Nothing here imports the relay: the signatures and wire shapes are written from the
//! services' documentation, so a relay that reads one wrongly fails against the sandbox.
//!
//! Paths: `/zoom/oauth/token`, `/zoom/v2/…` (Zoom), `/pagerduty/…` (PagerDuty's REST API),
//! `/incident-io/…` (incident.io's API), and `/sandbox/incidents[/{id}]` (what a responder
//! sees on each incident: title, assignee, status, bridge, notes).

// What the relay sends never panics the sandbox. Indexing is left allowed: the only indexing
// here is serde_json's `value["key"]`, which reads `Null` for a missing key.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]

mod incident_io;
mod pagerduty;
mod server;
mod sign;
mod zoom;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

pub use server::Delivery;

/// Which incident tool an incident lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    PagerDuty,
    IncidentIo,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::PagerDuty => "PagerDuty",
            Tool::IncidentIo => "incident.io",
        }
    }
}

/// Someone on the account: a responder, or the user the relay acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub email: String,
}

impl Person {
    pub fn new(name: &str, email: &str) -> Person {
        Person {
            name: name.to_owned(),
            email: email.to_owned(),
        }
    }
}

/// An incident to open.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub title: String,
    pub service: String,
    /// PagerDuty's `high` or `low`; incident.io's severity name.
    pub urgency: String,
    pub assignee: Person,
}

/// An incident as a responder sees it in the tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub tool: Tool,
    pub id: String,
    /// How people name it: `#7` in PagerDuty, `INC-7` in incident.io.
    pub reference: String,
    pub title: String,
    pub service: String,
    pub urgency: String,
    pub status: String,
    pub assignee: Person,
    pub bridge: Option<Bridge>,
    /// How often the bridge was set.
    pub bridge_updates: usize,
    pub notes: Vec<Note>,
    pub html_url: String,
}

/// The incident's conference bridge (PagerDuty) or call link (incident.io).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    pub url: Option<String>,
    pub number: Option<String>,
}

/// One note (PagerDuty) or timeline item (incident.io).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub content: String,
    /// Who wrote it (PagerDuty's `From`, incident.io's API key name).
    pub by: String,
}

impl Incident {
    /// A new incident of `tool`, open and without a bridge or notes.
    fn opened(
        tool: Tool,
        id: &str,
        reference: String,
        html_url: String,
        new: NewIncident,
        status: &str,
    ) -> Incident {
        Incident {
            tool,
            id: id.to_owned(),
            reference,
            html_url,
            title: new.title,
            service: new.service,
            urgency: new.urgency,
            status: status.to_owned(),
            assignee: new.assignee,
            bridge: None,
            bridge_updates: 0,
            notes: Vec::new(),
        }
    }

    fn view(&self) -> Value {
        json!({
            "tool": self.tool.name(), "id": self.id, "reference": self.reference,
            "title": self.title, "service": self.service, "urgency": self.urgency,
            "status": self.status,
            "assignee": {"name": self.assignee.name, "email": self.assignee.email},
            "bridge": self.bridge.as_ref().map(|b| json!({"url": b.url, "number": b.number})),
            "notes": self.notes.iter().map(|n| json!({"by": n.by, "content": n.content})).collect::<Vec<_>>(),
            "html_url": self.html_url,
        })
    }
}

/// A Zoom meeting as Zoom's web portal would list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    pub id: u64,
    pub host: String,
    pub topic: String,
    pub agenda: String,
    pub join_url: String,
    /// The host's link: the relay must never show it.
    pub start_url: String,
    pub started: bool,
    pub ended: bool,
    /// Ended through `PUT /meetings/{id}/status`.
    pub ended_by_api: bool,
    pub participants: Vec<Person>,
    /// How often it was updated (`PATCH /meetings/{id}`).
    pub updates: usize,
    /// Who has host controls besides the host (`settings.alternative_hosts`), by e-mail.
    pub alternative_hosts: Vec<String>,
    /// Removed with `DELETE /meetings/{id}`.
    pub deleted: bool,
}

/// The credentials of the sandbox accounts, as the relay's secret holds them.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub zoom_account_id: String,
    pub zoom_client_id: String,
    pub zoom_client_secret: String,
    pub zoom_secret_token: String,
    pub pagerduty_api_token: String,
    pub pagerduty_webhook_secret: String,
    pub pagerduty_action_secret: String,
    pub incident_io_api_key: String,
    pub incident_io_webhook_secret: String,
    /// The PagerDuty user the relay acts as (`From`).
    pub relay_user: Person,
    /// The Zoom user that hosts the meetings.
    pub host_user: String,
}

impl Credentials {
    fn new() -> Credentials {
        Credentials {
            zoom_account_id: random_text("acct-"),
            zoom_client_id: random_text("client-"),
            zoom_client_secret: random_text("zoom-secret-"),
            zoom_secret_token: random_text("zoom-token-"),
            pagerduty_api_token: random_text("pd-"),
            pagerduty_webhook_secret: random_text("pd-webhook-"),
            pagerduty_action_secret: random_text("pd-action-"),
            incident_io_api_key: random_text("inc-"),
            incident_io_webhook_secret: format!(
                "whsec_{}",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, random_bytes())
            ),
            relay_user: Person::new("bridge-relay", "relay-bot@sandbox.example"),
            host_user: "zoom-host@sandbox.example".to_owned(),
        }
    }

    /// The relay's secret document for these accounts: both halves in one file.
    pub fn secret_document(&self) -> Value {
        json!({
            "zoom": {
                "account_id": self.zoom_account_id,
                "client_id": self.zoom_client_id,
                "client_secret": self.zoom_client_secret,
                "webhook_secret_token": self.zoom_secret_token,
            },
            "pagerduty": {
                "api_token": self.pagerduty_api_token,
                "from_email": self.relay_user.email,
                "webhook_secrets": [self.pagerduty_webhook_secret],
                "action_secret": self.pagerduty_action_secret,
            },
            "incident_io": {
                "api_key": self.incident_io_api_key,
                "webhook_secrets": [self.incident_io_webhook_secret],
            },
        })
    }
}

fn random_bytes() -> [u8; 24] {
    let mut bytes = [0u8; 24];
    // Without the OS's random source the secrets are merely predictable: the sandbox holds
    // nothing of value, and the demo goes on.
    let _ = getrandom::fill(&mut bytes);
    bytes
}

fn random_text(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(random_bytes()))
}

/// Where the sandbox delivers its webhooks: the relay's routes.
#[derive(Debug, Clone)]
struct Receiver {
    pagerduty: String,
    zoom: String,
    incident_io: String,
}

/// Everything the sandboxes hold, behind one lock.
pub(crate) struct World {
    credentials: Credentials,
    zoom: zoom::Zoom,
    pagerduty: pagerduty::PagerDuty,
    incident_io: incident_io::IncidentIo,
    receiver: Option<Receiver>,
    deliveries: Vec<Delivery>,
}

impl World {
    fn incident(&self, id: &str) -> Option<&Incident> {
        self.pagerduty
            .incidents
            .get(id)
            .or_else(|| self.incident_io.incidents.get(id))
    }
}

/// A webhook the sandbox owes the relay after answering a call (Zoom's `meeting.ended` after
/// an end, the summary a moment later).
pub(crate) struct Outbound {
    pub event: String,
    pub body: Value,
    pub after: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox cannot listen on loopback: {0}")]
    Listen(#[from] std::io::Error),
    #[error("the relay's Zoom endpoint failed Zoom's URL validation: {0}")]
    UrlValidation(String),
    #[error("no incident {0} in the sandbox")]
    NoIncident(String),
    #[error("no Zoom meeting {0} in the sandbox")]
    NoMeeting(u64),
    #[error("the sandbox has no receiver for webhooks yet (call `subscribe`)")]
    NotSubscribed,
}

/// The running sandboxes. Dropping it stops them.
pub struct Sandbox {
    url: String,
    world: Arc<Mutex<World>>,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    // A panic elsewhere while holding the lock leaves consistent data (each change is one
    // statement); serve on.
    world
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Sandbox {
    /// Starts the sandboxes on a free loopback port; `http` delivers their webhooks.
    pub async fn start(http: reqwest::Client) -> Result<Sandbox, SandboxError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let credentials = Credentials::new();
        let world = Arc::new(Mutex::new(World {
            zoom: zoom::Zoom::new(&credentials.host_user),
            pagerduty: pagerduty::PagerDuty::new(&url, &credentials.relay_user),
            incident_io: incident_io::IncidentIo::new(),
            credentials,
            receiver: None,
            deliveries: Vec::new(),
        }));
        let handler_world = world.clone();
        let handler_http = http.clone();
        let server = server::serve(
            listener,
            Arc::new(move |call: server::Call| {
                let world = handler_world.clone();
                let http = handler_http.clone();
                async move {
                    let (reply, owed) = route(&world, &call);
                    if !owed.is_empty() {
                        tokio::spawn(send_owed(world, http, owed));
                    }
                    reply
                }
            }),
        );
        Ok(Sandbox {
            url,
            world,
            http,
            server,
        })
    }

    /// The sandboxes' base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn zoom_api_base(&self) -> String {
        format!("{}/zoom/v2", self.url)
    }

    pub fn zoom_oauth_base(&self) -> String {
        format!("{}/zoom", self.url)
    }

    pub fn pagerduty_api_base(&self) -> String {
        format!("{}/pagerduty", self.url)
    }

    pub fn incident_io_api_base(&self) -> String {
        format!("{}/incident-io", self.url)
    }

    pub fn credentials(&self) -> Credentials {
        lock(&self.world).credentials.clone()
    }

    /// Points every webhook at the relay on `relay_base` (`/webhook`, `/zoom`, `/incident-io`).
    /// As Zoom does for a new event subscription, the Zoom endpoint is validated first: it must
    /// answer the `endpoint.url_validation` challenge with the secret token's HMAC.
    pub async fn subscribe(&self, relay_base: &str) -> Result<(), SandboxError> {
        let base = relay_base.trim_end_matches('/');
        let receiver = Receiver {
            pagerduty: format!("{base}/webhook"),
            zoom: format!("{base}/zoom"),
            incident_io: format!("{base}/incident-io"),
        };
        let plain_token = random_text("plain-");
        let body = json!({
            "event": "endpoint.url_validation",
            "event_ts": now_millis(),
            "payload": {"plainToken": plain_token},
        });
        let secret_token = lock(&self.world).credentials.zoom_secret_token.clone();
        let delivery = deliver_zoom(&self.http, &receiver.zoom, &secret_token, &body).await;
        let answer: Value = serde_json::from_str(&delivery.answer).unwrap_or(Value::Null);
        let expected = sign::zoom_url_validation(&secret_token, &plain_token);
        if delivery.status != 200
            || answer["plainToken"] != plain_token
            || answer["encryptedToken"] != expected
        {
            return Err(SandboxError::UrlValidation(format!(
                "answered {} {}",
                delivery.status, delivery.answer
            )));
        }
        lock(&self.world).receiver = Some(receiver);
        Ok(())
    }

    /// Opens an incident and delivers the tool's webhook for it.
    pub async fn trigger(
        &self,
        tool: Tool,
        incident: NewIncident,
    ) -> Result<(String, Delivery), SandboxError> {
        let id = {
            let mut world = lock(&self.world);
            match tool {
                Tool::PagerDuty => world.pagerduty.open(incident),
                Tool::IncidentIo => world.incident_io.open(incident),
            }
        };
        let delivery = self
            .deliver_incident_event(&id, IncidentEvent::Triggered)
            .await?;
        Ok((id, delivery))
    }

    /// Opens an incident without telling anyone, and returns the webhook the tool would send
    /// for it: for a person to sign and send by hand.
    pub fn prepare_trigger(
        &self,
        tool: Tool,
        incident: NewIncident,
    ) -> Result<(String, Vec<u8>), SandboxError> {
        let mut world = lock(&self.world);
        let id = match tool {
            Tool::PagerDuty => world.pagerduty.open(incident),
            Tool::IncidentIo => world.incident_io.open(incident),
        };
        let incident = world
            .incident(&id)
            .ok_or_else(|| SandboxError::NoIncident(id.clone()))?;
        let (_, body) = match tool {
            Tool::PagerDuty => pagerduty::webhook(incident, IncidentEvent::Triggered),
            Tool::IncidentIo => incident_io::webhook(incident, IncidentEvent::Triggered),
        };
        Ok((id, body))
    }

    /// Assigns the incident to `person` and delivers the tool's webhook.
    pub async fn reassign(&self, id: &str, person: &Person) -> Result<Delivery, SandboxError> {
        self.change(id, |incident| incident.assignee = person.clone())?;
        self.deliver_incident_event(id, IncidentEvent::Reassigned)
            .await
    }

    /// Gives the incident a new title, as a person editing it would. Neither tool sends an
    /// event for that alone; the next event of the incident carries it.
    pub fn retitle(&self, id: &str, title: &str) -> Result<(), SandboxError> {
        self.change(id, |incident| incident.title = title.to_owned())
    }

    /// Resolves the incident and delivers the tool's webhook.
    pub async fn resolve(&self, id: &str) -> Result<Delivery, SandboxError> {
        self.change(id, |incident| incident.status = "resolved".into())?;
        self.deliver_incident_event(id, IncidentEvent::Resolved)
            .await
    }

    fn change(&self, id: &str, change: impl FnOnce(&mut Incident)) -> Result<(), SandboxError> {
        let mut world = lock(&self.world);
        let incident = match world.pagerduty.incidents.get_mut(id) {
            Some(incident) => incident,
            None => world
                .incident_io
                .incidents
                .get_mut(id)
                .ok_or_else(|| SandboxError::NoIncident(id.to_owned()))?,
        };
        change(incident);
        Ok(())
    }

    async fn deliver_incident_event(
        &self,
        id: &str,
        event: IncidentEvent,
    ) -> Result<Delivery, SandboxError> {
        let (url, event_type, headers, body) = {
            let world = lock(&self.world);
            let receiver = world.receiver.clone().ok_or(SandboxError::NotSubscribed)?;
            let incident = world
                .incident(id)
                .ok_or_else(|| SandboxError::NoIncident(id.to_owned()))?;
            match incident.tool {
                Tool::PagerDuty => {
                    let (event_type, body) = pagerduty::webhook(incident, event);
                    let headers = pagerduty::webhook_headers(&world.credentials, &body);
                    (receiver.pagerduty, event_type, headers, body)
                }
                Tool::IncidentIo => {
                    let (event_type, body) = incident_io::webhook(incident, event);
                    let headers = incident_io::webhook_headers(&world.credentials, &body);
                    (receiver.incident_io, event_type, headers, body)
                }
            }
        };
        let delivery = server::deliver(&self.http, &url, event_type, headers, body).await;
        lock(&self.world).deliveries.push(delivery.clone());
        Ok(delivery)
    }

    /// `person` joins the meeting: Zoom sends `meeting.started` for the first one on the call,
    /// then `meeting.participant_joined`.
    pub async fn join(
        &self,
        meeting_id: u64,
        person: &Person,
    ) -> Result<Vec<Delivery>, SandboxError> {
        let (url, token, events) = {
            let mut world = lock(&self.world);
            let receiver = world.receiver.clone().ok_or(SandboxError::NotSubscribed)?;
            let events = world
                .zoom
                .join(meeting_id, person)
                .ok_or(SandboxError::NoMeeting(meeting_id))?;
            (
                receiver.zoom,
                world.credentials.zoom_secret_token.clone(),
                events,
            )
        };
        let mut deliveries = Vec::new();
        for event in events {
            let delivery = deliver_zoom(&self.http, &url, &token, &event).await;
            lock(&self.world).deliveries.push(delivery.clone());
            deliveries.push(delivery);
        }
        Ok(deliveries)
    }

    /// The incident as a responder sees it.
    pub fn incident(&self, id: &str) -> Option<Incident> {
        lock(&self.world).incident(id).cloned()
    }

    /// The Zoom meetings whose agenda names the incident, oldest first.
    pub fn meetings_for(&self, incident_id: &str) -> Vec<Meeting> {
        lock(&self.world).zoom.meetings_naming(incident_id)
    }

    /// Every webhook delivered so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.world).deliveries.clone()
    }
}

/// What happened to an incident, as a webhook says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IncidentEvent {
    Triggered,
    Reassigned,
    Resolved,
}

fn route(world: &Mutex<World>, call: &server::Call) -> (server::Reply, Vec<Outbound>) {
    let segments = call.segments();
    let mut world = lock(world);
    let world = &mut *world;
    match segments.split_first() {
        Some((&"zoom", rest)) => world.zoom.handle(&world.credentials, call, rest),
        Some((&"pagerduty", rest)) => (
            world.pagerduty.handle(&world.credentials, call, rest),
            Vec::new(),
        ),
        Some((&"incident-io", rest)) => (
            world.incident_io.handle(&world.credentials, call, rest),
            Vec::new(),
        ),
        Some((&"sandbox", rest)) => (control(world, call, rest), Vec::new()),
        _ => (
            server::Reply::json(404, json!({"message": "no such service in the sandbox"})),
            Vec::new(),
        ),
    }
}

/// The sandbox's own view: what a responder sees on each incident.
fn control(world: &World, call: &server::Call, rest: &[&str]) -> server::Reply {
    match (call.method.as_str(), rest) {
        ("GET", ["incidents"]) => {
            let incidents: Vec<Value> = world
                .pagerduty
                .incidents
                .values()
                .chain(world.incident_io.incidents.values())
                .map(Incident::view)
                .collect();
            server::Reply::json(200, json!({"incidents": incidents}))
        }
        ("GET", ["incidents", id]) => match world.incident(id) {
            Some(incident) => {
                let mut view = incident.view();
                view["meetings"] = world
                    .zoom
                    .meetings_naming(id)
                    .iter()
                    .map(|m| {
                        json!({"id": m.id, "topic": m.topic, "join_url": m.join_url,
                               "started": m.started, "ended": m.ended,
                               "participants": m.participants.iter().map(|p| p.name.clone()).collect::<Vec<_>>()})
                    })
                    .collect();
                server::Reply::json(200, view)
            }
            None => server::Reply::json(404, json!({"message": format!("no incident {id}")})),
        },
        _ => server::Reply::json(404, json!({"message": "no such sandbox path"})),
    }
}

async fn send_owed(world: Arc<Mutex<World>>, http: reqwest::Client, owed: Vec<Outbound>) {
    for event in owed {
        tokio::time::sleep(event.after).await;
        let (url, token) = {
            let world = lock(&world);
            let Some(receiver) = world.receiver.clone() else {
                return;
            };
            (receiver.zoom, world.credentials.zoom_secret_token.clone())
        };
        let mut delivery = deliver_zoom(&http, &url, &token, &event.body).await;
        delivery.event = event.event;
        lock(&world).deliveries.push(delivery);
    }
}

async fn deliver_zoom(
    http: &reqwest::Client,
    url: &str,
    secret_token: &str,
    body: &Value,
) -> Delivery {
    let body = body.to_string().into_bytes();
    let timestamp = now_seconds();
    let headers = vec![
        ("x-zm-request-timestamp", timestamp.to_string()),
        ("x-zm-signature", sign::zoom(secret_token, timestamp, &body)),
        ("user-agent", "Zoom Marketplace/1.0a".to_owned()),
    ];
    let event = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["event"].as_str().map(str::to_owned))
        .unwrap_or_default();
    server::deliver(http, url, &event, headers, body).await
}

pub(crate) fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

pub(crate) fn now_millis() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// Now in RFC 3339 with milliseconds, as PagerDuty writes `occurred_at`.
pub(crate) fn now_rfc3339_millis() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
