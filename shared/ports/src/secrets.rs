//! The relay's secrets: JSON documents read from a [`SecretSource`] (Secrets Manager in AWS, a
//! file locally: their adapters are in `bridge_relay::secrets`), cached with a TTL and re-read
//! on demand.
//!
//! Each function reads its own document, so the public ingress holds no API credential:
//!
//! - the ingress's (`INGRESS_SECRET_ID`): what verifies requests, nothing that calls an API
//!   ```json
//!   {"pagerduty": {"webhook_secrets": ["…"], "action_secret": "…"},
//!    "zoom": {"webhook_secret_token": "…"},
//!    "incident_io": {"webhook_secrets": ["whsec_…"]}}
//!   ```
//! - the worker's (`WORKER_SECRET_ID`): the API credentials
//!   ```json
//!   {"zoom": {"account_id": "…", "client_id": "…", "client_secret": "…"},
//!    "pagerduty": {"api_token": "…", "from_email": "bot@example.com"},
//!    "incident_io": {"api_key": "…"}}
//!   ```
//!
//! Both have one shape, so one document holding every key (a deployment from before the split,
//! the local runner's file) still serves as either. Every key is optional when the document
//! parses; what a function needs is checked against its [`SecretRole`] on every read.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use bridge_relay_domain::error::SecretsError;

/// What a secret is read for, and so which keys it must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretRole {
    /// The public ingress: at least one webhook verification secret.
    Ingress,
    /// The worker: the Zoom app's credentials and PagerDuty's API token and `From`.
    Worker,
    /// One document for both (the local runner's file, doctor with one secret): the worker's
    /// keys, as before the split; the verification secrets stay optional.
    Both,
}

impl SecretRole {
    pub fn name(self) -> &'static str {
        match self {
            SecretRole::Ingress => "ingress",
            SecretRole::Worker => "worker",
            SecretRole::Both => "ingress and worker",
        }
    }
}

/// A parsed secret document. Which parts it holds depends on whose secret it is: the
/// accessors for the worker's credentials fail, naming the keys, when they are absent.
#[derive(Debug)]
pub struct RelaySecrets {
    pub zoom: ZoomSecrets,
    pub pagerduty: PagerDutySecrets,
    /// Only when incident.io incidents are bridged too.
    pub incident_io: Option<IncidentIoCredentials>,
    /// The section of every other incident tool (an object under the tool's name, as its
    /// adapter reads it), kept as JSON text that only [`Self::tool_section`] hands out.
    other_tools: BTreeMap<String, SecretString>,
    /// The secret's id or path, for errors about missing keys (never a value).
    source_name: String,
}

#[derive(Debug, Default)]
pub struct ZoomSecrets {
    /// The Server-to-Server OAuth app (the worker's secret).
    pub app: Option<ZoomCredentials>,
    /// The secret token of the Zoom app's event subscription, which signs Zoom's event
    /// notifications (`/zoom`); without it those are refused (the ingress's secret).
    pub webhook_secret_token: Option<SecretString>,
}

#[derive(Debug, Default)]
pub struct PagerDutySecrets {
    /// The REST API token and `From` (the worker's secret).
    pub api: Option<PagerDutyCredentials>,
    /// Signing secrets of the V3 webhook subscriptions; two while one is rotated.
    pub webhook_secrets: Vec<SecretString>,
    /// The shared secret button clicks (Custom Incident Action) and workflow steps send in the
    /// `X-Bridge-Relay-Token` header; without it those requests are refused.
    pub action_secret: Option<SecretString>,
}

#[derive(Debug, Deserialize)]
pub struct IncidentIoCredentials {
    /// The webhook endpoint's signing secrets (`whsec_…`); two while one is rotated.
    #[serde(default)]
    pub webhook_secrets: Vec<SecretString>,
    /// The API key the relay sets call links and timeline items with.
    #[serde(default)]
    pub api_key: Option<SecretString>,
}

