//! `X-PagerDuty-Signature`: HMAC-SHA256 of the raw body, hex, as one or more `v1=` values.
//! Several values appear while a subscription's secret is rotated; any one may match.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const HEADER: &str = "x-pagerduty-signature";

/// PagerDuty sends one `v1=` value, two while a secret is rotated; more are not looked at, so a
/// header stuffed with values cannot make the relay compute or compare more than a few MACs.
pub const MAX_SIGNATURES: usize = 4;
/// Longer than any real header (a few `v1=` values of 64 hex digits each); longer is refused
/// before any work is done on it.
pub const MAX_HEADER_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-PagerDuty-Signature header is missing")]
    Missing,
    #[error("the X-PagerDuty-Signature header is longer than {MAX_HEADER_BYTES} bytes")]
    TooLong,
    #[error("the X-PagerDuty-Signature header has no v1= signature")]
    NoV1Signature,
    #[error("no signature in X-PagerDuty-Signature matches the body")]
    Mismatch,
}

/// Checks `header` against `body` with each configured secret. The body's MAC is computed once
/// per secret and compared with each `v1=` value in constant time (`Mac::verify_slice`), so the
/// time taken says nothing about how much of a forged signature was right.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[SecretString],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    if header.len() > MAX_HEADER_BYTES {
        return Err(SignatureError::TooLong);
    }
    let signatures: Vec<Vec<u8>> = header
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("v1="))
        .filter_map(|hex_sig| hex::decode(hex_sig).ok())
        .take(MAX_SIGNATURES)
        .collect();
    if signatures.is_empty() {
        return Err(SignatureError::NoV1Signature);
    }
    for secret in secrets {
        let mac = mac(secret, body);
        for signature in &signatures {
            if mac.clone().verify_slice(signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::Mismatch)
}

/// The header value PagerDuty would send for `body` signed with `secret`.
pub fn sign(body: &[u8], secret: &SecretString) -> String {
    format!(
        "v1={}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

#[allow(clippy::expect_used, reason = "HMAC-SHA256 takes a key of any length")]
fn mac(secret: &SecretString, body: &[u8]) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"event":{"id":"1","event_type":"incident.triggered"}}"#;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn known_vector_matches_an_independent_hmac() {
        // Computed independently: python3 -c "import hmac,hashlib; print(hmac.new(b'secret', b'hello', hashlib.sha256).hexdigest())"
        assert_eq!(
            sign(b"hello", &secret("secret")),
            "v1=88aab3ede8d3adf94d26ab90d3bafd4a2083070c3bcce9c014ee04a443847c0b"
        );
    }

    #[test]
    fn valid_signature_passes() {
        let s = secret("whsec-one");
        let header = sign(BODY, &s);
        assert_eq!(verify(Some(&header), BODY, &[s]), Ok(()));
    }

    #[test]
    fn rotated_pair_passes_with_either_secret() {
        let old = secret("old-secret");
        let new = secret("new-secret");
        let header = format!("{}, {}", sign(BODY, &old), sign(BODY, &new));
        assert_eq!(
            verify(Some(&header), BODY, std::slice::from_ref(&new)),
            Ok(())
        );
        assert_eq!(
            verify(Some(&header), BODY, std::slice::from_ref(&old)),
            Ok(())
        );
        // and one header value checked against a configured pair
        let only_new = sign(BODY, &new);
        assert_eq!(verify(Some(&only_new), BODY, &[old, new]), Ok(()));
    }

    #[test]
    fn tampered_body_fails() {
        let s = secret("whsec-one");
        let header = sign(BODY, &s);
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify(Some(&header), &tampered, &[s]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn wrong_secret_fails() {
        let header = sign(BODY, &secret("attacker"));
        assert_eq!(
            verify(Some(&header), BODY, &[secret("whsec-one")]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_or_unusable_header_fails() {
        let s = [secret("whsec-one")];
        assert_eq!(verify(None, BODY, &s), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some(""), BODY, &s),
            Err(SignatureError::NoV1Signature)
        );
        assert_eq!(
            verify(Some("v0=abcd, v2=ef"), BODY, &s),
            Err(SignatureError::NoV1Signature)
        );
        assert_eq!(
            verify(Some("v1=not-hex"), BODY, &s),
            Err(SignatureError::NoV1Signature)
        );
    }

    #[test]
    fn stuffed_or_oversized_headers_are_refused_without_work() {
        let s = secret("whsec-one");
        let good = sign(BODY, &s);
        let junk = format!("v1={}", "ab".repeat(32));
        // The real value after MAX_SIGNATURES others is not looked at.
        let stuffed = format!("{}, {good}", [junk.as_str(); MAX_SIGNATURES].join(", "));
        assert!(stuffed.len() <= MAX_HEADER_BYTES);
        assert_eq!(
            verify(Some(&stuffed), BODY, std::slice::from_ref(&s)),
            Err(SignatureError::Mismatch)
        );
        let within = format!("{}, {good}", [junk.as_str(); MAX_SIGNATURES - 1].join(", "));
        assert_eq!(
            verify(Some(&within), BODY, std::slice::from_ref(&s)),
            Ok(())
        );
        let oversized = format!("{good},{}", " ".repeat(MAX_HEADER_BYTES));
        assert_eq!(
            verify(Some(&oversized), BODY, &[s]),
            Err(SignatureError::TooLong)
        );
    }

    #[test]
    fn truncated_or_extended_macs_fail() {
        let s = secret("whsec-one");
        let good = sign(BODY, &s);
        for bad in [&good[..good.len() - 2], &format!("{good}00"), "v1="] {
            assert!(
                verify(Some(bad), BODY, std::slice::from_ref(&s)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn no_configured_secret_never_passes() {
        let header = sign(BODY, &secret("x"));
        assert_eq!(
            verify(Some(&header), BODY, &[]),
            Err(SignatureError::Mismatch)
        );
    }
}
