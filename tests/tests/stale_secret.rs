//! The secret's source failing at a refresh (Secrets Manager down or throttling; here the
//! secret file gone): the ingress keeps verifying webhooks with the last good secret for a
//! bounded time past its refresh, then refuses with a 503 as before.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_relay::policy::BridgePolicy;
use bridge_relay::queue::InProcessQueue;
use bridge_relay::relay::Ingress;
use bridge_relay::secrets::{FileSecretSource, SecretCache};
use bridge_relay_tests::*;

const SECRET: &str = "whsec-stale-secret";
const TTL: Duration = Duration::from_millis(200);
const STALE_FOR: Duration = Duration::from_millis(1500);

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn webhook(ingress: &Ingress, id: &str) -> u16 {
    let body = pagerduty_webhook_bytes(
        "tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json",
    );
    let signature = sign(&body, SECRET);
    let headers = [
        ("x-pagerduty-signature", signature.as_str()),
        ("x-webhook-id", id),
    ];
    post_json(ingress, "/webhook", &headers, &body).await.0
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_good_secret_is_served_for_a_bounded_time_after_the_source_fails() {
    let dir = std::env::temp_dir().join(format!("bridge-relay-stale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _dir = TempDir(dir.clone());
    let file = dir.join("secrets.json");
    std::fs::write(&file, secret_document(&[SECRET])).unwrap();
    let secrets = Arc::new(SecretCache::with_stale_for(
        Arc::new(FileSecretSource::new(&file)),
        TTL,
        STALE_FOR,
    ));
    let (queue, _jobs) = InProcessQueue::new();
    let ingress =
        bridge_relay::compose::ingress(secrets.clone(), Arc::new(queue), BridgePolicy::default());

    let read_at = Instant::now();
    let first = secrets.get().await.unwrap();
    assert_eq!(webhook(&ingress, "stale-1").await, 202);

    // The source fails; the refresh is due.
    std::fs::remove_file(&file).unwrap();
    tokio::time::sleep(TTL * 2).await;
    let served = secrets.get().await.expect("the last good secret, stale");
    assert!(Arc::ptr_eq(&served, &first));
    assert_eq!(webhook(&ingress, "stale-2").await, 202);

    // Past the bound: refused, and the ingress answers 503 as it did before.
    let bound = TTL + STALE_FOR;
    tokio::time::sleep(bound.saturating_sub(read_at.elapsed()) + Duration::from_millis(100)).await;
    let error = secrets.get().await.expect_err("too old to serve");
    assert!(error.to_string().contains("could not be read"), "{error}");
    assert_eq!(webhook(&ingress, "stale-3").await, 503);

    // The source is back: a fresh read.
    std::fs::write(&file, secret_document(&[SECRET])).unwrap();
    let fresh = secrets.get().await.unwrap();
    assert!(!Arc::ptr_eq(&fresh, &first));
    assert_eq!(webhook(&ingress, "stale-4").await, 202);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_secret_is_not_served_stale() {
    let dir = std::env::temp_dir().join(format!("bridge-relay-refused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _dir = TempDir(dir.clone());
    let file = dir.join("secrets.json");
    std::fs::write(&file, secret_document(&[SECRET])).unwrap();
    let secrets = SecretCache::with_stale_for(
        Arc::new(FileSecretSource::new(&file)),
        Duration::from_secs(300),
        Duration::from_secs(900),
    );
    let first = secrets.get().await.unwrap();
    std::fs::remove_file(&file).unwrap();
    // A 401 refused this copy: handing it back would only be refused again.
    assert!(secrets.refresh(&first).await.is_err());
}