/// The Zoom Server-to-Server OAuth app.
#[derive(Debug, Deserialize)]
pub struct ZoomCredentials {
    pub account_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

#[derive(Debug)]
pub struct PagerDutyCredentials {
    pub api_token: SecretString,
    /// Email of the PagerDuty user the relay acts as (`From` header).
    pub from_email: String,
}

/// The document as it is stored: every key optional, unknown keys skipped.
#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    zoom: Option<ZoomSection>,
    #[serde(default)]
    pagerduty: Option<PagerDutySection>,
    #[serde(default)]
    incident_io: Option<IncidentIoCredentials>,
    /// Any other top-level object: the section of an incident tool added by its adapter.
    #[serde(flatten)]
    other_tools: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct ZoomSection {
    account_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    webhook_secret_token: Option<SecretString>,
}

#[derive(Deserialize)]
struct PagerDutySection {
    api_token: Option<SecretString>,
    from_email: Option<String>,
    #[serde(default)]
    webhook_secrets: Vec<SecretString>,
    action_secret: Option<SecretString>,
}

/// The keys of the worker's Zoom app credentials, as the messages name them.
const ZOOM_APP_KEYS: &str = "zoom.account_id, zoom.client_id and zoom.client_secret";
const PAGERDUTY_API_KEYS: &str = "pagerduty.api_token and pagerduty.from_email";
const VERIFICATION_KEYS: &str = "pagerduty.webhook_secrets, pagerduty.action_secret, zoom.webhook_secret_token or incident_io.webhook_secrets";

impl RelaySecrets {
    /// Parses a document that serves both functions (the worker's keys required). Error
    /// messages never quote values from it.
    pub fn parse(source_name: &str, raw: &SecretString) -> Result<RelaySecrets, SecretsError> {
        Self::parse_for(SecretRole::Both, source_name, raw)
    }

