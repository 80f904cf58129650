//! bridge-relay's ports: what the use case needs of the world, as small traits it is handed —
//! the idempotency store ([`store`]), the job and timer queues ([`queue`]), the incident tool
//! ([`incident_tool`]) and the fleet's one Zoom token ([`token_store`]) — and the retry loop
//! ([`retry`]) the use case and the adapters share. Each trait has an AWS or vendor adapter and
//! a local twin in the crates above; this crate imports only the domain below it.

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

pub mod inbound;
pub mod incident_tool;
pub mod meetings;
pub mod queue;
pub mod retry;
pub mod secrets;
pub mod store;
pub mod token_store;
