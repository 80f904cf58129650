//! The idempotency store's two twins: DynamoDB in AWS, memory locally and in the fast tests.
//! The port they implement, and its records, are `bridge_relay_ports::store`, re-exported here.

mod dynamodb;
mod memory;

pub use bridge_relay_ports::store::*;
pub use dynamodb::DynamoDbStore;
pub use memory::InMemoryStore;