    /// Parses a document and checks it holds the keys `role` needs. Error messages name keys
    /// and never quote values.
    pub fn parse_for(
        role: SecretRole,
        source_name: &str,
        raw: &SecretString,
    ) -> Result<RelaySecrets, SecretsError> {
        let malformed = |reason: String| SecretsError::Malformed {
            source_name: source_name.to_owned(),
            reason,
        };
        let document: Document = serde_json::from_str(raw.expose_secret()).map_err(|e| {
            let message = e.to_string();
            // serde names missing and unknown fields without quoting values; other messages may.
            if message.starts_with("missing field") || message.starts_with("unknown field") {
                malformed(message)
            } else {
                malformed(format!(
                    "{:?} error at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ))
            }
        })?;
        let (zoom, pagerduty) = (document.zoom, document.pagerduty);
        let zoom = match zoom {
            None => ZoomSecrets::default(),
            Some(section) => ZoomSecrets {
                app: match (section.account_id, section.client_id, section.client_secret) {
                    (None, None, None) => None,
                    (Some(account_id), Some(client_id), Some(client_secret)) => {
                        Some(ZoomCredentials {
                            account_id,
                            client_id,
                            client_secret,
                        })
                    }
                    // Half an app is a mistake wherever it is: name the part that is missing.
                    (account_id, client_id, _) => {
                        let missing = if account_id.is_none() {
                            "account_id"
                        } else if client_id.is_none() {
                            "client_id"
                        } else {
                            "client_secret"
                        };
                        return Err(malformed(format!(
                            "missing field `{missing}` in zoom (the app's credentials are {ZOOM_APP_KEYS}, all three or none)"
                        )));
                    }
                },
                webhook_secret_token: section.webhook_secret_token,
            },
        };
        let pagerduty = match pagerduty {
            None => PagerDutySecrets::default(),
            Some(section) => PagerDutySecrets {
                api: match (section.api_token, section.from_email) {
                    (None, None) => None,
                    (Some(api_token), Some(from_email)) => Some(PagerDutyCredentials {
                        api_token,
                        from_email,
                    }),
                    (api_token, _) => {
                        let missing = if api_token.is_none() {
                            "api_token"
                        } else {
                            "from_email"
                        };
                        return Err(malformed(format!(
                            "missing field `{missing}` in pagerduty (the API needs {PAGERDUTY_API_KEYS}, both or neither)"
                        )));
                    }
                },
                webhook_secrets: section.webhook_secrets,
                action_secret: section.action_secret,
            },
        };
        let other_tools = document
            .other_tools
            .into_iter()
            .filter(|(_, section)| section.is_object())
            .map(|(name, section)| (name, SecretString::from(section.to_string())))
            .collect();
        let secrets = RelaySecrets {
            zoom,
            pagerduty,
            incident_io: document.incident_io,
            other_tools,
            source_name: source_name.to_owned(),
        };
        secrets.check_values().map_err(malformed)?;
        secrets.check_role(role)?;
        Ok(secrets)
    }

    /// The values present are usable: not empty, an email where one belongs.
    fn check_values(&self) -> Result<(), String> {
        if let Some(app) = &self.zoom.app {
            let empty = [
                ("zoom.account_id", app.account_id.is_empty()),
                ("zoom.client_id", app.client_id.is_empty()),
                (
                    "zoom.client_secret",
                    app.client_secret.expose_secret().is_empty(),
                ),
            ];
            if let Some((field, _)) = empty.iter().find(|(_, is_empty)| *is_empty) {
                return Err(format!("{field} is empty"));
            }
        }
        if let Some(api) = &self.pagerduty.api {
            if api.api_token.expose_secret().is_empty() {
                return Err("pagerduty.api_token is empty".into());
            }
            if api.from_email.is_empty() {
                return Err("pagerduty.from_email is empty".into());
            }
            if !api.from_email.contains('@') {
                return Err("pagerduty.from_email is not an email address".into());
            }
        }
        if self
            .pagerduty
            .action_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret().len() < 16)
        {
            return Err("pagerduty.action_secret is shorter than 16 characters".into());
        }
        if self
            .zoom
            .webhook_secret_token
            .as_ref()
            .is_some_and(|s| s.expose_secret().is_empty())
        {
            return Err("zoom.webhook_secret_token is empty".into());
        }
        if self
            .pagerduty
            .webhook_secrets
            .iter()
            .any(|s| s.expose_secret().is_empty())
        {
            return Err("pagerduty.webhook_secrets holds an empty value".into());
        }
        if let Some(incident_io) = &self.incident_io {
            if incident_io
                .webhook_secrets
                .iter()
                .any(|s| decode_whsec(s).is_none())
            {
                return Err(
                    "incident_io.webhook_secrets holds a value that is not a whsec_<base64> secret"
                        .into(),
                );
            }
            if incident_io
                .api_key
                .as_ref()
                .is_some_and(|k| k.expose_secret().trim().is_empty())
            {
                return Err("incident_io.api_key is empty".into());
            }
        }
        Ok(())
    }

    /// The document holds what `role` needs.
    pub fn check_role(&self, role: SecretRole) -> Result<(), SecretsError> {
        match role {
            SecretRole::Worker | SecretRole::Both => {
                self.zoom_app()?;
                self.pagerduty_api()?;
            }
            SecretRole::Ingress => {
                if !self.has_verification_secret() {
                    return Err(self.incomplete(VERIFICATION_KEYS, role));
                }
            }
        }
        Ok(())
    }

    fn incomplete(&self, keys: &'static str, role: SecretRole) -> SecretsError {
        SecretsError::Incomplete {
            source_name: self.source_name.clone(),
            keys,
            role: role.name(),
        }
    }

    /// The Zoom app's credentials, which only the worker's secret holds.
    pub fn zoom_app(&self) -> Result<&ZoomCredentials, SecretsError> {
        self.zoom
            .app
            .as_ref()
            .ok_or_else(|| self.incomplete(ZOOM_APP_KEYS, SecretRole::Worker))
    }

    /// PagerDuty's API token and `From`, which only the worker's secret holds.
    pub fn pagerduty_api(&self) -> Result<&PagerDutyCredentials, SecretsError> {
        self.pagerduty
            .api
            .as_ref()
            .ok_or_else(|| self.incomplete(PAGERDUTY_API_KEYS, SecretRole::Worker))
    }

    /// The secret's id or path (never a value).
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The section of the incident tool `name` (one the relay does not ship: its adapter
    /// reads its own keys from it), as JSON text.
    pub fn tool_section(&self, name: &str) -> Option<&SecretString> {
        self.other_tools.get(name)
    }

    /// Whether anything here verifies a request the ingress takes.
    pub fn has_verification_secret(&self) -> bool {
        !self.pagerduty.webhook_secrets.is_empty()
            || self.pagerduty.action_secret.is_some()
            || self.zoom.webhook_secret_token.is_some()
            || self
                .incident_io
                .as_ref()
                .is_some_and(|section| !section.webhook_secrets.is_empty())
    }

    /// Whether anything here calls an API (what the public ingress must not hold).
    pub fn has_api_credential(&self) -> bool {
        self.zoom.app.is_some()
            || self.pagerduty.api.is_some()
            || self
                .incident_io
                .as_ref()
                .is_some_and(|section| section.api_key.is_some())
    }

    /// The keys of the API credentials present, for logs and doctor (names, never values).
    pub fn api_keys_present(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.zoom.app.is_some() {
            keys.push("zoom app credentials");
        }
        if self.pagerduty.api.is_some() {
            keys.push("pagerduty.api_token and from_email");
        }
        if self
            .incident_io
            .as_ref()
            .is_some_and(|section| section.api_key.is_some())
        {
            keys.push("incident_io.api_key");
        }
        keys
    }

    /// The verification keys present, with how many values each holds.
    pub fn verification_keys_present(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let hooks = self.pagerduty.webhook_secrets.len();
        if hooks > 0 {
            keys.push(format!("pagerduty.webhook_secrets ({hooks})"));
        }
        if self.pagerduty.action_secret.is_some() {
            keys.push("pagerduty.action_secret".to_owned());
        }
        if self.zoom.webhook_secret_token.is_some() {
            keys.push("zoom.webhook_secret_token".to_owned());
        }
        let incident_io = self
            .incident_io
            .as_ref()
            .map_or(0, |section| section.webhook_secrets.len());
        if incident_io > 0 {
            keys.push(format!("incident_io.webhook_secrets ({incident_io})"));
        }
        keys
    }

    /// Every key present, by name: what the start log line says a secret held.
    pub fn describe_keys(&self) -> String {
        let mut keys: Vec<String> = self
            .api_keys_present()
            .into_iter()
            .map(str::to_owned)
            .collect();
        keys.extend(self.verification_keys_present());
        keys.extend(
            self.other_tools
                .keys()
                .map(|name| format!("{name} (another tool's section)")),
        );
        if keys.is_empty() {
            "none".to_owned()
        } else {
            keys.join(", ")
        }
    }
}

/// A Svix-style signing secret's key (incident.io's): the base64 after `whsec_` (the prefix is
/// optional, as in Svix's libraries). `None` when it is not base64 or empty.
pub fn decode_whsec(secret: &SecretString) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = secret.expose_secret().trim();
    let encoded = text.strip_prefix("whsec_").unwrap_or(text);
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .filter(|key| !key.is_empty())
}

/// Where the secret document comes from.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// A name for errors and logs (a secret id or a path), never the value.
    fn name(&self) -> &str;
    async fn fetch(&self) -> Result<SecretString, SecretsError>;
}

/// How long past its refresh time the last good secret is still served while the source fails.
pub const DEFAULT_STALE_FOR: Duration = Duration::from_secs(15 * 60);

/// After a failed refresh the source is asked again no sooner than this: the callers in between
/// get the last good secret at once instead of each waiting out a failing read in turn.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// The parsed secret, shared by the adapters of one container, read once per TTL. When a
/// refresh fails (Secrets Manager down or throttling) the last good secret is served for up to
/// `stale_for` past its refresh time, with a warning: a secret minutes old is almost always
/// still the right one, and refusing every webhook for it is a 503 storm. Past that bound the
/// error is the caller's.
pub struct SecretCache {
    source: Arc<dyn SecretSource>,
    /// Which keys each read must find: a document without them is refused like a malformed one.
    role: SecretRole,
    ttl: Duration,
    stale_for: Duration,
    current: Mutex<Option<Cached>>,
}

struct Cached {
    secrets: Arc<RelaySecrets>,
    read_at: Instant,
    /// When the last refresh of this copy failed.
    failed_at: Option<Instant>,
}

impl SecretCache {
    /// Serves the last good secret for [`DEFAULT_STALE_FOR`] past its refresh time.
    pub fn new(source: Arc<dyn SecretSource>, ttl: Duration) -> Self {
        Self::with_stale_for(source, ttl, DEFAULT_STALE_FOR)
    }

