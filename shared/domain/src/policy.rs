//! Which incidents get a bridge, and what their meeting looks like: one policy document, read
//! and checked once at start (`POLICY_FILE` or `POLICY`), falling back to `BRIDGE_EVENT_TYPES`.
//!
//! ```json
//! {"event_types": ["incident.triggered", "incident.priority_updated"],
//!  "urgencies": ["high"], "priorities": ["P1", "SEV-1"],
//!  "services": {"allow": [], "deny": ["PLOWPRI"]}, "teams": {"allow": [], "deny": []},
//!  "requests": "always",
//!  "meeting": {"topic": "[{priority}] #{number} {title}", "auto_recording": "cloud"},
//!  "overrides": [{"services": ["checkout-api"], "meeting": {"host_user": "checkout-zoom@example.com"}}],
//!  "incident_io": {"event_types": ["public_incident.incident_created_v2"],
//!                  "severities": ["SEV1", "Critical"], "statuses": [], "include_private": false}}
//! ```

use serde::Deserialize;

use crate::error::ConfigError;
pub use crate::meeting::{TEMPLATE_FIELDS, check_template, render_template};
pub use crate::model::MAX_END_GRACE_SECONDS;
use crate::model::{Incident, IncidentEvent, IncidentToolKind, MeetingOptions};

pub const DEFAULT_BRIDGE_EVENTS: &str = "incident.triggered";
/// The latest a post-incident review may be scheduled after the resolve.
pub const MAX_REVIEW_AFTER_MINUTES: u32 = 30 * 24 * 60;
/// incident.io's event of a new public incident: the default bridge trigger of its rules.
pub const INCIDENT_CREATED: &str = "public_incident.incident_created_v2";
/// incident.io's private incident events start so; their payload is withheld.
pub const PRIVATE_PREFIX: &str = "private_incident.";
/// The urgencies bridged when the policy names none.
pub const DEFAULT_URGENCIES: &[&str] = &["high"];
/// The policy document as written (JSON). Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// V3 event types that open a bridge; default `BRIDGE_EVENT_TYPES` (`incident.triggered`).
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// An incident qualifies when its urgency is listed here or its priority in `priorities`.
    /// Default `["high"]`; `[]` leaves the choice to `priorities`.
    #[serde(default)]
    pub urgencies: Option<Vec<String>>,
    /// Priority names as PagerDuty shows them (`P1`, `SEV-1`, …), compared without case.
    #[serde(default)]
    pub priorities: Vec<String>,
    #[serde(default)]
    pub services: AllowDeny,
    #[serde(default)]
    pub teams: AllowDeny,
    /// Whether button clicks and workflow requests follow the incident rules too.
    #[serde(default)]
    pub requests: RequestRule,
    /// How every meeting looks.
    #[serde(default, deserialize_with = "StrictMeetingOptions::deserialize")]
    pub meeting: MeetingOptions,
    /// Per service or team, in order; each one that matches the incident overlays `meeting`.
    #[serde(default)]
    pub overrides: Vec<Override>,
    /// Which incident.io webhooks open a bridge (incident.io has severities, not urgencies).
    #[serde(default)]
    pub incident_io: IncidentIoRules,
    /// The rules of any other incident tool, by the name its adapter gives it (`{"rootly":
    /// {"event_types": [...], "severities": [...]}}`): its events open a bridge only when
    /// listed here.
    #[serde(default)]
    pub tools: std::collections::BTreeMap<String, ToolRules>,
}

/// The rules of incident.io's incidents: [`ToolRules`] with incident.io's defaults.
pub type IncidentIoRules = ToolRules;

/// The rules of a tool that grades incidents by severity and status (incident.io, and any
/// tool added under `tools`). Severity and status names are compared without case; an empty
/// list allows every value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRules {
    /// The tool's event types that open a bridge; for incident.io default
    /// `["public_incident.incident_created_v2"]`, for other tools required.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Severity names as incident.io shows them (`SEV1`, `Critical`, …).
    #[serde(default)]
    pub severities: Vec<String>,
    /// Status names (`Investigating`, `Fixing`, …).
    #[serde(default)]
    pub statuses: Vec<String>,
    /// Private incidents are skipped unless this is true: their webhooks carry only an id, and
    /// a bridge posted by the relay would show who can join a call about them.
    #[serde(default)]
    pub include_private: bool,
}

/// Ids or names; an empty `allow` allows all, `deny` wins over `allow`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowDeny {
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestRule {
    /// A person asked: every button click and workflow request gets a bridge.
    #[default]
    Always,
    /// Requests get a bridge only for incidents the urgency, priority, service and team rules allow.
    Policy,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Service ids or names this override applies to.
    #[serde(default)]
    pub services: Vec<String>,
    /// Team ids or names this override applies to.
    #[serde(default)]
    pub teams: Vec<String>,
    #[serde(deserialize_with = "StrictMeetingOptions::deserialize")]
    pub meeting: MeetingOptions,
}

