"""The topic creator Terraform invokes (infra/topics/kafka_topics.py): against the local broker,
and with a fake admin client for what the local broker does not implement (adding partitions)."""

import os
import sys
import uuid

import pytest

import rust

sys.path.insert(0, str(rust.ROOT / "infra" / "topics"))
import kafka_topics  # noqa: E402


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_missing_topics_are_created_and_a_second_run_changes_nothing():
    os.environ.setdefault("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    topics = [unique("events"), unique("events-dlq")]
    event = {"topics": topics, "partitions": 3, "replication_factor": 1}
    first = kafka_topics.handler(event, None)
    assert first == {topic: "created with 3 partitions" for topic in topics}
    second = kafka_topics.handler(event, None)
    assert second == {topic: "exists with 3 partitions" for topic in topics}
    admin = kafka_topics.admin_client()
    try:
        assert kafka_topics.partition_counts(admin, topics) == {topic: 3 for topic in topics}
    finally:
        admin.close()


class FakeAdmin:
    def __init__(self, partitions):
        self.partitions = dict(partitions)
        self.calls = []

    def describe_topics(self, topics):
        return [
            {"name": t, "error_code": 0, "partitions": [{}] * self.partitions[t]} if t in self.partitions
            else {"name": t, "error_code": 3, "partitions": []}
            for t in topics
        ]

    def create_topics(self, topics, wait_for_metadata):
        self.calls.append(("create", topics))
        for name, spec in topics.items():
            self.partitions[name] = spec["num_partitions"]

    def create_partitions(self, counts):
        self.calls.append(("grow", counts))
        self.partitions.update(counts)


def test_topics_with_fewer_partitions_grow_and_none_shrink():
    admin = FakeAdmin({"small": 2, "large": 12})
    outcome = kafka_topics.ensure_topics(admin, ["small", "large", "new"], 6, 3)
    assert outcome == {
        "small": "grown from 2 to 6 partitions",
        "large": "kept at 12 partitions (partitions are never removed)",
        "new": "created with 6 partitions",
    }
    assert admin.calls == [
        ("create", {"new": {"num_partitions": 6, "replication_factor": 3}}),
        ("grow", {"small": 6}),
    ]


@pytest.mark.parametrize("event", [
    {"topics": [], "partitions": 3, "replication_factor": 3},
    {"topics": ["a"], "partitions": 0, "replication_factor": 3},
])
def test_an_invalid_request_fails_before_connecting(event):
    with pytest.raises(ValueError):
        kafka_topics.handler(event, None)


def test_msk_uses_sasl_ssl_with_iam_tokens(monkeypatch):
    with pytest.raises(ValueError, match="KAFKA_AUTH"):
        kafka_topics.admin_client({"KAFKA_BOOTSTRAP_SERVERS": "b:9098", "KAFKA_AUTH": "scram"})

    # The admin client as configured, without connecting to brokers that do not exist here.
    configured = {}
    monkeypatch.setattr(kafka_topics, "KafkaAdminClient", lambda **kwargs: configured.update(kwargs))
    kafka_topics.admin_client({
        "KAFKA_BOOTSTRAP_SERVERS": "b-1:9098,b-2:9098",
        "KAFKA_AUTH": "msk-iam",
        "AWS_REGION": "eu-west-1",
    })
    provider = configured.pop("sasl_oauth_token_provider")
    assert configured == {
        "bootstrap_servers": ["b-1:9098", "b-2:9098"],
        "client_id": "orderflow-kafka-topics",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "OAUTHBEARER",
    }

    # Its tokens are MSK IAM tokens signed for the function's region.
    signed_for = []

    class Signer:
        @staticmethod
        def generate_auth_token(region):
            signed_for.append(region)
            return "signed-token", 900_000

    monkeypatch.setitem(sys.modules, "aws_msk_iam_sasl_signer", type(sys)("aws_msk_iam_sasl_signer"))
    monkeypatch.setattr(sys.modules["aws_msk_iam_sasl_signer"], "MSKAuthTokenProvider", Signer, raising=False)
    assert provider.token() == "signed-token"
    assert signed_for == ["eu-west-1"]
