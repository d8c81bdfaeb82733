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
    assert function["vpc_config"][0]["subnet_ids"] == "${local.subnet_ids}"
    log_groups = terraform.resources("aws_cloudwatch_log_group")["function"]
    assert log_groups["retention_in_days"] == "${var.log_retention_days}"


@pytest.mark.parametrize("crate", CRATES)
def test_memory_and_timeout_suit_the_trigger(crate):
    function = functions()[crate]
    assert 128 <= function["memory_size"] <= 10240
    assert function["trigger"] in {"api", "scheduler", "kafka"}
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
