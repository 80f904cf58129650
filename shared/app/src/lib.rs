//! bridge-relay: one Zoom meeting per incident, posted back as the incident's conference bridge.
//!
//! Layers, top to bottom: the composition ([`compose`]) and entry adapters ([`lambda`]) -> the
//! use case ([`relay`]) and the adapters (SQS, DynamoDB, Secrets Manager, Zoom, PagerDuty,
//! incident.io and their local twins) -> the ports (crate `bridge-relay-ports`:
//! [`queue::JobQueue`], [`store::IdempotencyStore`], [`incident_tool::IncidentTool`], ...;
//! here also [`secrets::SecretSource`] and [`zoom::MeetingProvider`]) -> the domain (crate
//! `bridge-relay-domain`: [`model`], [`error`], [`telemetry`]). The two crates below cannot
//! import this one; `scripts/check-layers` checks they use no HTTP, AWS or Lambda crate.

// Input never panics the relay: the library's own code has no unwrap, expect, unchecked
// indexing or unchecked arithmetic; the few justified exceptions say why where they stand.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod compose;
pub mod config;
pub mod doctor;
pub mod lambda;
pub mod lifecycle;
pub mod local;
pub mod metrics;
pub mod queue;
pub mod relay;
pub mod report;
pub mod secrets;
pub mod store;

// The adapters, each a crate of its own, by the names the functions, the CLI and the tests use.
pub use bridge_relay_aws::sdk as aws;
pub use bridge_relay_http as http;
pub use bridge_relay_incident_io as incident_io;
pub use bridge_relay_pagerduty as pagerduty;
pub use bridge_relay_zoom as zoom;

// The domain's and the ports' modules keep their paths here (`bridge_relay::model::Job`), so the
// functions, the CLI and the tests name one library.
pub use bridge_relay_core::{hostpool, ingress, worker};
pub use bridge_relay_domain::{
    ConfigError, JobError, QueueError, SecretsError, Service, UpstreamError,
};
pub use bridge_relay_domain::{after_call, error, meeting, model, policy, telemetry, texts};
pub use bridge_relay_ports::{inbound, incident_tool, meetings, retry, token_store};

/// Logs for Lambda: JSON when the function's log format is JSON, with the request id of each
/// invocation (the runtime's span). Level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`.
pub fn init_lambda_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// Logs for the local runner: one readable line per event. Level from `RUST_LOG` (default info).
pub fn init_local_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .compact()
        .init();
}
