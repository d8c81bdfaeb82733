"""The counts the functions write in CloudWatch embedded metric format (shared/domain/src/metrics.rs)
are the ones infra/ alarms on and shows, under the same namespace, names and dimension, and each
is read from the function that writes it."""

import re
import subprocess

import pytest

import rust
import terraform

METRICS_RS = rust.ROOT / "shared/domain/src/metrics.rs"


def emitted():
    """Metric name => the Rust functions (owner, name, crate or None for shared code) that count it."""
    source = rust.load(METRICS_RS)
    names = dict(re.findall(r"Metric::(\w+)\s*=>\s*\"(\w+)\"", source.code))
    assert names, "no metric names in metrics.rs"
    callers = {name: set() for name in names.values()}
    paths = [*rust.rust_files("shared/domain/src"), *rust.rust_files("shared/adapters/src"), *(rust.ROOT / "functions").glob("*/src/*.rs")]
    for path in paths:
        if path == METRICS_RS:
            continue
        for f in rust.functions(path):
            for variant in re.findall(r"\bMetric::(\w+)", f.source.masked[f.start:f.end]):
                crate = path.relative_to(rust.ROOT).parts[1] if path.is_relative_to(rust.ROOT / "functions") else None
                callers[names[variant]].add((f.owner, f.name, crate))
    return callers


def links(crate, owner, name):
    """Whether the crate's debug binary links `owner::name` (a shared use case)."""
    binary = rust.TARGET / "debug" / crate
    assert binary.is_file(), f"{binary} is missing: build it with `cargo build -p {crate}`"
    symbols = subprocess.run(["nm", "--demangle", str(binary)], check=True, capture_output=True, text=True).stdout
    return re.search(rf"::{owner}(<[^\n]*?>)?::{name}\b", symbols) is not None


def test_the_namespace_and_dimension_are_the_ones_infra_reads():
    # Amazon CloudWatch User Guide, "Specification: Embedded metric format"
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
    # a log event is a JSON object whose _aws.CloudWatchMetrics names the namespace, the dimension
    # sets and the metrics, whose values are members of the same object.
    code = rust.load(METRICS_RS).code
    assert re.search(r'pub const NAMESPACE: &str = "([^"]+)"', code).group(1) == terraform.local("metrics_namespace")
    assert '"Dimensions": [["FunctionName"]]' in code
    assert '"Unit": "Count"' in code
    # Lambda sets it on every function (AWS Lambda Developer Guide, "Defined runtime environment
    # variables"), so the dimension needs no configuration.
    assert 'std::env::var("AWS_LAMBDA_FUNCTION_NAME")' in code


def test_every_metric_the_code_writes_is_on_the_dashboard_and_named_by_infra():
    written = emitted()
    assert set(terraform.local("custom_metrics")) == set(written)
    body = terraform.resources("aws_cloudwatch_dashboard")["this"]["dashboard_body"]
    for metric in written:
        assert f"local.custom_metric.{metric}" in body, f"{metric} is not on the dashboard"


@pytest.mark.parametrize("metric", sorted(terraform.local("custom_metrics")))
def test_each_metric_is_read_from_the_function_that_writes_it(metric):
    function = terraform.local("custom_metrics")[metric]
    callers = emitted()[metric]
    assert callers, f"nothing writes {metric}"
    for owner, name, crate in callers:
        if crate is not None:
            assert crate == function, f"{metric} is written by {crate}, infra reads it from {function}"
        else:
            writers = {c for c in rust.function_crates() if links(c, owner, name)}
            assert writers == {function}, f"{metric} ({owner}::{name}) is linked by {sorted(writers)}"


def test_stopped_partitions_and_dead_letters_are_alarmed():
    alarms = terraform.resources("aws_cloudwatch_metric_alarm")
    for name, metric in (("records_dead_lettered", "RecordsDeadLettered"), ("partitions_stopped", "PartitionsStopped")):
        alarm = alarms[name]
        assert (alarm["namespace"], alarm["metric_name"]) == ("${local.metrics_namespace}", metric)
        assert alarm["dimensions"] == {"FunctionName": f"${{aws_lambda_function.this[local.custom_metrics.{metric}].function_name}}"}
        assert (alarm["statistic"], alarm["comparison_operator"], alarm["threshold"]) == ("Sum", "GreaterThanThreshold", 0)
