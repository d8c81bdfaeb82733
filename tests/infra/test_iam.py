"""Each function is granted exactly the AWS calls its code makes, on its own resources."""

import re

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
    topic last), and the variable that field is read from. Producers are built from the
    `ProducerSettings` the function reads, in `shared/adapters/src/kafka.rs`; the API functions
    read theirs through `orderflow_adapters::api`."""
    sources = [*(rust.ROOT / "functions" / crate / "src").rglob("*.rs"), rust.ROOT / "shared/adapters/src/kafka.rs"]
    if any("orderflow_adapters::api" in rust.load(path).code for path in sources):
        sources.append(rust.ROOT / "shared/adapters/src/api.rs")
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
