//! `bridge-relay doctor`: checks a deployment's configuration end to end, reading only, creating
//! nothing: the secret (or the ingress's and the worker's), the Zoom credentials, host and event
//! token, the PagerDuty token, `From` user and webhook subscription, and incident.io's key. Each
//! check ends as one line, with a fix when it fails.

use std::fmt;
use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::incident_io::IncidentIoApi;
use crate::pagerduty::{IncidentToolError, PagerDutyApi};
use crate::secrets::{RelaySecrets, SecretCache, ZoomCredentials};
use crate::zoom::{MeetingError, ZoomApi};
use bridge_relay_domain::error::{SecretsError, UpstreamError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, but something may bite later, or could not be checked.
    Warn,
    Fail,
    /// Not run because a check it depends on failed.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about it, for a failure or a warning.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            name,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            status: Status::Warn,
            ..Self::fail(name, detail, fix)
        }
    }

    fn skipped(name: &'static str, because: &str) -> Self {
        Check {
            name,
            status: Status::Skipped,
            detail: format!("not checked: {because}"),
            fix: None,
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skipped => "skip",
        };
        write!(f, "{label} {:<20} {}", self.name, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, " -> fix: {fix}")?;
        }
        Ok(())
    }
}

/// What the doctor checks against.
pub struct Doctor {
    /// The worker's secret, or the one secret that serves both functions.
    pub secrets: Arc<SecretCache>,
    /// The ingress's own secret, when the deployment splits them; `None`: `secrets` serves both.
    pub ingress_secrets: Option<Arc<SecretCache>>,
    pub zoom: ZoomApi,
    pub pagerduty: PagerDutyApi,
    pub host_user: String,
    /// The deployed `WebhookUrl`; without it the subscription is not checked.
    pub webhook_url: Option<String>,
    /// `BRIDGE_EVENT_TYPES`: the subscription must send at least these.
    pub bridge_events: Vec<String>,
    /// Checked when the secret has an `incident_io` section.
    pub incident_io: Option<IncidentIoApi>,
    /// Whether `zoom` uses the deployment's shared token (else a token of its own, which voids
    /// the one the deployment's workers use).
    pub shares_token: bool,
}

const SECRET: &str = "secret";
const WORKER_SECRET: &str = "worker secret";
const INGRESS_SECRET: &str = "ingress secret";
const ZOOM_CREDENTIALS: &str = "zoom credentials";
const ZOOM_HOST: &str = "zoom host user";
const PAGERDUTY_TOKEN: &str = "pagerduty token";
const PAGERDUTY_FROM: &str = "pagerduty from user";
const SUBSCRIPTION: &str = "webhook subscription";
const INCIDENT_IO: &str = "incident.io";
const ZOOM_EVENTS: &str = "zoom events";
const AFTER_CALL_SCOPES: &str = "after-call scopes";
const UPDATE_SCOPE: &str = "meeting update scope";

/// The scopes that let the relay update a meeting (`PATCH /meetings/{id}`), granular and classic.
const UPDATE_SCOPES: [&str; 3] = [
    "meeting:update:meeting:admin",
    "meeting:update:meeting",
    "meeting:write:admin",
];

/// The scopes that let the relay remove a meeting nobody used at the resolve, each with its
/// granular and classic names: the meeting's past instances, and the delete.
const REMOVE_NEEDS: [&[&str]; 2] = [
    &[
        "meeting:read:list_past_instances:admin",
        "meeting:read:admin",
        "meeting:read:list_past_instances",
        "meeting:read",
    ],
    &[
        "meeting:delete:meeting:admin",
        "meeting:write:admin",
        "meeting:delete:meeting",
        "meeting:write",
    ],
];