    /// Serves the last good secret for `stale_for` past its refresh time while the source
    /// fails (zero: never).
    pub fn with_stale_for(
        source: Arc<dyn SecretSource>,
        ttl: Duration,
        stale_for: Duration,
    ) -> Self {
        SecretCache {
            source,
            role: SecretRole::Both,
            ttl,
            stale_for,
            current: Mutex::new(None),
        }
    }

    /// Reads the secret for `role` instead of [`SecretRole::Both`].
    pub fn with_role(self, role: SecretRole) -> Self {
        SecretCache { role, ..self }
    }

    pub fn role(&self) -> SecretRole {
        self.role
    }

    /// The secret's id or path (never its value).
    pub fn source_name(&self) -> &str {
        self.source.name()
    }

    /// Says at start which secret this function reads, named by which variable: the keys found
    /// in it are logged when it is first read (the first request, so a cold start costs no
    /// extra read).
    pub fn log_start(&self, from_var: &str) {
        let reads = match self.role {
            SecretRole::Ingress => "webhook verification secrets only",
            SecretRole::Worker => "the Zoom, PagerDuty and incident.io API credentials",
            SecretRole::Both => "every key",
        };
        tracing::info!(
            secret = self.source.name(),
            from = from_var,
            role = self.role.name(),
            "the {} reads {reads} from this secret",
            self.role.name()
        );
    }

