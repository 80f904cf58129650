#!/usr/bin/env python3
"""Regression test of scripts/check-template.py: the real template passes, and each
deliberately bad copy of it (a wildcard, a broader resource, an extra role or action, an escape
hatch, an alarm topic CloudWatch cannot publish to) fails with the reason. Run with the tools
venv's python; exits 1 on any miss.

Usage: scripts/test-check-template.py [template.yaml]
"""
import copy
import importlib.util
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("check_template", ROOT / "scripts/check-template.py")
checker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(checker)


def statements(sam, function):
    """The inline `Statement` lists of a function's SAM policies."""
    return [p["Statement"] for p in sam["Resources"][function]["Properties"]["Policies"] if "Statement" in p]


def ingress_send(sam):
    return statements(sam, "IngressFunction")[0][0]


def worker_table(sam):
    return statements(sam, "WorkerFunction")[0][0]


def ingress_table(sam):
    return statements(sam, "IngressFunction")[0][1]


def ingress_secret(sam):
    return statements(sam, "IngressFunction")[1][0]


def function(sam, name):
    return sam["Resources"][name]["Properties"]


def variables(sam, name):
    return function(sam, name)["Environment"]["Variables"]


def resource(sam, name):
    return sam["Resources"][name]


def key_statements(sam):
    return resource(sam, "AlarmTopicKey")["Properties"]["KeyPolicy"]["Statement"]


