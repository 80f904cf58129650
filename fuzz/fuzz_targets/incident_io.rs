//! incident.io webhooks: input = `webhook-id` NL `webhook-timestamp` NL `webhook-signature`,
//! NUL, body bytes. Never panics; a forged header never passes unless it carries the body's
//! real signature; the real signature, sent now, passes whatever junk follows it within the
//! header limit; the parser and the policy take any body that verified.
#![no_main]

use std::time::{SystemTime, UNIX_EPOCH};

use bridge_relay::incident_io::signature::{self, SignedHeaders};
use bridge_relay::incident_io::webhook;
use bridge_relay::policy::BridgePolicy;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.splitn(3, '\n');
    let (id, timestamp, header) = (
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
    );
    let secrets = [
        SecretString::from("whsec_b2xkLWZ1enotc2lnbmluZy1rZXk="),
        SecretString::from("whsec_bmV3LWZ1enotc2lnbmluZy1rZXk="),
    ];
    let now = SystemTime::now();
    let headers = SignedHeaders {
        id: Some(id),
        timestamp: Some(timestamp),
        signature: Some(header),
    };
    let canonical = timestamp
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|seconds| seconds.to_string() == timestamp.trim());
    // A timestamp written another way (leading zeros) is signed as written; skip those here.
    if let (Ok(()), Some(seconds)) = (signature::verify(headers, body, &secrets, now), canonical) {
        let expected: Vec<String> = secrets
            .iter()
            .map(|s| signature::sign(s, id, seconds, body).unwrap()[3..].to_owned())
            .collect();
        assert!(
            expected.iter().any(|mac| header.contains(mac.as_str())),
            "a header without the body's signature passed: {header:?}"
        );
    }
    let seconds = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let id = if id.is_empty() || id.len() > signature::MAX_ID_BYTES {
        "msg_fuzz"
    } else {
        id
    };
    let good = signature::sign(&secrets[1], id, seconds, body).unwrap();
    let rotated = format!("{good} {header}");
    let result = signature::verify(
        SignedHeaders {
            id: Some(id),
            timestamp: Some(&seconds.to_string()),
            signature: Some(&rotated),
        },
        body,
        &secrets,
        now,
    );
    if rotated.len() <= signature::MAX_SIGNATURE_HEADER_BYTES {
        assert_eq!(result, Ok(()), "the real signature first, then {header:?}");
    }
    if let Ok(event) = webhook::parse(body) {
        let _ = BridgePolicy::default().decide_incident_io(&event.into_incident_event("fuzz"));
    }
});
