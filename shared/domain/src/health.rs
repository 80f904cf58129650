//! The policy's `meeting.health`: which of the bridge's health checks run, and when. Written
//! `false` (all off), `true` (all on, the defaults), or an object of the checks' settings:
//!
//! ```json
//! {"roll_call_after_seconds": 300, "alone_after_seconds": 900,
//!  "empty_after_seconds": 600, "waiting_after_seconds": 60, "quiet_when_acknowledged": false}
//! ```
//!
//! A duration of 0 turns its check off. Like every meeting setting, a service's or team's
//! override sets only the fields it names.

use serde::{Deserialize, Serialize};

/// How long after the bridge is posted the roll call is, when the policy does not say.
pub const DEFAULT_ROLL_CALL_AFTER_SECONDS: u32 = 300;
/// How long one person may be alone on the call before the incident hears of it (Zoom ends a
/// meeting with one person left after about 40 minutes).
pub const DEFAULT_ALONE_AFTER_SECONDS: u32 = 900;
/// How long the call may stay empty, after the last person left an open incident's call.
pub const DEFAULT_EMPTY_AFTER_SECONDS: u32 = 600;
/// How long someone may wait to be let in, with nobody on the call who can, before the
/// incident hears of it: a host admits most people within a minute.
pub const DEFAULT_WAITING_AFTER_SECONDS: u32 = 60;
/// The longest a policy may ask a check to wait: a day.
pub const MAX_HEALTH_AFTER_SECONDS: u32 = 86_400;

/// PagerDuty's events that say whether an incident is acknowledged (`quiet_when_acknowledged`);
/// a reassignment or an escalation pages someone again, unacknowledged.
pub fn acknowledged_by(event_type: &str) -> Option<bool> {
    match event_type {
        "incident.acknowledged" => Some(true),
        "incident.unacknowledged" | "incident.reassigned" | "incident.escalated" => Some(false),
        _ => None,
    }
}

/// Whether the incident is acknowledged, as a PagerDuty event of `event_type` about it in
/// `status` says: by what the event is, else by the status it reports (any event carries it,
/// so a bridge opened on a later event of an acknowledged incident knows).
pub fn acknowledged_of(event_type: &str, status: Option<&str>) -> Option<bool> {
    acknowledged_by(event_type).or(match status {
        Some("acknowledged") => Some(true),
        Some("triggered") => Some(false),
        _ => None,
    })
}

/// The events followed only for `quiet_when_acknowledged`: nothing else of the meeting changes.
pub const ACKNOWLEDGEMENT_EVENT_TYPES: [&str; 2] =
    ["incident.acknowledged", "incident.unacknowledged"];

/// `meeting.health` as the policy (and a queued job) carries it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthPolicy {
    /// `false`: every check off, `true` or an object: on. Unset: on, unless a base says off.
    pub on: Option<bool>,
    pub roll_call_after_seconds: Option<u32>,
    pub alone_after_seconds: Option<u32>,
    pub empty_after_seconds: Option<u32>,
    pub waiting_after_seconds: Option<u32>,
    pub quiet_when_acknowledged: Option<bool>,
}

impl HealthPolicy {
    pub const OFF: HealthPolicy = HealthPolicy {
        on: Some(false),
        roll_call_after_seconds: None,
        alone_after_seconds: None,
        empty_after_seconds: None,
        waiting_after_seconds: None,
        quiet_when_acknowledged: None,
    };

    /// `self` with every field `over` sets replaced by it.
    pub fn overlaid_with(&self, over: &HealthPolicy) -> HealthPolicy {
        HealthPolicy {
            on: over.on.or(self.on),
            roll_call_after_seconds: over
                .roll_call_after_seconds
                .or(self.roll_call_after_seconds),
            alone_after_seconds: over.alone_after_seconds.or(self.alone_after_seconds),
            empty_after_seconds: over.empty_after_seconds.or(self.empty_after_seconds),
            waiting_after_seconds: over.waiting_after_seconds.or(self.waiting_after_seconds),
            quiet_when_acknowledged: over
                .quiet_when_acknowledged
                .or(self.quiet_when_acknowledged),
        }
    }

    pub fn is_off(&self) -> bool {
        self.on == Some(false)
    }

