"""infra/ parses, is formatted, passes checkov, and declares its inputs properly."""

import json
import os
import re
import shutil
import subprocess

import pytest

import terraform
from terraform import INFRA


def test_every_file_parses():
    files = terraform.parsed()
    assert {"versions.tf", "variables.tf", "outputs.tf", "lambda.tf", "api.tf", "msk.tf", "dynamodb.tf",
            "scheduler.tf", "iam.tf", "alarms.tf", "network.tf", "dashboard.tf"} <= set(files)
    assert all(files.values()), [name for name, blocks in files.items() if not blocks]


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_files_are_formatted():
    result = subprocess.run(["terraform", "fmt", "-check", "-recursive", "-diff", str(INFRA)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_passes():
    checkov = os.environ.get("CHECKOV", "checkov")
    result = subprocess.run(
        [checkov, "--directory", str(INFRA), "--framework", "terraform", "--skip-download",
         "--quiet", "--compact", "--output", "json"],
        capture_output=True, text=True,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [f'{c["check_id"]} {c["resource"]} ({c["file_path"]})' for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0 and not failed, "\n".join(failed)
    assert summary["passed"] > 100, summary


def test_every_skipped_check_says_why():
    skips = []
    for path in sorted(INFRA.rglob("*.tf")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip" in line:
                skips.append((path.name, number, line.strip()))
    assert skips
    for name, number, line in skips:
        m = re.fullmatch(r"#checkov:skip=(CKV2?_AWS_\d+):(.+)", line)
        assert m and len(m.group(2).split()) >= 5, f"{name}:{number}: a skip needs an ID and a reason: {line}"


def test_terraform_and_the_provider_are_pinned():
    blocks = terraform.parsed()["versions.tf"]["terraform"][0]
    assert re.fullmatch(r"~> 1\.\d+", blocks["required_version"])
    aws = blocks["required_providers"][0]["aws"]
    assert aws["source"] == "hashicorp/aws"
    # Terraform AWS provider, resource aws_lambda_event_source_mapping: metrics_config accepts
    # "ErrorCount" and "KafkaMetrics", and Kafka mappings the retry settings of provisioned mode,
    # only in recent 6.x releases; a bare "~> 6.0" would let an older one plan and fail.
    floor = re.fullmatch(r">= (6\.\d+), < 7\.0", aws["version"]).group(1)
    assert tuple(map(int, floor.split("."))) >= (6, 40)
    mapping = terraform.resources("aws_lambda_event_source_mapping")["order_events"]
    assert mapping["metrics_config"][0]["metrics"] == ["EventCount", "ErrorCount", "KafkaMetrics"]


def test_every_variable_has_a_description_a_type_and_a_validation():
    variables = terraform.variables()
    assert len(variables) > 10
    for name, body in variables.items():
        assert body.get("description"), name
        assert body.get("type"), name
        # A boolean has no value to validate.
        if body["type"] not in ("bool", "${bool}"):
            assert body.get("validation"), f"variable {name} has no validation"


def test_outputs_name_the_api_the_topics_and_the_tables():
    outputs = {name for block in terraform.parsed()["outputs.tf"]["output"] for name in block}
    assert {"api_url", "order_events_topic", "order_events_dlq_topic", "dynamodb_tables"} <= outputs