/// The scopes of Zoom's after-call artifacts, each with the granular and classic names that
/// allow it: the summary (its events and `GET /meetings/{uuid}/meeting_summary`) and the cloud
/// recording's events (which cover the transcript's).
const AFTER_CALL_NEEDS: [(&str, &[&str]); 2] = [
    (
        "meeting summaries",
        &[
            "meeting_summary:read:admin",
            "meeting:read:summary:admin",
            "meeting_summary:read",
            "meeting:read:summary",
        ],
    ),
    (
        "cloud recordings and transcripts",
        &[
            "cloud_recording:read:list_recording_files:admin",
            "recording:read:admin",
            "cloud_recording:read:list_recording_files",
            "recording:read",
        ],
    ),
];

impl Doctor {
    /// Runs every check, in order; a check whose prerequisite failed is skipped.
    pub async fn run(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        let (secrets, ingress_secrets) = self.read_secrets(&mut checks).await;
        let Some(secrets) = secrets else {
            checks.extend(self.skipped_without_worker_secret(ingress_secrets.as_deref()));
            return checks;
        };
        // Reading for the worker's role (or both) already required these.
        let (app, pagerduty) = match (secrets.zoom_app(), secrets.pagerduty_api()) {
            (Ok(app), Ok(pagerduty)) => (app, pagerduty),
            (Err(e), _) | (_, Err(e)) => {
                checks.push(secret_failure(self.worker_secret_name(), &e));
                return checks;
            }
        };
        checks.extend(self.check_zoom(app).await);
        checks.push(match &ingress_secrets {
            Some(ingress) => check_zoom_events(ingress),
            None => Check::skipped(ZOOM_EVENTS, "the ingress's secret could not be read"),
        });
        checks.extend(self.check_pagerduty(&pagerduty.from_email).await);
        if let Some(check) = self
            .check_incident_io_section(&secrets, ingress_secrets.as_deref())
            .await
        {
            checks.push(check);
        }
        checks
    }

