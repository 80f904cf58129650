//! incident.io signs its webhooks the Svix / Standard Webhooks way: `webhook-id`,
//! `webhook-timestamp` (Unix seconds) and `webhook-signature`, a space-separated list of
//! `v1,<base64 HMAC-SHA256>` over `"<id>.<timestamp>.<body>"`, keyed with the endpoint's
//! signing secret `whsec_<base64 key>`. Several signatures appear while a secret is rotated.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// Svix refuses messages more than five minutes older or newer than its clock; so does the relay.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);
/// Svix message ids are short (`msg_` and 27 characters); longer is no webhook of incident.io's.
pub const MAX_ID_BYTES: usize = 256;
/// A few `v1,` signatures of 44 base64 characters each; longer is refused before any work.
pub const MAX_SIGNATURE_HEADER_BYTES: usize = 1024;
/// Signatures looked at per request, so a stuffed header cannot make the relay compute more.
pub const MAX_SIGNATURES: usize = 4;

/// The three headers as the entry point found them.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is too long")]
    TooLong(&'static str),
    #[error("the webhook-timestamp header is not a Unix time in seconds")]
    BadTimestamp,
    #[error("the webhook-timestamp is more than {} minutes away from the relay's clock", TOLERANCE.as_secs() / 60)]
    OutsideTolerance,
    #[error("the webhook-signature header has no v1 signature")]
    NoV1Signature,
    #[error("no signature in webhook-signature matches the body")]
    Mismatch,
    #[error("the relay has no incident.io signing secret configured")]
    NoSecret,
}

impl SignatureError {
    /// 431 for an oversized header, 401 for everything else: the sender is not who it says.
    pub fn status(&self) -> u16 {
        match self {
            SignatureError::TooLong(_) => 431,
            _ => 401,
        }
    }
}

pub use bridge_relay_ports::secrets::decode_whsec as decode_secret;

