//! Which webhooks open a bridge.

use crate::error::ConfigError;
use crate::model::Incident;
use crate::pagerduty::webhook::WebhookEvent;

pub const DEFAULT_BRIDGE_EVENTS: &str = "incident.triggered";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgePolicy {
    event_types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Bridge(Incident),
    Ignore(String),
}

impl BridgePolicy {
    /// `list` is comma separated, e.g. `incident.triggered,incident.escalated` (`BRIDGE_EVENT_TYPES`).
    pub fn from_event_list(list: &str) -> Result<Self, ConfigError> {
        let event_types: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let invalid = |reason: String| ConfigError::Invalid {
            var: "BRIDGE_EVENT_TYPES",
            reason,
        };
        if event_types.is_empty() {
            return Err(invalid("no event type given".into()));
        }
        if let Some(bad) = event_types.iter().find(|t| !t.starts_with("incident.")) {
            return Err(invalid(format!(
                "{bad:?} is not an incident event type (incident.triggered, incident.escalated, …)"
            )));
        }
        if event_types
            .iter()
            .any(|t| t == "incident.conference_bridge.updated")
        {
            return Err(invalid(
                "incident.conference_bridge.updated cannot open a bridge: the relay's own update sends it".into(),
            ));
        }
        Ok(BridgePolicy { event_types })
    }

    /// The event types that open a bridge.
    pub fn event_types(&self) -> &[String] {
        &self.event_types
    }

    pub fn decide(&self, event: &WebhookEvent) -> Decision {
        if !self.event_types.contains(&event.event_type) {
            return Decision::Ignore(format!("{} does not open a bridge", event.event_type));
        }
        match &event.incident {
            Some(incident) => Decision::Bridge(incident.clone()),
            None => Decision::Ignore(format!("{} names no incident", event.event_type)),
        }
    }
}

impl Default for BridgePolicy {
    fn default() -> Self {
        BridgePolicy::from_event_list(DEFAULT_BRIDGE_EVENTS).expect("the default policy is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, incident: bool) -> WebhookEvent {
        WebhookEvent {
            id: "e1".into(),
            event_type: event_type.into(),
            data_type: Some("incident".into()),
            agent_id: None,
            incident: incident.then(|| Incident::new("PABC123")),
        }
    }

    #[test]
    fn default_bridges_triggered_only() {
        let policy = BridgePolicy::default();
        assert_eq!(
            policy.decide(&event("incident.triggered", true)),
            Decision::Bridge(Incident::new("PABC123"))
        );
        assert_eq!(
            policy.decide(&event("incident.acknowledged", true)),
            Decision::Ignore("incident.acknowledged does not open a bridge".into())
        );
        assert!(matches!(
            policy.decide(&event("incident.triggered", false)),
            Decision::Ignore(_)
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
}
