"""Each function is granted exactly the AWS calls its code makes, on its own resources."""

import re
import tomllib

import pytest

import aws_calls
import rust
import terraform

CRATES = sorted(rust.function_crates())


def binary(crate):
    path = rust.TARGET / "debug" / crate
    assert path.is_file(), f"{path} is missing: build it with `cargo build -p {crate}`"
    return path


def granted(crate):
    access = terraform.local("function_access")[crate]
    grants = set()
    for table, actions in access["dynamodb"].items():
        grants |= {aws_calls.Grant(action, f"table/{table}") for action in actions}
    for index, actions in access["dynamodb_indexes"].items():
        table, name = index.split("/")
        grants |= {aws_calls.Grant(action, f"table/{table}/index/{name}") for action in actions}
    grants |= {aws_calls.Grant(action, "schedules") for action in access["schedules"]}
    # iam.tf grants iam:PassRole on the Scheduler's role along with CreateSchedule.
    if "scheduler:CreateSchedule" in access["schedules"]:
        grants.add(aws_calls.Grant("iam:PassRole", "scheduler-role"))
    return grants


@pytest.mark.parametrize("crate", CRATES)
def test_grants_are_exactly_the_calls_the_code_makes(crate):
    required = aws_calls.required_grants(binary(crate))
    given = granted(crate)
    assert given == required, (
        f"{crate}: granted but never called: {sorted(given - required)}; "
        f"called but not granted: {sorted(required - given)}"
    )


def topic_variable(adapter, crate):
    """The environment variable naming the topic `adapter` (KafkaPublisher or KafkaDeadLetters)
    publishes to in `crate`: the config field passed to its constructor (`new` or `connect`, the
    topic last), and the variable that field is read from. Producers are built in the function's
    own code, or from the `ProducerSettings` it reads, in `shared/adapters/src/kafka.rs`."""
    sources = [*(rust.ROOT / "functions" / crate / "src").rglob("*.rs"), rust.ROOT / "shared/adapters/src/kafka.rs"]
    fields = set()
    for path in sources:
        for m in re.finditer(adapter + r"::(?:new|connect)\(", rust.load(path).masked):
            code = rust.load(path).code
            arguments = code[m.end() : rust.matching(rust.load(path).masked, m.end() - 1) - 1]
            last = arguments.strip().removesuffix(",").split(",")[-1]
            fields.add(re.split(r"[.\s]", last.strip().removesuffix(".clone()"))[-1])
    assert len(fields) == 1, f"{crate}: cannot tell which topic {adapter} gets: {fields}"
    field = fields.pop()
    variables = set()
    for path in sources:
        variables |= set(re.findall(r"\b" + field + r'\s*:[^\n]*?"([A-Z][A-Z0-9_]+)"', rust.load(path).code))
    assert len(variables) == 1, f"{crate}: {field} is read from {variables}"
    return variables.pop()


@pytest.mark.parametrize("crate", CRATES)
def test_kafka_grants_name_the_topics_the_code_publishes_to(crate):
    adapters = aws_calls.publishes(binary(crate))
    values = terraform.local("environment_values")
    expected = sorted(values[topic_variable(adapter, crate)] for adapter in adapters)
    assert sorted(terraform.local("function_access")[crate]["kafka_write"]) == expected


def test_the_producer_is_idempotent_as_the_kafka_grant_assumes():
    kafka = rust.load(rust.ROOT / "shared/adapters/src/kafka.rs").code
    assert re.search(r'"enable\.idempotence",\s*"true"', kafka)
    iam = (terraform.INFRA / "iam.tf").read_text()
    assert '"kafka-cluster:WriteDataIdempotently"' in iam


def test_the_scheduler_may_invoke_order_timeout_only():
    blocks = terraform.parsed()["scheduler.tf"]["data"]
    policy = next(b["aws_iam_policy_document"]["scheduler"] for b in blocks if "scheduler" in b.get("aws_iam_policy_document", {}))
    statements = {s["sid"]: s for s in policy["statement"]}
    assert statements["InvokeOrderTimeoutOnly"]["actions"] == ["lambda:InvokeFunction"]
    assert statements["InvokeOrderTimeoutOnly"]["resources"] == ['${aws_lambda_function.this["order-timeout"].arn}']
    assert terraform.local("environment_values")["ORDER_TIMEOUT_FUNCTION_ARN"] == '${local.function_arn["order-timeout"]}'


def test_schedules_are_scoped_to_the_payment_timeout_group():
    assert terraform.local("schedules_arn").endswith(":schedule/${aws_scheduler_schedule_group.timeouts.name}/*")
    values = terraform.local("environment_values")
    assert values["SCHEDULE_GROUP_NAME"] == "${aws_scheduler_schedule_group.timeouts.name}"
    assert values["SCHEDULER_ROLE_ARN"] == "${aws_iam_role.scheduler.arn}"


STREAM_ACTIONS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}


def test_the_stream_is_read_with_the_mappings_permissions_not_the_codes():
    # AWS Lambda Developer Guide, "Using AWS Lambda with Amazon DynamoDB", "Execution role
    # permissions" (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html): Lambda reads the
    # stream for the event source mapping with the function's execution role, which needs
    # dynamodb:DescribeStream, GetRecords, GetShardIterator and ListStreams; the function gets the
    # records in its event and calls no DynamoDB API for them. So they are granted by a policy of
    # the mapping's (order_stream_source), not in function_access, which is what the code calls.
    for crate, access in terraform.local("function_access").items():
        granted_actions = {a for actions in access["dynamodb"].values() for a in actions}
        granted_actions |= {a for actions in access["dynamodb_indexes"].values() for a in actions}
        assert not granted_actions & STREAM_ACTIONS, crate
    assert terraform.local("function_access")["order-stream"]["dynamodb"] == {}

    statements = terraform.policy_statements("order_stream_source")
    assert set(statements) == {"ReadOrdersStream", "ListStreams", "OnFailureDestination"}
    assert set(statements["ReadOrdersStream"]["actions"]) | set(statements["ListStreams"]["actions"]) == STREAM_ACTIONS
    mapping = terraform.resources("aws_lambda_event_source_mapping")["order_stream"]
    assert statements["ReadOrdersStream"]["resources"] == [mapping["event_source_arn"]]
    policy = terraform.resources("aws_iam_role_policy")["order_stream_source"]
    assert mapping["function_name"] == '${aws_lambda_function.this["order-stream"].arn}'
    assert policy["role"] == '${aws_iam_role.function["order-stream"].id}'
    # No other policy grants reading a stream.
    for name in terraform.data_sources("aws_iam_policy_document"):
        if name == "order_stream_source":
            continue
        text = str(terraform.data_sources("aws_iam_policy_document")[name])
        assert not any(action in text for action in STREAM_ACTIONS), name


def test_no_function_reads_a_stream_itself():
    # What the grants test relies on for order-stream: its code makes no DynamoDB call at all.
    # Only the local stack's emulator of the mapping reads a stream through the API.
    for crate, directory in rust.function_crates().items():
        manifest = tomllib.loads((directory / "Cargo.toml").read_text())
        assert "aws-sdk-dynamodbstreams" not in manifest.get("dependencies", {}), crate
    for f in aws_calls.adapter_functions():
        for call in aws_calls.DYNAMODB_STREAMS_CALLS:
            assert f".{call}(" not in f.body, f"{f.source.path}: {f.name} reads a stream ({call})"