    /// The cached secret, read again when older than the TTL. Concurrent callers share one read.
    /// A failed read leaves the last good secret in service within the stale bound.
    pub async fn get(&self) -> Result<Arc<RelaySecrets>, SecretsError> {
        let mut current = self.current.lock().await;
        if let Some(cached) = current.as_ref() {
            let age = cached.read_at.elapsed();
            if age < self.ttl {
                return Ok(cached.secrets.clone());
            }
            if age < self.stale_until()
                && cached
                    .failed_at
                    .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE)
            {
                return Ok(cached.secrets.clone());
            }
        }
        let error = match self.read_into(&mut current).await {
            Ok(secrets) => return Ok(secrets),
            Err(error) => error,
        };
        match current.as_mut() {
            Some(cached) if cached.read_at.elapsed() < self.stale_until() => {
                cached.failed_at = Some(Instant::now());
                tracing::warn!(
                    source = self.source.name(),
                    error = %error,
                    age_s = cached.read_at.elapsed().as_secs(),
                    stale_for_s = self.stale_for.as_secs(),
                    "the secret could not be refreshed; serving the last good copy"
                );
                Ok(cached.secrets.clone())
            }
            _ => Err(error),
        }
    }

    /// How old the last good secret may be and still be served while the source fails.
    fn stale_until(&self) -> Duration {
        self.ttl.saturating_add(self.stale_for)
    }

    /// Reads the secret again because `stale` was refused (a 401 after a rotation).
    /// When another caller already replaced `stale`, its newer copy is returned without a read.
    /// A failed read is the caller's error: the copy it has was refused already.
    pub async fn refresh(
        &self,
        stale: &Arc<RelaySecrets>,
    ) -> Result<Arc<RelaySecrets>, SecretsError> {
        let mut current = self.current.lock().await;
        if let Some(cached) = current.as_ref()
            && !Arc::ptr_eq(&cached.secrets, stale)
        {
            return Ok(cached.secrets.clone());
        }
        self.read_into(&mut current).await
    }

