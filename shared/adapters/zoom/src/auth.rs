//! Zoom Server-to-Server OAuth tokens. A new token voids the one before it, so the whole
//! deployment shares one token: it lives in the [`SharedTokenStore`] with its renewal time,
//! every container reads it from there (once per token lifetime, then from its own cache), and
//! exactly one caller fetches a new one at a time under the item's lease while the others wait
//! for it. Without a shared store (a single process) the cache alone keeps one token.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use bridge_relay_domain::error::{Service, UpstreamError};
use bridge_relay_http::status_error;
use bridge_relay_ports::secrets::ZoomCredentials;
use bridge_relay_ports::token_store::{
    SharedToken, SharedTokenStore, TokenStoreError, TokenUpdate,
};

/// Renew this long before Zoom's expiry (a quarter of the lifetime for short-lived tokens) so a
/// token never dies mid-request.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// How long the caller renewing an expiring token waits after taking the lease before it asks
/// Zoom, so calls other containers sent with the old token just before have reached Zoom.
const IN_FLIGHT_GRACE: Duration = Duration::from_secs(1);

/// The right to fetch lasts this long: the grace, the OAuth call and its timeout. A holder that
/// dies loses it then.
const TOKEN_LEASE: Duration = Duration::from_secs(15);

/// A caller waits at most this long for another caller's fetch before it gives up (retryable).
const FLEET_WAIT: Duration = Duration::from_secs(20);

/// How often a waiting caller reads the shared item again: at most this long, jittered, so the
/// containers waiting for one renewal do not all read (and race for the lease) at once.
const LEASE_POLL: Duration = Duration::from_millis(150);

#[derive(Clone)]
pub struct AccessToken(Arc<SecretString>);

impl AccessToken {
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0.expose_secret())
    }

    fn is(&self, other: &SecretString) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(
            self.0
                .expose_secret()
                .as_bytes()
                .ct_eq(other.expose_secret().as_bytes()),
        )
    }
}

pub struct TokenCache {
    http: reqwest::Client,
    token_url: String,
    fleet: Option<Arc<dyn SharedTokenStore>>,
    /// This cache's name as a lease owner (one per container).
    owner: String,
    current: Mutex<Local>,
    fetches: AtomicUsize,
    /// The scopes Zoom listed with the last token this cache fetched.
    granted: std::sync::Mutex<Option<Vec<String>>>,
}

/// What one container knows: its copy of the token, and the last token Zoom refused.
#[derive(Default)]
struct Local {
    /// The token and the wall-clock millisecond after which it is not used any more.
    token: Option<(AccessToken, u64)>,
    /// Never taken from the shared item again: the next caller fetches a new one instead.
    refused: Option<AccessToken>,
}

impl Local {
    fn usable(&self, now_ms: u64) -> Option<AccessToken> {
        self.token
            .as_ref()
            .filter(|(_, renew_after_ms)| now_ms < *renew_after_ms)
            .map(|(token, _)| token.clone())
    }

    fn was_refused(&self, token: &SecretString) -> bool {
        self.refused.as_ref().is_some_and(|r| r.is(token))
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default = "default_expires_in")]
    expires_in: u64,
    /// The scopes the app has, space-separated.
    #[serde(default)]
    scope: Option<String>,
}

const MAX_TOKEN_LIFETIME_SECONDS: u64 = 24 * 3600;

fn default_expires_in() -> u64 {
    3600
}

/// The shared item of an app's token: one per Zoom account (an account's S2S app credentials
/// share one current token).
fn fleet_key(creds: &ZoomCredentials) -> String {
    format!("zoom-token#{}#{}", creds.account_id, creds.client_id)
}

fn now_ms() -> u64 {
    bridge_relay_domain::telemetry::epoch_millis(std::time::SystemTime::now())
}

fn store_failure(e: TokenStoreError) -> UpstreamError {
    UpstreamError::Transport {
        service: Service::TokenStore,
        reason: e.0,
    }
}

