//! Non-secret settings from environment variables, read once in `main`; a bad value fails the
//! start with a message that names the variable.

use std::time::Duration;

use crate::hostpool::{
    DEFAULT_CREATES_PER_DAY, DEFAULT_MEETINGS_PER_HOST, DEFAULT_SLOT_MAX_AGE, HostPool,
};
use crate::relay::WorkerSettings;
use bridge_relay_domain::error::ConfigError;
use bridge_relay_domain::policy::{BridgePolicy, DEFAULT_BRIDGE_EVENTS};
use bridge_relay_ports::retry::RetryPolicy;

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
    /// `INCIDENT_IO_API_BASE`
    pub incident_io_api: String,
}

#[derive(Debug, Clone)]
pub struct IngressConfig {
    /// The ingress's secret: `INGRESS_SECRET_ID`, else `SECRET_ID` (one secret for both).
    pub secret_id: String,
    /// Which of the two variables gave `secret_id`, for the start log line.
    pub secret_var: &'static str,
    pub queue_url: String,
    pub policy: BridgePolicy,
    pub secret_ttl: Duration,
    /// The idempotency table (`TABLE_NAME`), read to match Zoom events to incidents; without
    /// it the ingress ignores Zoom meeting events.
    pub table_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The worker's secret: `WORKER_SECRET_ID`, else `SECRET_ID` (one secret for both).
    pub secret_id: String,
    /// Which of the two variables gave `secret_id`, for the start log line.
    pub secret_var: &'static str,
    pub zoom_host_user: String,
    pub endpoints: Endpoints,
    pub secret_ttl: Duration,
    /// The DynamoDB idempotency table (`TABLE_NAME`).
    pub table_name: String,
    /// Where jobs that fail for good go at once (`DEAD_LETTER_QUEUE_URL`).
    pub dead_letter_queue_url: String,
    /// The job queue (`QUEUE_URL`, optional): jobs that wait for a free Zoom host past their
    /// last receive go back there instead of the dead-letter queue.
    pub queue_url: Option<String>,
    pub settings: WorkerSettings,
    /// Whether incident.io announces the call link in the incident's channel
    /// (`INCIDENT_IO_NOTIFY_CHANNEL`, default true).
    pub incident_io_notify_channel: bool,
    /// The standard queue that holds grace timers (`TIMER_QUEUE_URL`). Required: without it a
    /// resolve that ends the meeting after its grace could never end it, and the meeting
    /// would hold its host slot for the slot's maximum age.
    pub timer_queue_url: String,
}

