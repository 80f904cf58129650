//! The meeting after the bridge: the worker's side is `bridge_relay_core::lifecycle`, the
//! events that feed it come from the inbound sources (PagerDuty's resolve and reopen, incident.io's
//! status changes, Zoom's meeting events). Re-exported here under one name.

pub use crate::pagerduty::inbound::{FOLLOW_EVENT_TYPES, LIFECYCLE_EVENT_TYPES, lifecycle_action};
pub use bridge_relay_core::lifecycle::*;