impl TokenCache {
    /// A cache for one process alone. `oauth_base` is `https://zoom.us` in production.
    pub fn new(http: reqwest::Client, oauth_base: &str) -> Self {
        TokenCache {
            http,
            token_url: format!("{}/oauth/token", oauth_base.trim_end_matches('/')),
            fleet: None,
            owner: bridge_relay_ports::store::new_owner(),
            current: Mutex::new(Local::default()),
            fetches: AtomicUsize::new(0),
            granted: std::sync::Mutex::new(None),
        }
    }

    /// The same cache sharing its token with every other holder of `store`: the deployment's
    /// containers, `doctor`, the local runner's worker.
    pub fn shared_through(self, store: Arc<dyn SharedTokenStore>) -> Self {
        TokenCache {
            fleet: Some(store),
            ..self
        }
    }

    /// The scopes Zoom listed with the token this cache uses, fetched here or taken from the
    /// shared item (`None`: Zoom listed none, or the shared token predates keeping them): what
    /// `doctor` checks the after-call scopes against.
    pub fn granted_scopes(&self) -> Option<Vec<String>> {
        self.granted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Keeps the scopes Zoom listed with the token in use, for [`Self::granted_scopes`].
    fn note_scopes(&self, scope: Option<&str>) {
        if let Some(scope) = scope {
            *self
                .granted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(scope.split_whitespace().map(str::to_owned).collect());
        }
    }

    /// How many tokens this cache has fetched from Zoom.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::Relaxed)
    }

    pub async fn token(&self, creds: &ZoomCredentials) -> Result<AccessToken, UpstreamError> {
        let mut local = self.current.lock().await;
        if let Some(token) = local.usable(now_ms()) {
            return Ok(token);
        }
        match &self.fleet {
            Some(store) => self.fleet_token(store.as_ref(), creds, &mut local).await,
            None => {
                let fetched = self.fetch(creds).await?;
                let token = AccessToken(Arc::new(fetched.token));
                local.token = Some((token.clone(), fetched.renew_after_ms));
                Ok(token)
            }
        }
    }

    /// Drops `used` after Zoom refused it, unless another caller already replaced it, and
    /// remembers it so it is not taken from the shared item again.
    pub async fn invalidate(&self, used: &AccessToken) {
        let mut current = self.current.lock().await;
        if current
            .token
            .as_ref()
            .is_some_and(|(token, _)| Arc::ptr_eq(&token.0, &used.0))
        {
            current.token = None;
        }
        current.refused = Some(used.clone());
    }

    /// The fleet's token: the shared one while it is good, else the one this caller fetches
    /// under the lease, or the one the lease holder publishes.
    async fn fleet_token(
        &self,
        store: &dyn SharedTokenStore,
        creds: &ZoomCredentials,
        local: &mut Local,
    ) -> Result<AccessToken, UpstreamError> {
        let key = fleet_key(creds);
        let give_up = bridge_relay_ports::retry::instant_after(FLEET_WAIT);
        loop {
            let item = store.read_token(&key).await.map_err(store_failure)?;
            let now = now_ms();
            let lease_held = item.lease_until_ms.is_some_and(|until| until >= now);
            // A token sealed under another client secret (rotated since) cannot be opened.
            let opened = item
                .token
                .as_ref()
                .and_then(|shared| Some((open(creds, &shared.token)?, shared.renew_after_ms)));
            if let Some((token, renew_after_ms)) = &opened
                && !lease_held
                && now < *renew_after_ms
                && !local.was_refused(token)
            {
                self.note_scopes(item.token.as_ref().and_then(|t| t.scope.as_deref()));
                let token = AccessToken(Arc::new(token.clone()));
                local.token = Some((token.clone(), *renew_after_ms));
                return Ok(token);
            }
            if !lease_held
                && store
                    .take_token_lease(&key, &self.owner, item.version, TOKEN_LEASE)
                    .await
                    .map_err(store_failure)?
            {
                // An expiring token may be in other containers' requests this very moment;
                // a refused one is of no use to anybody.
                let expiring = opened
                    .as_ref()
                    .is_some_and(|(token, _)| !local.was_refused(token));
                if expiring {
                    tokio::time::sleep(IN_FLIGHT_GRACE).await;
                }
                return self.fetch_for_fleet(store, &key, creds, local).await;
            }
            if Instant::now() >= give_up {
                return Err(store_failure(TokenStoreError(
                    "another caller kept the token lease past the wait".into(),
                )));
            }
            tokio::time::sleep(bridge_relay_ports::retry::jittered(LEASE_POLL)).await;
        }
    }