    async fn read_into(
        &self,
        slot: &mut Option<Cached>,
    ) -> Result<Arc<RelaySecrets>, SecretsError> {
        let raw = self.source.fetch().await?;
        let secrets = Arc::new(RelaySecrets::parse_for(
            self.role,
            self.source.name(),
            &raw,
        )?);
        // Names only: which keys this function found in which secret.
        tracing::info!(
            source = self.source.name(),
            role = self.role.name(),
            keys = %secrets.describe_keys(),
            "secret read"
        );
        if self.role == SecretRole::Ingress && secrets.has_api_credential() {
            tracing::warn!(
                source = self.source.name(),
                keys = %secrets.api_keys_present().join(", "),
                "the ingress's secret also holds API credentials, which the public function never \
                 needs: give the worker a secret of its own (see docs/deploy.md, Migration from one \
                 secret to two)"
            );
        }
        *slot = Some(Cached {
            secrets: secrets.clone(),
            read_at: Instant::now(),
            failed_at: None,
        });
        Ok(secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const VALID: &str = r#"{"zoom":{"account_id":"acc","client_id":"cid","client_secret":"zoom-very-secret"},
        "pagerduty":{"api_token":"pd-very-secret","from_email":"bot@example.com","webhook_secrets":["hook-very-secret"]}}"#;

    #[test]
    fn another_tools_section_is_handed_to_its_adapter_and_never_shown() {
        let mut doc: serde_json::Value = serde_json::from_str(VALID).unwrap();
        doc["rootly"] = serde_json::json!({"api_key": "rootly-very-secret"});
        doc["comment"] = serde_json::json!("not a section");
        let secrets = RelaySecrets::parse("test", &SecretString::from(doc.to_string())).unwrap();
        let section: serde_json::Value =
            serde_json::from_str(secrets.tool_section("rootly").unwrap().expose_secret()).unwrap();
        assert_eq!(section["api_key"], "rootly-very-secret");
        assert!(secrets.tool_section("comment").is_none());
        let debug = format!("{secrets:?}");
        assert!(!debug.contains("rootly-very-secret"), "{debug}");
        assert!(
            secrets
                .describe_keys()
                .ends_with("rootly (another tool's section)"),
            "{}",
            secrets.describe_keys()
        );
    }

    #[test]
    fn parses_and_never_shows_secret_values_in_debug() {
        let secrets = RelaySecrets::parse("test", &SecretString::from(VALID)).unwrap();
        let debug = format!("{secrets:?}");
        for value in ["zoom-very-secret", "pd-very-secret", "hook-very-secret"] {
            assert!(!debug.contains(value), "{value} leaked in {debug}");
        }
        assert!(debug.contains("cid"));
    }

    #[test]
    fn errors_name_the_field_and_never_quote_values() {
        let cases = [
            (
                r#"{"zoom":{"account_id":"a","client_id":"c"},"pagerduty":{}}"#,
                "missing field `client_secret`",
            ),
            (
                &VALID.replace("bot@example.com", ""),
                "pagerduty.from_email is empty",
            ),
            (
                &VALID.replace("bot@example.com", "bot"),
                "pagerduty.from_email is not an email",
            ),
            (
                &VALID.replace("\"hook-very-secret\"", "\"\""),
                "webhook_secrets holds an empty value",
            ),
        ];
        for (doc, expected) in cases {
            let err = RelaySecrets::parse("test", &SecretString::from(doc.to_owned())).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
        // A value of the wrong type would be quoted by serde's own message.
        let wrong_type = VALID.replace("\"pd-very-secret\"", "[\"pd-very-secret\"]");
        let err = RelaySecrets::parse("test", &SecretString::from(wrong_type)).unwrap_err();
        assert!(!err.to_string().contains("pd-very-secret"), "{err}");
        assert!(err.to_string().contains("line"), "{err}");
    }

    #[test]
    fn the_incident_io_section_is_optional_and_checked_without_quoting() {
        let parse = |doc: String| RelaySecrets::parse("test", &SecretString::from(doc));
        assert!(parse(VALID.to_owned()).unwrap().incident_io.is_none());
        let with = |section: &str| {
            let mut doc: serde_json::Value = serde_json::from_str(VALID).unwrap();
            doc["incident_io"] = serde_json::from_str(section).unwrap();
            doc.to_string()
        };
        let parsed = parse(with(
            r#"{"api_key": "iio-key-secret", "webhook_secrets": ["whsec_c2VjcmV0LWtleQ=="]}"#,
        ))
        .unwrap();
        let section = parsed.incident_io.as_ref().unwrap();
        assert_eq!(section.webhook_secrets.len(), 1);
        assert!(!format!("{parsed:?}").contains("iio-key-secret"));
        for (section, expected) in [
            (
                r#"{"webhook_secrets": ["whsec_not base64 secret-value"]}"#,
                "incident_io.webhook_secrets holds a value that is not a whsec_<base64> secret",
            ),
            (r#"{"api_key": " "}"#, "incident_io.api_key is empty"),
        ] {
            let err = parse(with(section)).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains("secret-value"), "{err}");
        }
        // A field the relay does not know is skipped, not refused.
        let unknown = parse(with(r#"{"api_token": "x"}"#)).unwrap();
        assert!(unknown.incident_io.unwrap().api_key.is_none());
    }

    #[test]
    fn fields_the_relay_does_not_know_are_skipped_in_every_section() {
        let mut doc: serde_json::Value = serde_json::from_str(VALID).unwrap();
        doc["slack"] = serde_json::json!({"token": "xoxb"});
        doc["zoom"]["webhook_verification_token"] = serde_json::json!("old");
        doc["pagerduty"]["region"] = serde_json::json!("eu");
        doc["incident_io"] = serde_json::json!({"api_key": "k", "org": "acme"});
        let parsed = RelaySecrets::parse("test", &SecretString::from(doc.to_string())).unwrap();
        assert!(parsed.incident_io.is_some());
    }

    /// The ingress's part of a split: verification secrets only.
    const INGRESS: &str = r#"{"pagerduty":{"webhook_secrets":["hook-very-secret"],"action_secret":"action-very-secret-1"},
        "zoom":{"webhook_secret_token":"zoom-event-very-secret"},
        "incident_io":{"webhook_secrets":["whsec_c2VjcmV0LWtleQ=="]}}"#;
    /// The worker's part: the API credentials only.
    const WORKER: &str = r#"{"zoom":{"account_id":"acc","client_id":"cid","client_secret":"zoom-very-secret"},
        "pagerduty":{"api_token":"pd-very-secret","from_email":"bot@example.com"},
        "incident_io":{"api_key":"iio-very-secret"}}"#;

    fn parse_as(role: SecretRole, doc: &str) -> Result<RelaySecrets, SecretsError> {
        RelaySecrets::parse_for(role, "test-secret", &SecretString::from(doc.to_owned()))
    }

    #[test]
    fn each_part_of_a_split_serves_its_own_function_only() {
        let ingress = parse_as(SecretRole::Ingress, INGRESS).unwrap();
        assert!(ingress.has_verification_secret() && !ingress.has_api_credential());
        assert_eq!(
            ingress.describe_keys(),
            "pagerduty.webhook_secrets (1), pagerduty.action_secret, zoom.webhook_secret_token, incident_io.webhook_secrets (1)"
        );
        // Code that reaches for an API credential in the ingress's secret gets an error naming
        // the keys, never a value.
        let err = ingress.zoom_app().unwrap_err().to_string();
        assert!(
            err.contains("test-secret has no zoom.account_id, zoom.client_id and zoom.client_secret, which the worker needs"),
            "{err}"
        );
        assert!(ingress.pagerduty_api().is_err());

        let worker = parse_as(SecretRole::Worker, WORKER).unwrap();
        assert!(worker.has_api_credential() && !worker.has_verification_secret());
        assert_eq!(worker.zoom_app().unwrap().client_id, "cid");
        assert_eq!(
            worker.pagerduty_api().unwrap().from_email,
            "bot@example.com"
        );
        assert_eq!(
            worker.describe_keys(),
            "zoom app credentials, pagerduty.api_token and from_email, incident_io.api_key"
        );

        // Each is refused for the other function, by the keys it lacks.
        let err = parse_as(SecretRole::Worker, INGRESS)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no zoom.account_id"), "{err}");
        let err = parse_as(SecretRole::Both, INGRESS).unwrap_err().to_string();
        assert!(err.contains("which the worker needs"), "{err}");
        let err = parse_as(SecretRole::Ingress, WORKER)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has no pagerduty.webhook_secrets, pagerduty.action_secret, zoom.webhook_secret_token or incident_io.webhook_secrets, which the ingress needs"),
            "{err}"
        );
        for doc in [INGRESS, WORKER] {
            for role in [SecretRole::Ingress, SecretRole::Worker] {
                let shown = match parse_as(role, doc) {
                    Ok(secrets) => format!("{secrets:?} {}", secrets.describe_keys()),
                    Err(e) => e.to_string(),
                };
                assert!(!shown.contains("very-secret"), "{shown}");
            }
        }
    }

    #[test]
    fn one_document_with_every_key_still_serves_as_either() {
        let mut doc: serde_json::Value = serde_json::from_str(WORKER).unwrap();
        let ingress: serde_json::Value = serde_json::from_str(INGRESS).unwrap();
        doc["pagerduty"]["webhook_secrets"] = ingress["pagerduty"]["webhook_secrets"].clone();
        doc["zoom"]["webhook_secret_token"] = ingress["zoom"]["webhook_secret_token"].clone();
        let doc = doc.to_string();
        for role in [SecretRole::Ingress, SecretRole::Worker, SecretRole::Both] {
            let secrets = parse_as(role, &doc).unwrap();
            assert!(secrets.has_api_credential() && secrets.has_verification_secret());
        }
        // The document from before the split, without any webhook secret, is still whole.
        assert!(parse_as(SecretRole::Both, WORKER).is_ok());
    }

    #[test]
    fn half_a_credential_is_refused_in_any_secret() {
        for (doc, expected) in [
            (
                r#"{"zoom":{"client_id":"c","client_secret":"s"},"pagerduty":{"webhook_secrets":["h"]}}"#,
                "missing field `account_id` in zoom",
            ),
            (
                r#"{"pagerduty":{"api_token":"t","webhook_secrets":["h"]}}"#,
                "missing field `from_email` in pagerduty",
            ),
            (
                r#"{"pagerduty":{"from_email":"bot@example.com","webhook_secrets":["h"]}}"#,
                "missing field `api_token` in pagerduty",
            ),
        ] {
            for role in [SecretRole::Ingress, SecretRole::Worker] {
                let err = parse_as(role, doc).unwrap_err().to_string();
                assert!(err.contains(expected), "{role:?}: {err}");
            }
        }
    }

    struct Document {
        text: std::sync::Mutex<String>,
    }

    #[async_trait]
    impl SecretSource for Document {
        fn name(&self) -> &str {
            "document"
        }
        async fn fetch(&self) -> Result<SecretString, SecretsError> {
            Ok(SecretString::from(self.text.lock().unwrap().clone()))
        }
    }

    #[tokio::test]
    async fn the_cache_refuses_a_document_without_its_functions_keys() {
        let source = Arc::new(Document {
            text: std::sync::Mutex::new(WORKER.to_owned()),
        });
        let ingress = SecretCache::with_stale_for(source.clone(), Duration::ZERO, Duration::ZERO)
            .with_role(SecretRole::Ingress);
        let err = ingress.get().await.unwrap_err();
        assert!(
            matches!(
                err,
                SecretsError::Incomplete {
                    role: "ingress",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!err.is_retryable());
        *source.text.lock().unwrap() = INGRESS.to_owned();
        assert!(ingress.get().await.unwrap().has_verification_secret());
        let worker = SecretCache::new(source, Duration::ZERO).with_role(SecretRole::Worker);
        assert_eq!(worker.role(), SecretRole::Worker);
        assert!(worker.get().await.is_err());
    }

    #[test]
    fn the_example_files_serve_their_roles() {
        let example = |text: &str| SecretString::from(text.to_owned());
        let ingress = include_str!("../../../examples/secrets.ingress.json");
        let worker = include_str!("../../../examples/secrets.worker.json");
        let both = include_str!("../../../examples/secrets.local.json");
        let parsed =
            RelaySecrets::parse_for(SecretRole::Ingress, "ingress", &example(ingress)).unwrap();
        assert!(!parsed.has_api_credential());
        let parsed =
            RelaySecrets::parse_for(SecretRole::Worker, "worker", &example(worker)).unwrap();
        assert!(!parsed.has_verification_secret());
        for role in [SecretRole::Ingress, SecretRole::Worker, SecretRole::Both] {
            assert!(RelaySecrets::parse_for(role, "local", &example(both)).is_ok());
        }
    }

    struct Counting {
        reads: AtomicUsize,
    }

    #[async_trait]
    impl SecretSource for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        async fn fetch(&self) -> Result<SecretString, SecretsError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(SecretString::from(VALID))
        }
    }

    #[tokio::test]
    async fn cache_reads_once_and_refreshes_once_for_concurrent_callers() {
        let source = Arc::new(Counting {
            reads: AtomicUsize::new(0),
        });
        let cache = Arc::new(SecretCache::new(source.clone(), Duration::from_secs(300)));
        let gets: Vec<_> = (0..16)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get().await.unwrap() })
            })
            .collect();
        let mut first = Vec::new();
        for g in gets {
            first.push(g.await.unwrap());
        }
        assert_eq!(source.reads.load(Ordering::SeqCst), 1);

        let stale = first[0].clone();
        let refreshes: Vec<_> = (0..8)
            .map(|_| {
                let (cache, stale) = (cache.clone(), stale.clone());
                tokio::spawn(async move { cache.refresh(&stale).await.unwrap() })
            })
            .collect();
        for r in refreshes {
            assert!(!Arc::ptr_eq(&r.await.unwrap(), &stale));
        }
        assert_eq!(source.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn cache_rereads_after_ttl() {
        let source = Arc::new(Counting {
            reads: AtomicUsize::new(0),
        });
        let cache = SecretCache::new(source.clone(), Duration::from_millis(1));
        cache.get().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        cache.get().await.unwrap();
        assert_eq!(source.reads.load(Ordering::SeqCst), 2);
    }
}
