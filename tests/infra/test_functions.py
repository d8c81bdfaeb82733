"""Each function crate has its Lambda, configured exactly as its code reads its configuration,
and wired to what invokes it."""

import re

import pytest

import rust
import terraform

CRATES = sorted(rust.function_crates())
# Lambda sets these itself and refuses a function that sets them.
LAMBDA_RESERVED = {"AWS_REGION"}


def functions():
    return terraform.resolve(terraform.local("functions"))


def test_every_function_crate_has_a_lambda_and_every_lambda_a_crate():
    assert CRATES, "no crate under functions/"
    lambdas = terraform.resources("aws_lambda_function")
    # One resource for all the crates; the only other function creates the Kafka topics.
    assert set(lambdas) == {"this", "kafka_topics"}
    assert lambdas["this"]["for_each"] == "${local.functions}"
    assert set(terraform.local("function_access")) == set(functions())
    missing = set(CRATES) - set(functions())
    assert not missing, f"crates without a Lambda in infra/lambda.tf: {sorted(missing)}"
    extra = set(functions()) - set(CRATES)
    assert not extra, f"Lambdas in infra/lambda.tf without a crate under functions/: {sorted(extra)}"


@pytest.mark.parametrize("crate", CRATES)
def test_environment_is_exactly_what_the_config_reads(crate):
    read = rust.environment_variables(crate)
    configured = set(functions()[crate]["environment"])
    assert configured == read - LAMBDA_RESERVED, (
        f"{crate}: set but never read: {sorted(configured - read)}; "
        f"read but not set: {sorted(read - LAMBDA_RESERVED - configured)}"
    )
    values = terraform.local("environment_values")
    assert configured <= set(values), f"{crate}: no value for {sorted(configured - set(values))}"
    assert not LAMBDA_RESERVED & set(values)


def test_functions_run_from_their_zips_on_al2023_with_json_logs():
    function = terraform.resources("aws_lambda_function")["this"]
    zip_path = "${local.package_dir}/${each.key}/bootstrap.zip"
    assert function["filename"] == zip_path
    assert function["source_code_hash"] == '${filebase64sha256("' + zip_path + '")}'
    assert (function["runtime"], function["handler"]) == ("provided.al2023", "bootstrap")
    assert function["architectures"] == ["${var.lambda_architecture}"]
    assert function["logging_config"][0]["log_format"] == "JSON"
    assert function["logging_config"][0]["log_group"] == "${aws_cloudwatch_log_group.function[each.key].name}"
    log_groups = terraform.resources("aws_cloudwatch_log_group")["function"]
    assert log_groups["retention_in_days"] == "${var.log_retention_days}"


@pytest.mark.parametrize("crate", CRATES)
def test_memory_and_timeout_suit_the_trigger(crate):
    function = functions()[crate]
    assert 128 <= function["memory_size"] <= 10240
    assert function["trigger"] in {"api", "scheduler", "kafka", "dynamodb-stream"}
    # API Gateway gives up after 29 s; the function must answer before.
    limit = 28 if function["trigger"] == "api" else 900
    assert 1 <= function["timeout"] <= limit


def test_the_event_source_mapping_feeds_order_events_as_it_expects():
    mapping = terraform.resources("aws_lambda_event_source_mapping")["order_events"]
    assert mapping["function_name"] == '${aws_lambda_function.this["order-events"].arn}'
    assert functions()["order-events"]["trigger"] == "kafka"
    assert mapping["topics"] == ["${var.order_events_topic}"]
    assert terraform.local("environment_values")["ORDER_EVENTS_TOPIC"] == "${var.order_events_topic}"
    assert mapping["starting_position"] == "TRIM_HORIZON"
    assert mapping["batch_size"] == "${var.order_events_batch_size}"
    assert mapping["maximum_batching_window_in_seconds"] == "${var.order_events_batching_window_seconds}"
    assert mapping["amazon_managed_kafka_event_source_config"][0]["consumer_group_id"]
    assert mapping["destination_config"][0]["on_failure"][0]["destination_arn"]
    assert mapping["maximum_retry_attempts"] == "${var.order_events_max_retry_attempts}"
    assert mapping["provisioned_poller_config"], "retry settings and partial batch responses need provisioned mode"
    # The function answers with partial batch responses exactly when the mapping reads them.
    reports = terraform.local("environment_values")["REPORT_BATCH_ITEM_FAILURES"] == "true"
    assert ("ReportBatchItemFailures" in mapping.get("function_response_types", [])) == reports
    assert "REPORT_BATCH_ITEM_FAILURES" in functions()["order-events"]["environment"]