    /// What the worker's secret is called in the checks: the secret, or the worker's of two.
    fn worker_secret_name(&self) -> &'static str {
        if self.ingress_secrets.is_some() {
            WORKER_SECRET
        } else {
            SECRET
        }
    }

    /// Reads the worker's secret and the ingress's (its own, or the one serving both), with a
    /// check for each.
    async fn read_secrets(
        &self,
        checks: &mut Vec<Check>,
    ) -> (Option<Arc<RelaySecrets>>, Option<Arc<RelaySecrets>>) {
        let worker = self.secrets.get().await;
        let ingress = match &self.ingress_secrets {
            None => None,
            Some(cache) => Some(cache.get().await),
        };
        let secrets = match worker {
            Ok(secrets) => {
                checks.push(match &ingress {
                    None => Check::ok(SECRET, describe_secret(&secrets)),
                    Some(_) => describe_worker_secret(&secrets),
                });
                Some(secrets)
            }
            Err(e) => {
                checks.push(secret_failure(self.worker_secret_name(), &e));
                None
            }
        };
        let ingress_secrets = match ingress {
            None => secrets.clone(),
            Some(Ok(ingress)) => {
                checks.push(describe_ingress_secret(&ingress));
                Some(ingress)
            }
            Some(Err(e)) => {
                checks.push(secret_failure(INGRESS_SECRET, &e));
                None
            }
        };
        (secrets, ingress_secrets)
    }

    /// The checks left when the worker's secret could not be read: skipped, but for Zoom's
    /// event token, which is the ingress's.
    fn skipped_without_worker_secret(&self, ingress_secrets: Option<&RelaySecrets>) -> Vec<Check> {
        let because = "the worker's secret could not be read";
        let zoom_events = match (ingress_secrets, &self.ingress_secrets) {
            (Some(ingress), _) => check_zoom_events(ingress),
            (None, Some(_)) => {
                Check::skipped(ZOOM_EVENTS, "the ingress's secret could not be read")
            }
            (None, None) => Check::skipped(ZOOM_EVENTS, because),
        };
        vec![
            Check::skipped(ZOOM_CREDENTIALS, because),
            Check::skipped(ZOOM_HOST, because),
            zoom_events,
            Check::skipped(PAGERDUTY_TOKEN, because),
            Check::skipped(PAGERDUTY_FROM, because),
            Check::skipped(SUBSCRIPTION, because),
        ]
    }

    /// Zoom gives a token (saying whose it is), the host user can host, and the app has the
    /// after-call scopes.
    async fn check_zoom(&self, app: &ZoomCredentials) -> Vec<Check> {
        let fetches_before = self.zoom.token_fetches();
        match self.zoom.check_credentials().await {
            Ok(()) => {
                let how = match (
                    self.shares_token,
                    self.zoom.token_fetches() > fetches_before,
                ) {
                    (true, false) => "the deployment's shared token works",
                    (true, true) => "Zoom issued a token, shared with the deployment",
                    (false, _) => {
                        "Zoom issued a token (of doctor's own: it voids the deployment's current one; pass --table-name to share it)"
                    }
                };
                vec![
                    Check::ok(
                        ZOOM_CREDENTIALS,
                        format!("{how}: app {} of account {}", app.client_id, app.account_id),
                    ),
                    self.check_host().await,
                    check_after_call_scopes(self.zoom.granted_scopes()),
                    check_update_scope(self.zoom.granted_scopes()),
                ]
            }
            Err(e) => vec![
                zoom_credentials_failure(&e),
                Check::skipped(ZOOM_HOST, "Zoom gave no token"),
            ],
        }
    }

    /// incident.io's check, when either secret has an `incident_io` section: the key is the
    /// worker's, the signing secrets are the ingress's.
    async fn check_incident_io_section(
        &self,
        secrets: &RelaySecrets,
        ingress_secrets: Option<&RelaySecrets>,
    ) -> Option<Check> {
        let api = self.incident_io.as_ref()?;
        let signing_secrets = ingress_secrets.and_then(|s| {
            s.incident_io
                .as_ref()
                .map(|section| section.webhook_secrets.len())
        });
        if secrets.incident_io.is_none() && signing_secrets.is_none() {
            return None;
        }
        Some(
            check_incident_io(
                api,
                secrets.incident_io.as_ref(),
                signing_secrets.unwrap_or(0),
            )
            .await,
        )
    }

    async fn check_host(&self) -> Check {
        let host = &self.host_user;
        let user = match self.zoom.host_user().await {
            Ok(user) => user,
            Err(MeetingError::Upstream(e)) => return host_failure(host, &e),
            Err(MeetingError::Secrets(e)) => return secret_failure(WORKER_SECRET, &e),
        };
        let who = format!("{host} (id {})", user.id);
        match (user.status.as_deref(), user.plan) {
            (Some(status), _) if status != "active" => Check::fail(
                ZOOM_HOST,
                format!("{who} is {status}, and only an active user can host"),
                "activate the user in Zoom (Admin > User Management > Users) or set ZOOM_HOST_USER to an active licensed user",
            ),
            (_, Some(1)) => Check::warn(
                ZOOM_HOST,
                format!("{who} is a Basic (unlicensed) user: its meetings end after 40 minutes"),
                "give the host a Zoom license, or set ZOOM_HOST_USER to a licensed user",
            ),
            _ => Check::ok(ZOOM_HOST, format!("{who} is active and can host")),
        }
    }

    async fn check_pagerduty(&self, from: &str) -> Vec<Check> {
        let users = match self.pagerduty.find_users(from).await {
            Ok(users) => users,
            Err(IncidentToolError::Upstream(e)) if e.status() == Some(401) => {
                let because = "PagerDuty refused the token";
                return vec![
                    Check::fail(
                        PAGERDUTY_TOKEN,
                        format!("PagerDuty refused pagerduty.api_token: {e}"),
                        "create a REST API key (Integrations > API Access Keys) and put it in pagerduty.api_token of the secret",
                    ),
                    Check::skipped(PAGERDUTY_FROM, because),
                    Check::skipped(SUBSCRIPTION, because),
                ];
            }
            Err(e) => {
                let because = "PagerDuty could not be asked";
                return vec![
                    Check::fail(
                        PAGERDUTY_TOKEN,
                        format!("looking up users failed: {e}"),
                        "check PAGERDUTY_API_BASE (US or EU region) and that the key may read users",
                    ),
                    Check::skipped(PAGERDUTY_FROM, because),
                    Check::skipped(SUBSCRIPTION, because),
                ];
            }
        };
        let mut checks = vec![Check::ok(PAGERDUTY_TOKEN, "PagerDuty accepted the API key")];
        checks.push(
            match users.iter().find(|u| u.email.eq_ignore_ascii_case(from)) {
                Some(user) => Check::ok(
                    PAGERDUTY_FROM,
                    format!(
                        "{from} is user {} ({})",
                        user.id,
                        user.name.as_deref().unwrap_or("no name")
                    ),
                ),
                None => Check::fail(
                    PAGERDUTY_FROM,
                    format!("no PagerDuty user has the email {from}"),
                    "set pagerduty.from_email in the secret to the email of an existing PagerDuty user (the relay's notes are posted as that user)",
                ),
            },
        );
        checks.push(self.check_subscription().await);
        checks
    }

    async fn check_subscription(&self) -> Check {
        let Some(url) = self.webhook_url.as_deref() else {
            return Check::warn(
                SUBSCRIPTION,
                "not checked: no --webhook-url given",
                "pass --webhook-url with the stack's WebhookUrl output",
            );
        };
        let subscriptions = match self.pagerduty.webhook_subscriptions().await {
            Ok(subscriptions) => subscriptions,
            Err(e) => {
                return Check::fail(
                    SUBSCRIPTION,
                    format!("listing webhook subscriptions failed: {e}"),
                    "give the API key read access to webhook subscriptions, or check the subscription in PagerDuty (Integrations > Generic Webhooks (v3))",
                );
            }
        };
        let same_url = |other: &str| other.trim_end_matches('/') == url.trim_end_matches('/');
        let Some(found) = subscriptions
            .iter()
            .find(|s| s.delivery_method.url.as_deref().is_some_and(same_url))
        else {
            let elsewhere: Vec<&str> = subscriptions
                .iter()
                .filter_map(|s| s.delivery_method.url.as_deref())
                .collect();
            let detail = if elsewhere.is_empty() {
                format!("no webhook subscription delivers to {url} (the account has none)")
            } else {
                format!(
                    "no webhook subscription delivers to {url}; {} deliver elsewhere: {}",
                    elsewhere.len(),
                    elsewhere.join(", ")
                )
            };
            return Check::fail(
                SUBSCRIPTION,
                detail,
                "create a Generic Webhook (v3) with this URL (see docs/deploy.md, step 5), or correct the URL of the existing one",
            );
        };
        if !found.active || found.delivery_method.temporarily_disabled {
            return Check::fail(
                SUBSCRIPTION,
                format!(
                    "subscription {} delivers to {url} but is disabled",
                    found.id
                ),
                "enable it in PagerDuty (Integrations > Generic Webhooks (v3)); PagerDuty disables a webhook whose URL keeps failing",
            );
        }
        let missing: Vec<&str> = self
            .bridge_events
            .iter()
            .filter(|event| !found.events.contains(event))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Check::fail(
                SUBSCRIPTION,
                format!(
                    "subscription {} does not send {}",
                    found.id,
                    missing.join(", ")
                ),
                "add these event types to the subscription, or change BRIDGE_EVENT_TYPES",
            );
        }
        Check::ok(
            SUBSCRIPTION,
            format!(
                "subscription {} delivers {} to {url}",
                found.id,
                self.bridge_events.join(", ")
            ),
        )
    }
}

