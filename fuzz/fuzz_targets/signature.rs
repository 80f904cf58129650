//! `X-PagerDuty-Signature` against a body: input = header bytes, NUL, body bytes.
//! Never panics; a forged header never passes unless it carries the body's real MAC; the
//! correct signature always passes, whatever junk values follow it (rotation form), as long as
//! the header stays within its size limit.
#![no_main]

use bridge_relay::pagerduty::signature::{self, SignatureError};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let header = String::from_utf8_lossy(header);
    let secrets = [
        SecretString::from("fuzz-webhook-secret-old"),
        SecretString::from("fuzz-webhook-secret-new"),
    ];
    let expected: Vec<String> = secrets
        .iter()
        .map(|s| signature::sign(body, s)[3..].to_owned())
        .collect();
    match signature::verify(Some(&header), body, &secrets) {
        Ok(()) => {
            let lower = header.to_ascii_lowercase();
            assert!(
                expected.iter().any(|mac| lower.contains(mac.as_str())),
                "a header without the body's MAC passed: {header:?}"
            );
        }
        Err(SignatureError::Missing) => panic!("a present header reported missing"),
        Err(_) => {}
    }
    let good = signature::sign(body, &secrets[1]);
    let rotated = format!("{good}, {header}");
    let expected = if rotated.len() <= signature::MAX_HEADER_BYTES {
        Ok(())
    } else {
        Err(SignatureError::TooLong)
    };
    assert_eq!(
        signature::verify(Some(&rotated), body, &secrets),
        expected,
        "the real signature first, then {header:?}"
    );
});