/// [`MeetingOptions`] as a person writes them in the policy: an unknown field is a typo and
/// refused. The queued job carries the same options tolerantly (a newer ingress may add one);
/// this mirror keeps the policy strict. The compiler checks that it lists every field.
#[derive(Deserialize)]
#[serde(remote = "MeetingOptions", deny_unknown_fields)]
struct StrictMeetingOptions {
    #[serde(default)]
    host_user: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    agenda: Option<String>,
    #[serde(default)]
    auto_recording: Option<crate::model::AutoRecording>,
    #[serde(default)]
    waiting_room: Option<bool>,
    #[serde(default)]
    join_before_host: Option<bool>,
    #[serde(default)]
    mute_upon_entry: Option<bool>,
    #[serde(default)]
    meeting_authentication: Option<bool>,
    #[serde(default)]
    dial_in_countries: Option<Vec<String>>,
    #[serde(default)]
    on_resolve: Option<crate::model::OnResolve>,
    #[serde(default)]
    end_grace_seconds: Option<u32>,
    #[serde(default)]
    review_after_minutes: Option<u32>,
    #[serde(default)]
    host_wait_seconds: Option<u32>,
    #[serde(default, deserialize_with = "strict_after_call")]
    after_call: Option<crate::after_call::AfterCall>,
    #[serde(default)]
    sensitive: Option<bool>,
    #[serde(default)]
    hosts: Option<crate::model::MeetingHosts>,
    #[serde(default, deserialize_with = "crate::health::strict_health")]
    health: Option<crate::health::HealthPolicy>,
}

/// [`AfterCall`](crate::after_call::AfterCall) as a person writes it: an unknown field is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictAfterCall {
    #[serde(default)]
    summary: Option<bool>,
    #[serde(default)]
    recording: Option<bool>,
    #[serde(default)]
    transcript: Option<bool>,
    #[serde(default)]
    include_sensitive: Option<bool>,
}

fn strict_after_call<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<crate::after_call::AfterCall>, D::Error> {
    let written: Option<StrictAfterCall> = Option::deserialize(deserializer)?;
    Ok(written.map(|w| crate::after_call::AfterCall {
        summary: w.summary,
        recording: w.recording,
        transcript: w.transcript,
        include_sensitive: w.include_sensitive,
    }))
}

/// The checked policy the ingress applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgePolicy {
    event_types: Vec<String>,
    urgencies: Vec<String>,
    priorities: Vec<String>,
    services: AllowDeny,
    teams: AllowDeny,
    requests: RequestRule,
    meeting: MeetingOptions,
    overrides: Vec<Override>,
    incident_io: IncidentIoRules,
    incident_io_events: Vec<String>,
    tools: std::collections::BTreeMap<String, ToolRules>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Boxed: an incident is large next to a reason.
    Bridge(Box<Incident>),
    Ignore(String),
}

/// A policy field that failed its check, named by its path (`overrides[1].meeting.topic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.reason)
    }
}

fn field_error(field: impl Into<String>, reason: impl Into<String>) -> PolicyError {
    PolicyError {
        field: field.into(),
        reason: reason.into(),
    }
}

impl BridgePolicy {
    /// `list` is comma separated, e.g. `incident.triggered,incident.escalated` (`BRIDGE_EVENT_TYPES`).
    pub fn from_event_list(list: &str) -> Result<Self, ConfigError> {
        let event_types = split_event_list(list);
        Self::from_document(
            PolicyDocument {
                event_types: Some(event_types),
                ..PolicyDocument::default()
            },
            None,
        )
        .map_err(|e| ConfigError::Invalid {
            var: "BRIDGE_EVENT_TYPES",
            reason: e.reason,
        })
    }