/// Whether every check passed (warnings pass).
pub fn healthy(checks: &[Check]) -> bool {
    checks
        .iter()
        .all(|c| matches!(c.status, Status::Ok | Status::Warn))
}

/// One secret that serves both functions: what it holds, and that the public ingress can read
/// the API credentials in it too.
fn describe_secret(secrets: &RelaySecrets) -> String {
    let hooks = secrets.pagerduty.webhook_secrets.len();
    format!(
        "{} serves both the ingress and the worker; parsed: {}, {hooks} webhook signing secret(s) (deployed so, the public ingress can read the API credentials too: see docs/deploy.md, Migration from one secret to two)",
        secrets.source_name(),
        describe_api_credentials(secrets),
    )
}

fn describe_api_credentials(secrets: &RelaySecrets) -> String {
    match (secrets.zoom_app(), secrets.pagerduty_api()) {
        (Ok(app), Ok(pagerduty)) => format!(
            "Zoom app {}, PagerDuty From {}",
            app.client_id, pagerduty.from_email
        ),
        _ => "no API credentials".to_owned(),
    }
}

fn describe_worker_secret(secrets: &RelaySecrets) -> Check {
    let incident_io = if secrets
        .incident_io
        .as_ref()
        .is_some_and(|s| s.api_key.is_some())
    {
        ", incident.io API key"
    } else {
        ""
    };
    Check::ok(
        WORKER_SECRET,
        format!(
            "{} (the worker's only): {}{incident_io}",
            secrets.source_name(),
            describe_api_credentials(secrets)
        ),
    )
}

