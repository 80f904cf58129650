//! The local twins of the AWS adapters, for the local runner and the fast tests: the idempotency
//! store in memory, the job queue as an in-process channel with SQS FIFO's semantics (dedup
//! window, one job of an incident at a time), the grace timer as a sleeping task, and the
//! secret document in a file. They implement the same ports as `bridge-relay-aws`.

// Input never panics the relay: no unwrap, expect, unchecked indexing or unchecked arithmetic
// on what came from outside; the few justified exceptions say why where they stand.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod memory_store;
mod queue;
mod secret_file;
mod timer;

pub use memory_store::InMemoryStore;
pub use queue::{
    DEDUP_WINDOW, DeadLetterLog, InProcessQueue, LOCAL_DELIVERIES, LOCAL_DELIVERY_BUDGET,
    LocalMessage,
};
pub use secret_file::FileSecretSource;
pub use timer::LocalTimer;
