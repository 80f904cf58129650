#!/usr/bin/env python3
"""Holds the direction of the workspace's crates, read from `cargo metadata`.

The folder a crate sits in says what it may depend on (its normal dependencies among the
workspace's crates):
  shared/domain           nothing of the relay
  shared/ports            the domain
  shared/core             the domain and the ports (the use case)
  shared/adapters/http    the domain and the ports (the plumbing every adapter shares)
  shared/adapters/<any>   the domain, the ports and the plumbing: never another adapter,
                          never the use case or the application
  shared/app              anything below it (the only place the adapters meet)
  functions/*             the application alone (what the Lambda bootstraps link)
  cli                     the application and the sandbox (`bridge-relay demo`)
  sandbox                 nothing of the relay (stand-ins of Zoom, PagerDuty, incident.io)
  tests                   anything
and the domain, the ports and the use case reach no HTTP client, AWS SDK, HTTP server or
Lambda runtime, however indirectly. A crate in no folder above is an error, so a new crate
gets a rule before it gets code.

Usage: scripts/check-layers.py [--metadata FILE]   (default: runs cargo metadata)
"""
import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IO_CRATES = re.compile(
    r"^(reqwest|hyper|hyper-util|lambda_runtime|aws_lambda_events|aws-config|aws-sdk-[a-z]+|aws-smithy-[a-z-]+)$"
)
PURE = ("domain", "ports", "core")


def layer_of(manifest: Path) -> str | None:
    """The layer of the crate whose Cargo.toml is `manifest`, by its folder."""
    parts = manifest.relative_to(ROOT).parts[:-1]
    match parts:
        case ("shared", "domain") | ("shared", "ports") | ("shared", "core") | ("shared", "app"):
            return parts[1]
        case ("shared", "adapters", "http"):
            return "plumbing"
        case ("shared", "adapters", _):
            return "adapter"
        case ("functions", _):
            return "entry"
        case ("cli",):
            return "cli"
        case ("sandbox",):
            return "sandbox"
        case ("tests",):
            return "tests"
    return None


ALLOWED = {
    "domain": set(),
    "ports": {"domain"},
    "core": {"domain", "ports"},
    "plumbing": {"domain", "ports"},
    "adapter": {"domain", "ports", "plumbing"},
    "app": {"domain", "ports", "core", "plumbing", "adapter"},
    "entry": {"app"},
    "cli": {"app", "sandbox"},
    "sandbox": set(),
    "tests": {"domain", "ports", "core", "plumbing", "adapter", "app", "sandbox"},
}


def violations(metadata: dict) -> list[str]:
    members = set(metadata["workspace_members"])
    packages = {p["id"]: p for p in metadata["packages"]}
    by_name = {packages[i]["name"]: packages[i] for i in members}
    layers = {}
    found = []
    for name, package in sorted(by_name.items()):
        layer = layer_of(Path(package["manifest_path"]))
        if layer is None:
            found.append(f"{name} ({package['manifest_path']}) sits in no folder with a rule")
        layers[name] = layer
    for name, package in sorted(by_name.items()):
        layer = layers[name]
        if layer is None:
            continue
        for dep in package["dependencies"]:
            if dep["kind"] is not None or dep["name"] not in by_name:
                continue  # dev and build dependencies, and crates from outside
            dep_layer = layers[dep["name"]]
            if dep_layer not in ALLOWED[layer]:
                found.append(
                    f"{name} ({layer}) depends on {dep['name']} ({dep_layer}); "
                    f"a crate of the {layer} layer may depend on: {', '.join(sorted(ALLOWED[layer])) or 'nothing of the relay'}"
                )
    # What the pure layers reach through their normal dependencies.
    nodes = {node["id"]: node for node in metadata["resolve"]["nodes"]}

    def normal_deps(package_id: str):
        for dep in nodes[package_id]["deps"]:
            if any(kind["kind"] is None for kind in dep["dep_kinds"]):
                yield dep["pkg"]

    for name, package in sorted(by_name.items()):
        if layers[name] not in PURE:
            continue
        seen, todo = set(), [package["id"]]
        while todo:
            current = todo.pop()
            for dep in normal_deps(current):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        io = sorted({packages[d]["name"] for d in seen if IO_CRATES.match(packages[d]["name"])})
        if io:
            found.append(f"{name} ({layers[name]}) reaches I/O crates: {', '.join(io)}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metadata", type=Path, help="cargo metadata JSON to check instead")
    args = parser.parse_args()
    if args.metadata:
        metadata = json.loads(args.metadata.read_text())
    else:
        output = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
        metadata = json.loads(output)
    found = violations(metadata)
    for line in found:
        print(f"check-layers: {line}", file=sys.stderr)
    if found:
        return 1
    members = len(metadata["workspace_members"])
    print(f"check-layers: {members} crates, each depends only on the layers below it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