/// The ingress's secret should hold webhook verification secrets and nothing that calls an API:
/// the public function is the one a parser flaw would expose.
fn describe_ingress_secret(secrets: &RelaySecrets) -> Check {
    let keys = secrets.verification_keys_present().join(", ");
    let api = secrets.api_keys_present();
    if api.is_empty() {
        Check::ok(
            INGRESS_SECRET,
            format!(
                "{} (the public ingress's): {keys}; no API credential",
                secrets.source_name()
            ),
        )
    } else {
        Check::warn(
            INGRESS_SECRET,
            format!(
                "{} (the public ingress's) holds {keys}, and also {}, which the ingress never needs",
                secrets.source_name(),
                api.join(", ")
            ),
            "remove the API credentials from the ingress's secret once the worker reads its own (see docs/deploy.md, Migration from one secret to two)",
        )
    }
}

/// Zoom's meeting events (started, joined, ended) reach `/zoom` only with the secret token
/// of the Zoom app's event subscription; without them the relay still bridges.
fn check_zoom_events(secrets: &RelaySecrets) -> Check {
    match &secrets.zoom.webhook_secret_token {
        Some(token) if !token.expose_secret().trim().is_empty() => Check::ok(
            ZOOM_EVENTS,
            "meeting events sent to /zoom are verified with the app's secret token",
        ),
        Some(_) => Check::fail(
            ZOOM_EVENTS,
            "zoom.webhook_secret_token is empty",
            "paste the Secret Token from the Zoom app's Feature page (Event Subscriptions), or remove the field",
        ),
        None => Check::warn(
            ZOOM_EVENTS,
            "no zoom.webhook_secret_token: meeting started/joined/ended events are refused, so notes do not say who joined",
            "add the Secret Token from the Zoom app's Feature page as zoom.webhook_secret_token and send the app's meeting events to the stack's ZoomEventUrl",
        ),
    }
}

