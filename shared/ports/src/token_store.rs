//! The port for the one Zoom access token the whole deployment shares.
//!
//! A new Server-to-Server token voids the one before it, so every worker container, `doctor`
//! and anything else that calls Zoom with the app's credentials reads the same token from one
//! item, and exactly one caller at a time fetches a new one: it takes the item's lease with a
//! conditional write, fetches, publishes the token and gives the lease back. The others wait
//! briefly and read what it wrote. The DynamoDB and in-memory stores implement this trait.
//!
//! This module imports nothing of the crate: it is a port, below the adapters that implement it
//! and the Zoom adapter that uses it.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;

/// The shared token as stored: the token (a secret) and when it must be renewed.
#[derive(Debug, Clone)]
pub struct SharedToken {
    pub token: SecretString,
    /// Wall-clock milliseconds after which nobody uses it: one caller renews it then.
    pub renew_after_ms: u64,
    /// Wall-clock milliseconds at which Zoom said it expires.
    pub expires_at_ms: u64,
    /// The app's scopes as Zoom listed them with the token (space-separated; not a secret), so
    /// a holder that did not fetch it (`doctor --table-name`) still knows them.
    pub scope: Option<String>,
}

/// The shared token's item: the token if there is a usable one, its version (it moves on at
/// every publish, so a lease can be taken only by a caller that saw the latest state), and the
/// lease of a caller fetching a new one.
#[derive(Debug, Clone, Default)]
pub struct TokenItem {
    pub token: Option<SharedToken>,
    pub version: u64,
    /// Wall-clock milliseconds until which another caller holds the right to fetch.
    pub lease_until_ms: Option<u64>,
}

/// What the lease holder leaves in the item when it gives the lease back.
#[derive(Debug, Clone)]
pub enum TokenUpdate {
    /// A newly fetched token (it voided the one before).
    Publish(SharedToken),
    /// The fetch may have reached Zoom and voided the stored token without an answer: remove it,
    /// so nobody sends a token that Zoom no longer takes.
    Remove,
    /// The fetch was refused before Zoom issued anything: the stored token stays.
    Keep,
}

/// The shared token store failed (not a refusal: a retry can help).
#[derive(Debug, thiserror::Error)]
#[error("the shared Zoom token store failed: {0}")]
pub struct TokenStoreError(pub String);

#[async_trait]
pub trait SharedTokenStore: Send + Sync {
    /// The item under `key` (the default item, version 0, when there is none).
    async fn read_token(&self, key: &str) -> Result<TokenItem, TokenStoreError>;

    /// Takes the right to fetch a new token for `lease`, if the item is still at `seen_version`
    /// and no other owner holds a live lease. True if taken.
    async fn take_token_lease(
        &self,
        key: &str,
        owner: &str,
        seen_version: u64,
        lease: Duration,
    ) -> Result<bool, TokenStoreError>;

    /// Applies `update` and gives the lease back, if `owner` still holds it (the version moves
    /// on). True if applied.
    async fn release_token_lease(
        &self,
        key: &str,
        owner: &str,
        update: &TokenUpdate,
    ) -> Result<bool, TokenStoreError>;
}