    /// The checks one incident gets (all zero when the policy turned them off).
    pub fn checks(&self) -> HealthChecks {
        if self.is_off() {
            return HealthChecks::OFF;
        }
        HealthChecks {
            roll_call_after_seconds: self
                .roll_call_after_seconds
                .unwrap_or(DEFAULT_ROLL_CALL_AFTER_SECONDS),
            alone_after_seconds: self
                .alone_after_seconds
                .unwrap_or(DEFAULT_ALONE_AFTER_SECONDS),
            empty_after_seconds: self
                .empty_after_seconds
                .unwrap_or(DEFAULT_EMPTY_AFTER_SECONDS),
            waiting_after_seconds: self
                .waiting_after_seconds
                .unwrap_or(DEFAULT_WAITING_AFTER_SECONDS),
            quiet_when_acknowledged: self.quiet_when_acknowledged.unwrap_or(false),
        }
    }

    /// The first setting past [`MAX_HEALTH_AFTER_SECONDS`], named for an error.
    pub fn too_long(&self) -> Option<(&'static str, u32)> {
        [
            ("roll_call_after_seconds", self.roll_call_after_seconds),
            ("alone_after_seconds", self.alone_after_seconds),
            ("empty_after_seconds", self.empty_after_seconds),
            ("waiting_after_seconds", self.waiting_after_seconds),
        ]
        .into_iter()
        .find_map(|(name, value)| {
            value
                .filter(|v| *v > MAX_HEALTH_AFTER_SECONDS)
                .map(|v| (name, v))
        })
    }
}

/// The checks one incident's bridge gets, decided when the bridge is made and kept with its
/// meeting's lifecycle (Zoom's events name only the meeting). A duration of 0 is a check off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthChecks {
    pub roll_call_after_seconds: u32,
    pub alone_after_seconds: u32,
    pub empty_after_seconds: u32,
    #[serde(default = "default_waiting_after")]
    pub waiting_after_seconds: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quiet_when_acknowledged: bool,
}

impl HealthChecks {
    pub const OFF: HealthChecks = HealthChecks {
        roll_call_after_seconds: 0,
        alone_after_seconds: 0,
        empty_after_seconds: 0,
        waiting_after_seconds: 0,
        quiet_when_acknowledged: false,
    };
}

fn default_waiting_after() -> u32 {
    DEFAULT_WAITING_AFTER_SECONDS
}

impl Default for HealthChecks {
    /// What a bridge made before the relay kept its checks gets: the defaults.
    fn default() -> Self {
        HealthPolicy::default().checks()
    }
}

/// The object form, read tolerantly in a queued job (a newer ingress may add a field).
#[derive(Default, Serialize, Deserialize)]
struct HealthFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    roll_call_after_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alone_after_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    empty_after_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    waiting_after_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quiet_when_acknowledged: Option<bool>,
}

/// The object form as a person writes it in the policy: an unknown field is a typo.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictHealthFields {
    #[serde(default)]
    roll_call_after_seconds: Option<u32>,
    #[serde(default)]
    alone_after_seconds: Option<u32>,
    #[serde(default)]
    empty_after_seconds: Option<u32>,
    #[serde(default)]
    waiting_after_seconds: Option<u32>,
    #[serde(default)]
    quiet_when_acknowledged: Option<bool>,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Written<F> {
    Switch(bool),
    Fields(F),
}

impl From<Written<HealthFields>> for HealthPolicy {
    fn from(written: Written<HealthFields>) -> Self {
        match written {
            Written::Switch(on) => HealthPolicy {
                on: Some(on),
                ..HealthPolicy::default()
            },
            Written::Fields(f) => HealthPolicy {
                on: Some(true),
                roll_call_after_seconds: f.roll_call_after_seconds,
                alone_after_seconds: f.alone_after_seconds,
                empty_after_seconds: f.empty_after_seconds,
                waiting_after_seconds: f.waiting_after_seconds,
                quiet_when_acknowledged: f.quiet_when_acknowledged,
            },
        }
    }
}

impl Serialize for HealthPolicy {
    /// `false` when off, `true` when on with nothing set (what older workers read), else the
    /// object; an override that sets fields without saying on or off keeps its base's switch.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = HealthFields {
            roll_call_after_seconds: self.roll_call_after_seconds,
            alone_after_seconds: self.alone_after_seconds,
            empty_after_seconds: self.empty_after_seconds,
            waiting_after_seconds: self.waiting_after_seconds,
            quiet_when_acknowledged: self.quiet_when_acknowledged,
        };
        let nothing_set = self.roll_call_after_seconds.is_none()
            && self.alone_after_seconds.is_none()
            && self.empty_after_seconds.is_none()
            && self.waiting_after_seconds.is_none()
            && self.quiet_when_acknowledged.is_none();
        if self.is_off() || nothing_set {
            return Written::<HealthFields>::Switch(self.on != Some(false)).serialize(serializer);
        }
        Written::Fields(fields).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for HealthPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Written::<HealthFields>::deserialize(deserializer).map(HealthPolicy::from)
    }
}

