//! `scripts/check-layers.py` holds the crates' direction: it passes on the workspace as it is,
//! and fails, naming the rule, on the same workspace with one dependency that breaks a rule.

use std::process::Command;

use bridge_relay_tests::workspace_root;
use serde_json::{Value, json};

fn metadata() -> Value {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The check's verdict on `metadata`: whether it passed, and what it said.
fn check(metadata: &Value, name: &str) -> (bool, String) {
    let file = std::env::temp_dir().join(format!(
        "bridge-relay-layers-{name}-{}.json",
        std::process::id()
    ));
    std::fs::write(&file, metadata.to_string()).unwrap();
    let output = Command::new("python3")
        .arg(workspace_root().join("scripts/check-layers.py"))
        .arg("--metadata")
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), said)
}

fn package<'a>(metadata: &'a mut Value, name: &str) -> &'a mut Value {
    metadata["packages"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package {name}"))
}

/// `from` gets a normal dependency on the workspace crate `to`.
fn with_dependency(metadata: &Value, from: &str, to: &str) -> Value {
    let mut metadata = metadata.clone();
    package(&mut metadata, from)["dependencies"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": to, "kind": null}));
    metadata
}

#[test]
fn the_workspace_keeps_its_direction() {
    let (passed, said) = check(&metadata(), "as-is");
    assert!(passed, "{said}");
    assert!(
        said.contains("each depends only on the layers below it"),
        "{said}"
    );
}

#[test]
fn an_adapter_that_sees_another_breaks_the_check() {
    let metadata = metadata();
    for (from, to, rule) in [
        (
            "bridge-relay-zoom",
            "bridge-relay-pagerduty",
            "bridge-relay-zoom (adapter) depends on bridge-relay-pagerduty (adapter)",
        ),
        (
            "bridge-relay-aws",
            "bridge-relay",
            "bridge-relay-aws (adapter) depends on bridge-relay (app)",
        ),
        (
            "bridge-relay-core",
            "bridge-relay-zoom",
            "bridge-relay-core (core) depends on bridge-relay-zoom (adapter)",
        ),
        (
            "bridge-relay-cli",
            "bridge-relay-aws",
            "bridge-relay-cli (cli) depends on bridge-relay-aws (adapter)",
        ),
        (
            "bridge-relay-worker",
            "bridge-relay-sandbox",
            "bridge-relay-worker (entry) depends on bridge-relay-sandbox (sandbox)",
        ),
        (
            "bridge-relay",
            "bridge-relay-sandbox",
            "bridge-relay (app) depends on bridge-relay-sandbox (sandbox)",
        ),
        (
            "bridge-relay-sandbox",
            "bridge-relay-domain",
            "bridge-relay-sandbox (sandbox) depends on bridge-relay-domain (domain)",
        ),
    ] {
        let (passed, said) = check(&with_dependency(&metadata, from, to), from);
        assert!(!passed, "{from} -> {to} passed: {said}");
        assert!(said.contains(rule), "{from} -> {to}: {said}");
    }
}

#[test]
fn the_domain_reaching_an_http_client_breaks_the_check() {
    let mut metadata = metadata();
    let reqwest = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "reqwest")
        .unwrap()["id"]
        .clone();
    let domain = package(&mut metadata, "bridge-relay-domain")["id"].clone();
    let node = metadata["resolve"]["nodes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|node| node["id"] == domain)
        .unwrap();
    node["deps"].as_array_mut().unwrap().push(
        json!({"name": "reqwest", "pkg": reqwest, "dep_kinds": [{"kind": null, "target": null}]}),
    );
    let (passed, said) = check(&metadata, "domain-io");
    assert!(!passed, "{said}");
    let domain_line = said
        .lines()
        .find(|line| line.contains("bridge-relay-domain (domain) reaches I/O crates:"))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(domain_line.contains("reqwest"), "{said}");
}

#[test]
fn a_crate_outside_the_layered_folders_breaks_the_check() {
    let mut metadata = metadata();
    let zoom = package(&mut metadata, "bridge-relay-zoom");
    zoom["manifest_path"] = json!(workspace_root().join("shared/zoom/Cargo.toml"));
    let (passed, said) = check(&metadata, "unplaced");
    assert!(!passed, "{said}");
    assert!(said.contains("sits in no folder with a rule"), "{said}");
}