def cloudwatch_key_grant(sam):
    """The key policy's statement for cloudwatch.amazonaws.com."""
    grants = [s for s in key_statements(sam) if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(grants) == 1, grants
    return grants[0]


def topic_statements(sam):
    return resource(sam, "AlarmTopicPolicy")["Properties"]["PolicyDocument"]["Statement"]


# (what is broken, how, a fragment of the failure it must cause)
BAD = [
    ("wildcard action on the table", lambda s: worker_table(s).update(Action="dynamodb:*"),
     "wildcard action"),
    ("ingress sends to any queue", lambda s: ingress_send(s).update(Resource="*"),
     "wildcard resource"),
    ("ingress sends to queues by pattern",
     lambda s: ingress_send(s).update(Resource={"Fn::Sub": "arn:aws:sqs:${AWS::Region}:${AWS::AccountId}:*"}),
     "wildcard resource"),
    ("ingress sends to the dead-letter queue",
     lambda s: ingress_send(s).update(Resource={"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}),
     "sqs:SendMessage may only name JobQueue"),
    ("worker sends to another queue",
     lambda s: statements(s, "WorkerFunction")[0][-1].update(
         Resource={"Fn::Sub": "arn:aws:sqs:${AWS::Region}:${AWS::AccountId}:other.fifo"}),
     "sqs:SendMessage may only name DeadLetterQueue or JobQueue"),
    ("ingress may scan the table",
     lambda s: statements(s, "IngressFunction")[0].append(
         {"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": {"Fn::GetAtt": ["IncidentTable", "Arn"]}}),
     "action dynamodb:Scan is not needed"),
    ("worker deletes records",
     lambda s: worker_table(s)["Action"].append("dynamodb:DeleteItem"),
     "action dynamodb:DeleteItem is not needed"),
    ("a statement without a resource", lambda s: worker_table(s).pop("Resource"),
     "without a resource"),
    ("NotAction escape hatch",
     lambda s: statements(s, "WorkerFunction")[0].append(
         {"Effect": "Allow", "NotAction": "iam:*", "Resource": {"Fn::GetAtt": ["IncidentTable", "Arn"]}}),
     "NotAction grants everything else"),
    ("an administrator managed policy",
     lambda s: s["Resources"]["WorkerFunction"]["Properties"]["Policies"].append(
         "arn:aws:iam::aws:policy/AdministratorAccess"),
     "managed policy arn:aws:iam::aws:policy/AdministratorAccess"),
    ("another role in the stack",
     lambda s: s["Resources"].update(SpareRole={"Type": "AWS::IAM::Role", "Properties": {
         "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
         "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [
             {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["JobQueue", "Arn"]}}]}}]}}),
     "SpareRole: a role the relay does not use"),
    ("ingress writes the table (it only reads meeting# items)",
     lambda s: statements(s, "IngressFunction")[0][1].update(Action=["dynamodb:GetItem", "dynamodb:PutItem"]),
     "action dynamodb:PutItem is not needed"),
    ("worker sends timers to the timers' dead-letter queue",
     lambda s: statements(s, "WorkerFunction")[0][2].update(Resource={"Fn::GetAtt": ["TimerDeadLetterQueue", "Arn"]}),
     "sqs:SendMessage may only name DeadLetterQueue or JobQueue or TimerQueue"),
    ("a FIFO timer queue (no per-message delay)",
     lambda s: s["Resources"]["TimerQueue"]["Properties"].update(FifoQueue=True),
     "the timer queue is a standard queue"),
    ("a stand-alone IAM policy",
     lambda s: s["Resources"].update(ExtraPolicy={"Type": "AWS::IAM::Policy", "Properties": {
         "PolicyName": "extra", "Roles": [{"Ref": "WorkerFunctionRole"}],
         "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/k"}]}}}),
     "ExtraPolicy: AWS::IAM::Policy is not part"),
    # The public ingress holds no API credential.
    ("ingress reads the worker's secret",
     lambda s: ingress_secret(s).update(Resource={"Ref": "WorkerSecretArn"}),
     "the ingress role can read the worker's secret"),
    ("ingress reads both secrets",
     lambda s: ingress_secret(s).update(Resource=[ingress_secret(s)["Resource"], {"Ref": "WorkerSecretArn"}]),
     "the ingress role can read the worker's secret"),
    ("ingress reads the worker's secret through SAM's policy template",
     lambda s: function(s, "IngressFunction")["Policies"].append(
         {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "WorkerSecretArn"}}}),
     "the ingress role can read the worker's secret"),
    ("ingress keeps reading the one secret after the split",
     lambda s: ingress_secret(s).update(Resource={"Ref": "RelaySecretArn"}),
     "split: IngressFunction's role may read the secrets"),
    ("worker's variable names the ingress's secret",
     lambda s: variables(s, "WorkerFunction").update(WORKER_SECRET_ID={"Ref": "IngressSecretArn"}),
     "split: WorkerFunction's WORKER_SECRET_ID is not its own secret"),
    ("the one SECRET_ID back for both functions",
     lambda s: s["Globals"]["Function"].update(Environment={"Variables": {"SECRET_ID": {"Ref": "RelaySecretArn"}}}),
     "IngressFunction has the secret variables ['SECRET_ID']"),
    ("ingress told the worker's secret too",
     lambda s: variables(s, "IngressFunction").update(WORKER_SECRET_ID={"Ref": "WorkerSecretArn"}),
     "IngressFunction has the secret variables ['WORKER_SECRET_ID']"),
    # It reads the meeting# index items only.
    ("ingress reads any item of the table",
     lambda s: ingress_table(s).pop("Condition"),
     "the ingress's table grant ['dynamodb:GetItem'] must carry the key condition"),
    ("ingress's key condition matches every key",
     lambda s: ingress_table(s).update(Condition={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["*"]}}),
     "must carry the key condition"),
    ("ingress's key condition on a single-valued operator that lets a missing key through",
     lambda s: ingress_table(s).update(Condition={"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["meeting#*"]}}),
     "must carry the key condition"),
    # Its concurrency is capped.
    ("no cap on the ingress's concurrency",
     lambda s: function(s, "IngressFunction").pop("ReservedConcurrentExecutions"),
     "the ingress's concurrency must be capped"),
    ("a cap of 0 (every webhook throttled)",
     lambda s: function(s, "IngressFunction").update(ReservedConcurrentExecutions=0),
     "the ingress's concurrency must be capped"),
    ("a cap parameter that may be 0",
     lambda s: s["Parameters"]["IngressConcurrency"].update(MinValue=0),
     "the ingress's concurrency cap IngressConcurrency must be a Number"),
    # The alarms reach someone (issue 24): CloudWatch may use the topic's key and publish to it.
    ("the AWS managed key back on the alarm topic",
     lambda s: resource(s, "AlarmTopic")["Properties"].update(KmsMasterKeyId="alias/aws/sns"),
     "AlarmTopic is encrypted with the AWS managed key alias/aws/sns"),
    ("the AWS managed key by its alias ARN",
     lambda s: resource(s, "AlarmTopic")["Properties"].update(
         KmsMasterKeyId={"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:alias/aws/sns"}),
     "AlarmTopic is encrypted with the AWS managed key"),
    ("a key from outside the stack (its policy unknown)",
     lambda s: resource(s, "AlarmTopic")["Properties"].update(KmsMasterKeyId="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
     "is not an AWS::KMS::Key of the stack"),
    ("the AWS managed key as a plain alias ARN",
     lambda s: resource(s, "AlarmTopic")["Properties"].update(KmsMasterKeyId="arn:aws:kms:us-east-1:123456789012:alias/aws/sns"),
     "encrypted with the AWS managed key arn:aws:kms:us-east-1:123456789012:alias/aws/sns"),
    ("the key policy without the CloudWatch grant",
     lambda s: key_statements(s).remove(cloudwatch_key_grant(s)),
     "AlarmTopic's key AlarmTopicKey does not grant cloudwatch.amazonaws.com"),
    ("the CloudWatch grant without kms:GenerateDataKey*",
     lambda s: cloudwatch_key_grant(s).update(Action="kms:Decrypt"),
     "does not grant cloudwatch.amazonaws.com ['kms:GenerateDataKey*']"),
    ("the CloudWatch grant for any account's alarms",
     lambda s: cloudwatch_key_grant(s).pop("Condition"),
     "grants cloudwatch.amazonaws.com without the condition"),
    ("the key policy open to every principal",
     lambda s: key_statements(s).append({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}),
     "AlarmTopicKey's key policy grants *"),
    ("the alarm topic's key not rotated",
     lambda s: resource(s, "AlarmTopicKey")["Properties"].pop("EnableKeyRotation"),
     "key rotation must be enabled"),
    ("no topic policy", lambda s: s["Resources"].pop("AlarmTopicPolicy"),
     "no topic policy lets cloudwatch.amazonaws.com sns:Publish to AlarmTopic"),
    ("the topic policy lets anyone publish",
     lambda s: topic_statements(s)[0].update(Principal="*"),
     "AlarmTopicPolicy may only let cloudwatch.amazonaws.com sns:Publish"),
    ("the topic policy for any account's alarms",
     lambda s: topic_statements(s)[0].pop("Condition"),
     "AlarmTopicPolicy may only let cloudwatch.amazonaws.com sns:Publish with the condition"),
    ("an unencrypted alarm topic",
     lambda s: resource(s, "AlarmTopic")["Properties"].pop("KmsMasterKeyId"),
     "the alarm topic must be encrypted"),
]


def main():
    logging.disable(logging.WARNING)  # the SAM translator's metrics chatter
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "template.yaml"
    original = checker.load(path)
    misses = []
    found = checker.failures_of(copy.deepcopy(original))
    if found:
        misses.append(f"the real template fails: {found}")
    for name, breaks, expected in BAD:
        sam = copy.deepcopy(original)
        breaks(sam)
        found = checker.failures_of(sam)
        if not any(expected in f for f in found):
            misses.append(f"{name}: expected a failure with {expected!r}, got {found}")
    for miss in misses:
        print("check-template regression:", miss)
    print(f"check-template regression: {len(BAD) + 1 - len(misses)} passed, {len(misses)} failed")
    sys.exit(1 if misses else 0)


if __name__ == "__main__":
    main()