/// Reads `meeting.health` as the policy has it: `false`, `true`, or an object of known fields.
pub fn strict_health<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<HealthPolicy>, D::Error> {
    let written: Option<Written<StrictHealthFields>> = Option::deserialize(deserializer)?;
    Ok(written
        .map(|w| match w {
            Written::Switch(on) => Written::Switch(on),
            Written::Fields(f) => Written::Fields(HealthFields {
                roll_call_after_seconds: f.roll_call_after_seconds,
                alone_after_seconds: f.alone_after_seconds,
                empty_after_seconds: f.empty_after_seconds,
                waiting_after_seconds: f.waiting_after_seconds,
                quiet_when_acknowledged: f.quiet_when_acknowledged,
            }),
        })
        .map(HealthPolicy::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledgement_is_read_from_the_event_else_from_the_status_it_reports() {
        assert_eq!(
            acknowledged_of("incident.acknowledged", Some("triggered")),
            Some(true)
        );
        assert_eq!(
            acknowledged_of("incident.escalated", Some("acknowledged")),
            Some(false)
        );
        assert_eq!(
            acknowledged_of("incident.priority_updated", Some("acknowledged")),
            Some(true)
        );
        assert_eq!(
            acknowledged_of("incident.priority_updated", Some("triggered")),
            Some(false)
        );
        assert_eq!(
            acknowledged_of("incident.priority_updated", Some("resolved")),
            None
        );
        assert_eq!(acknowledged_of("incident.annotated", None), None);
    }

    #[test]
    fn false_true_and_an_object_are_read_and_written_back() {
        for (text, checks) in [
            ("false", HealthChecks::OFF),
            ("true", HealthChecks::default()),
            (
                r#"{"alone_after_seconds":60,"quiet_when_acknowledged":true}"#,
                HealthChecks {
                    alone_after_seconds: 60,
                    quiet_when_acknowledged: true,
                    ..HealthChecks::default()
                },
            ),
        ] {
            let policy: HealthPolicy = serde_json::from_str(text).unwrap();
            assert_eq!(policy.checks(), checks, "{text}");
            assert_eq!(serde_json::to_string(&policy).unwrap(), text);
        }
        assert_eq!(HealthChecks::default().roll_call_after_seconds, 300);
    }

    #[test]
    fn an_override_sets_only_what_it_names() {
        let base: HealthPolicy =
            serde_json::from_str(r#"{"roll_call_after_seconds":120,"empty_after_seconds":0}"#)
                .unwrap();
        let over = HealthPolicy {
            alone_after_seconds: Some(30),
            ..HealthPolicy::default()
        };
        let checks = base.overlaid_with(&over).checks();
        assert_eq!(
            (
                checks.roll_call_after_seconds,
                checks.alone_after_seconds,
                checks.empty_after_seconds
            ),
            (120, 30, 0)
        );
        // `false` wins over a base's settings, and an object over a base's `false`.
        assert_eq!(
            base.overlaid_with(&HealthPolicy::OFF).checks(),
            HealthChecks::OFF
        );
        let on_again: HealthPolicy = serde_json::from_str(r#"{"alone_after_seconds":30}"#).unwrap();
        assert_eq!(
            HealthPolicy::OFF
                .overlaid_with(&on_again)
                .checks()
                .alone_after_seconds,
            30
        );
    }

    #[test]
    fn the_example_in_the_policy_docs_is_a_policy_the_relay_takes() {
        let docs =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/policy.md"))
                .unwrap();
        let section = docs.split("## Bridge health").nth(1).unwrap();
        let example = section
            .split("```json\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap();
        let policy = crate::policy::BridgePolicy::from_json(example, None).unwrap();
        let checks_of = |incident: crate::model::Incident| {
            policy
                .meeting_for(&incident)
                .health
                .unwrap_or_default()
                .checks()
        };
        let incident = crate::model::Incident::new("P1");
        assert_eq!(checks_of(incident.clone()), HealthChecks::default());
        let batch = crate::model::Incident {
            service: Some("batch-jobs".into()),
            ..incident.clone()
        };
        assert_eq!(checks_of(batch), HealthChecks::OFF);
        let payments = crate::model::Incident {
            teams: vec![crate::model::TeamRef {
                id: "PT1".into(),
                name: Some("Payments".into()),
            }],
            ..incident
        };
        assert_eq!(
            checks_of(payments),
            HealthChecks {
                roll_call_after_seconds: 120,
                ..HealthChecks::default()
            }
        );
    }
}
