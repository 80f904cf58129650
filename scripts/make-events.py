#!/usr/bin/env python3
"""Writes the Lambda test events in events/ from the vendored PagerDuty payloads, signed with the
webhook secret of examples/secrets.local.json. The same files serve `sam local invoke`,
`cargo lambda invoke` and the end-to-end tests.

Usage: scripts/make-events.py
"""
import base64
import hashlib
import hmac
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = json.loads((ROOT / "examples/secrets.local.json").read_text())["pagerduty"]["webhook_secrets"][0]
PAYLOADS = ROOT / "tests/fixtures/pagerduty-webhooks/captured-zulip"


def function_url_event(body: bytes, headers: dict, base64_body: bool = False) -> dict:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": "abcdefghij.lambda-url.us-east-1.on.aws",
            "user-agent": "PagerDuty-Webhook/V3.0",
            **headers,
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {
                "method": "POST",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "44.242.69.192",
                "userAgent": "PagerDuty-Webhook/V3.0",
            },
            "requestId": "a6f4a0a2-1a34-4b31-9d4c-2f1e1e2b7c10",
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795428000000,
        },
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
        "isBase64Encoded": base64_body,
    }


def signed(body: bytes, secret: str = SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# The relay ignores a V3 event that occurred more than 49 hours ago (past PagerDuty's retry
# window: a replay). These files are invoked whenever someone tries the functions, so they carry
# an occurred_at that never falls behind; only PagerDuty can sign one, so a date ahead is harmless.
OCCURRED_AT = "2099-01-01T00:00:00.000Z"


def compact(name: str) -> bytes:
    envelope = json.loads((PAYLOADS / name).read_text())
    envelope["event"]["occurred_at"] = OCCURRED_AT
    return json.dumps(envelope, separators=(",", ":")).encode()


def write(name: str, event: dict) -> None:
    (ROOT / "events" / name).write_text(json.dumps(event, indent=2) + "\n")
    print("events/" + name)


def main() -> None:
    (ROOT / "events").mkdir(exist_ok=True)
    triggered = compact("triggered_v3.json")
    webhook_id = {"x-webhook-id": "6f1d0bb0-3a8c-4f8e-9a5e-6b7f0d2c9e41"}
    write("ingress-triggered.json",
          function_url_event(triggered, {"x-pagerduty-signature": signed(triggered), **webhook_id}))
    write("ingress-triggered-base64.json",
          function_url_event(triggered, {"x-pagerduty-signature": signed(triggered), **webhook_id}, True))
    acknowledged = compact("acknowledged_v3.json")
    write("ingress-acknowledged.json",
          function_url_event(acknowledged, {"x-pagerduty-signature": signed(acknowledged),
                                            "x-webhook-id": "0c4b6e7e-8a0f-4d43-9b0c-3f2d1c0b9a87"}))
    write("ingress-bad-signature.json",
          function_url_event(triggered, {"x-pagerduty-signature": signed(triggered, "not-the-secret"), **webhook_id}))
    malformed = b'{"event": {"id": "01MALFORMED", "event_type": "incident.triggered", "data": {"type": "incident"}}}'
    write("ingress-malformed.json",
          function_url_event(malformed, {"x-pagerduty-signature": signed(malformed),
                                         "x-webhook-id": "5e0a9f7d-2b1c-4e3f-8a6d-7c9b0e1f2a34"}))

    # A V3 webhook's job is deduplicated on its signed event id.
    job = {
        "webhook_id": "01BZYIL05THJDFF2Y08X9SVMTU",
        "event_id": "01BZYIL05THJDFF2Y08X9SVMTU",
        "event_type": "incident.triggered",
        "incident": {
            "id": "PFQZPSY",
            "number": 9,
            "title": "Test Incident 3",
            "html_url": "https://pig208.pagerduty.com/incidents/PFQZPSY",
            "service": "pig208",
            "urgency": "high",
        },
    }
    body = json.dumps(job, separators=(",", ":"))
    write("worker-job.json", {"Records": [{
        "messageId": "3f6c4f6e-5a2b-4b8e-9f0d-1c2e3a4b5c6d",
        "receiptHandle": "AQEB-example-receipt-handle",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795428000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1795428000100",
            "SequenceNumber": "18849496460467696128",
            "MessageGroupId": "PFQZPSY",
            "MessageDeduplicationId": job["webhook_id"],
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bridge-relay-jobs.fifo",
        "awsRegion": "us-east-1",
    }]})


if __name__ == "__main__":
    main()
