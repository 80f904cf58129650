#!/usr/bin/env python3
"""Checks what cfn-lint and `sam validate` do not: the template as the SAM translator expands it.

- both functions: provided.al2023, arm64, bootstrap, built by cargo-lambda from a workspace binary
- the job queue: FIFO, dead-letter queue (FIFO), visibility timeout >= 6 x the worker's timeout
- the worker's SQS trigger reports partial batch failures
- logs with a retention period; an alarm on the first dead letter, notifying the alarm topic
- the alarms reach someone: each topic an alarm notifies is encrypted with a key of the stack
  (not an AWS managed alias/aws/... key, whose policy cannot let CloudWatch use it), rotated,
  whose key policy grants cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey* for
  this account's alarms and no one else but the account; and a topic policy lets
  cloudwatch.amazonaws.com publish to it, for this account only (and lets no one else)
- the dashboard shows every metric the code emits (namespace, names and dimension read from
  shared/app/src/metrics.rs) and no metric of that namespace the code does not emit
- the public ingress holds no API credential: each function reads only its own secret
  (IngressSecretArn / WorkerSecretArn, RelaySecretArn where one is empty), worked out for a
  split deployment, one from before the split and one halfway; its variable names the secret
  its role may read, and it has no other secret variable
- the ingress reads only the meeting# index items of the table (dynamodb:LeadingKeys) and
  its concurrency is capped (ReservedConcurrentExecutions, at least 1)
- least privilege: every IAM statement names its resources, no wildcard actions or resources,
  the ingress may only send to its queue, the worker only read its secret, use its table,
  take its jobs and send to the dead-letter queue (and its job queue, for jobs waiting for a
  Zoom host); no other role, IAM policy, NotAction,
  NotResource or Deny-less escape hatch; only the two AWS managed Lambda execution policies
  SAM attaches (see SECURITY.md for what they grant)

scripts/test-check-template.py feeds it deliberately bad copies of the template and expects
each to fail.

Usage: scripts/check-template.py [template.yaml]   (run with the tools venv's python)
"""
import json
import re
import sys
from pathlib import Path

import os

import yaml
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parent.parent
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else "Fn::" + suffix
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _tag)


class NoManagedPolicies:
    def load(self):
        return {}


def workspace_binaries():
    names = set()
    for manifest in ROOT.glob("functions/*/Cargo.toml"):
        for line in manifest.read_text().splitlines():
            if line.startswith("name = "):
                names.add(line.split('"')[1])
                break
    return names


def emitted_metrics():
    """The namespace, dimension and metric names declared in shared/app/src/metrics.rs."""
    source = (ROOT / "shared/app/src/metrics.rs").read_text()
    consts = dict(re.findall(r'pub const (\w+): &str = "([^"]+)";', source))
    names_block = source[source.index("pub mod names"):]
    names = set(re.findall(r'pub const \w+: &str = "([^"]+)";', names_block))
    return consts["NAMESPACE"], consts["DIMENSION"], names


