"""Every IAM policy document in infra/ as the JSON AWS would receive, for an IAM linter.

Without Terraform's providers nothing is planned, so the references in each document (a table's
ARN, the account id, a local) are replaced by values of the same form as AWS's: ARNs of the
stack's default names in a sample account and region. A reference this file does not know fails
the rendering, so a new one is never linted as a placeholder. Documents with for_each are
rendered once per key, and their dynamic statements expanded as Terraform would.
"""

import re

import terraform

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PREFIX = "orderflow-dev"
CLUSTER = f"{PREFIX}/6a2b9b7e-1c3d-4e5f-8a9b-0c1d2e3f4a5b-s1"


def _variable(name):
    return terraform.variables()[name]["default"]


def _topic_arn(topic):
    return f"arn:aws:kafka:{REGION}:{ACCOUNT}:topic/{CLUSTER}/{topic}"


def _topics():
    return [_variable("order_events_topic"), _variable("order_events_dlq_topic")]


# What each reference stands for: (pattern, value given the match and the context). `each` is
# the document's for_each value, `statement` the dynamic statement's (key, value).
REFERENCES = [
    (r"data\.aws_partition\.current\.partition", lambda m, c: "aws"),
    (r"data\.aws_caller_identity\.current\.account_id", lambda m, c: ACCOUNT),
    (r"data\.aws_region\.current\.region", lambda m, c: REGION),
    (r"var\.(\w+)", lambda m, c: _variable(m.group(1))),
    (r"aws_scheduler_schedule_group\.timeouts\.name", lambda m, c: f"{PREFIX}-payment-timeouts"),
    (r"aws_iam_role\.(\w+)\.arn", lambda m, c: f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-{m.group(1)}"),
    (r"aws_sqs_queue\.(\w+)\.arn", lambda m, c: f"arn:aws:sqs:{REGION}:{ACCOUNT}:{PREFIX}-{m.group(1).replace('_', '-')}"),
    (r'aws_lambda_function\.this\["([\w-]+)"\]\.arn',
     lambda m, c: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{PREFIX}-{m.group(1)}"),
    (r"aws_cloudwatch_log_group\.function\[each\.key\]\.arn",
     lambda m, c: f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{PREFIX}-{c['each_key']}"),
    (r"aws_cloudwatch_log_group\.kafka_topics\.arn",
     lambda m, c: f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{PREFIX}-kafka-topics"),
    (r"aws_dynamodb_table\.this\[statement\.key\]\.arn",
     lambda m, c: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{PREFIX}-{c['statement'][0]}"),
    (r'aws_dynamodb_table\.this\[split\("/", statement\.key\)\[0\]\]\.arn',
     lambda m, c: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{PREFIX}-{c['statement'][0].split('/')[0]}"),
    (r'split\("/", statement\.key\)\[1\]', lambda m, c: c["statement"][0].split("/")[1]),
    # A stream's ARN is its table's with /stream/<label>, the label a timestamp DynamoDB chooses.
    (r'aws_dynamodb_table\.this\["(\w+)"\]\.stream_arn',
     lambda m, c: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{PREFIX}-{m.group(1)}/stream/2025-01-01T00:00:00.000"),
    (r"statement\.value", lambda m, c: c["statement"][1]),
    (r"local\.kafka_cluster_arn", lambda m, c: f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"),
    (r"local\.kafka_topic_arn\[var\.order_events_topic\]", lambda m, c: _topic_arn(_variable("order_events_topic"))),
    (r"values\(local\.kafka_topic_arn\)", lambda m, c: [_topic_arn(t) for t in _topics()]),
    (r"\[for topic in statement\.value : local\.kafka_topic_arn\[topic\]\]",
     lambda m, c: [_topic_arn(t) for t in c["statement"][1]]),
    (r"local\.kafka_group_arn_base", lambda m, c: f"arn:aws:kafka:{REGION}:{ACCOUNT}:group/{CLUSTER}"),
    (r"local\.order_events_consumer_group", lambda m, c: f"{PREFIX}-order-events"),
    # Locals that are plain interpolated strings: rendered from their own text.
    (r"local\.(schedules_arn|schedule_group_arn)", lambda m, c: resolve(terraform.local(m.group(1)), c)),
]


def evaluate(expression, context):
    for pattern, value in REFERENCES:
        m = re.fullmatch(pattern, expression)
        if m:
            return value(m, context)
    raise AssertionError(f"iam_policies.py does not know what `{expression}` stands for")


def resolve(value, context):
    """`value` with every ${…} replaced: a lone reference keeps its type (a list stays a list)."""
    if isinstance(value, list):
        flat = []
        for item in value:
            resolved = resolve(item, context)
            flat.extend(resolved if isinstance(resolved, list) else [resolved])
        return flat
    if not isinstance(value, str):
        return value
    lone = re.fullmatch(r"\$\{(.+)\}", value)
    if lone and "${" not in lone.group(1):
        return evaluate(lone.group(1), context)
    return re.sub(r"\$\{([^{}]+)\}", lambda m: str(evaluate(m.group(1), context)), value)


# How each dynamic statement's for_each is evaluated, given the document's for_each value.
DYNAMIC = {
    "${contains(local.vpc_functions, each.key) ? [each.key] : []}":
        lambda each, c: [(0, c["each_key"])] if c["each_key"] in terraform.vpc_functions() else [],
    '${each.value.trigger == "scheduler" ? [aws_sqs_queue.order_timeout_failures.arn] : []}':
        lambda each, c: [(0, resolve("${aws_sqs_queue.order_timeout_failures.arn}", c))] if each["trigger"] == "scheduler" else [],
    "${each.value.dynamodb}": lambda each, c: list(each["dynamodb"].items()),
    "${each.value.dynamodb_indexes}": lambda each, c: list(each["dynamodb_indexes"].items()),
    "${length(each.value.schedules) > 0 ? [each.value.schedules] : []}":
        lambda each, c: [(0, each["schedules"])] if each["schedules"] else [],
    '${contains(each.value.schedules, "scheduler:CreateSchedule") ? [aws_iam_role.scheduler.arn] : []}':
        lambda each, c: [(0, resolve("${aws_iam_role.scheduler.arn}", c))] if "scheduler:CreateSchedule" in each["schedules"] else [],
    "${length(each.value.kafka_write) > 0 ? [local.kafka_cluster_arn] : []}":
        lambda each, c: [(0, resolve("${local.kafka_cluster_arn}", c))] if each["kafka_write"] else [],
    "${length(each.value.kafka_write) > 0 ? [each.value.kafka_write] : []}":
        lambda each, c: [(0, [resolve(t, c) for t in each["kafka_write"]])] if each["kafka_write"] else [],
}

CONDITION_TESTS = {"StringEquals", "StringLike", "ArnLike", "ArnEquals", "Bool", "NumericLessThan"}


def statement_json(statement, context, index):
    rendered = {"Sid": statement.get("sid", f"Statement{index}"), "Effect": statement.get("effect", "Allow")}
    if "${" in rendered["Sid"]:
        # A generated Sid (DynamoDb<Table>): its literal start and the key, alphanumeric as IAM wants.
        key = context["statement"][0]
        rendered["Sid"] = rendered["Sid"].split("${")[0] + re.sub(r"[^A-Za-z0-9]", "", key.title())
    rendered["Action"] = resolve(statement["actions"], context)
    if "resources" in statement:
        rendered["Resource"] = resolve(statement["resources"], context)
    if "principals" in statement:
        rendered["Principal"] = {p["type"]: resolve(p["identifiers"], context) for p in statement["principals"]}
    if "condition" in statement:
        conditions = {}
        for condition in statement["condition"]:
            assert condition["test"] in CONDITION_TESTS, condition["test"]
            conditions.setdefault(condition["test"], {})[condition["variable"]] = resolve(condition["values"], context)
        rendered["Condition"] = conditions
    return rendered


def render(document, context):
    statements = [statement_json(s, context, i) for i, s in enumerate(document.get("statement", []))]
    for block in document.get("dynamic", []):
        dynamic = block["statement"]
        items = DYNAMIC[dynamic["for_each"]](context["each"], context)
        for key, value in items:
            inner = dict(context, statement=(key, value))
            statements.append(statement_json(dynamic["content"][0], inner, len(statements)))
    return {"Version": "2012-10-17", "Statement": statements}


def documents():
    """(name, key or None) => the rendered policy, for every aws_iam_policy_document."""
    rendered = {}
    for name, document in terraform.data_sources("aws_iam_policy_document").items():
        for_each = document.get("for_each")
        if for_each is None:
            rendered[(name, None)] = render(document, {"each": None, "each_key": None})
            continue
        values = terraform.resolve(terraform.local(re.fullmatch(r"\$\{local\.(\w+)\}", for_each).group(1)))
        for key, each in values.items():
            rendered[(name, key)] = render(document, {"each": each, "each_key": key})
    return rendered
