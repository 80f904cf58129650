//! The relay's one secret: Zoom and PagerDuty credentials as a JSON document, read from
//! Secrets Manager in AWS or a file locally, cached with a TTL and re-read on demand.
//!
//! ```json
//! {"zoom": {"account_id": "…", "client_id": "…", "client_secret": "…"},
//!  "pagerduty": {"api_token": "…", "from_email": "bot@example.com", "webhook_secrets": ["…"]},
//!  "incident_io": {"api_key": "…", "webhook_secrets": ["whsec_…"]}}
//! ```

mod aws;
mod file;

pub use aws::SecretsManagerSource;
pub use file::FileSecretSource;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::error::SecretsError;

#[derive(Debug, Deserialize)]
pub struct RelaySecrets {
    pub zoom: ZoomCredentials,
    pub pagerduty: PagerDutyCredentials,
    /// Only when incident.io incidents are bridged too.
    #[serde(default)]
    pub incident_io: Option<IncidentIoCredentials>,
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

#[derive(Debug, Deserialize)]
pub struct ZoomCredentials {
    pub account_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The secret token of the Zoom app's event subscription, which signs Zoom's event
    /// notifications (`/zoom`); without it those are refused.
    #[serde(default)]
    pub webhook_secret_token: Option<SecretString>,
}

#[derive(Debug, Deserialize)]
pub struct PagerDutyCredentials {
    pub api_token: SecretString,
    /// Email of the PagerDuty user the relay acts as (`From` header).
    pub from_email: String,
    /// Signing secrets of the V3 webhook subscriptions; two while one is rotated.
    #[serde(default)]
    pub webhook_secrets: Vec<SecretString>,
    /// The shared secret button clicks (Custom Incident Action) and workflow steps send in the
    /// `X-Bridge-Relay-Token` header; without it those requests are refused.
    #[serde(default)]
    pub action_secret: Option<SecretString>,
}

impl RelaySecrets {
    /// Parses the secret document. Error messages never quote values from it.
    pub fn parse(source_name: &str, raw: &SecretString) -> Result<RelaySecrets, SecretsError> {
        let malformed = |reason: String| SecretsError::Malformed {
            source_name: source_name.to_owned(),
            reason,
        };
        let secrets: RelaySecrets = serde_json::from_str(raw.expose_secret()).map_err(|e| {
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
        let empty = [
            ("zoom.account_id", secrets.zoom.account_id.is_empty()),
            ("zoom.client_id", secrets.zoom.client_id.is_empty()),
            (
                "zoom.client_secret",
                secrets.zoom.client_secret.expose_secret().is_empty(),
            ),
            (
                "pagerduty.api_token",
                secrets.pagerduty.api_token.expose_secret().is_empty(),
            ),
            (
                "pagerduty.from_email",
                secrets.pagerduty.from_email.is_empty(),
            ),
        ];
        if let Some((field, _)) = empty.iter().find(|(_, is_empty)| *is_empty) {
            return Err(malformed(format!("{field} is empty")));
        }
        if !secrets.pagerduty.from_email.contains('@') {
            return Err(malformed(
                "pagerduty.from_email is not an email address".into(),
            ));
        }
        if secrets
            .pagerduty
            .action_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret().len() < 16)
        {
            return Err(malformed(
                "pagerduty.action_secret is shorter than 16 characters".into(),
            ));
        }
        if secrets
            .zoom
            .webhook_secret_token
            .as_ref()
            .is_some_and(|s| s.expose_secret().is_empty())
        {
            return Err(malformed("zoom.webhook_secret_token is empty".into()));
        }
        if secrets
            .pagerduty
            .webhook_secrets
            .iter()
            .any(|s| s.expose_secret().is_empty())
        {
            return Err(malformed(
                "pagerduty.webhook_secrets holds an empty value".into(),
            ));
        }
        if let Some(incident_io) = &secrets.incident_io {
            if incident_io
                .webhook_secrets
                .iter()
                .any(|s| crate::incident_io::signature::decode_secret(s).is_none())
            {
                return Err(malformed(
                    "incident_io.webhook_secrets holds a value that is not a whsec_<base64> secret"
                        .into(),
                ));
            }
            if incident_io
                .api_key
                .as_ref()
                .is_some_and(|k| k.expose_secret().trim().is_empty())
            {
                return Err(malformed("incident_io.api_key is empty".into()));
            }
        }
        Ok(secrets)
    }
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
    /// The cache over a Secrets Manager secret, as both Lambda functions use it.
    pub fn secrets_manager(
        config: &aws_config::SdkConfig,
        secret_id: impl Into<String>,
        ttl: Duration,
    ) -> Arc<Self> {
        Arc::new(Self::new(
            Arc::new(SecretsManagerSource::from_sdk_config(config, secret_id)),
            ttl,
        ))
    }

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
            ttl,
            stale_for,
            current: Mutex::new(None),
        }
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
        let secrets = Arc::new(RelaySecrets::parse(self.source.name(), &raw)?);
        tracing::info!(source = self.source.name(), "secret read");
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