def check_dashboard(resources):
    namespace, dimension, names = emitted_metrics()
    check(len(names) >= 10, f"metric names read from shared/app/src/metrics.rs: {sorted(names)}")
    dashboards = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::CloudWatch::Dashboard"]
    check(len(dashboards) == 1, f"{len(dashboards)} dashboards")
    if len(dashboards) != 1:
        return
    body = dashboards[0]["DashboardBody"]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    # ${Resource} and ${Resource.Attr} become placeholders so the body parses as JSON.
    refs = set(re.findall(r"\$\{([^}]+)\}", text))
    for ref in refs:
        check(ref.startswith("AWS::") or ref.split(".")[0] in resources, f"dashboard refers to unknown {ref}")
    parsed = json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: "REF:" + m.group(1), text))
    shown = set()
    for widget in parsed["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            fields = [f for f in row if isinstance(f, str)]
            if fields[0] != namespace:
                continue
            name, dims = fields[1], dict(zip(fields[2::2], fields[3::2]))
            check(name in names, f"the dashboard shows {namespace}/{name}, which the code does not emit")
            check(list(dims) == [dimension] and dims[dimension] in ("REF:IngressFunction", "REF:WorkerFunction"),
                  f"{name}: dimensions {dims} are not the code's {dimension} of a function")
            shown.add(name)
    check(names <= shown, f"metrics the code emits but the dashboard does not show: {sorted(names - shown)}")
    alarms = {k for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    alarm_widgets = [w for w in parsed["widgets"] if w["type"] == "alarm"]
    listed = {a.split(":", 1)[1].split(".")[0] for w in alarm_widgets for a in w["properties"]["alarms"]}
    check(listed == alarms, f"the dashboard's alarm widget lists {sorted(listed)}, the stack has {sorted(alarms)}")


def load(path):
    return yaml.load(Path(path).read_text(), Loader=CfnLoader)


def failures_of(sam):
    """Every check that fails for the SAM template `sam` (as `load` reads it)."""
    # The translator asks boto for a region; none is needed to expand the template.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    failures.clear()
    params = {
        "RelaySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bridge-relay-AbCdEf",
        "IngressSecretArn": "",
        "WorkerSecretArn": "",
        "ZoomHostUser": "bot@example.com",
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "AWS::StackName": "bridge-relay",
    }
    packaged = json.loads(json.dumps(sam))
    for resource in packaged["Resources"].values():
        # `sam deploy` uploads the build and puts its S3 address here.
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/bridge-relay.zip"
    cfn = transform(packaged, params, NoManagedPolicies())
    resources = cfn["Resources"]

    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    check(set(functions) == {"IngressFunction", "WorkerFunction"}, f"functions: {sorted(functions)}")
    binaries = workspace_binaries()
    for name, fn in functions.items():
        props = fn["Properties"]
        check(props.get("Runtime") == "provided.al2023", f"{name}: runtime {props.get('Runtime')}")
        check(props.get("Architectures") == ["arm64"], f"{name}: architectures {props.get('Architectures')}")
        check(props.get("Handler") == "bootstrap", f"{name}: handler {props.get('Handler')}")
        meta = sam["Resources"][name].get("Metadata", {})
        check(meta.get("BuildMethod") == "rust-cargolambda", f"{name}: not built by cargo-lambda")
        binary = meta.get("BuildProperties", {}).get("Binary")
        check(binary in binaries, f"{name}: binary {binary!r} is not one of {sorted(binaries)}")

    queue = resources["JobQueue"]["Properties"]
    dlq = resources["DeadLetterQueue"]["Properties"]
    worker_timeout = functions["WorkerFunction"]["Properties"]["Timeout"]
    check(queue.get("FifoQueue") is True and dlq.get("FifoQueue") is True, "queues must be FIFO")
    check(queue.get("ContentBasedDeduplication") is False, "dedup must be the webhook id, not the body")
    check(queue["VisibilityTimeout"] >= 6 * worker_timeout,
          f"visibility timeout {queue['VisibilityTimeout']} < 6 x worker timeout {worker_timeout}")
    redrive = queue.get("RedrivePolicy", {})
    check(redrive.get("deadLetterTargetArn") == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
          "job queue must redrive to DeadLetterQueue")
    check(dlq.get("MessageRetentionPeriod", 0) > queue.get("MessageRetentionPeriod", 345600),
          "dead letters must outlive the jobs")

    worker_env = functions["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    check(str(redrive.get("maxReceiveCount")) == str(worker_env.get("MAX_RECEIVE_COUNT")),
          "the worker's MAX_RECEIVE_COUNT must equal the queue's maxReceiveCount")
    table = resources["IncidentTable"]["Properties"]
    check(table.get("TimeToLiveSpecification", {}).get("AttributeName") == "expires_at",
          "the incident table expires records on expires_at")
    for role_name in ("WorkerFunctionRole",):
        for policy in resources[role_name]["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                acts = statement.get("Action", [])
                acts = acts if isinstance(acts, list) else [acts]
                if "sqs:SendMessage" in acts:
                    check(statement.get("Resource") in (
                        {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
                        {"Fn::GetAtt": ["JobQueue", "Arn"]},
                        {"Fn::GetAtt": ["TimerQueue", "Arn"]},
                    ), "the worker may send only to the dead-letter queue, its job queue (jobs "
                       "waiting for a Zoom host) and the timer queue")
                if any(a.startswith("dynamodb:") for a in acts):
                    check(statement.get("Resource") == {"Fn::GetAtt": ["IncidentTable", "Arn"]},
                          "the worker may use only its table")

    # Since October 2025 a public function URL needs both permissions, or every call is a 403.
    url_permissions = {
        v["Properties"]["Action"]
        for v in resources.values()
        if v["Type"] == "AWS::Lambda::Permission"
        and v["Properties"].get("FunctionName") == {"Ref": "IngressFunction"}
    }
    check(url_permissions == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"},
          f"the ingress URL's permissions: {sorted(url_permissions)}")

    for name, fn in functions.items():
        group = fn["Properties"].get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        check(group in resources and "RetentionInDays" in resources[group]["Properties"],
              f"{name}: logs go to a log group with a retention period")
    alarms = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    dead_letter_alarms = [
        a for a in alarms.values()
        if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}} in a.get("Dimensions", [])
        and a.get("Threshold") == 0 and a.get("ComparisonOperator") == "GreaterThanThreshold"
    ]
    check(len(dead_letter_alarms) == 1, "an alarm fires on the first dead letter")
    for name, alarm in alarms.items():
        check(alarm.get("AlarmActions") == [{"Ref": "AlarmTopic"}], f"{name} notifies the alarm topic")
    check_alarm_topics(resources, alarms)

    check_dashboard(resources)

    mappings = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::Lambda::EventSourceMapping"]
    # The job queue and the grace-timer queue.
    check(len(mappings) == 2, f"{len(mappings)} event source mappings")
    for mapping in mappings:
        check("ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
              "the worker trigger must report partial batch failures")
        check(mapping.get("BatchSize", 10) <= 10, "FIFO batches are at most 10")

    timer = resources.get("TimerQueue", {}).get("Properties", {})
    check(not timer.get("FifoQueue"), "the timer queue is a standard queue (per-message delays)")
    check(timer.get("VisibilityTimeout", 0) >= 6 * worker_timeout,
          "the timer queue's visibility timeout is at least 6 x the worker's timeout")
    check(str(timer.get("RedrivePolicy", {}).get("maxReceiveCount")) == str(worker_env.get("MAX_RECEIVE_COUNT")),
          "the timer queue's maxReceiveCount equals the worker's MAX_RECEIVE_COUNT")

    check_iam(resources)
    check_secrets(cfn)
    check_ingress_limits(sam, resources)
    return list(failures)


CLOUDWATCH = "cloudwatch.amazonaws.com"
# What CloudWatch needs of an encrypted topic's key to publish an alarm to the topic (AWS
# knowledge center, "configure a CloudWatch alarm with an encrypted SNS topic").
CLOUDWATCH_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")
# The account itself, as a key policy names it (its IAM policies then decide who may use the key).
ACCOUNT_PRINCIPALS = (
    {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"},
    {"Ref": "AWS::AccountId"},
)
# On behalf of this account's alarms only: a service principal's grant without it lets any
# account's alarm use the grant (the confused deputy).
SOURCE_ACCOUNT = {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def as_list(value):
    return value if isinstance(value, list) else [value]


def actions_of(statement):
    """A statement's actions, lower case (IAM compares them so)."""
    return {a.lower() for a in as_list(statement.get("Action", [])) if isinstance(a, str)}


def services_of(statement):
    principal = statement.get("Principal")
    return set(as_list(principal.get("Service", []))) if isinstance(principal, dict) else set()


def only_this_account(statement):
    return SOURCE_ACCOUNT.items() <= statement.get("Condition", {}).get("StringEquals", {}).items()


def key_of(resources, key_id):
    """The logical name of the stack's AWS::KMS::Key that a KmsMasterKeyId names (the key, its
    ARN or an alias of the stack for it), or None."""
    if isinstance(key_id, dict) and len(key_id) == 1:
        (function, arg), = key_id.items()
        name = arg if function == "Ref" else arg[0] if function == "Fn::GetAtt" else None
        kind = resources.get(name, {}).get("Type") if isinstance(name, str) else None
        if kind == "AWS::KMS::Key":
            return name
        if kind == "AWS::KMS::Alias" and function == "Ref":
            return key_of(resources, resources[name]["Properties"].get("TargetKeyId"))
    return None


def check_alarm_topics(resources, alarms):
    """Every topic an alarm notifies is one CloudWatch may publish to: an alarm whose topic's key
    or policy leaves CloudWatch out fails to publish, and says so only in its own history."""
    topics = set()
    for alarm in alarms.values():
        for field in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            for action in as_list(alarm.get(field, [])):
                # Ref of a topic is its ARN, as is its TopicArn attribute.
                target = action.get("Ref") if isinstance(action, dict) else None
                if isinstance(action, dict) and "Fn::GetAtt" in action:
                    target = action["Fn::GetAtt"][0]
                if resources.get(target, {}).get("Type") == "AWS::SNS::Topic":
                    topics.add(target)
    for topic in sorted(topics):
        key_id = resources[topic].get("Properties", {}).get("KmsMasterKeyId")
        check(key_id is not None, f"{topic}: the alarm topic must be encrypted (KmsMasterKeyId)")
        if key_id is None:
            continue
        # alias/aws/sns, or its ARN ...:alias/aws/sns (or a Sub of one): the key policy is AWS's.
        if re.search(r"(^|:)alias/aws/", key_id if isinstance(key_id, str) else str(key_id.get("Fn::Sub"))):
            check(False, f"{topic} is encrypted with the AWS managed key {key_id}, whose key policy "
                         f"cannot let {CLOUDWATCH} use it: the alarms would reach no one. Encrypt it "
                         f"with an AWS::KMS::Key of the stack that grants CloudWatch "
                         f"kms:Decrypt and kms:GenerateDataKey*")
            continue
        key = key_of(resources, key_id)
        check(key is not None, f"{topic}: KmsMasterKeyId {key_id} is not an AWS::KMS::Key of the stack, "
                               f"so nothing shows that its key policy lets {CLOUDWATCH} use it")
        if key is not None:
            check_alarm_topic_key(topic, key, resources[key]["Properties"])
    check_topic_policies(resources, topics)


def check_alarm_topic_key(topic, key, props):
    """The alarm topic's key lets CloudWatch encrypt for this account's alarms, and is the
    account's to administer; no one else is in its key policy."""
    check(props.get("EnableKeyRotation") is True, f"{key} (the key of {topic}): key rotation must be enabled")
    granted = set()
    for statement in as_list(props.get("KeyPolicy", {}).get("Statement", [])):
        for escape in ("NotAction", "NotResource", "NotPrincipal"):
            check(escape not in statement, f"{key}'s key policy: {escape} grants everything else")
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        services = services_of(statement)
        if services == {CLOUDWATCH} and set(principal) == {"Service"}:
            acts = actions_of(statement)
            check(acts <= {a.lower() for a in CLOUDWATCH_KEY_ACTIONS},
                  f"{key}'s key policy grants {CLOUDWATCH} {sorted(acts)}: it needs only kms:Decrypt "
                  f"and kms:GenerateDataKey*")
            check(only_this_account(statement),
                  f"{key}'s key policy grants {CLOUDWATCH} without the condition StringEquals "
                  f"{SOURCE_ACCOUNT}: any account's alarms could use the key")
            granted |= acts
        else:
            check(isinstance(principal, dict) and set(principal) == {"AWS"}
                  and all(p in ACCOUNT_PRINCIPALS for p in as_list(principal["AWS"])),
                  f"{key}'s key policy grants {principal}: only the account and {CLOUDWATCH}")
    missing = [a for a in CLOUDWATCH_KEY_ACTIONS if a.lower() not in granted]
    check(not missing,
          f"{topic}'s key {key} does not grant {CLOUDWATCH} {missing} in its key policy: "
          f"the alarms cannot publish to the encrypted topic and reach no one")


def check_topic_policies(resources, alarm_topics):
    """A topic policy lets CloudWatch publish to each alarm topic; and the stack's topic policies
    let only CloudWatch publish, for this account's alarms, and only to alarm topics."""
    published = set()
    for name, resource in resources.items():
        if resource["Type"] != "AWS::SNS::TopicPolicy":
            continue
        props = resource["Properties"]
        topics = [t.get("Ref") if isinstance(t, dict) else t for t in as_list(props.get("Topics", []))]
        check(topics and all(t in alarm_topics for t in topics),
              f"{name}: a topic policy on {topics}, which are not (only) alarm topics")
        for statement in as_list(props.get("PolicyDocument", {}).get("Statement", [])):
            for escape in ("NotAction", "NotResource", "NotPrincipal"):
                check(escape not in statement, f"{name}: {escape} grants everything else")
            if statement.get("Effect") != "Allow":
                continue
            principal = statement.get("Principal")
            ok = (services_of(statement) == {CLOUDWATCH} and set(principal) == {"Service"}
                  and actions_of(statement) == {"sns:publish"} and only_this_account(statement))
            check(ok, f"{name} may only let {CLOUDWATCH} sns:Publish with the condition StringEquals "
                      f"{SOURCE_ACCOUNT}, not {statement}")
            resources_named = as_list(statement.get("Resource"))
            for topic in topics:
                if ok and {"Ref": topic} in resources_named:
                    published.add(topic)
    for topic in sorted(alarm_topics - published):
        check(False, f"no topic policy lets {CLOUDWATCH} sns:Publish to {topic} (with the condition "
                     f"StringEquals {SOURCE_ACCOUNT}): the alarms cannot publish to it and reach no one")


# The secret parameters, and values for them in each kind of deployment.
RELAY, INGRESS, WORKER = "RelaySecretArn", "IngressSecretArn", "WorkerSecretArn"
SCENARIOS = {
    "split": {RELAY: "", INGRESS: "arn:ingress", WORKER: "arn:worker"},
    "one secret": {RELAY: "arn:relay", INGRESS: "", WORKER: ""},
    "halfway (the worker still on the one secret)": {RELAY: "arn:relay", INGRESS: "arn:ingress", WORKER: ""},
    "halfway (the ingress still on the one secret)": {RELAY: "arn:relay", INGRESS: "", WORKER: "arn:worker"},
}
# For each function: the variable its secret comes from and what it must be in each scenario.
SECRET_OF = {
    "IngressFunction": ("INGRESS_SECRET_ID", lambda p: p[INGRESS] or p[RELAY]),
    "WorkerFunction": ("WORKER_SECRET_ID", lambda p: p[WORKER] or p[RELAY]),
}
SECRET_VARIABLES = {"SECRET_ID", "INGRESS_SECRET_ID", "WORKER_SECRET_ID"}


def evaluate(value, params, conditions):
    """`value` as CloudFormation resolves it for `params` (Ref, Fn::If and the condition
    functions; anything else stays as it is)."""
    if isinstance(value, list):
        return [evaluate(v, params, conditions) for v in value]
    if not isinstance(value, dict) or len(value) != 1:
        return value
    (name, arg), = value.items()
    if name == "Ref" and arg in params:
        return params[arg]
    if name == "Condition":
        return evaluate(conditions[arg], params, conditions)
    if name == "Fn::If":
        condition, then, otherwise = arg
        chosen = then if evaluate(conditions[condition], params, conditions) else otherwise
        return evaluate(chosen, params, conditions)
    if name == "Fn::Equals":
        left, right = (evaluate(v, params, conditions) for v in arg)
        return left == right
    if name == "Fn::Not":
        return not evaluate(arg[0], params, conditions)
    if name == "Fn::And":
        return all(evaluate(v, params, conditions) for v in arg)
    if name == "Fn::Or":
        return any(evaluate(v, params, conditions) for v in arg)
    if name == "Fn::Sub" and isinstance(arg, list) and arg[0] == "${secretArn}":
        # What SAM's AWSSecretsManagerGetSecretValuePolicy makes of its SecretArn.
        return evaluate(arg[1]["secretArn"], params, conditions)
    return value


def secret_grants(resources, role, params, conditions):
    """Every secret `role` may read, for `params`."""
    grants = set()
    for policy in resources[role]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            acts = statement.get("Action", [])
            acts = acts if isinstance(acts, list) else [acts]
            if not any(a.startswith("secretsmanager:") for a in acts):
                continue
            res = statement.get("Resource")
            for r in res if isinstance(res, list) else [res]:
                resolved = evaluate(r, params, conditions)
                grants.add(resolved if isinstance(resolved, str) else json.dumps(resolved))
    return grants


def check_secrets(cfn):
    """The ingress can read no secret of the worker's, in any kind of deployment; each function's
    variable names the one secret its role may read."""
    resources, conditions = cfn["Resources"], cfn.get("Conditions", {})
    for scenario, params in SCENARIOS.items():
        for function, (variable, expected) in SECRET_OF.items():
            want = expected(params)
            got = secret_grants(resources, f"{function}Role", params, conditions)
            check(got == {want}, f"{scenario}: {function}'s role may read the secrets {sorted(got)}, "
                                 f"not only its own {want!r}")
            if function == "IngressFunction" and params[WORKER] and params[WORKER] in got:
                check(False, f"{scenario}: the ingress role can read the worker's secret")
            env = resources[function]["Properties"].get("Environment", {}).get("Variables", {})
            check(evaluate(env.get(variable), params, conditions) == want,
                  f"{scenario}: {function}'s {variable} is not its own secret {want!r}")
    for function, (variable, _) in SECRET_OF.items():
        env = resources[function]["Properties"].get("Environment", {}).get("Variables", {})
        others = sorted(SECRET_VARIABLES & set(env) - {variable})
        check(not others, f"{function} has the secret variables {others}: only {variable} is its own")


# The ingress may read the meeting# index items, nothing else of the table.
MEETING_INDEX_CONDITION = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["meeting#*"]}}


def check_ingress_limits(sam, resources):
    """The public function reads only the meeting index, and a flood of it is capped."""
    table_grants = 0
    for policy in resources["IngressFunctionRole"]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            acts = statement.get("Action", [])
            acts = acts if isinstance(acts, list) else [acts]
            if any(a.startswith("dynamodb:") for a in acts):
                table_grants += 1
                check(statement.get("Condition") == MEETING_INDEX_CONDITION,
                      f"the ingress's table grant {acts} must carry the key condition "
                      f"{MEETING_INDEX_CONDITION} (the meeting# items only), not {statement.get('Condition')}")
    check(table_grants <= 1, f"the ingress has {table_grants} table grants")
    cap = resources["IngressFunction"]["Properties"].get("ReservedConcurrentExecutions")
    if isinstance(cap, dict) and "Ref" in cap:
        parameter = sam.get("Parameters", {}).get(cap["Ref"], {})
        low = [parameter.get("Default"), parameter.get("MinValue")]
        check(parameter.get("Type") == "Number" and all(isinstance(v, int) and v >= 1 for v in low),
              f"the ingress's concurrency cap {cap['Ref']} must be a Number with a default and "
              f"minimum of at least 1, not {parameter}")
    else:
        check(isinstance(cap, int) and cap >= 1,
              f"the ingress's concurrency must be capped (ReservedConcurrentExecutions >= 1), not {cap}")


def contains_wildcard(value):
    """A `*` anywhere in a resource: a plain string, or inside Fn::Sub / Fn::Join parts."""
    if isinstance(value, str):
        return "*" in value
    if isinstance(value, list):
        return any(contains_wildcard(v) for v in value)
    if isinstance(value, dict):
        return any(contains_wildcard(v) for k, v in value.items() if k != "Ref")
    return False


def refers_to(value, name):
    """Whether a resource names `name` (Ref, GetAtt, or a Sub of one)."""
    return json.dumps(value) in (
        json.dumps({"Ref": name}),
        json.dumps({"Fn::GetAtt": [name, "Arn"]}),
        json.dumps({"Fn::Sub": ["${secretArn}", {"secretArn": {"Ref": name}}]}),
    )


ALLOWED_MANAGED_POLICIES = (
    "service-role/AWSLambdaBasicExecutionRole",
    "service-role/AWSLambdaSQSQueueExecutionRole",
)
# For each role: each action it may have and the one resource that action may name.
ALLOWED_GRANTS = {
    "IngressFunctionRole": {
        "sqs:SendMessage": "JobQueue",
        # Which secret is check_secrets' to say: it depends on the parameters.
        "secretsmanager:GetSecretValue": None,
        "dynamodb:GetItem": "IncidentTable",
    },
    "WorkerFunctionRole": {
        "secretsmanager:GetSecretValue": None,
        "dynamodb:GetItem": "IncidentTable",
        "dynamodb:UpdateItem": "IncidentTable",
        "dynamodb:PutItem": "IncidentTable",
        # The job queue too: a job waiting for a free Zoom host is queued again.
        "sqs:SendMessage": ("DeadLetterQueue", "JobQueue", "TimerQueue"),
        "sqs:ReceiveMessage": ("JobQueue", "TimerQueue"),
        "sqs:DeleteMessage": ("JobQueue", "TimerQueue"),
        "sqs:GetQueueAttributes": ("JobQueue", "TimerQueue"),
        "sqs:ChangeMessageVisibility": ("JobQueue", "TimerQueue"),
    },
}


def check_iam(resources):
    """Least privilege over the whole expanded template, not only the two known roles."""
    for name, resource in resources.items():
        kind = resource["Type"]
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User",
                    "AWS::IAM::Group", "AWS::IAM::AccessKey"):
            check(False, f"{name}: {kind} is not part of the relay's permissions")
        # The alarm topic's policy is check_alarm_topics' to judge.
        if (kind.endswith("Policy") and kind.startswith("AWS::") and not kind.startswith("AWS::IAM")
                and kind != "AWS::SNS::TopicPolicy"):
            check(False, f"{name}: resource policy {kind} is not expected")
        if kind != "AWS::IAM::Role":
            continue
        grants = ALLOWED_GRANTS.get(name)
        check(grants is not None, f"{name}: a role the relay does not use")
        grants = grants or {}
        props = resource["Properties"]
        for arn in props.get("ManagedPolicyArns", []):
            check(isinstance(arn, str) and arn.endswith(ALLOWED_MANAGED_POLICIES),
                  f"{name}: managed policy {arn}")
        check("PermissionsBoundary" not in props or props["PermissionsBoundary"],
              f"{name}: empty permissions boundary")
        for policy in props.get("Policies", []):
            where = f"{name}/{policy.get('PolicyName')}"
            for statement in policy["PolicyDocument"]["Statement"]:
                for escape in ("NotAction", "NotResource", "NotPrincipal"):
                    check(escape not in statement, f"{where}: {escape} grants everything else")
                check(statement.get("Effect") == "Allow", f"{where}: effect {statement.get('Effect')}")
                acts = statement.get("Action", [])
                acts = acts if isinstance(acts, list) else [acts]
                res = statement.get("Resource")
                res = res if isinstance(res, list) else [res]
                check(acts, f"{where}: a statement without actions")
                check(all(isinstance(a, str) and "*" not in a for a in acts),
                      f"{where}: wildcard action {acts}")
                check(res and all(r is not None for r in res), f"{where}: statement without a resource")
                check(not any(contains_wildcard(r) for r in res), f"{where}: wildcard resource {res}")
                for action in acts:
                    target = grants.get(action)
                    check(action in grants, f"{where}: action {action} is not needed")
                    if target is not None:
                        targets = target if isinstance(target, tuple) else (target,)
                        check(all(any(refers_to(r, t) for t in targets) for r in res),
                              f"{where}: {action} may only name {' or '.join(targets)}, not {res}")


def main():
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "template.yaml"
    found = failures_of(load(path))
    if found:
        for failure in found:
            print("template check failed:", failure)
        sys.exit(1)
    print(f"template checks passed ({path.name})")


if __name__ == "__main__":
    main()