/// The local runner: both halves in one process, the secret in a file given on the command line.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub zoom_host_user: String,
    /// The Zoom hosts and their limits, tracked in the in-memory store.
    pub host_pool: HostPool,
    pub endpoints: Endpoints,
    pub policy: BridgePolicy,
    pub secret_ttl: Duration,
    pub overwrite_existing_bridge: bool,
    pub retry: RetryPolicy,
    pub incident_io_notify_channel: bool,
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

    /// The function's own secret variable `own`, else `SECRET_ID`: a deployment from before
    /// the split has one secret, which serves as either until it is split. `missing` names
    /// both for the error.
    fn secret_id(
        &self,
        own: &'static str,
        missing: &'static str,
    ) -> Result<(String, &'static str), ConfigError> {
        if let Some(id) = self.optional(own) {
            return Ok((id, own));
        }
        match self.optional("SECRET_ID") {
            Some(id) => Ok((id, "SECRET_ID")),
            None => Err(ConfigError::Missing(missing)),
        }
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
            incident_io_api: self
                .url("INCIDENT_IO_API_BASE", crate::incident_io::DEFAULT_API_BASE)?,
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

    /// The Zoom hosts: `ZOOM_HOST_USER` (when set) first, then `ZOOM_HOST_USERS` (a comma
    /// list), each once; at least one. Limits from `ZOOM_HOST_MAX_MEETINGS`,
    /// `ZOOM_HOST_DAILY_CREATES` and [`slot_max_age`](Self::slot_max_age).
    pub fn host_pool(&self) -> Result<HostPool, ConfigError> {
        let mut hosts: Vec<String> = Vec::new();
        if self.optional("ZOOM_HOST_USER").is_some() {
            hosts.push(self.zoom_host_user()?);
        }
        let listed = self.listed_hosts()?;
        for user in listed {
            if !hosts.contains(&user) {
                hosts.push(user);
            }
        }
        if hosts.is_empty() {
            return Err(ConfigError::Missing("ZOOM_HOST_USER"));
        }
        let slot_max_age = self.slot_max_age()?;
        Ok(HostPool {
            hosts,
            meetings_per_host: self.whole_number(
                "ZOOM_HOST_MAX_MEETINGS",
                DEFAULT_MEETINGS_PER_HOST,
                1,
            )?,
            creates_per_day: self.whole_number(
                "ZOOM_HOST_DAILY_CREATES",
                DEFAULT_CREATES_PER_DAY,
                1,
            )?,
            slot_max_age,
        })
    }

    /// `ZOOM_HOST_USERS`: a comma list of Zoom emails or user ids, each once.
    fn listed_hosts(&self) -> Result<Vec<String>, ConfigError> {
        let mut listed: Vec<String> = Vec::new();
        for user in self
            .optional("ZOOM_HOST_USERS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            let invalid = |reason: String| ConfigError::Invalid {
                var: "ZOOM_HOST_USERS",
                reason,
            };
            if user.eq_ignore_ascii_case("me") {
                return Err(invalid(
                    "Server-to-Server apps have no `me`; give each host's email or user id".into(),
                ));
            }
            if user.contains(|c: char| c.is_whitespace() || c == '#' || c == '/') {
                return Err(invalid(format!("{user:?} is not a Zoom email or user id")));
            }
            if listed.iter().any(|u| u == user) {
                return Err(invalid(format!("{user:?} is listed twice")));
            }
            listed.push(user.to_owned());
        }
        Ok(listed)
    }

    /// How long a host slot nobody frees stays held: `ZOOM_HOST_SLOT_MAX_AGE_MINUTES`, or
    /// `ZOOM_HOST_SLOT_MAX_AGE_SECONDS` (not both).
    fn slot_max_age(&self) -> Result<Duration, ConfigError> {
        const MINUTES: &str = "ZOOM_HOST_SLOT_MAX_AGE_MINUTES";
        const SECONDS: &str = "ZOOM_HOST_SLOT_MAX_AGE_SECONDS";
        match (self.optional(MINUTES), self.optional(SECONDS)) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                var: SECONDS,
                reason: format!("set {MINUTES} or {SECONDS}, not both"),
            }),
            (None, Some(_)) => Ok(Duration::from_secs(u64::from(
                self.whole_number(SECONDS, 1, 1)?,
            ))),
            (_, None) => {
                let default = u32::try_from(DEFAULT_SLOT_MAX_AGE.as_secs() / 60).unwrap_or(1);
                let minutes = self.whole_number(MINUTES, default, 1)?;
                Ok(Duration::from_secs(u64::from(minutes).saturating_mul(60)))
            }
        }
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

    fn flag_or(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(var) {
            None => Ok(default),
            Some(_) => self.flag(var),
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

    /// How the worker retries a failed call within a delivery: `RETRY_FIRST_DELAY_MS`,
    /// `RETRY_MAX_DELAY_MS` (the backoff's first and largest wait) and `RETRY_MAX_ATTEMPTS`.
    pub fn retry(&self) -> Result<RetryPolicy, ConfigError> {
        let default = RetryPolicy::default();
        let millis = |var, default: Duration| -> Result<Duration, ConfigError> {
            let default = u32::try_from(default.as_millis()).unwrap_or(u32::MAX);
            Ok(Duration::from_millis(u64::from(
                self.whole_number(var, default, 1)?,
            )))
        };
        let policy = RetryPolicy {
            first_delay: millis("RETRY_FIRST_DELAY_MS", default.first_delay)?,
            max_delay: millis("RETRY_MAX_DELAY_MS", default.max_delay)?,
            max_attempts: self.whole_number("RETRY_MAX_ATTEMPTS", default.max_attempts, 1)?,
        };
        if policy.max_delay < policy.first_delay {
            return Err(ConfigError::Invalid {
                var: "RETRY_MAX_DELAY_MS",
                reason: "is below RETRY_FIRST_DELAY_MS".into(),
            });
        }
        Ok(policy)
    }

    /// `REDELIVERY_BACKOFF_SECONDS`: when a failed delivery comes back, by its receive, as a
    /// comma list (default `10,30,60`; the last is used for every later receive). Each at most
    /// 43200 s, SQS's longest visibility; a deployment with a shorter queue visibility gives
    /// shorter ones.
    fn redelivery_backoff(&self) -> Result<Vec<Duration>, ConfigError> {
        const VAR: &str = "REDELIVERY_BACKOFF_SECONDS";
        let Some(list) = self.optional(VAR) else {
            return Ok(crate::worker::DEFAULT_REDELIVERY_BACKOFF.to_vec());
        };
        list.split(',')
            .map(|n| {
                n.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n <= 43_200)
                    .map(Duration::from_secs)
                    .ok_or_else(|| ConfigError::Invalid {
                        var: VAR,
                        reason: format!("{n:?} is not a number of seconds up to 43200"),
                    })
            })
            .collect()
    }

    pub fn ingress(&self) -> Result<IngressConfig, ConfigError> {
        let (secret_id, secret_var) =
            self.secret_id("INGRESS_SECRET_ID", "INGRESS_SECRET_ID or SECRET_ID")?;
        Ok(IngressConfig {
            secret_id,
            secret_var,
            queue_url: self.required("QUEUE_URL")?,
            policy: self.policy()?,
            secret_ttl: self.secret_ttl()?,
            table_name: self.optional("TABLE_NAME"),
        })
    }

    pub fn worker(&self) -> Result<WorkerConfig, ConfigError> {
        let (secret_id, secret_var) =
            self.secret_id("WORKER_SECRET_ID", "WORKER_SECRET_ID or SECRET_ID")?;
        let host_pool = self.host_pool()?;
        Ok(WorkerConfig {
            secret_id,
            secret_var,
            zoom_host_user: host_pool.first_host(),
            endpoints: self.endpoints()?,
            secret_ttl: self.secret_ttl()?,
            table_name: self.required("TABLE_NAME")?,
            dead_letter_queue_url: self.required("DEAD_LETTER_QUEUE_URL")?,
            queue_url: self.optional("QUEUE_URL"),
            settings: WorkerSettings {
                overwrite_existing_bridge: self.flag("OVERWRITE_EXISTING_BRIDGE")?,
                max_receives: self.whole_number("MAX_RECEIVE_COUNT", 5, 1)?,
                retry: self.retry()?,
                host_pool,
                redelivery_backoff: self.redelivery_backoff()?,
            },
            incident_io_notify_channel: self.flag_or("INCIDENT_IO_NOTIFY_CHANNEL", true)?,
            timer_queue_url: self.required("TIMER_QUEUE_URL")?,
        })
    }

    pub fn local(&self) -> Result<LocalConfig, ConfigError> {
        let host_pool = self.host_pool()?;
        Ok(LocalConfig {
            zoom_host_user: host_pool.first_host(),
            host_pool,
            endpoints: self.endpoints()?,
            policy: self.policy()?,
            secret_ttl: self.secret_ttl()?,
            overwrite_existing_bridge: self.flag("OVERWRITE_EXISTING_BRIDGE")?,
            retry: self.retry()?,
            incident_io_notify_channel: self.flag_or("INCIDENT_IO_NOTIFY_CHANNEL", true)?,
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

    /// The worker's configuration from `base` and then `extra`.
    fn worker_with(
        base: &[(&'static str, &'static str)],
        extra: &[(&'static str, &'static str)],
    ) -> Result<WorkerConfig, ConfigError> {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(extra);
        env(&pairs).worker()
    }

    #[test]
    fn retries_and_the_slot_age_follow_the_environment() {
        let base = [
            ("SECRET_ID", "s"),
            ("ZOOM_HOST_USER", "a@x"),
            ("TABLE_NAME", "t"),
            ("DEAD_LETTER_QUEUE_URL", "d"),
            ("TIMER_QUEUE_URL", "tq"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| worker_with(&base, extra);
        let defaults = with(&[]).unwrap().settings;
        assert_eq!(defaults.retry.first_delay, Duration::from_millis(200));
        assert_eq!(defaults.retry.max_attempts, 6);
        let quick = with(&[
            ("RETRY_FIRST_DELAY_MS", "20"),
            ("RETRY_MAX_DELAY_MS", "100"),
            ("RETRY_MAX_ATTEMPTS", "3"),
            ("ZOOM_HOST_SLOT_MAX_AGE_SECONDS", "5"),
        ])
        .unwrap()
        .settings;
        assert_eq!(
            (
                quick.retry.first_delay,
                quick.retry.max_delay,
                quick.retry.max_attempts
            ),
            (Duration::from_millis(20), Duration::from_millis(100), 3)
        );
        assert_eq!(quick.host_pool.slot_max_age, Duration::from_secs(5));
        assert_eq!(
            defaults.redelivery_backoff,
            [10, 30, 60].map(Duration::from_secs)
        );
        let backoff = with(&[("REDELIVERY_BACKOFF_SECONDS", "1, 2")]).unwrap();
        assert_eq!(
            backoff.settings.redelivery_backoff,
            [1, 2].map(Duration::from_secs)
        );
        let err = |extra| with(extra).unwrap_err().to_string();
        assert!(err(&[("RETRY_MAX_ATTEMPTS", "0")]).contains("RETRY_MAX_ATTEMPTS is invalid"));
        assert!(
            err(&[("REDELIVERY_BACKOFF_SECONDS", "10,soon")])
                .contains("REDELIVERY_BACKOFF_SECONDS is invalid")
        );
        assert!(
            err(&[
                ("RETRY_FIRST_DELAY_MS", "500"),
                ("RETRY_MAX_DELAY_MS", "100")
            ])
            .contains("RETRY_MAX_DELAY_MS is invalid")
        );
        assert!(
            err(&[
                ("ZOOM_HOST_SLOT_MAX_AGE_SECONDS", "5"),
                ("ZOOM_HOST_SLOT_MAX_AGE_MINUTES", "5")
            ])
            .contains("not both")
        );
    }

    #[test]
    fn worker_defaults_to_the_real_apis() {
        let config = env(&[
            ("SECRET_ID", "bridge-relay"),
            ("ZOOM_HOST_USER", "bot@example.com"),
            ("TABLE_NAME", "t"),
            ("DEAD_LETTER_QUEUE_URL", "d"),
            ("TIMER_QUEUE_URL", "tq"),
        ])
        .worker()
        .unwrap();
        assert_eq!(config.settings.max_receives, 5);
        assert!(!config.settings.overwrite_existing_bridge);
        assert_eq!(config.endpoints.zoom_api, DEFAULT_ZOOM_API_BASE);
        assert_eq!(config.endpoints.zoom_oauth, DEFAULT_ZOOM_OAUTH_BASE);
        assert_eq!(config.endpoints.pagerduty_api, DEFAULT_PAGERDUTY_API_BASE);
        assert_eq!(config.endpoints.incident_io_api, "https://api.incident.io");
        assert!(config.incident_io_notify_channel);
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
    fn each_function_reads_its_own_secret_and_falls_back_to_the_shared_one() {
        let worker = |pairs: &[(&'static str, &'static str)]| {
            let mut all = vec![
                ("ZOOM_HOST_USER", "u"),
                ("TABLE_NAME", "t"),
                ("DEAD_LETTER_QUEUE_URL", "d"),
                ("TIMER_QUEUE_URL", "tq"),
            ];
            all.extend_from_slice(pairs);
            env(&all).worker()
        };
        let ingress = |pairs: &[(&'static str, &'static str)]| {
            let mut all = vec![("QUEUE_URL", "q")];
            all.extend_from_slice(pairs);
            env(&all).ingress()
        };
        // One secret for both: a deployment from before the split.
        let one = [("SECRET_ID", "shared")];
        let (w, i) = (worker(&one).unwrap(), ingress(&one).unwrap());
        assert_eq!(
            (w.secret_id.as_str(), w.secret_var),
            ("shared", "SECRET_ID")
        );
        assert_eq!(
            (i.secret_id.as_str(), i.secret_var),
            ("shared", "SECRET_ID")
        );
        // Split: each its own, whether or not the old variable is still set.
        let split = [
            ("SECRET_ID", "shared"),
            ("INGRESS_SECRET_ID", "ingress"),
            ("WORKER_SECRET_ID", "worker"),
        ];
        let (w, i) = (worker(&split).unwrap(), ingress(&split).unwrap());
        assert_eq!(
            (w.secret_id.as_str(), w.secret_var),
            ("worker", "WORKER_SECRET_ID")
        );
        assert_eq!(
            (i.secret_id.as_str(), i.secret_var),
            ("ingress", "INGRESS_SECRET_ID")
        );
        // The ingress never takes the worker's variable, nor the worker the ingress's.
        let err = ingress(&[("WORKER_SECRET_ID", "worker")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("INGRESS_SECRET_ID or SECRET_ID is required"),
            "{err}"
        );
        let err = worker(&[("INGRESS_SECRET_ID", "ingress")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("WORKER_SECRET_ID or SECRET_ID is required"),
            "{err}"
        );
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
    fn the_host_pool_is_the_single_host_and_the_list() {
        let base = [
            ("SECRET_ID", "s"),
            ("TABLE_NAME", "t"),
            ("DEAD_LETTER_QUEUE_URL", "d"),
            ("TIMER_QUEUE_URL", "tq"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| worker_with(&base, extra);
        let single = with(&[("ZOOM_HOST_USER", "a@x")]).unwrap();
        let pool = single.settings.host_pool;
        assert_eq!(pool, HostPool::new(vec!["a@x".into()]));
        assert_eq!(pool.meetings_per_host, 1);
        assert_eq!(pool.creates_per_day, 100);
        assert_eq!(pool.slot_max_age, Duration::from_secs(24 * 3600));
        assert_eq!(single.queue_url, None);
        let both = with(&[
            ("ZOOM_HOST_USER", "a@x"),
            ("ZOOM_HOST_USERS", " b@x, a@x ,c-id "),
            ("ZOOM_HOST_MAX_MEETINGS", "2"),
            ("ZOOM_HOST_DAILY_CREATES", "90"),
            ("ZOOM_HOST_SLOT_MAX_AGE_MINUTES", "120"),
            ("QUEUE_URL", "q"),
        ])
        .unwrap();
        assert_eq!(both.zoom_host_user, "a@x");
        assert_eq!(both.queue_url.as_deref(), Some("q"));
        let pool = both.settings.host_pool;
        assert_eq!(pool.hosts, ["a@x", "b@x", "c-id"]);
        assert_eq!(pool.meetings_per_host, 2);
        assert_eq!(pool.creates_per_day, 90);
        assert_eq!(pool.slot_max_age, Duration::from_secs(7200));
        let list_only = with(&[("ZOOM_HOST_USERS", "b@x,c@x")]).unwrap();
        assert_eq!(list_only.zoom_host_user, "b@x");
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "ZOOM_HOST_USER is required"),
            (&[("ZOOM_HOST_USERS", " , ")], "ZOOM_HOST_USER is required"),
            (
                &[("ZOOM_HOST_USERS", "a@x,me")],
                "ZOOM_HOST_USERS is invalid",
            ),
            (&[("ZOOM_HOST_USERS", "a@x,a@x")], "listed twice"),
            (&[("ZOOM_HOST_USERS", "a b")], "ZOOM_HOST_USERS is invalid"),
            (
                &[("ZOOM_HOST_USER", "a@x"), ("ZOOM_HOST_MAX_MEETINGS", "0")],
                "ZOOM_HOST_MAX_MEETINGS is invalid",
            ),
            (
                &[
                    ("ZOOM_HOST_USER", "a@x"),
                    ("ZOOM_HOST_DAILY_CREATES", "many"),
                ],
                "ZOOM_HOST_DAILY_CREATES is invalid",
            ),
            (
                &[
                    ("ZOOM_HOST_USER", "a@x"),
                    ("ZOOM_HOST_SLOT_MAX_AGE_MINUTES", "-1"),
                ],
                "ZOOM_HOST_SLOT_MAX_AGE_MINUTES is invalid",
            ),
        ];
        for (extra, expected) in cases {
            let err = with(extra).unwrap_err().to_string();
            assert!(err.contains(expected), "{extra:?}: {err}");
        }
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
        assert!(
            with(&[("TABLE_NAME", "t"), ("DEAD_LETTER_QUEUE_URL", "d")])
                .contains("TIMER_QUEUE_URL is required"),
            "a worker that could never end a meeting after its grace does not start"
        );
        let full = [
            ("TABLE_NAME", "t"),
            ("DEAD_LETTER_QUEUE_URL", "d"),
            ("TIMER_QUEUE_URL", "tq"),
        ];
        let mut bad_count = full.to_vec();
        bad_count.push(("MAX_RECEIVE_COUNT", "0"));
        assert!(with(&bad_count).contains("MAX_RECEIVE_COUNT is invalid"));
        let mut bad_flag = full.to_vec();
        bad_flag.push(("OVERWRITE_EXISTING_BRIDGE", "maybe"));
        assert!(with(&bad_flag).contains("OVERWRITE_EXISTING_BRIDGE is invalid"));
    }
}