/// The incident.io section: a signing secret for the webhook, and an API key incident.io accepts.
async fn check_incident_io(
    api: &IncidentIoApi,
    section: Option<&crate::secrets::IncidentIoCredentials>,
    signing_secrets: usize,
) -> Check {
    if section.is_none_or(|section| section.api_key.is_none()) {
        return Check::fail(
            INCIDENT_IO,
            "the secret's incident_io section has no api_key",
            "create an API key in incident.io (Settings > API keys) and put it in incident_io.api_key",
        );
    }
    let identity = match api.identity().await {
        Ok(identity) => identity,
        Err(IncidentToolError::Upstream(e)) if e.status() == Some(401) => {
            return Check::fail(
                INCIDENT_IO,
                format!("incident.io refused incident_io.api_key: {e}"),
                "create a new API key in incident.io (Settings > API keys) and put it in incident_io.api_key",
            );
        }
        Err(e) => {
            return Check::fail(
                INCIDENT_IO,
                format!("asking incident.io who the key is failed: {e}"),
                "check INCIDENT_IO_API_BASE and that the relay can reach it",
            );
        }
    };
    let detail = format!(
        "incident.io accepted API key {:?} (roles: {})",
        identity.name,
        if identity.roles.is_empty() {
            "none".to_owned()
        } else {
            identity.roles.join(", ")
        }
    );
    if signing_secrets == 0 {
        return Check::warn(
            INCIDENT_IO,
            format!("{detail}; no webhook signing secret, so /incident-io answers 503"),
            "copy the webhook endpoint's signing secret (whsec_…) into incident_io.webhook_secrets",
        );
    }
    Check::ok(
        INCIDENT_IO,
        format!("{detail}; {signing_secrets} webhook signing secret(s)"),
    )
}

fn secret_failure(name: &'static str, e: &SecretsError) -> Check {
    let fix = match e {
        SecretsError::Malformed { .. } => {
            "correct the secret document (schema in docs/deploy.md, step 3)"
        }
        SecretsError::Incomplete { .. } => {
            "add the keys: the API credentials belong in the worker's secret, the webhook verification secrets in the ingress's (see docs/deploy.md, step 3)"
        }
        SecretsError::Unavailable { .. } => {
            "check the secret's name or ARN (--secret-id, --ingress-secret-id or --worker-secret-id), the region, and that these credentials may read it"
        }
    };
    Check::fail(name, e.to_string(), fix)
}

/// Whether the app may see the after-call artifacts, from the scopes Zoom listed with the token.
/// A warning, not a failure: bridges work without them.
fn check_after_call_scopes(granted: Option<Vec<String>>) -> Check {
    let Some(granted) = granted else {
        return Check::skipped(
            AFTER_CALL_SCOPES,
            "Zoom lists an app's scopes only with a token it issues, and the deployment's shared token was issued before the relay kept them",
        );
    };
    let missing: Vec<(&str, &str)> = AFTER_CALL_NEEDS
        .iter()
        .filter(|(_, names)| !names.iter().any(|n| granted.iter().any(|g| g == n)))
        .filter_map(|(what, names)| names.first().map(|first| (*what, *first)))
        .collect();
    if missing.is_empty() {
        return Check::ok(
            AFTER_CALL_SCOPES,
            "the app may read meeting summaries and cloud recordings (after-call notes)",
        );
    }
    let whats: Vec<&str> = missing.iter().map(|(what, _)| *what).collect();
    let scopes: Vec<&str> = missing.iter().map(|(_, scope)| *scope).collect();
    Check::warn(
        AFTER_CALL_SCOPES,
        format!(
            "the app may not read {}: no after-call notes of them",
            whats.join(" or ")
        ),
        format!(
            "add the scope {} to the Zoom app (and the events to its subscription; see docs/after-the-call.md)",
            scopes.join(" and ")
        ),
    )
}

/// Whether the app may update meetings, so each meeting's topic follows its incident. A
/// warning: bridges work without it.
fn check_update_scope(granted: Option<Vec<String>>) -> Check {
    let Some(granted) = granted else {
        return Check::skipped(
            UPDATE_SCOPE,
            "Zoom lists an app's scopes only with a token it issues, and the deployment's shared token was issued before the relay kept them",
        );
    };
    let removal_missing: Vec<&str> = REMOVE_NEEDS
        .iter()
        .filter(|names| !names.iter().any(|n| granted.iter().any(|g| g == n)))
        .filter_map(|names| names.first().copied())
        .collect();
    if UPDATE_SCOPES.iter().any(|s| granted.iter().any(|g| g == s)) {
        if removal_missing.is_empty() {
            return Check::ok(
                UPDATE_SCOPE,
                "the app may update meetings (their topic and hosts follow the incident) and remove unused ones",
            );
        }
        return Check::warn(
            UPDATE_SCOPE,
            "the app may update meetings but not remove unused ones: a meeting nobody used is ended at the resolve, not removed",
            format!(
                "add the scope {} to the Zoom app (see docs/lifecycle.md)",
                removal_missing.join(" and ")
            ),
        );
    }
    Check::warn(
        UPDATE_SCOPE,
        "the app may not update meetings: their topic keeps the incident's first title, and no responder gets host controls",
        "add the scope meeting:update:meeting:admin to the Zoom app (classic apps: meeting:write:admin; see docs/lifecycle.md)",
    )
}