KAFKA_SETTINGS = {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_AUTH", "ORDER_EVENTS_TOPIC", "ORDER_EVENTS_DLQ_TOPIC"}


def test_only_the_kafka_clients_run_in_the_vpc():
    # AWS Lambda Developer Guide, "Giving Lambda functions access to resources in an Amazon VPC"
    # (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html): a function without
    # a VPC configuration runs in a Lambda-managed network with internet access, so it reaches
    # DynamoDB and the Scheduler at their public endpoints; one with a VPC configuration reaches
    # what its subnets reach. Amazon MSK Developer Guide, "What is MSK Serverless?": the brokers
    # are reached privately (AWS PrivateLink), from the VPCs the cluster is configured with.
    assert terraform.vpc_functions() == {"order-events", "order-timeout", "order-stream"}
    function = terraform.resources("aws_lambda_function")["this"]
    [vpc_config] = [block["vpc_config"] for block in function["dynamic"] if "vpc_config" in block]
    assert vpc_config["for_each"] == "${contains(local.vpc_functions, each.key) ? [local.subnet_ids] : []}"
    assert vpc_config["content"][0] == {
        "subnet_ids": "${vpc_config.value}",
        "security_group_ids": ["${aws_security_group.functions.id}"],
    }
    # The network interface permissions go with the VPC configuration.
    runtime = terraform.data_sources("aws_iam_policy_document")["function_runtime"]
    [interfaces] = [d["statement"] for d in runtime["dynamic"]
                    if d["statement"]["content"][0].get("sid") == "VpcNetworkInterfaces"]
    assert interfaces["for_each"] == "${contains(local.vpc_functions, each.key) ? [each.key] : []}"


def test_the_api_functions_neither_know_nor_may_reach_kafka():
    access = terraform.local("function_access")
    for crate in ("create-order", "orders-api"):
        assert functions()[crate]["trigger"] == "api"
        assert not KAFKA_SETTINGS & set(functions()[crate]["environment"]), crate
        assert access[crate]["kafka_write"] == [], crate
    assert not KAFKA_SETTINGS & set(terraform.resolve(terraform.local("api_environment")))


def test_the_orders_stream_feeds_order_stream_as_it_expects():
    """The mapping from the orders table's stream to order-stream, as AWS documents each setting.

    AWS Lambda Developer Guide, "Using AWS Lambda with Amazon DynamoDB"
    (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html), "Polling and stream starting
    positions": TRIM_HORIZON starts from the oldest record the stream holds, LATEST from records
    added after the mapping starts; "Polling and batching streams": with more concurrent batches
    per shard (ParallelizationFactor, up to 10), Lambda still processes the records of one item
    (partition and sort key) in order.
    "Lambda parameters for Amazon DynamoDB event source mappings"
    (https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html): MaximumRetryAttempts
    and MaximumRecordAgeInSeconds default to -1 (retried until the record expires, 24 hours for
    DynamoDB Streams), MaximumRecordAgeInSeconds is -1 or 60 to 604800, MaximumRetryAttempts 0 to
    10000, BatchSize up to 10000, ParallelizationFactor 1 to 10.
    "Configuring partial batch response with DynamoDB and Lambda"
    (https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html): a
    batchItemFailures response is read only with ReportBatchItemFailures in
    FunctionResponseTypes; with BisectBatchOnFunctionError too, the batch is split at the
    returned sequence number and only the rest retried, and a failed invocation is split in two.
    "Retaining discarded records for a DynamoDB event source in Lambda"
    (https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html): records given
    up on are discarded, their metadata sent to the on-failure destination, with the function's
    execution role; splitting a batch does not count against the retries.
    """
    mapping = terraform.resources("aws_lambda_event_source_mapping")["order_stream"]
    assert mapping["function_name"] == '${aws_lambda_function.this["order-stream"].arn}'
    assert functions()["order-stream"]["trigger"] == "dynamodb-stream"
    assert mapping["event_source_arn"] == '${aws_dynamodb_table.this["orders"].stream_arn}'
    assert mapping["enabled"] is True
    assert mapping["starting_position"] == "TRIM_HORIZON"
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["bisect_batch_on_function_error"] is True
    assert mapping["batch_size"] == "${var.order_stream_batch_size}"
    assert mapping["maximum_batching_window_in_seconds"] == "${var.order_stream_batching_window_seconds}"
    assert mapping["parallelization_factor"] == "${var.order_stream_parallelization_factor}"
    assert mapping["maximum_retry_attempts"] == "${var.order_stream_max_retry_attempts}"
    assert mapping["maximum_record_age_in_seconds"] == "${var.order_stream_max_record_age_seconds}"

    variables = terraform.variables()

    def bounds(name):
        """The (low, high) a variable's validation allows, read from its `var.x >= a && var.x <= b`."""
        [validation] = variables[name]["validation"]
        m = re.fullmatch(rf"\$\{{var\.{name} >= (-?\d+) && var\.{name} <= (\d+)\}}", validation["condition"])
        assert m, f"{name}: {validation['condition']}"
        return int(m.group(1)), int(m.group(2))

    # Bounded: neither may be -1, which would retry a failing record until the stream drops it,
    # and so lose it without telling the failures queue.
    assert bounds("order_stream_max_retry_attempts") == (0, 10000)
    assert bounds("order_stream_max_record_age_seconds") == (60, 86400)
    assert 60 <= variables["order_stream_max_record_age_seconds"]["default"] < 86400
    assert bounds("order_stream_batch_size") == (1, 10000)
    assert bounds("order_stream_batching_window_seconds") == (0, 300)
    assert bounds("order_stream_parallelization_factor") == (1, 10)

    # What it gives up on goes to a queue of its own, which its role may send to.
    destination = mapping["destination_config"][0]["on_failure"][0]["destination_arn"]
    assert destination == "${aws_sqs_queue.order_stream_failures.arn}"
    statements = terraform.policy_statements("order_stream_source")
    assert statements["OnFailureDestination"]["actions"] == ["sqs:SendMessage"]
    assert statements["OnFailureDestination"]["resources"] == [destination]
    policy = terraform.resources("aws_iam_role_policy")["order_stream_source"]
    assert policy["role"] == '${aws_iam_role.function["order-stream"].id}'
    # CreateEventSourceMapping checks the role's stream permissions: the policy comes first; and
    # with TRIM_HORIZON the first batch may hold changes already made, to publish at once.
    assert {
        "aws_iam_role_policy.order_stream_source",
        "aws_lambda_invocation.kafka_topics",
        "aws_vpc_security_group_egress_rule.functions_to_kafka",
        "aws_vpc_security_group_ingress_rule.kafka_from_functions",
    } <= terraform.depends_on(mapping)
    # Encrypted like the other queues.
    queue = terraform.resources("aws_sqs_queue")["order_stream_failures"]
    assert queue["sqs_managed_sse_enabled"] is True
    assert queue["message_retention_seconds"] == 1209600


def operations():
    """Operation variant => (method, path), from shared/http/src/routes.rs."""
    source = rust.load(rust.ROOT / "shared/http/src/routes.rs")
    fns = {f.name: f for f in rust.functions(source.path) if f.owner == "Operation"}
    variants = re.findall(r"Self::(\w+)", source.masked[fns["path"].start : fns["path"].end])
    table = {}
    for name, f in (("method", fns["method"]), ("path", fns["path"])):
        text = source.code[f.start : f.end]
        for arm in re.finditer(r"((?:Self::\w+\s*\|?\s*)+)=>\s*([^,\n]+)", text):
            for variant in re.findall(r"Self::(\w+)", arm.group(1)):
                table.setdefault(variant, {})[name] = arm.group(2).strip().strip('"').replace("Method::", "")
        if "_ =>" in text:
            default = re.search(r"_\s*=>\s*([^,\n]+)", text).group(1).strip().replace("Method::", "")
            for variant in variants + list(table):
                table.setdefault(variant, {}).setdefault(name, default)
    return {variant: f'{value["method"]} {value["path"]}' for variant, value in table.items()}


def served(crate):
    """The operations a function's code dispatches on."""
    names = set()
    for path in sorted((rust.ROOT / "functions" / crate / "src").rglob("*.rs")):
        names |= set(re.findall(r"\bOperation::([A-Z]\w*)", rust.load(path).masked))
    return names - {"ALL"}


def test_each_api_route_leads_to_the_function_that_serves_it():
    routes = operations()
    assert len(routes) >= 9
    api = {crate for crate, function in functions().items() if function["trigger"] == "api"}
    expected = {routes[operation]: crate for crate in api for operation in served(crate)}
    assert sorted(expected.values()) and set(expected.values()) == api, "an API function serves no route"
    assert terraform.local("api_routes") == expected


def test_every_route_needs_a_jwt():
    route = terraform.resources("aws_apigatewayv2_route")["this"]
    assert route["authorization_type"] == "JWT"
    assert route["authorizer_id"] == "${aws_apigatewayv2_authorizer.jwt.id}"
    authorizer = terraform.resources("aws_apigatewayv2_authorizer")["jwt"]
    assert authorizer["identity_sources"] == ["$request.header.Authorization"]
    assert terraform.local("environment_values")["DEV_IDENTITY_HEADERS"] == "false"
