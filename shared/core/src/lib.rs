//! bridge-relay's use case, the worker's side: a queued job becomes one meeting and the bridge
//! on its incident ([`bridge`]: claim, host, create, bridge, note), then the meeting is followed
//! ([`lifecycle`]: Zoom events, resolve, reopen, end, review), with the host pool
//! ([`hostpool`]). It is written once against the ports (`bridge-relay-ports`) and knows no HTTP
//! client, AWS SDK or Lambda runtime; the adapters and the composition are in `bridge-relay`.

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
pub mod bridge;
pub mod follow;
pub mod health;
pub mod hostpool;
pub mod ingress;
pub mod lifecycle;
pub mod worker;