fn zoom_credentials_failure(e: &MeetingError) -> Check {
    match e {
        MeetingError::Secrets(e) => secret_failure(WORKER_SECRET, e),
        MeetingError::Upstream(e) => {
            let fix = match e.status() {
                Some(400 | 401) => {
                    "check zoom.account_id, client_id and client_secret in the secret against the Server-to-Server OAuth app (Zoom App Marketplace > Manage), and that the app is activated"
                }
                _ => "check ZOOM_OAUTH_BASE and that zoom.us can be reached",
            };
            Check::fail(ZOOM_CREDENTIALS, format!("no token: {e}"), fix)
        }
    }
}

const USER_SCOPE_FIX: &str = "add the scope user:read:user:admin to the Zoom app (classic apps: user:read:admin): without it no responder gets host controls, and doctor cannot check the host";

fn host_failure(host: &str, e: &UpstreamError) -> Check {
    let message = e.to_string();
    match e.status() {
        Some(404) => Check::fail(
            ZOOM_HOST,
            format!("Zoom has no user {host}: {message}"),
            "set ZOOM_HOST_USER (the stack's ZoomHostUser) to the email or id of a licensed user in the app's Zoom account",
        ),
        // A Server-to-Server app without the user scope gets 400 code 4711 or a 401/403.
        Some(400) if message.contains("4711") || message.contains("scope") => Check::warn(
            ZOOM_HOST,
            format!("Zoom would not show user {host}: {message}"),
            USER_SCOPE_FIX,
        ),
        Some(400) if message.contains("1120") => Check::fail(
            ZOOM_HOST,
            format!("{host} has not accepted the invitation to the account: {message}"),
            "have the user accept the Zoom invitation, or pick another host",
        ),
        Some(401 | 403) => Check::warn(
            ZOOM_HOST,
            format!("Zoom would not show user {host}: {message}"),
            USER_SCOPE_FIX,
        ),
        _ => Check::fail(
            ZOOM_HOST,
            format!("looking up {host} failed: {message}"),
            "check ZOOM_API_BASE and ZOOM_HOST_USER",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &str) -> Option<Vec<String>> {
        Some(list.split(' ').map(str::to_owned).collect())
    }

    #[test]
    fn the_update_check_names_the_scopes_that_remove_unused_meetings() {
        let all = check_update_scope(scopes(
            "meeting:update:meeting:admin meeting:read:list_past_instances:admin meeting:delete:meeting:admin",
        ));
        assert_eq!(all.status, Status::Ok, "{}", all.detail);
        // Classic scopes cover all three.
        let classic = check_update_scope(scopes("meeting:write:admin meeting:read:admin"));
        assert_eq!(classic.status, Status::Ok, "{}", classic.detail);
        let no_removal = check_update_scope(scopes("meeting:update:meeting:admin"));
        assert_eq!(no_removal.status, Status::Warn);
        assert!(no_removal.detail.contains("not remove unused ones"));
        assert_eq!(
            no_removal.fix.as_deref(),
            Some(
                "add the scope meeting:read:list_past_instances:admin and meeting:delete:meeting:admin to the Zoom app (see docs/lifecycle.md)"
            )
        );
        let no_update = check_update_scope(scopes("meeting:write:meeting:admin"));
        assert!(no_update.detail.contains("may not update meetings"));
    }
}