    /// Parses and checks a policy document (JSON). `default_events` (from `BRIDGE_EVENT_TYPES`)
    /// applies when the document lists no `event_types`.
    pub fn from_json(text: &str, default_events: Option<&str>) -> Result<Self, PolicyError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let document: PolicyDocument = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." {
                    "(document)".into()
                } else {
                    path
                };
                field_error(field, e.into_inner().to_string())
            })?;
        Self::from_document(document, default_events.map(split_event_list))
    }

    pub fn from_document(
        document: PolicyDocument,
        default_events: Option<Vec<String>>,
    ) -> Result<Self, PolicyError> {
        let event_types = document
            .event_types
            .or(default_events)
            .unwrap_or_else(|| split_event_list(DEFAULT_BRIDGE_EVENTS));
        check_event_types(&event_types)?;
        let urgencies = document
            .urgencies
            .unwrap_or_else(|| DEFAULT_URGENCIES.iter().map(|u| u.to_string()).collect());
        for (n, urgency) in urgencies.iter().enumerate() {
            if !matches!(urgency.as_str(), "high" | "low") {
                return Err(field_error(
                    format!("urgencies[{n}]"),
                    format!("{urgency:?} is not an urgency (high or low)"),
                ));
            }
        }
        check_names("priorities", &document.priorities)?;
        check_names("services.allow", &document.services.allow)?;
        check_names("services.deny", &document.services.deny)?;
        check_names("teams.allow", &document.teams.allow)?;
        check_names("teams.deny", &document.teams.deny)?;
        check_meeting("meeting", &document.meeting)?;
        check_combined("meeting", &document.meeting)?;
        for (n, item) in document.overrides.iter().enumerate() {
            let at = format!("overrides[{n}]");
            if item.services.is_empty() && item.teams.is_empty() {
                return Err(field_error(at, "names no service and no team"));
            }
            check_names(&format!("{at}.services"), &item.services)?;
            check_names(&format!("{at}.teams"), &item.teams)?;
            check_meeting(&format!("{at}.meeting"), &item.meeting)?;
            check_combined(
                &format!("{at}.meeting"),
                &document.meeting.overlaid_with(&item.meeting),
            )?;
        }
        let incident_io_events = check_incident_io(&document.incident_io)?;
        for (name, rules) in &document.tools {
            check_tool(name, rules)?;
        }
        Ok(BridgePolicy {
            tools: document.tools,
            incident_io: document.incident_io,
            incident_io_events,
            event_types,
            urgencies,
            priorities: document.priorities,
            services: document.services,
            teams: document.teams,
            requests: document.requests,
            meeting: document.meeting,
            overrides: document.overrides,
        })
    }

    /// The V3 event types that open a bridge (what a webhook subscription should send).
    pub fn event_types(&self) -> &[String] {
        &self.event_types
    }

    /// Whether an incident tool's event opens a bridge, by that tool's rules: PagerDuty's
    /// urgencies and priorities, incident.io's and every other tool's severities and statuses.
    pub fn decide_event(&self, event: &IncidentEvent) -> Decision {
        if event.tool == IncidentToolKind::PAGERDUTY {
            return self.decide(event);
        }
        if event.tool == IncidentToolKind::INCIDENT_IO {
            return self.decide_incident_io(event);
        }
        let name = event.tool.as_str();
        match self.tools.get(name) {
            Some(rules) => decide_by_rules(
                &format!("tools.{name}"),
                rules,
                rules.event_types.as_deref().unwrap_or_default(),
                event,
            ),
            None => Decision::Ignore(format!(
                "the policy has no rules for {} (tools.{name}.event_types)",
                event.tool.display_name()
            )),
        }
    }

    /// Whether a PagerDuty V3 webhook opens a bridge.
    pub fn decide(&self, event: &IncidentEvent) -> Decision {
        if !self.event_types.contains(&event.event_type) {
            return Decision::Ignore(format!("{} does not open a bridge", event.event_type));
        }
        let Some(incident) = &event.incident else {
            return Decision::Ignore(format!("{} names no incident", event.event_type));
        };
        match self.incident_rules(incident) {
            Ok(()) => Decision::Bridge(Box::new(incident.clone())),
            Err(reason) => Decision::Ignore(reason),
        }
    }

    /// The incident.io event types that open a bridge (what the webhook endpoint should send).
    pub fn incident_io_event_types(&self) -> &[String] {
        &self.incident_io_events
    }

    /// Whether an incident.io webhook opens a bridge.
    pub fn decide_incident_io(&self, event: &IncidentEvent) -> Decision {
        decide_by_rules(
            "incident_io",
            &self.incident_io,
            &self.incident_io_events,
            event,
        )
    }

    /// Whether a person's request (a button click, a workflow step) opens a bridge.
    pub fn decide_request(&self, incident: &Incident) -> Decision {
        let verdict = match self.requests {
            RequestRule::Always => Ok(()),
            RequestRule::Policy => self.incident_rules(incident),
        };
        match verdict {
            Ok(()) => Decision::Bridge(Box::new(incident.clone())),
            Err(reason) => Decision::Ignore(reason),
        }
    }

    /// The meeting settings for an incident: the global ones, overlaid by each matching override.
    pub fn meeting_for(&self, incident: &Incident) -> MeetingOptions {
        self.overrides
            .iter()
            .filter(|o| matches_service(incident, &o.services) || matches_team(incident, &o.teams))
            .fold(self.meeting.clone(), |options, o| {
                options.overlaid_with(&o.meeting)
            })
    }

    fn incident_rules(&self, incident: &Incident) -> Result<(), String> {
        let id = &incident.id;
        let service = incident
            .service
            .as_deref()
            .or(incident.service_id.as_deref())
            .unwrap_or("unknown");
        if matches_service(incident, &self.services.deny) {
            return Err(format!(
                "incident {id}: service {service} is denied by the policy"
            ));
        }
        if !self.services.allow.is_empty() && !matches_service(incident, &self.services.allow) {
            return Err(format!(
                "incident {id}: service {service} is not among the policy's services"
            ));
        }
        if matches_team(incident, &self.teams.deny) {
            return Err(format!("incident {id}: a team is denied by the policy"));
        }
        if !self.teams.allow.is_empty() && !matches_team(incident, &self.teams.allow) {
            return Err(format!(
                "incident {id}: no team of the incident is among the policy's teams"
            ));
        }
        if self.urgencies.is_empty() && self.priorities.is_empty() {
            return Ok(());
        }
        let urgency_ok = incident
            .urgency
            .as_deref()
            .is_some_and(|u| self.urgencies.iter().any(|w| w.eq_ignore_ascii_case(u)));
        let priority_ok = incident
            .priority
            .as_deref()
            .is_some_and(|p| self.priorities.iter().any(|w| w.eq_ignore_ascii_case(p)));
        if urgency_ok || priority_ok {
            return Ok(());
        }
        let mut wanted = Vec::new();
        if !self.urgencies.is_empty() {
            wanted.push(format!("urgency {}", self.urgencies.join("/")));
        }
        if !self.priorities.is_empty() {
            wanted.push(format!("priority {}", self.priorities.join("/")));
        }
        Err(format!(
            "incident {id} has urgency {} and priority {}; the policy bridges {}",
            incident.urgency.as_deref().unwrap_or("unknown"),
            incident.priority.as_deref().unwrap_or("none"),
            wanted.join(" or ")
        ))
    }
}

impl Default for BridgePolicy {
    #[allow(
        clippy::expect_used,
        reason = "the built-in default document, checked by the policy tests"
    )]
    fn default() -> Self {
        BridgePolicy::from_document(PolicyDocument::default(), None)
            .expect("the default policy is valid")
    }
}

fn split_event_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn check_event_types(event_types: &[String]) -> Result<(), PolicyError> {
    if event_types.is_empty() {
        return Err(field_error("event_types", "no event type given"));
    }
    for (n, event_type) in event_types.iter().enumerate() {
        let at = format!("event_types[{n}]");
        if !event_type.starts_with("incident.") {
            return Err(field_error(
                at,
                format!(
                    "{event_type:?} is not an incident event type (incident.triggered, incident.escalated, …)"
                ),
            ));
        }
        if event_type == "incident.conference_bridge.updated" {
            return Err(field_error(
                at,
                "incident.conference_bridge.updated cannot open a bridge: the relay's own update sends it",
            ));
        }
    }
    Ok(())
}

