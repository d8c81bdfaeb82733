"""Every IAM policy in infra/ passes parliament (https://github.com/duo-labs/parliament), which
checks each action exists, each resource has the form the action takes, and each condition key
applies to the actions, against the Service Authorization Reference. The policies are rendered
to JSON by iam_policies.py; what parliament reports is an error unless excepted below, with why."""

import json
import warnings

import pytest

import iam_policies
import terraform

with warnings.catch_warnings():
    # parliament imports pkg_resources, which warns that it is deprecated.
    warnings.simplefilter("ignore")
    import parliament

# (policy document, parliament issue) => why the finding is right for this policy.
EXCEPTIONS = {
    ("lambda_trust", "MALFORMED"):
        "A role's trust policy names who may assume the role, never a Resource; parliament reads "
        "every policy as an identity policy.",
    ("scheduler_trust", "MALFORMED"):
        "Same: a role's trust policy has no Resource.",
    ("alarms_key", "RESOURCE_STAR"):
        "In a key policy Resource \"*\" is the key the policy is attached to (AWS KMS Developer "
        "Guide, \"Key policies in AWS KMS\"); the account statement is KMS's default key policy.",
    ("function_runtime", "RESOURCE_STAR"):
        "Lambda creates and deletes the functions' network interfaces with these EC2 actions; the "
        "interfaces do not exist before, so there is no ARN to name (AWS Lambda Developer Guide, "
        "\"Giving Lambda functions access to resources in an Amazon VPC\", the same actions on \"*\" "
        "as AWSLambdaVPCAccessExecutionRole).",
    ("kafka_topics", "RESOURCE_STAR"):
        "Same network interface actions, for the topic creator in the VPC.",
    ("order_stream_source", "RESOURCE_MISMATCH"):
        "The stream's ARN has the form the Service Authorization Reference gives "
        "(arn:…:table/<table>/stream/<label>), but its label is a timestamp with colons "
        "(2015-05-11T21:21:33.291, Amazon DynamoDB Developer Guide, \"Change data capture for "
        "DynamoDB Streams\"), and parliament splits an ARN at every colon.",
}


def findings():
    """(document, key) => [(issue, detail)] of what parliament reports."""
    found = {}
    for (name, key), policy in iam_policies.documents().items():
        analysed = parliament.analyze_policy_string(json.dumps(policy), filepath=f"{name}[{key}]")
        found[(name, key)] = [(parliament.enhance_finding(f).issue, f.detail) for f in analysed.findings]
    return found


@pytest.fixture(scope="module")
def reported():
    return findings()


def test_every_policy_document_is_rendered(reported):
    names = {name for name, _ in reported}
    assert names == {"lambda_trust", "function_runtime", "function_code", "order_events_consumer",
                     "order_stream_source", "kafka_topics", "scheduler_trust", "scheduler", "alarms_key"}
    # One per function for the documents with for_each.
    functions = set(terraform.local("functions"))
    assert {key for name, key in reported if name == "function_code"} == functions
    assert {key for name, key in reported if name == "function_runtime"} == functions


def test_parliament_reports_nothing_but_the_reasoned_exceptions(reported):
    unexpected = [f"{name}[{key}]: {issue} {detail}"
                  for (name, key), issues in reported.items()
                  for issue, detail in issues if (name, issue) not in EXCEPTIONS]
    assert not unexpected, "\n".join(unexpected)


def test_every_exception_is_still_needed(reported):
    used = {(name, issue) for (name, _), issues in reported.items() for issue, _ in issues}
    assert set(EXCEPTIONS) <= used, f"exceptions parliament no longer needs: {sorted(set(EXCEPTIONS) - used)}"


def test_get_bootstrap_brokers_is_granted_on_every_resource():
    # Service Authorization Reference, "Actions, resources, and condition keys for Amazon Managed
    # Streaming for Apache Kafka": kafka:GetBootstrapBrokers has no resource type, so only
    # Resource "*" grants it; the event source mapping's pollers call it (AWS Lambda Developer
    # Guide, "Lambda execution role permissions" for Amazon MSK).
    [statement] = [s for s in iam_policies.documents()[("order_events_consumer", None)]["Statement"]
                   if "kafka:GetBootstrapBrokers" in s["Action"]]
    assert statement["Resource"] == ["*"] and statement["Action"] == ["kafka:GetBootstrapBrokers"]


def test_list_streams_is_granted_on_every_resource_and_nothing_else_is():
    # Service Authorization Reference, "Actions, resources, and condition keys for Amazon
    # DynamoDB": dynamodb:ListStreams has no resource type, so only Resource "*" grants it, while
    # DescribeStream, GetRecords and GetShardIterator take the stream
    # (arn:…:table/<table>/stream/<label>). AWS Lambda Developer Guide, "Using AWS Lambda with
    # Amazon DynamoDB", "Execution role permissions"
    # (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html): the mapping needs all four.
    statements = iam_policies.documents()[("order_stream_source", None)]["Statement"]
    [list_streams] = [s for s in statements if "dynamodb:ListStreams" in s["Action"]]
    assert list_streams["Action"] == ["dynamodb:ListStreams"] and list_streams["Resource"] == ["*"]
    [read] = [s for s in statements if "dynamodb:GetRecords" in s["Action"]]
    assert sorted(read["Action"]) == ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    assert [arn.split(":table/")[1] for arn in read["Resource"]] == ["orderflow-dev-orders/stream/2025-01-01T00:00:00.000"]
