//! Non-secret settings from environment variables, read once in `main`; a bad value fails the
//! start with a message that names the variable.

use std::time::Duration;

use crate::error::ConfigError;
use crate::policy::{BridgePolicy, DEFAULT_BRIDGE_EVENTS};
use crate::relay::WorkerSettings;

pub const DEFAULT_ZOOM_API_BASE: &str = "https://api.zoom.us/v2";
pub const DEFAULT_ZOOM_OAUTH_BASE: &str = "https://zoom.us";
pub const DEFAULT_PAGERDUTY_API_BASE: &str = "https://api.pagerduty.com";
const DEFAULT_SECRET_TTL_SECONDS: u64 = 300;

/// Where the relay finds Zoom and PagerDuty (`ZOOM_API_BASE`, `ZOOM_OAUTH_BASE`, `PAGERDUTY_API_BASE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub zoom_api: String,
    pub zoom_oauth: String,
    pub pagerduty_api: String,
}

#[derive(Debug, Clone)]
pub struct IngressConfig {
    pub secret_id: String,
    pub queue_url: String,
    pub policy: BridgePolicy,
    pub secret_ttl: Duration,
    /// The idempotency table (`TABLE_NAME`), read to match Zoom events to incidents; without
    /// it the ingress ignores Zoom meeting events.
    pub table_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub secret_id: String,
    pub zoom_host_user: String,
    pub endpoints: Endpoints,
    pub secret_ttl: Duration,
    /// The DynamoDB idempotency table (`TABLE_NAME`).
    pub table_name: String,
    /// Where jobs that fail for good go at once (`DEAD_LETTER_QUEUE_URL`).
    pub dead_letter_queue_url: String,
    pub settings: WorkerSettings,
    /// The standard queue that holds grace timers (`TIMER_QUEUE_URL`); without it a policy
    /// that ends meetings after a grace period cannot be followed.
    pub timer_queue_url: Option<String>,
}

/// The local runner: both halves in one process, the secret in a file given on the command line.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub zoom_host_user: String,
    pub endpoints: Endpoints,
    pub policy: BridgePolicy,
    pub secret_ttl: Duration,
    pub overwrite_existing_bridge: bool,
}

/// Reads variables through `lookup`, so tests need not touch the process environment.
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