/// Whether a tool's event opens a bridge by severity-and-status `rules` (named `field` in the
/// policy), `events` being the event types that may.
fn decide_by_rules(
    field: &str,
    rules: &ToolRules,
    events: &[String],
    event: &IncidentEvent,
) -> Decision {
    if !events.contains(&event.event_type) {
        return Decision::Ignore(format!("{} does not open a bridge", event.event_type));
    }
    let Some(incident) = &event.incident else {
        return Decision::Ignore(format!("{} names no incident", event.event_type));
    };
    let id = &incident.id;
    if event.private && !rules.include_private {
        return Decision::Ignore(format!(
            "incident {id} is private; the policy skips private incidents ({field}.include_private)"
        ));
    }
    let listed = |wanted: &[String], value: Option<&str>| {
        wanted.is_empty() || value.is_some_and(|v| wanted.iter().any(|w| w.eq_ignore_ascii_case(v)))
    };
    if !listed(&rules.severities, incident.severity.as_deref()) {
        return Decision::Ignore(format!(
            "incident {id} has severity {}; the policy bridges severity {}",
            incident.severity.as_deref().unwrap_or("none"),
            rules.severities.join("/")
        ));
    }
    if !listed(&rules.statuses, incident.status.as_deref()) {
        return Decision::Ignore(format!(
            "incident {id} has status {}; the policy bridges status {}",
            incident.status.as_deref().unwrap_or("none"),
            rules.statuses.join("/")
        ));
    }
    Decision::Bridge(Box::new(incident.clone()))
}

/// The rules of another tool, checked: its name and its event types.
fn check_tool(name: &str, rules: &ToolRules) -> Result<(), PolicyError> {
    let field = format!("tools.{name}");
    if name == IncidentToolKind::PAGERDUTY.as_str()
        || name == IncidentToolKind::INCIDENT_IO.as_str()
    {
        return Err(field_error(
            field,
            "PagerDuty's rules are the top-level ones and incident.io's are under incident_io",
        ));
    }
    if !crate::model::is_tool_name(name) {
        return Err(field_error(
            field,
            "a tool's name is 1 to 32 lowercase letters, digits and _, as its adapter names it",
        ));
    }
    match rules.event_types.as_deref() {
        None | Some([]) => {
            return Err(field_error(
                format!("{field}.event_types"),
                "list the tool's event types that open a bridge",
            ));
        }
        Some(events) => check_names(&format!("{field}.event_types"), events)?,
    }
    check_names(&format!("{field}.severities"), &rules.severities)?;
    check_names(&format!("{field}.statuses"), &rules.statuses)
}

/// The incident.io event types the rules bridge, checked.
fn check_incident_io(rules: &IncidentIoRules) -> Result<Vec<String>, PolicyError> {
    let events = rules
        .event_types
        .clone()
        .unwrap_or_else(|| vec![INCIDENT_CREATED.to_owned()]);
    if events.is_empty() {
        return Err(field_error(
            "incident_io.event_types",
            "no event type given",
        ));
    }
    for (n, event_type) in events.iter().enumerate() {
        let at = format!("incident_io.event_types[{n}]");
        let private = event_type.starts_with(PRIVATE_PREFIX);
        if !private && !event_type.starts_with("public_incident.") {
            return Err(field_error(
                at,
                format!(
                    "{event_type:?} is not an incident.io incident event (public_incident.incident_created_v2, …)"
                ),
            ));
        }
        if private && !rules.include_private {
            return Err(field_error(
                at,
                "private incidents are skipped unless incident_io.include_private is true",
            ));
        }
    }
    check_names("incident_io.severities", &rules.severities)?;
    check_names("incident_io.statuses", &rules.statuses)?;
    Ok(events)
}

fn check_names(field: &str, names: &[String]) -> Result<(), PolicyError> {
    match names.iter().position(|n| n.trim().is_empty()) {
        Some(n) => Err(field_error(format!("{field}[{n}]"), "is empty")),
        None => Ok(()),
    }
}

fn check_meeting(field: &str, meeting: &MeetingOptions) -> Result<(), PolicyError> {
    if let Some(host) = &meeting.host_user {
        if host.trim().is_empty() {
            return Err(field_error(format!("{field}.host_user"), "is empty"));
        }
        if host.eq_ignore_ascii_case("me") {
            return Err(field_error(
                format!("{field}.host_user"),
                "Server-to-Server apps have no `me`; give the host's email or user id",
            ));
        }
    }
    for (name, template) in [("topic", &meeting.topic), ("agenda", &meeting.agenda)] {
        if let Some(template) = template {
            check_template(template).map_err(|e| field_error(format!("{field}.{name}"), e))?;
        }
    }
    if let Some(grace) = meeting.end_grace_seconds
        && grace > MAX_END_GRACE_SECONDS
    {
        return Err(field_error(
            format!("{field}.end_grace_seconds"),
            format!(
                "{grace} is more than a day ({} seconds)",
                MAX_END_GRACE_SECONDS
            ),
        ));
    }
    if let Some(wait) = meeting.host_wait_seconds
        && !(1..=crate::model::MAX_HOST_WAIT_SECONDS).contains(&wait)
    {
        return Err(field_error(
            format!("{field}.host_wait_seconds"),
            format!(
                "{wait} is not between 1 and {} (a week)",
                crate::model::MAX_HOST_WAIT_SECONDS
            ),
        ));
    }
    if let Some(after) = meeting.review_after_minutes
        && !(1..=MAX_REVIEW_AFTER_MINUTES).contains(&after)
    {
        return Err(field_error(
            format!("{field}.review_after_minutes"),
            format!("{after} is not between 1 and {MAX_REVIEW_AFTER_MINUTES} (30 days)"),
        ));
    }
    if let Some((name, seconds)) = meeting.health.and_then(|h| h.too_long()) {
        return Err(field_error(
            format!("{field}.health.{name}"),
            format!(
                "{seconds} is more than a day ({} seconds)",
                crate::health::MAX_HEALTH_AFTER_SECONDS
            ),
        ));
    }
    if let Some(countries) = &meeting.dial_in_countries {
        for (n, country) in countries.iter().enumerate() {
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(field_error(
                    format!("{field}.dial_in_countries[{n}]"),
                    format!("{country:?} is not a two-letter country code such as US or GB"),
                ));
            }
        }
    }
    Ok(())
}

