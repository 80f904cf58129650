#!/usr/bin/env python3
"""Copies the operations the relay calls out of the official OpenAPI specs into
tests/fixtures/openapi/, with every component they reference, so Prism starts fast
and the tests run from the project's own tree. Fixes applied are listed in SOURCES.md.

Usage: scripts/vendor-specs.py ../shared/specs
"""
import json
import sys
from pathlib import Path

KEEP = {
    "pagerduty-rest-openapiv3.json": {
        "out": "pagerduty-rest.json",
        "ops": {
            "/incidents/{id}": ["get", "put"],
            "/incidents/{id}/notes": ["get", "post"],
            "/webhook_subscriptions": ["get", "post"],
            "/webhook_subscriptions/{id}": ["get", "put"],
            "/users/me": ["get"],
            "/users/{id}": ["get"],
            "/users": ["get"],
        },
    },
    "zoom-meetings-openapi.json": {
        "out": "zoom-meetings.json",
        "ops": {
            "/users/{userId}/meetings": ["get", "post"],
            "/meetings/{meetingId}": ["get", "patch", "delete"],
            "/meetings/{meetingId}/status": ["put"],
            "/users/{userId}": ["get"],
            "/past_meetings/{meetingId}/instances": ["get"],
        },
    },
}


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(spec, pointer):
    node = spec
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def trim(spec, ops):
    paths = {}
    for path, methods in ops.items():
        if path not in spec["paths"]:
            continue
        item = spec["paths"][path]
        kept = {m: item[m] for m in methods if m in item}
        if "parameters" in item:
            kept["parameters"] = item["parameters"]
        paths[path] = kept
    out = {k: v for k, v in spec.items() if k not in ("paths", "components", "tags", "x-tagGroups")}
    out["paths"] = paths
    components = {}
    todo = list(refs(paths))
    seen = set()
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        # A ref may point inside a component; copy the whole component it lives in.
        _, _, kind, name = ref.split("/")[:4]
        whole = f"#/components/{kind}/{name}"
        target = resolve(spec, whole)
        components.setdefault(kind, {})[name.replace("~1", "/").replace("~0", "~")] = target
        todo.extend(refs(target))
    if "securitySchemes" in spec.get("components", {}):
        components["securitySchemes"] = spec["components"]["securitySchemes"]
    out["components"] = components
    return out


def fix_zoom_user_id(spec):
    # An email matches both the free-form string and the `email` branch of this oneOf,
    # so Prism rejects /users/bot@example.com/meetings; anyOf is what the API means.
    for item in spec["paths"].values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for param in op.get("parameters", []):
                if param.get("name") == "userId" and "oneOf" in param.get("schema", {}):
                    param["schema"]["anyOf"] = param["schema"].pop("oneOf")


# Operations newer than the 2023 Zoom spec, taken from Zoom's 2026 Meetings API and added to
# the same file (so one Prism serves every Zoom call). They reference no components; their
# `security` names the 2026 file's scheme, so it is set to the 2023 file's `OAuth`.
ZOOM_2026 = {
    "spec": "zoom-2026/zoom-meeting-open-api-spec.json",
    "into": "zoom-meetings.json",
    "ops": {"/meetings/{meetingId}/meeting_summary": ["get"]},
    # Query parameters the 2023 file's operations lack: the list's date filter, which the
    # lookup of a lost meeting narrows the host's list with.
    "params": {("/users/{userId}/meetings", "get"): ["from", "to", "timezone"]},
}


def add_zoom_2026(src, dest):
    newer = json.loads((src / ZOOM_2026["spec"]).read_text())
    target = dest / ZOOM_2026["into"]
    spec = json.loads(target.read_text())
    for path, methods in ZOOM_2026["ops"].items():
        item = newer["paths"][path]
        kept = {m: dict(item[m]) for m in methods}
        for op in kept.values():
            assert "$ref" not in json.dumps(op), f"{path} references components"
            op["security"] = [{"OAuth": []}]
        spec["paths"][path] = kept
    for (path, method), names in ZOOM_2026["params"].items():
        params = spec["paths"][path][method]["parameters"]
        have = {p.get("name") for p in params}
        for param in newer["paths"][path][method]["parameters"]:
            if param.get("name") in names and param["name"] not in have:
                assert "$ref" not in json.dumps(param), f"{path} {param['name']} references components"
                params.append(param)
    target.write_text(json.dumps(spec, indent=1, sort_keys=False) + "\n")
    added = [f"{m.upper()} {p} {', '.join(n)}" for (p, m), n in ZOOM_2026["params"].items()]
    print(f"{ZOOM_2026['into']}: added {', '.join(ZOOM_2026['ops'])} and the parameters "
          f"{'; '.join(added)} from the 2026 spec")


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/specs")
    dest = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "openapi"
    for name, job in KEEP.items():
        spec = json.loads((src / name).read_text())
        trimmed = trim(spec, job["ops"])
        if name.startswith("zoom"):
            fix_zoom_user_id(trimmed)
        (dest / job["out"]).write_text(json.dumps(trimmed, indent=1, sort_keys=False) + "\n")
        print(f"{job['out']}: {len(trimmed['paths'])} paths, "
              f"{sum(len(v) for v in trimmed['components'].values())} components")
    add_zoom_2026(src, dest)


if __name__ == "__main__":
    main()