/// Checks the headers against `body` at time `now` with each secret. The MAC of the signed
/// content is computed once per secret and compared with each `v1` value in constant time
/// (`Mac::verify_slice`).
pub fn verify(
    headers: SignedHeaders<'_>,
    body: &[u8],
    secrets: &[SecretString],
    now: SystemTime,
) -> Result<(), SignatureError> {
    let id = headers.id.ok_or(SignatureError::Missing(ID_HEADER))?;
    let timestamp = headers
        .timestamp
        .ok_or(SignatureError::Missing(TIMESTAMP_HEADER))?;
    let header = headers
        .signature
        .ok_or(SignatureError::Missing(SIGNATURE_HEADER))?;
    if id.is_empty() {
        return Err(SignatureError::Missing(ID_HEADER));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(SignatureError::TooLong(ID_HEADER));
    }
    if header.len() > MAX_SIGNATURE_HEADER_BYTES {
        return Err(SignatureError::TooLong(SIGNATURE_HEADER));
    }
    let seconds: u64 = match timestamp.trim() {
        t if t.len() <= 20 && !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
            t.parse().map_err(|_| SignatureError::BadTimestamp)?
        }
        _ => return Err(SignatureError::BadTimestamp),
    };
    // In whole seconds, so a timestamp far beyond any clock (up to u64::MAX) cannot overflow.
    let now_seconds = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if seconds.abs_diff(now_seconds) > TOLERANCE.as_secs() {
        return Err(SignatureError::OutsideTolerance);
    }
    let signatures: Vec<Vec<u8>> = header
        .split(' ')
        .filter_map(|part| part.trim().strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .take(MAX_SIGNATURES)
        .collect();
    if signatures.is_empty() {
        return Err(SignatureError::NoV1Signature);
    }
    let keys: Vec<Vec<u8>> = secrets.iter().filter_map(decode_secret).collect();
    if keys.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    for key in &keys {
        let mac = mac(key, id, timestamp.trim(), body);
        for signature in &signatures {
            if mac.clone().verify_slice(signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::Mismatch)
}

/// The `webhook-signature` value incident.io would send (for tests and the `sign` command).
/// `None` when the secret is not a valid `whsec_` secret.
pub fn sign(secret: &SecretString, id: &str, timestamp: u64, body: &[u8]) -> Option<String> {
    let key = decode_secret(secret)?;
    let mac = mac(&key, id, &timestamp.to_string(), body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[allow(clippy::expect_used, reason = "HMAC-SHA256 takes a key of any length")]
fn mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    // Svix's published example (docs.svix.com/receiving/verifying-payloads/how-manual, also the
    // Standard Webhooks specification's test vector), recomputed independently with
    // python3 hmac/hashlib/base64 before it was pasted here.
    const SVIX_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SVIX_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SVIX_TIMESTAMP: u64 = 1614265330;
    const SVIX_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SVIX_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    const BODY: &[u8] =
        br#"{"event_type":"public_incident.incident_created_v2","public_incident.incident_created_v2":{"id":"01H"}}"#;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn headers<'a>(id: &'a str, timestamp: &'a str, signature: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: Some(id),
            timestamp: Some(timestamp),
            signature: Some(signature),
        }
    }

    const NOW: u64 = 1_780_000_000;
    const OURS: &str = "whsec_c2VjcmV0LWtleS1vZi10aGUtcmVsYXktMzItYnl0ZXM=";

    fn signed(secret_text: &str, timestamp: u64, body: &[u8]) -> String {
        sign(&secret(secret_text), "msg_1", timestamp, body).unwrap()
    }

    #[test]
    fn svix_published_vector_verifies_and_signs() {
        let s = secret(SVIX_SECRET);
        assert_eq!(
            sign(&s, SVIX_ID, SVIX_TIMESTAMP, SVIX_BODY).as_deref(),
            Some(SVIX_SIGNATURE)
        );
        let ts = SVIX_TIMESTAMP.to_string();
        assert_eq!(
            verify(
                headers(SVIX_ID, &ts, SVIX_SIGNATURE),
                SVIX_BODY,
                std::slice::from_ref(&s),
                at(SVIX_TIMESTAMP + 10)
            ),
            Ok(())
        );
        // The key without its prefix works too, as in Svix's libraries.
        assert_eq!(
            verify(
                headers(SVIX_ID, &ts, SVIX_SIGNATURE),
                SVIX_BODY,
                &[secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")],
                at(SVIX_TIMESTAMP)
            ),
            Ok(())
        );
    }

    #[test]
    fn tampered_body_id_or_timestamp_fails() {
        let sig = signed(OURS, NOW, BODY);
        let ts = NOW.to_string();
        let s = [secret(OURS)];
        assert_eq!(
            verify(headers("msg_1", &ts, &sig), BODY, &s, at(NOW)),
            Ok(())
        );
        let mut tampered = BODY.to_vec();
        tampered[5] ^= 1;
        assert_eq!(
            verify(headers("msg_1", &ts, &sig), &tampered, &s, at(NOW)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(headers("msg_2", &ts, &sig), BODY, &s, at(NOW)),
            Err(SignatureError::Mismatch)
        );
        let other_ts = (NOW + 1).to_string();
        assert_eq!(
            verify(headers("msg_1", &other_ts, &sig), BODY, &s, at(NOW)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rotated_secrets_and_several_signatures_pass() {
        let old = "whsec_b2xkLXNlY3JldC1rZXk=";
        let ts = NOW.to_string();
        // incident.io signs with both secrets while rotating: either configured one matches.
        let both = format!("{} {}", signed(old, NOW, BODY), signed(OURS, NOW, BODY));
        assert_eq!(
            verify(headers("msg_1", &ts, &both), BODY, &[secret(OURS)], at(NOW)),
            Ok(())
        );
        assert_eq!(
            verify(headers("msg_1", &ts, &both), BODY, &[secret(old)], at(NOW)),
            Ok(())
        );
        // One signature, checked against the relay's two configured secrets.
        let only_new = signed(OURS, NOW, BODY);
        assert_eq!(
            verify(
                headers("msg_1", &ts, &only_new),
                BODY,
                &[secret(old), secret(OURS)],
                at(NOW)
            ),
            Ok(())
        );
        // Unknown versions are skipped, not fatal.
        let mixed = format!("v2,abcd {only_new}");
        assert_eq!(
            verify(
                headers("msg_1", &ts, &mixed),
                BODY,
                &[secret(OURS)],
                at(NOW)
            ),
            Ok(())
        );
    }

    #[test]
    fn wrong_secret_fails() {
        let sig = signed("whsec_YXR0YWNrZXI=", NOW, BODY);
        let ts = NOW.to_string();
        assert_eq!(
            verify(headers("msg_1", &ts, &sig), BODY, &[secret(OURS)], at(NOW)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_and_future_timestamps_fail_even_when_signed() {
        let s = [secret(OURS)];
        let tolerance = TOLERANCE.as_secs();
        for (sent, ok) in [
            (NOW - tolerance, true),
            (NOW + tolerance, true),
            (NOW - tolerance - 1, false),
            (NOW + tolerance + 1, false),
            (NOW - 86_400, false),
        ] {
            let sig = signed(OURS, sent, BODY);
            let ts = sent.to_string();
            let result = verify(headers("msg_1", &ts, &sig), BODY, &s, at(NOW));
            if ok {
                assert_eq!(result, Ok(()), "{sent}");
            } else {
                assert_eq!(result, Err(SignatureError::OutsideTolerance), "{sent}");
            }
        }
    }

    #[test]
    fn malformed_headers_fail_with_the_reason() {
        let s = [secret(OURS)];
        let sig = signed(OURS, NOW, BODY);
        let ts = NOW.to_string();
        let missing = |h: SignedHeaders| verify(h, BODY, &s, at(NOW));
        assert_eq!(
            missing(SignedHeaders {
                id: None,
                ..headers("msg_1", &ts, &sig)
            }),
            Err(SignatureError::Missing(ID_HEADER))
        );
        assert_eq!(
            missing(SignedHeaders {
                timestamp: None,
                ..headers("msg_1", &ts, &sig)
            }),
            Err(SignatureError::Missing(TIMESTAMP_HEADER))
        );
        assert_eq!(
            missing(SignedHeaders {
                signature: None,
                ..headers("msg_1", &ts, &sig)
            }),
            Err(SignatureError::Missing(SIGNATURE_HEADER))
        );
        for bad_ts in ["", "abc", "-5", "1.5", "99999999999999999999999"] {
            assert_eq!(
                verify(headers("msg_1", bad_ts, &sig), BODY, &s, at(NOW)),
                Err(SignatureError::BadTimestamp),
                "{bad_ts:?}"
            );
        }
        // Found by fuzzing: a 20-digit timestamp beyond any clock is refused, not a panic.
        for far in [u64::MAX, 17_954_911_111_111_111_111] {
            let far_sig = signed(OURS, far, BODY);
            assert_eq!(
                verify(
                    headers("msg_1", &far.to_string(), &far_sig),
                    BODY,
                    &s,
                    at(NOW)
                ),
                Err(SignatureError::OutsideTolerance),
                "{far}"
            );
        }
        for bad_sig in ["", "v1", "v1,", "v1,!!!notbase64", "v1=abcd", "g0hM9SsE"] {
            let result = verify(headers("msg_1", &ts, bad_sig), BODY, &s, at(NOW));
            assert!(
                matches!(
                    result,
                    Err(SignatureError::NoV1Signature | SignatureError::Mismatch)
                ),
                "{bad_sig:?}: {result:?}"
            );
        }
        let long_id = "m".repeat(MAX_ID_BYTES + 1);
        assert_eq!(
            verify(headers(&long_id, &ts, &sig), BODY, &s, at(NOW)),
            Err(SignatureError::TooLong(ID_HEADER))
        );
        let long_sig = format!("{sig}{}", " ".repeat(MAX_SIGNATURE_HEADER_BYTES));
        assert_eq!(
            verify(headers("msg_1", &ts, &long_sig), BODY, &s, at(NOW)),
            Err(SignatureError::TooLong(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn stuffed_header_is_cut_after_a_few_signatures() {
        let s = [secret(OURS)];
        let good = signed(OURS, NOW, BODY);
        let ts = NOW.to_string();
        let junk = format!("v1,{}", STANDARD.encode([7u8; 32]));
        let stuffed = format!("{} {good}", [junk.as_str(); MAX_SIGNATURES].join(" "));
        assert_eq!(
            verify(headers("msg_1", &ts, &stuffed), BODY, &s, at(NOW)),
            Err(SignatureError::Mismatch)
        );
        let within = format!("{} {good}", [junk.as_str(); MAX_SIGNATURES - 1].join(" "));
        assert_eq!(
            verify(headers("msg_1", &ts, &within), BODY, &s, at(NOW)),
            Ok(())
        );
    }

    #[test]
    fn no_usable_secret_never_passes() {
        let sig = signed(OURS, NOW, BODY);
        let ts = NOW.to_string();
        assert_eq!(
            verify(headers("msg_1", &ts, &sig), BODY, &[], at(NOW)),
            Err(SignatureError::NoSecret)
        );
        assert_eq!(
            verify(
                headers("msg_1", &ts, &sig),
                BODY,
                &[secret("whsec_%%%")],
                at(NOW)
            ),
            Err(SignatureError::NoSecret)
        );
    }
}