/// Zoom turns join-before-host off when the waiting room is on; say so instead of surprising.
fn check_combined(field: &str, meeting: &MeetingOptions) -> Result<(), PolicyError> {
    if meeting.waiting_room == Some(true) && meeting.join_before_host != Some(false) {
        return Err(field_error(
            format!("{field}.waiting_room"),
            "a waiting room turns join_before_host off in Zoom; set join_before_host to false as well",
        ));
    }
    Ok(())
}

fn matches_service(incident: &Incident, names: &[String]) -> bool {
    names.iter().any(|name| {
        incident.service_id.as_deref() == Some(name.as_str())
            || incident
                .service
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(name))
    })
}

fn matches_team(incident: &Incident, names: &[String]) -> bool {
    incident.teams.iter().any(|team| {
        names.iter().any(|name| {
            team.id == *name
                || team
                    .name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AutoRecording, TeamRef};

    fn event(event_type: &str, incident: bool) -> IncidentEvent {
        IncidentEvent {
            tool: IncidentToolKind::PAGERDUTY,
            id: "e1".into(),
            event_type: event_type.into(),
            private: false,
            incident: incident.then(|| Incident {
                urgency: Some("high".into()),
                ..Incident::new("PABC123")
            }),
        }
    }

    fn incident(urgency: &str, priority: Option<&str>) -> Incident {
        Incident {
            urgency: Some(urgency.into()),
            priority: priority.map(str::to_owned),
            service: Some("checkout-api".into()),
            service_id: Some("PSVC001".into()),
            teams: vec![TeamRef {
                id: "PTEAM01".into(),
                name: Some("Payments".into()),
            }],
            ..Incident::new("PABC123")
        }
    }

    fn with_incident(event_type: &str, incident: Incident) -> IncidentEvent {
        IncidentEvent {
            incident: Some(incident),
            ..event(event_type, false)
        }
    }

    fn policy(json: &str) -> BridgePolicy {
        BridgePolicy::from_json(json, None).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn bridged(policy: &BridgePolicy, event: &IncidentEvent) -> bool {
        matches!(policy.decide(event), Decision::Bridge(_))
    }

    #[test]
    fn default_bridges_triggered_high_urgency_only() {
        let policy = BridgePolicy::default();
        assert!(matches!(
            policy.decide(&event("incident.triggered", true)),
            Decision::Bridge(i) if i.id == "PABC123"
        ));
        assert_eq!(
            policy.decide(&event("incident.acknowledged", true)),
            Decision::Ignore("incident.acknowledged does not open a bridge".into())
        );
        assert!(matches!(
            policy.decide(&event("incident.triggered", false)),
            Decision::Ignore(_)
        ));
        assert_eq!(
            policy.decide(&with_incident("incident.triggered", incident("low", None))),
            Decision::Ignore(
                "incident PABC123 has urgency low and priority none; the policy bridges urgency high"
                    .into()
            )
        );
        // Every button click gets a bridge by default, whatever the incident.
        assert!(matches!(
            policy.decide_request(&incident("low", None)),
            Decision::Bridge(_)
        ));
    }

    #[test]
    fn configured_list_and_its_errors() {
        let policy =
            BridgePolicy::from_event_list(" incident.triggered , incident.escalated ").unwrap();
        assert!(matches!(
            policy.decide(&event("incident.escalated", true)),
            Decision::Bridge(_)
        ));
        for bad in [
            "",
            " , ",
            "service.updated",
            "incident.conference_bridge.updated",
        ] {
            let err = BridgePolicy::from_event_list(bad).unwrap_err();
            assert!(err.to_string().contains("BRIDGE_EVENT_TYPES"), "{err}");
        }
    }

    #[test]
    fn each_rule_matches_one_case_and_not_another() {
        // (policy, incident, event type, bridged?)
        let cases: &[(&str, Incident, &str, bool)] = &[
            (r#"{}"#, incident("high", None), "incident.triggered", true),
            (
                r#"{}"#,
                incident("low", Some("P1")),
                "incident.triggered",
                false,
            ),
            // Priorities: a P3 raised to P1 matches on the priority update.
            (
                r#"{"urgencies": [], "priorities": ["P1", "sev-1"], "event_types": ["incident.triggered", "incident.priority_updated"]}"#,
                incident("low", Some("P1")),
                "incident.priority_updated",
                true,
            ),
            (
                r#"{"urgencies": [], "priorities": ["P1"], "event_types": ["incident.triggered", "incident.priority_updated"]}"#,
                incident("high", Some("P3")),
                "incident.priority_updated",
                false,
            ),
            (
                r#"{"urgencies": [], "priorities": ["SEV-1"]}"#,
                incident("low", Some("sev-1")),
                "incident.triggered",
                true,
            ),
            // Urgency or priority.
            (
                r#"{"urgencies": ["high"], "priorities": ["P1"]}"#,
                incident("low", Some("P1")),
                "incident.triggered",
                true,
            ),
            // Empty lists: every incident.
            (
                r#"{"urgencies": []}"#,
                incident("low", None),
                "incident.triggered",
                true,
            ),
            (
                r#"{"event_types": ["incident.escalated"]}"#,
                incident("high", None),
                "incident.escalated",
                true,
            ),
            (
                r#"{"event_types": ["incident.escalated"]}"#,
                incident("high", None),
                "incident.triggered",
                false,
            ),
            // Services by id or name; deny wins.
            (
                r#"{"services": {"allow": ["PSVC001"]}}"#,
                incident("high", None),
                "incident.triggered",
                true,
            ),
            (
                r#"{"services": {"allow": ["Checkout-API"]}}"#,
                incident("high", None),
                "incident.triggered",
                true,
            ),
            (
                r#"{"services": {"allow": ["search"]}}"#,
                incident("high", None),
                "incident.triggered",
                false,
            ),
            (
                r#"{"services": {"allow": ["PSVC001"], "deny": ["checkout-api"]}}"#,
                incident("high", None),
                "incident.triggered",
                false,
            ),
            (
                r#"{"services": {"deny": ["search"]}}"#,
                incident("high", None),
                "incident.triggered",
                true,
            ),
            // Teams.
            (
                r#"{"teams": {"allow": ["payments"]}}"#,
                incident("high", None),
                "incident.triggered",
                true,
            ),
            (
                r#"{"teams": {"allow": ["PTEAM99"]}}"#,
                incident("high", None),
                "incident.triggered",
                false,
            ),
            (
                r#"{"teams": {"deny": ["PTEAM01"]}}"#,
                incident("high", None),
                "incident.triggered",
                false,
            ),
            (
                r#"{"teams": {"deny": ["PTEAM99"]}}"#,
                incident("high", None),
                "incident.triggered",
                true,
            ),
        ];
        for (json, incident, event_type, expected) in cases {
            let event = with_incident(event_type, incident.clone());
            assert_eq!(
                bridged(&policy(json), &event),
                *expected,
                "{json} with {event_type} {incident:?}: {:?}",
                policy(json).decide(&event)
            );
        }
    }

    #[test]
    fn requests_follow_the_rules_only_when_told() {
        let strict = policy(r#"{"requests": "policy", "services": {"deny": ["checkout-api"]}}"#);
        assert!(matches!(
            strict.decide_request(&incident("high", None)),
            Decision::Ignore(reason) if reason.contains("denied")
        ));
        let open = policy(r#"{"services": {"deny": ["checkout-api"]}}"#);
        assert!(matches!(
            open.decide_request(&incident("high", None)),
            Decision::Bridge(_)
        ));
    }

    #[test]
    fn overrides_overlay_the_global_meeting_in_order() {
        let policy = policy(
            r#"{"meeting": {"topic": "{title}", "auto_recording": "none", "mute_upon_entry": true},
                "overrides": [
                  {"services": ["checkout-api"], "meeting": {"host_user": "pay@example.com", "auto_recording": "cloud"}},
                  {"teams": ["PTEAM01"], "meeting": {"dial_in_countries": ["GB", "US"]}},
                  {"teams": ["Search"], "meeting": {"host_user": "search@example.com"}}
                ]}"#,
        );
        let options = policy.meeting_for(&incident("high", None));
        assert_eq!(
            options,
            MeetingOptions {
                host_user: Some("pay@example.com".into()),
                topic: Some("{title}".into()),
                auto_recording: Some(AutoRecording::Cloud),
                mute_upon_entry: Some(true),
                dial_in_countries: Some(vec!["GB".into(), "US".into()]),
                ..MeetingOptions::default()
            }
        );
        let other = policy.meeting_for(&Incident::new("POTHER"));
        assert_eq!(other.host_user, None);
        assert_eq!(other.auto_recording, Some(AutoRecording::None));
    }

    #[test]
    fn bad_policies_name_the_field() {
        let cases: &[(&str, &str)] = &[
            ("not json", "(document)"),
            (
                r#"{"urgency": ["high"]}"#,
                "field `urgency`: unknown field `urgency`",
            ),
            (r#"{"urgencies": ["urgent"]}"#, "field `urgencies[0]`"),
            (
                r#"{"meeting": {"after_call": {"recordings": true}}}"#,
                "unknown field `recordings`",
            ),
            (r#"{"event_types": []}"#, "field `event_types`"),
            (
                r#"{"event_types": ["service.updated"]}"#,
                "field `event_types[0]`",
            ),
            (r#"{"priorities": ["P1", " "]}"#, "field `priorities[1]`"),
            (
                r#"{"services": {"allow": [""]}}"#,
                "field `services.allow[0]`",
            ),
            (
                r#"{"teams": {"block": []}}"#,
                "field `teams.block`: unknown field `block`",
            ),
            (
                r#"{"meeting": {"waitingroom": true}}"#,
                "unknown field `waitingroom`",
            ),
            (
                r#"{"overrides": [{"services": ["PX"], "meeting": {"hostuser": "a@x"}}]}"#,
                "unknown field `hostuser`",
            ),
            (r#"{"requests": "sometimes"}"#, "field `requests`"),
            (
                r#"{"meeting": {"topic": "{titel}"}}"#,
                "field `meeting.topic`: unknown placeholder {titel}",
            ),
            (
                r#"{"meeting": {"agenda": "{title"}}"#,
                "field `meeting.agenda`",
            ),
            (
                r#"{"meeting": {"auto_recording": "tape"}}"#,
                "field `meeting.auto_recording`",
            ),
            (
                r#"{"meeting": {"waiting_room": "yes"}}"#,
                "field `meeting.waiting_room`",
            ),
            (
                r#"{"meeting": {"waiting_room": true}}"#,
                "field `meeting.waiting_room`: a waiting room",
            ),
            (
                r#"{"meeting": {"host_user": "me"}}"#,
                "field `meeting.host_user`",
            ),
            (
                r#"{"meeting": {"dial_in_countries": ["usa"]}}"#,
                "field `meeting.dial_in_countries[0]`",
            ),
            (
                r#"{"meeting": {"on_resolve": "delete"}}"#,
                "field `meeting.on_resolve`",
            ),
            (r#"{"meeting": {"hosts": "all"}}"#, "field `meeting.hosts`"),
            (
                r#"{"meeting": {"health": "off"}}"#,
                "field `meeting.health`",
            ),
            (
                r#"{"meeting": {"health": {"alone_after": 60}}}"#,
                "field `meeting.health`",
            ),
            (
                r#"{"overrides": [{"services": ["a"], "meeting": {"health": {"empty_after_seconds": 90000}}}]}"#,
                "field `overrides[0].meeting.health.empty_after_seconds`: 90000 is more than a day",
            ),
            (
                r#"{"overrides": [{"teams": ["a"], "meeting": {"end_grace_seconds": 90000}}]}"#,
                "field `overrides[0].meeting.end_grace_seconds`: 90000 is more than a day",
            ),
            (
                r#"{"meeting": {"host_wait_seconds": 0}}"#,
                "field `meeting.host_wait_seconds`: 0 is not between 1 and 604800 (a week)",
            ),
            (
                r#"{"meeting": {"review_after_minutes": 0}}"#,
                "field `meeting.review_after_minutes`: 0 is not between 1 and 43200",
            ),
            (
                r#"{"meeting": {"end_grace_seconds": -1}}"#,
                "field `meeting.end_grace_seconds`",
            ),
            (
                r#"{"overrides": [{"meeting": {}}]}"#,
                "field `overrides[0]`: names no service",
            ),
            (
                r#"{"overrides": [{"services": ["a"], "meeting": {"topic": "{x}"}}]}"#,
                "field `overrides[0].meeting.topic`",
            ),
            (
                r#"{"overrides": [{"services": ["a"]}]}"#,
                "field `overrides[0]`: missing field `meeting`",
            ),
        ];
        for (json, expected) in cases {
            let err = BridgePolicy::from_json(json, None).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn bridge_event_types_fill_in_when_the_policy_lists_none() {
        let policy =
            BridgePolicy::from_json(r#"{"urgencies": []}"#, Some("incident.escalated")).unwrap();
        assert!(bridged(
            &policy,
            &with_incident("incident.escalated", incident("low", None))
        ));
        assert!(!bridged(
            &policy,
            &with_incident("incident.triggered", incident("low", None))
        ));
        let own = BridgePolicy::from_json(
            r#"{"event_types": ["incident.triggered"]}"#,
            Some("incident.escalated"),
        )
        .unwrap();
        assert!(bridged(
            &own,
            &with_incident("incident.triggered", incident("high", None))
        ));
    }

    #[test]
    fn the_example_policy_is_valid_and_does_what_it_says() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policy.json");
        let policy = BridgePolicy::from_json(&std::fs::read_to_string(path).unwrap(), None)
            .unwrap_or_else(|e| panic!("examples/policy.json: {e}"));
        let mut checkout = incident("low", Some("P1"));
        checkout.number = Some(7);
        checkout.title = Some("Checkout down".into());
        assert!(bridged(
            &policy,
            &with_incident("incident.priority_updated", checkout.clone())
        ));
        let options = policy.meeting_for(&checkout);
        assert_eq!(
            options.host_user.as_deref(),
            Some("checkout-zoom@example.com")
        );
        assert_eq!(options.auto_recording, Some(AutoRecording::Cloud));
        let choice = options.artifact_choice();
        assert!(choice.summary && choice.recording && !choice.transcript);
        // The security team's incidents are sensitive: nothing after the call.
        let mut security = checkout.clone();
        security.teams = vec![crate::model::TeamRef {
            id: "PSEC".into(),
            name: Some("Security".into()),
        }];
        assert_eq!(
            policy.meeting_for(&security).artifact_choice(),
            crate::after_call::ArtifactChoice::NONE
        );
        let mut batch = incident("high", None);
        batch.service = Some("batch-jobs".into());
        assert!(!bridged(
            &policy,
            &with_incident("incident.triggered", batch)
        ));
    }

    #[test]
    fn templates_render_every_field() {
        let mut incident = incident("high", Some("P1"));
        incident.number = Some(42);
        incident.title = Some("Checkout down".into());
        incident.html_url = Some("https://acme.pagerduty.com/incidents/PABC123".into());
        assert_eq!(
            render_template(
                "[{priority}/{urgency}] #{number} {title} ({service}) {url} {id}",
                &incident
            ),
            "[P1/high] #42 Checkout down (checkout-api) https://acme.pagerduty.com/incidents/PABC123 PABC123"
        );
        assert_eq!(
            render_template("#{number} {title} {priority}", &Incident::new("PX")),
            "#PX Incident "
        );
    }

    fn incident_io_event(
        event_type: &str,
        severity: &str,
        status: &str,
        private: bool,
    ) -> IncidentEvent {
        IncidentEvent {
            tool: IncidentToolKind::INCIDENT_IO,
            id: "01FDAG4SAP5TYPT98WGR2N7W91-event".into(),
            event_type: event_type.into(),
            private,
            incident: Some(Incident {
                severity: Some(severity.into()),
                status: Some(status.into()),
                ..Incident::new("01FDAG4SAP5TYPT98WGR2N7W91")
            }),
        }
    }

    fn bridges_incident_io(policy: &BridgePolicy, event: &IncidentEvent) -> bool {
        matches!(policy.decide_incident_io(event), Decision::Bridge(_))
    }

    #[test]
    fn incident_io_rules_match_severities_statuses_and_skip_private_incidents() {
        let default = BridgePolicy::default();
        let created = "public_incident.incident_created_v2";
        assert_eq!(default.incident_io_event_types(), [created]);
        // PagerDuty's urgency rule does not apply: incident.io incidents have none.
        assert!(bridges_incident_io(
            &default,
            &incident_io_event(created, "Minor", "Triage", false)
        ));
        assert!(!bridges_incident_io(
            &default,
            &incident_io_event(
                "public_incident.incident_updated_v2",
                "Minor",
                "Triage",
                false
            )
        ));
        match default.decide_incident_io(&incident_io_event(created, "SEV1", "Live", true)) {
            Decision::Ignore(reason) => assert!(reason.contains("private"), "{reason}"),
            other => panic!("{other:?}"),
        }

        let policy = BridgePolicy::from_json(
            r#"{"incident_io": {"event_types": ["public_incident.incident_created_v2",
                "public_incident.incident_status_updated_v2"],
                "severities": ["sev1", "Critical"], "statuses": ["Investigating", "Fixing"]}}"#,
            None,
        )
        .unwrap();
        let status_updated = "public_incident.incident_status_updated_v2";
        assert!(bridges_incident_io(
            &policy,
            &incident_io_event(created, "SEV1", "Investigating", false)
        ));
        assert!(bridges_incident_io(
            &policy,
            &incident_io_event(status_updated, "Critical", "fixing", false)
        ));
        match policy.decide_incident_io(&incident_io_event(created, "SEV3", "Investigating", false))
        {
            Decision::Ignore(reason) => {
                assert!(reason.contains("severity SEV3"), "{reason}");
                assert!(reason.contains("sev1/Critical"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        match policy.decide_incident_io(&incident_io_event(created, "SEV1", "Closed", false)) {
            Decision::Ignore(reason) => assert!(reason.contains("status Closed"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let none = IncidentEvent {
            incident: None,
            ..incident_io_event(created, "SEV1", "Live", false)
        };
        assert!(!bridges_incident_io(&policy, &none));

        let private = BridgePolicy::from_json(
            r#"{"incident_io": {"event_types": ["private_incident.incident_created_v2"], "include_private": true}}"#,
            None,
        )
        .unwrap();
        assert!(bridges_incident_io(
            &private,
            &incident_io_event("private_incident.incident_created_v2", "", "", true)
        ));
    }

    #[test]
    fn incident_io_rules_are_checked_and_errors_name_the_field() {
        let cases = [
            (
                r#"{"incident_io": {"event_types": []}}"#,
                "incident_io.event_types",
            ),
            (
                r#"{"incident_io": {"event_types": ["incident.triggered"]}}"#,
                "incident_io.event_types[0]",
            ),
            (
                r#"{"incident_io": {"event_types": ["public_incident.incident_created_v2", "private_incident.incident_created_v2"]}}"#,
                "incident_io.event_types[1]",
            ),
            (
                r#"{"incident_io": {"severities": ["SEV1", " "]}}"#,
                "incident_io.severities[1]",
            ),
            (
                r#"{"incident_io": {"statuses": [""]}}"#,
                "incident_io.statuses[0]",
            ),
            (
                r#"{"incident_io": {"severity": ["SEV1"]}}"#,
                "incident_io.severity",
            ),
        ];
        for (text, field) in cases {
            let error = BridgePolicy::from_json(text, None).unwrap_err();
            assert_eq!(error.field, field, "{text}: {error}");
        }
    }

    #[test]
    fn another_tools_events_follow_its_rules_under_tools() {
        let rootly = IncidentToolKind::named("rootly");
        let event = |event_type: &str, severity: &str| IncidentEvent {
            tool: rootly.clone(),
            id: "e1".into(),
            event_type: event_type.into(),
            incident: Some(Incident {
                severity: Some(severity.into()),
                ..Incident::new("R-1")
            }),
            private: false,
        };
        let unruled = BridgePolicy::default();
        match unruled.decide_event(&event("incident.created", "SEV1")) {
            Decision::Ignore(reason) => {
                assert!(reason.contains("tools.rootly.event_types"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let policy = policy(
            r#"{"tools": {"rootly": {"event_types": ["incident.created"], "severities": ["SEV1"]}}}"#,
        );
        let opens = |e: &IncidentEvent| matches!(policy.decide_event(e), Decision::Bridge(_));
        assert!(opens(&event("incident.created", "sev1")));
        assert!(!opens(&event("incident.created", "SEV3")));
        assert!(!opens(&event("incident.updated", "SEV1")));
        for (json, field) in [
            (r#"{"tools": {"rootly": {}}}"#, "tools.rootly.event_types"),
            (
                r#"{"tools": {"Root ly": {"event_types": ["x"]}}}"#,
                "tools.Root ly",
            ),
            (
                r#"{"tools": {"incident_io": {"event_types": ["x"]}}}"#,
                "tools.incident_io",
            ),
            (
                r#"{"tools": {"rootly": {"event_types": ["x"], "sevs": []}}}"#,
                "unknown field",
            ),
        ] {
            let err = BridgePolicy::from_json(json, None).unwrap_err().to_string();
            assert!(err.contains(field), "{json}: {err}");
        }
    }
}
