//! bridge-relay, the application: one Zoom meeting per incident, posted back as the incident's
//! conference bridge.
//!
//! This crate is where the adapters meet: the composition ([`compose`]), configuration
//! ([`config`]), the entry adapters ([`lambda`], [`local`]), doctor and the job reports. Below
//! it, each a crate of its own: the adapters side by side (`bridge-relay-zoom`, `-pagerduty`,
//! `-incident-io`, `-aws`, `-local`, over the shared `-http` plumbing), the use case
//! (`bridge-relay-core`, [`relay`]), the ports (`bridge-relay-ports`: [`queue::JobQueue`],
//! [`store::IdempotencyStore`], [`incident_tool::IncidentTool`], [`secrets::SecretSource`],
//! [`meetings::MeetingProvider`], ...) and the domain (`bridge-relay-domain`: [`model`],
//! [`error`], [`telemetry`]). They are re-exported here under one name. `scripts/check-layers`
//! holds the direction from `cargo metadata`: no adapter sees another or this crate, and the
//! domain, ports and use case reach no HTTP, AWS or Lambda crate.

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
pub use bridge_relay_domain::{after_call, error, hosts, meeting, model, policy, telemetry, texts};
pub use bridge_relay_ports::{inbound, incident_tool, meetings, retry, token_store};

/// Logs for Lambda: JSON when the function's log format is JSON (`AWS_LAMBDA_LOG_FORMAT`), with
/// the request id of each invocation (the runtime's span); the level from `AWS_LAMBDA_LOG_LEVEL`,
/// else `RUST_LOG` (a level: `debug`, `warn`, ...), else info. What `lambda_runtime`'s default
/// subscriber does, but with a level filter instead of `EnvFilter`'s directives, whose regex
/// engine was a quarter of a megabyte of each bootstrap.
pub fn init_lambda_tracing() {
    let var = |name| std::env::var(name).ok();
    let level = lambda_log_level(
        var("AWS_LAMBDA_LOG_LEVEL")
            .or_else(|| var("RUST_LOG"))
            .as_deref(),
    );
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let logs = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

/// The level a Lambda log level names (Lambda's `TRACE` .. `FATAL`, or a Rust level); info for
/// anything else.
fn lambda_log_level(name: Option<&str>) -> tracing_subscriber::filter::LevelFilter {
    use tracing_subscriber::filter::LevelFilter;
    match name.map(str::trim) {
        Some(name) if name.eq_ignore_ascii_case("fatal") => LevelFilter::ERROR,
        Some(name) => name.parse().unwrap_or(LevelFilter::INFO),
        None => LevelFilter::INFO,
    }
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

#[cfg(test)]
mod tests {
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn lambda_log_levels_are_read_as_lambda_names_them() {
        let level = super::lambda_log_level;
        assert_eq!(level(None), LevelFilter::INFO);
        assert_eq!(level(Some("DEBUG")), LevelFilter::DEBUG);
        assert_eq!(level(Some("warn")), LevelFilter::WARN);
        assert_eq!(level(Some("FATAL")), LevelFilter::ERROR);
        assert_eq!(level(Some("TRACE")), LevelFilter::TRACE);
        // A directive list is no level: the default, rather than nothing logged.
        assert_eq!(level(Some("bridge_relay=debug")), LevelFilter::INFO);
    }
}
