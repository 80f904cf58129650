//! bridge-relay's domain, the bottom of the library: what the relay knows of an incident, the job
//! it queues, the meeting and the bridge ([`model`]), what can fail and whether a retry helps
//! ([`error`]), and the call recorder every adapter reports into ([`telemetry`]). It does no I/O
//! and knows no HTTP client, AWS SDK or Lambda runtime; the crates above import it, never the
//! other way round.

// Input never panics the relay: no unwrap, expect, unchecked indexing or unchecked arithmetic;
// the few justified exceptions say why where they stand.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod after_call;
pub mod error;
pub mod health;
pub mod hosts;
pub mod meeting;
pub mod model;
pub mod policy;
pub mod telemetry;
pub mod texts;

pub use error::{ConfigError, JobError, QueueError, SecretsError, Service, UpstreamError};
