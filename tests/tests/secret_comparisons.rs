//! An audit that stays true: the webhook MAC check goes through `Mac::verify_slice` (constant
//! time), and no expression in the relay's code compares an exposed secret or a MAC with `==` and
//! the like (the button token is compared with `subtle`'s `ct_eq`). A variable-time comparison
//! fails this test with its place.

use std::path::Path;

use bridge_relay_tests::workspace_root;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            // The relay's own code: integration tests and benchmarks compare what they like.
            if !path.ends_with("tests") && !path.ends_with("benches") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Ways a value can be compared in variable time.
const COMPARISONS: [&str; 8] = [
    "==",
    "!=",
    ".eq(",
    ".ne(",
    ".cmp(",
    ".starts_with(",
    ".ends_with(",
    ".contains(",
];

#[test]
fn secrets_are_compared_only_in_constant_time() {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ["shared", "cli/src", "functions"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "only {} files found", files.len());
    let mut exposures = 0;
    let mut findings = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        // An expression may span lines: look at each statement up to its `;`, `{` or `}`.
        for statement in code.split([';', '{', '}']) {
            let exposes = statement.contains("expose_secret()");
            let is_mac = statement.contains("finalize()") || statement.contains("into_bytes()");
            if exposes {
                exposures += 1;
            }
            if (exposes || is_mac) && COMPARISONS.iter().any(|c| statement.contains(c)) {
                findings.push(format!(
                    "{}: {}",
                    file.strip_prefix(&root).unwrap().display(),
                    statement.trim()
                ));
            }
        }
    }
    assert!(exposures >= 5, "the scan found only {exposures} exposures");
    assert!(
        findings.is_empty(),
        "variable-time comparisons:\n{findings:#?}"
    );

    let signature =
        std::fs::read_to_string(root.join("shared/adapters/pagerduty/src/signature.rs")).unwrap();
    let code = signature.split("#[cfg(test)]").next().unwrap();
    assert!(
        code.contains(".verify_slice("),
        "the MAC check uses verify_slice"
    );
}
