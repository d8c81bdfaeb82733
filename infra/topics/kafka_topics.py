"""Creates the order event topics on the cluster; Terraform invokes it (infra/msk.tf).

MSK Serverless offers no topic API and is reachable only from inside its VPC, so topics are
created from a function in that VPC, with Kafka's admin protocol and MSK IAM authentication, as
the order functions connect. The event is {"topics": {name: {config: value, ...}, ...},
"partitions": N, "replication_factor": R}, where the configs are topic configs such as
retention.ms. Topics that are missing are created with their configs; a topic that exists gets
its configs set again (only the keys named; other settings stay) and, with fewer partitions, more
partitions; nothing is ever deleted or shrunk (Kafka cannot remove partitions), so running it
again is harmless. It returns what it found and did, which Terraform records.
"""

import json
import logging
import os

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
from kafka.net.sasl.oauth import AbstractTokenProvider

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)


class MskIamTokens(AbstractTokenProvider):
    """OAUTHBEARER tokens signed with the function's role, as MSK IAM authentication expects."""

    def __init__(self, region):
        super().__init__()
        self.region = region

    def token(self):
        # Imported here: only MSK needs it, and the local tests run without it.
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

        token, _expiry_ms = MSKAuthTokenProvider.generate_auth_token(self.region)
        return token


def admin_client(environ=os.environ):
    """An admin client configured like the functions: KAFKA_BOOTSTRAP_SERVERS, and KAFKA_AUTH
    either plaintext (the local broker) or msk-iam (SASL_SSL with OAUTHBEARER)."""
    servers = environ["KAFKA_BOOTSTRAP_SERVERS"].split(",")
    auth = environ.get("KAFKA_AUTH", "plaintext")
    if auth == "plaintext":
        return KafkaAdminClient(bootstrap_servers=servers, client_id="orderflow-kafka-topics")
    if auth == "msk-iam":
        return KafkaAdminClient(
            bootstrap_servers=servers,
            client_id="orderflow-kafka-topics",
            security_protocol="SASL_SSL",
            sasl_mechanism="OAUTHBEARER",
            sasl_oauth_token_provider=MskIamTokens(environ["AWS_REGION"]),
        )
    raise ValueError(f"KAFKA_AUTH must be plaintext or msk-iam, not {auth!r}")


def partition_counts(admin, topics):
    """The partition count of each of `topics` that exists."""
    counts = {}
    for described in admin.describe_topics(topics):
        if described.get("error_code", 0) == 0 and described.get("partitions"):
            counts[described["name"]] = len(described["partitions"])
    return counts


def ensure_topics(admin, topics, partitions, replication_factor):
    """Brings every topic of `topics` ({name: configs}) to at least `partitions` partitions and
    to its configs; returns {topic: what happened}."""
    try:
        existing = partition_counts(admin, list(topics))
    except UnknownTopicOrPartitionError:
        existing = {}
    outcome = {}
    missing = [topic for topic in topics if topic not in existing]
    for topic in missing:
        try:
            admin.create_topics(
                {topic: {"num_partitions": partitions, "replication_factor": replication_factor,
                         "configs": topics[topic]}},
                wait_for_metadata=True,
            )
            outcome[topic] = f"created with {partitions} partitions"
        except TopicAlreadyExistsError:
            # Created between the describe and now, by a concurrent apply: set its configs below.
            existing[topic] = partitions
    grow = {topic: count for topic, count in existing.items() if count < partitions}
    if grow:
        admin.create_partitions({topic: partitions for topic in grow})
    # Set on every run: a topic created before its configs were managed, or changed by hand,
    # gets what Terraform says. Only the keys named are set (IncrementalAlterConfigs).
    configured = [ConfigResource(ConfigResourceType.TOPIC, topic, configs=topics[topic])
                  for topic in existing if topics[topic]]
    if configured:
        # The client reports a broker's refusal (a denied permission, a value out of range) per
        # topic instead of raising it: a refusal must fail the apply, not pass for a setting.
        results = admin.alter_configs(configured, raise_on_unknown=False).get("topic", {})
        refused = {r.name: results.get(r.name, "no answer") for r in configured if results.get(r.name) != "OK"}
        if refused:
            raise RuntimeError(f"the brokers refused the topic configs: {refused}")
    for topic, count in existing.items():
        if topic in grow:
            outcome[topic] = f"grown from {count} to {partitions} partitions"
        elif count > partitions:
            outcome[topic] = f"kept at {count} partitions (partitions are never removed)"
        else:
            outcome[topic] = f"exists with {count} partitions"
    for topic, configs in topics.items():
        if configs:
            settings = ", ".join(f"{key}={value}" for key, value in sorted(configs.items()))
            outcome[topic] += f"; {settings}"
    return outcome


def handler(event, _context):
    topics = {name: {key: str(value) for key, value in configs.items()}
              for name, configs in dict(event["topics"]).items()}
    partitions = int(event["partitions"])
    replication_factor = int(event["replication_factor"])
    if not topics or partitions < 1 or replication_factor < 1:
        raise ValueError(f"need topics, partitions >= 1 and replication_factor >= 1: {event}")
    admin = admin_client()
    try:
        outcome = ensure_topics(admin, topics, partitions, replication_factor)
    finally:
        admin.close()
    LOG.info(json.dumps({"message": "topics ensured", "topics": outcome}))
    return outcome
