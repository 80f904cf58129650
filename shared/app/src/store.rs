//! The idempotency store's two twins under one name for the application: DynamoDB in AWS
//! (`bridge-relay-aws`), memory locally and in the fast tests (`bridge-relay-local`). The port
//! they implement, and its records, are `bridge_relay_ports::store`.

pub use bridge_relay_aws::DynamoDbStore;
pub use bridge_relay_local::InMemoryStore;
pub use bridge_relay_ports::store::*;
