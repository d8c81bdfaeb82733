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
    # As infra/msk.tf sends it: each topic with its retention (21 and 28 days).
    event = {
        "topics": {topics[0]: {"retention.ms": 1814400000}, topics[1]: {"retention.ms": "2419200000"}},
        "partitions": 3,
        "replication_factor": 1,
    }
    first = kafka_topics.handler(event, None)
    assert first == {
        topics[0]: "created with 3 partitions; retention.ms=1814400000",
        topics[1]: "created with 3 partitions; retention.ms=2419200000",
    }
    second = kafka_topics.handler(event, None)
    assert second == {
        topics[0]: "exists with 3 partitions; retention.ms=1814400000",
        topics[1]: "exists with 3 partitions; retention.ms=2419200000",
    }
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

    def alter_configs(self, resources, raise_on_unknown):
        self.calls.append(("configure", {r.name: r.configs for r in resources}))
        # As kafka-python answers: per topic, "OK" or the broker's error.
        return {"topic": {r.name: self.refusal or "OK" for r in resources}}

    refusal = None


def test_topics_with_fewer_partitions_grow_and_none_shrink():
    admin = FakeAdmin({"small": 2, "large": 12})
    outcome = kafka_topics.ensure_topics(admin, {"small": {}, "large": {}, "new": {}}, 6, 3)
    assert outcome == {
        "small": "grown from 2 to 6 partitions",
        "large": "kept at 12 partitions (partitions are never removed)",
        "new": "created with 6 partitions",
    }
    assert admin.calls == [
        ("create", {"new": {"num_partitions": 6, "replication_factor": 3, "configs": {}}}),
        ("grow", {"small": 6}),
    ]


def test_new_topics_get_their_retention_and_existing_ones_get_it_set_again():
    # A cluster that existed before retention was managed keeps MSK Serverless's default of 7
    # days until the creator sets it on the existing topic.
    admin = FakeAdmin({"events": 6})
    topics = {"events": {"retention.ms": "1814400000"}, "events-dlq": {"retention.ms": "2419200000"}}
    outcome = kafka_topics.ensure_topics(admin, topics, 6, 3)
    assert outcome == {
        "events": "exists with 6 partitions; retention.ms=1814400000",
        "events-dlq": "created with 6 partitions; retention.ms=2419200000",
    }
    assert admin.calls == [
        ("create", {"events-dlq": {"num_partitions": 6, "replication_factor": 3,
                                   "configs": {"retention.ms": "2419200000"}}}),
        ("configure", {"events": {"retention.ms": "1814400000"}}),
    ]


def test_a_refused_topic_config_fails_the_run():
    admin = FakeAdmin({"events": 6})
    admin.refusal = "[Error 29] TopicAuthorizationFailedError"
    with pytest.raises(RuntimeError, match="refused the topic configs.*TopicAuthorizationFailed"):
        kafka_topics.ensure_topics(admin, {"events": {"retention.ms": "1814400000"}}, 6, 3)


@pytest.mark.parametrize("event", [
    {"topics": {}, "partitions": 3, "replication_factor": 3},
    {"topics": {"a": {}}, "partitions": 0, "replication_factor": 3},
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