pub fn process_env() -> Env<impl Fn(&str) -> Option<String>> {
    Env(|name: &str| std::env::var(name).ok())
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn optional(&self, var: &'static str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.optional(var).ok_or(ConfigError::Missing(var))
    }

    fn url(&self, var: &'static str, default: &str) -> Result<String, ConfigError> {
        let value = self.optional(var).unwrap_or_else(|| default.to_owned());
        let parsed = reqwest::Url::parse(&value).map_err(|e| ConfigError::Invalid {
            var,
            reason: format!("{value:?} is not a URL: {e}"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.cannot_be_a_base() {
            return Err(ConfigError::Invalid {
                var,
                reason: format!("{value:?} is not an http(s) base URL"),
            });
        }
        Ok(value.trim_end_matches('/').to_owned())
    }

    pub fn endpoints(&self) -> Result<Endpoints, ConfigError> {
        Ok(Endpoints {
            zoom_api: self.url("ZOOM_API_BASE", DEFAULT_ZOOM_API_BASE)?,
            zoom_oauth: self.url("ZOOM_OAUTH_BASE", DEFAULT_ZOOM_OAUTH_BASE)?,
            pagerduty_api: self.url("PAGERDUTY_API_BASE", DEFAULT_PAGERDUTY_API_BASE)?,
        })
    }

    /// The policy document from `POLICY_FILE` (a path) or `POLICY` (the JSON itself), else the
    /// default policy; `BRIDGE_EVENT_TYPES` gives the event types a document does not list.
    pub fn policy(&self) -> Result<BridgePolicy, ConfigError> {
        let events = self.optional("BRIDGE_EVENT_TYPES");
        let (var, source, text) = match (self.optional("POLICY_FILE"), self.optional("POLICY")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    var: "POLICY",
                    reason: "set POLICY or POLICY_FILE, not both".into(),
                });
            }
            (Some(path), None) => {
                let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
                    var: "POLICY_FILE",
                    reason: format!("cannot read {path}: {e}"),
                })?;
                ("POLICY_FILE", format!("{path}: "), text)
            }
            (None, Some(json)) => ("POLICY", String::new(), json),
            (None, None) => {
                return BridgePolicy::from_event_list(
                    events.as_deref().unwrap_or(DEFAULT_BRIDGE_EVENTS),
                );
            }
        };
        BridgePolicy::from_json(&text, events.as_deref()).map_err(|e| ConfigError::Invalid {
            var,
            reason: format!("{source}{e}"),
        })
    }

    pub fn secret_ttl(&self) -> Result<Duration, ConfigError> {
        match self.optional("SECRET_CACHE_TTL_SECONDS") {
            None => Ok(Duration::from_secs(DEFAULT_SECRET_TTL_SECONDS)),
            Some(v) => {
                v.parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|_| ConfigError::Invalid {
                        var: "SECRET_CACHE_TTL_SECONDS",
                        reason: format!("{v:?} is not a whole number of seconds"),
                    })
            }
        }
    }

    /// The Zoom user who hosts the meetings: an id or email, never `me` (S2S apps have no "me").
    pub fn zoom_host_user(&self) -> Result<String, ConfigError> {
        let user = self.required("ZOOM_HOST_USER")?;
        if user.eq_ignore_ascii_case("me") {
            return Err(ConfigError::Invalid {
                var: "ZOOM_HOST_USER",
                reason: "Server-to-Server apps have no `me`; give the host's email or user id"
                    .into(),
            });
        }
        Ok(user)
    }

    fn flag(&self, var: &'static str) -> Result<bool, ConfigError> {
        match self.optional(var).as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(ConfigError::Invalid {
                var,
                reason: format!("{other:?} is not true or false"),
            }),
        }
    }

    fn whole_number(&self, var: &'static str, default: u32, min: u32) -> Result<u32, ConfigError> {
        match self.optional(var) {
            None => Ok(default),
            Some(v) => {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| *n >= min)
                    .ok_or_else(|| ConfigError::Invalid {
                        var,
                        reason: format!("{v:?} is not a whole number of at least {min}"),
                    })
            }
        }
    }

    pub fn ingress(&self) -> Result<IngressConfig, ConfigError> {
        Ok(IngressConfig {
            secret_id: self.required("SECRET_ID")?,
            queue_url: self.required("QUEUE_URL")?,
            policy: self.policy()?,
            secret_ttl: self.secret_ttl()?,
            table_name: self.optional("TABLE_NAME"),
        })
    }

    pub fn worker(&self) -> Result<WorkerConfig, ConfigError> {
        Ok(WorkerConfig {
            secret_id: self.required("SECRET_ID")?,
            zoom_host_user: self.zoom_host_user()?,
            endpoints: self.endpoints()?,
            secret_ttl: self.secret_ttl()?,
            table_name: self.required("TABLE_NAME")?,
            dead_letter_queue_url: self.required("DEAD_LETTER_QUEUE_URL")?,
            settings: WorkerSettings {
                overwrite_existing_bridge: self.flag("OVERWRITE_EXISTING_BRIDGE")?,
                max_receives: self.whole_number("MAX_RECEIVE_COUNT", 5, 1)?,
                ..WorkerSettings::default()
            },
            timer_queue_url: self.optional("TIMER_QUEUE_URL"),
        })
    }

    pub fn local(&self) -> Result<LocalConfig, ConfigError> {
        Ok(LocalConfig {
            zoom_host_user: self.zoom_host_user()?,
            endpoints: self.endpoints()?,
            policy: self.policy()?,
            secret_ttl: self.secret_ttl()?,
            overwrite_existing_bridge: self.flag("OVERWRITE_EXISTING_BRIDGE")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env(move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn worker_defaults_to_the_real_apis() {
        let config = env(&[
            ("SECRET_ID", "bridge-relay"),
            ("ZOOM_HOST_USER", "bot@example.com"),
            ("TABLE_NAME", "t"),
            ("DEAD_LETTER_QUEUE_URL", "d"),
        ])
        .worker()
        .unwrap();
        assert_eq!(config.settings.max_receives, 5);
        assert!(!config.settings.overwrite_existing_bridge);
        assert_eq!(config.endpoints.zoom_api, DEFAULT_ZOOM_API_BASE);
        assert_eq!(config.endpoints.zoom_oauth, DEFAULT_ZOOM_OAUTH_BASE);
        assert_eq!(config.endpoints.pagerduty_api, DEFAULT_PAGERDUTY_API_BASE);
        assert_eq!(config.secret_ttl, Duration::from_secs(300));
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("ZOOM_HOST_USER", "bot@example.com")],
                "SECRET_ID is required",
            ),
            (&[("SECRET_ID", "s")], "ZOOM_HOST_USER is required"),
            (
                &[("SECRET_ID", "s"), ("ZOOM_HOST_USER", "me")],
                "ZOOM_HOST_USER is invalid",
            ),
            (
                &[
                    ("SECRET_ID", "s"),
                    ("ZOOM_HOST_USER", "u"),
                    ("ZOOM_API_BASE", "not a url"),
                ],
                "ZOOM_API_BASE is invalid",
            ),
            (
                &[
                    ("SECRET_ID", "s"),
                    ("ZOOM_HOST_USER", "u"),
                    ("PAGERDUTY_API_BASE", "ftp://x"),
                ],
                "PAGERDUTY_API_BASE is invalid",
            ),
            (
                &[
                    ("SECRET_ID", "s"),
                    ("ZOOM_HOST_USER", "u"),
                    ("SECRET_CACHE_TTL_SECONDS", "soon"),
                ],
                "SECRET_CACHE_TTL_SECONDS is invalid",
            ),
        ];
        for (pairs, expected) in cases {
            let err = env(pairs).worker().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        let err = env(&[("SECRET_ID", "s")])
            .ingress()
            .unwrap_err()
            .to_string();
        assert!(err.contains("QUEUE_URL is required"), "{err}");
        let err = env(&[
            ("SECRET_ID", "s"),
            ("QUEUE_URL", "q"),
            ("BRIDGE_EVENT_TYPES", "service.created"),
        ])
        .ingress()
        .unwrap_err()
        .to_string();
        assert!(err.contains("BRIDGE_EVENT_TYPES"), "{err}");
    }

    #[test]
    fn the_policy_comes_from_a_file_or_the_environment_and_names_its_field() {
        let dir = std::env::temp_dir().join(format!("policy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(&good, r#"{"urgencies": [], "priorities": ["P1"]}"#).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"meeting": {"auto_recording": "tape"}}"#).unwrap();
        let base = [("SECRET_ID", "s"), ("QUEUE_URL", "q")];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            env(&pairs).ingress()
        };
        let good_path = good.to_str().unwrap();
        assert!(with(&[("POLICY_FILE", good_path)]).is_ok());
        assert!(with(&[("POLICY", r#"{"priorities": ["SEV-1"]}"#)]).is_ok());
        let err = with(&[("POLICY_FILE", bad.to_str().unwrap())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("POLICY_FILE is invalid"), "{err}");
        assert!(err.contains("field `meeting.auto_recording`"), "{err}");
        let err = with(&[("POLICY", r#"{"teams": {"allow": [""]}}"#)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("POLICY is invalid") && err.contains("field `teams.allow[0]`"),
            "{err}"
        );
        let err = with(&[("POLICY_FILE", "/nonexistent/policy.json")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot read /nonexistent/policy.json"),
            "{err}"
        );
        let err = with(&[("POLICY_FILE", good_path), ("POLICY", "{}")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not both"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn worker_store_and_queue_settings_are_checked() {
        let base = [("SECRET_ID", "s"), ("ZOOM_HOST_USER", "u")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            env(&pairs).worker().unwrap_err().to_string()
        };
        assert!(with(&[]).contains("TABLE_NAME is required"));
        assert!(with(&[("TABLE_NAME", "t")]).contains("DEAD_LETTER_QUEUE_URL is required"));
        let full = [("TABLE_NAME", "t"), ("DEAD_LETTER_QUEUE_URL", "d")];
        let mut bad_count = full.to_vec();
        bad_count.push(("MAX_RECEIVE_COUNT", "0"));
        assert!(with(&bad_count).contains("MAX_RECEIVE_COUNT is invalid"));
        let mut bad_flag = full.to_vec();
        bad_flag.push(("OVERWRITE_EXISTING_BRIDGE", "maybe"));
        assert!(with(&bad_flag).contains("OVERWRITE_EXISTING_BRIDGE is invalid"));
    }
}