    async fn fetch_for_fleet(
        &self,
        store: &dyn SharedTokenStore,
        key: &str,
        creds: &ZoomCredentials,
        local: &mut Local,
    ) -> Result<AccessToken, UpstreamError> {
        let fetched = self.fetch(creds).await;
        let update = match &fetched {
            Ok(token) => match seal(creds, &token.token) {
                Some(sealed) => TokenUpdate::Publish(SharedToken {
                    token: sealed,
                    ..token.clone()
                }),
                // Nothing readable can be shared; the stored token was voided by this fetch.
                None => TokenUpdate::Remove,
            },
            // Zoom may have issued a token (voiding the stored one) whose answer never came.
            Err(e) if e.is_ambiguous() => TokenUpdate::Remove,
            Err(_) => TokenUpdate::Keep,
        };
        let released = store.release_token_lease(key, &self.owner, &update).await;
        let fetched = fetched?;
        let token = AccessToken(Arc::new(fetched.token));
        match released {
            Ok(true) => local.token = Some((token.clone(), fetched.renew_after_ms)),
            // The token is the newest Zoom issued, so this call may use it; it is not kept, so
            // the next call reads whatever the fleet settled on.
            Ok(false) => {
                tracing::warn!("the zoom token lease ran out before the fetched token was shared")
            }
            Err(e) => tracing::warn!(error = %e, "the fetched zoom token could not be shared"),
        }
        Ok(token)
    }

    async fn fetch(&self, creds: &ZoomCredentials) -> Result<SharedToken, UpstreamError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            creds.client_id,
            creds.client_secret.expose_secret()
        ));
        let mut url =
            reqwest::Url::parse(&self.token_url).map_err(|e| UpstreamError::Transport {
                service: Service::ZoomOAuth,
                reason: format!("ZOOM_OAUTH_BASE is not a URL: {e}"),
            })?;
        url.query_pairs_mut()
            .append_pair("grant_type", "account_credentials")
            .append_pair("account_id", &creds.account_id);
        let started = Instant::now();
        let response = self
            .http
            .post(url)
            .header("authorization", format!("Basic {basic}"))
            .send()
            .await;
        bridge_relay_domain::telemetry::record_call(
            Service::ZoomOAuth,
            started,
            response.as_ref().ok().map(|r| r.status().as_u16()),
        );
        let response =
            response.map_err(|e| bridge_relay_http::transport_error(Service::ZoomOAuth, e))?;
        if !response.status().is_success() {
            return Err(status_error(Service::ZoomOAuth, response).await);
        }
        let body: TokenResponse = response.json().await.map_err(|e| UpstreamError::Decode {
            service: Service::ZoomOAuth,
            reason: e.without_url().to_string(),
        })?;
        tracing::info!(expires_in = body.expires_in, "zoom token fetched");
        self.note_scopes(body.scope.as_deref());
        Ok(SharedToken {
            scope: body.scope,
            ..token_times(body.access_token, body.expires_in, now_ms())
        })
    }
}

/// When a token fetched at `now_ms` expires and is renewed. Zoom says 3600 s; a wild value must
/// neither overflow the clock nor pin a token for days.
fn token_times(token: SecretString, expires_in: u64, now_ms: u64) -> SharedToken {
    let lifetime = Duration::from_secs(expires_in.min(MAX_TOKEN_LIFETIME_SECONDS));
    let margin = EXPIRY_MARGIN.min(lifetime.checked_div(4).unwrap_or_default());
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let expires_at_ms = now_ms.saturating_add(millis(lifetime));
    SharedToken {
        token,
        renew_after_ms: expires_at_ms.saturating_sub(millis(margin)),
        expires_at_ms,
        scope: None,
    }
}

/// The shared item holds the token sealed (ChaCha20-Poly1305) under a key derived from the app's
/// client secret: the table's readers, logs of its wire traffic and backups see ciphertext, and
/// only a holder of the Zoom credentials (the worker, `doctor`) can use it. A new client secret
/// makes the stored token unreadable, which is then fetched anew.
const SEALED_PREFIX: &str = "v1:";

fn sealing_cipher(creds: &ZoomCredentials) -> Option<chacha20poly1305::ChaCha20Poly1305> {
    use hmac::{KeyInit as _, Mac};
    let mut kdf = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(
        creds.client_secret.expose_secret().as_bytes(),
    )
    .ok()?;
    kdf.update(b"bridge-relay shared zoom token\0");
    kdf.update(creds.account_id.as_bytes());
    kdf.update(b"\0");
    kdf.update(creds.client_id.as_bytes());
    let key = kdf.finalize().into_bytes();
    chacha20poly1305::ChaCha20Poly1305::new_from_slice(&key).ok()
}

fn seal(creds: &ZoomCredentials, token: &SecretString) -> Option<SecretString> {
    use chacha20poly1305::aead::Aead;
    let cipher = sealing_cipher(creds)?;
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).ok()?;
    let sealed = cipher
        .encrypt(&nonce.into(), token.expose_secret().as_bytes())
        .ok()?;
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&sealed);
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    Some(SecretString::from(format!("{SEALED_PREFIX}{encoded}")))
}

fn open(creds: &ZoomCredentials, sealed: &SecretString) -> Option<SecretString> {
    use chacha20poly1305::aead::Aead;
    let encoded = sealed.expose_secret().strip_prefix(SEALED_PREFIX)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let (nonce, ciphertext) = bytes.split_at_checked(12)?;
    let nonce: [u8; 12] = nonce.try_into().ok()?;
    let plain = sealing_cipher(creds)?
        .decrypt(&nonce.into(), ciphertext)
        .ok()?;
    String::from_utf8(plain).ok().map(SecretString::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(client_secret: &str) -> ZoomCredentials {
        serde_json::from_value(serde_json::json!({
            "account_id": "acct", "client_id": "client", "client_secret": client_secret
        }))
        .unwrap()
    }

    #[test]
    fn the_shared_token_is_sealed_under_the_client_secret() {
        let token = SecretString::from("eyJ-the-access-token");
        let sealed = seal(&creds("secret-1"), &token).unwrap();
        assert!(!sealed.expose_secret().contains("the-access-token"));
        let opened = open(&creds("secret-1"), &sealed).unwrap();
        assert_eq!(opened.expose_secret(), token.expose_secret());
        assert!(open(&creds("secret-2"), &sealed).is_none(), "another key");
        assert!(open(&creds("secret-1"), &SecretString::from("v1:!!")).is_none());
        assert!(open(&creds("secret-1"), &SecretString::from("v1:AAAA")).is_none());
        assert!(open(&creds("secret-1"), &token).is_none(), "not sealed");
    }

    #[test]
    fn a_token_is_renewed_before_it_expires() {
        let hour = token_times(SecretString::from("t"), 3600, 1_000);
        assert_eq!(hour.expires_at_ms, 1_000 + 3_600_000);
        assert_eq!(hour.renew_after_ms, 1_000 + 3_300_000);
        let short = token_times(SecretString::from("t"), 8, 0);
        assert_eq!((short.renew_after_ms, short.expires_at_ms), (6_000, 8_000));
        let wild = token_times(SecretString::from("t"), u64::MAX, u64::MAX - 5);
        assert_eq!(wild.expires_at_ms, u64::MAX);
    }
}
