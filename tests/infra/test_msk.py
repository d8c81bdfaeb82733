"""The cluster's topics: created with every cluster, kept long enough to be replayed, and ready
before the event source mapping polls them."""

import terraform

DAY_MS = 86_400_000


def test_the_topics_are_created_again_whenever_the_cluster_or_the_creator_changes():
    # Terraform AWS provider, resource aws_msk_serverless_cluster: vpc_config, cluster_name and
    # client_authentication force a new cluster, whose ARN (it ends in a new UUID) differs;
    # MSK Developer Guide, "MSK Serverless" / "Configuration for MSK Serverless clusters": a new
    # cluster has no topics, and MSK Serverless does not create them on first use.
    # Provider resource aws_lambda_invocation: a change in `triggers` invokes the function again.
    invocation = terraform.resources("aws_lambda_invocation")["kafka_topics"]
    assert invocation["triggers"] == {
        "cluster": "${local.kafka_cluster_arn}",
        "creator": "${aws_lambda_function.kafka_topics.source_code_hash}",
    }
    assert terraform.local("kafka_cluster_arn").startswith("${local.create_network ? aws_msk_serverless_cluster.this[0].arn")
    assert "topics = local.kafka_topic_configs" in invocation["input"]


def test_both_topics_keep_their_records_longer_than_the_failures_queue_keeps_pointers():
    # MSK Developer Guide, "Configuration for MSK Serverless clusters": topics keep records
    # 7 days (retention.ms 604800000) unless set. AWS Lambda Developer Guide, "Capturing discarded
    # batches for an Amazon MSK event source": an SQS on-failure destination receives the
    # records' metadata (topic, partition, offsets), not the records, which stay in Kafka.
    # Amazon SQS Developer Guide, "Amazon SQS message quotas": a queue keeps messages 14 days
    # at most (1209600 seconds).
    configs = terraform.local("kafka_topic_configs")
    assert configs == {
        "${(var.order_events_topic)}": {"retention.ms": "${tostring(var.order_events_retention_days * 86400000)}"},
        "${(var.order_events_dlq_topic)}": {"retention.ms": "${tostring(var.order_events_dlq_retention_days * 86400000)}"},
    }
    queue = terraform.resources("aws_sqs_queue")["order_events_failures"]
    assert queue["message_retention_seconds"] == 1209600
    variables = terraform.variables()
    assert variables["order_events_retention_days"]["default"] * DAY_MS > 1209600 * 1000
    assert variables["order_events_dlq_retention_days"]["default"] * DAY_MS >= 1209600 * 1000
    assert "var.order_events_retention_days >= 15" in variables["order_events_retention_days"]["validation"][0]["condition"]
    assert "var.order_events_dlq_retention_days >= 14" in variables["order_events_dlq_retention_days"]["validation"][0]["condition"]
    # And the same, checked at plan time against the queue as it is configured.
    precondition = terraform.resources("aws_lambda_invocation")["kafka_topics"]["lifecycle"][0]["precondition"][0]
    assert "aws_sqs_queue.order_events_failures.message_retention_seconds * 1000" in precondition["condition"]


def test_the_topic_creator_may_set_topic_configs():
    # MSK Developer Guide, "IAM access control" / "Semantics of IAM authorization policy actions
    # and resources": IncrementalAlterConfigs on a topic needs
    # kafka-cluster:AlterTopicDynamicConfiguration, DescribeConfigs needs
    # kafka-cluster:DescribeTopicDynamicConfiguration; CreateTopics with configs needs CreateTopic.
    statements = terraform.policy_statements("kafka_topics")
    assert set(statements["SetTopicRetention"]["actions"]) == {
        "kafka-cluster:AlterTopicDynamicConfiguration", "kafka-cluster:DescribeTopicDynamicConfiguration",
    }
    assert statements["SetTopicRetention"]["resources"] == "${values(local.kafka_topic_arn)}"
    assert "kafka-cluster:CreateTopic" in statements["CreateAndGrowTopics"]["actions"]


def test_the_mapping_waits_for_the_topics_and_every_rule_its_pollers_need():
    # AWS Lambda Developer Guide, "Configuring network for Amazon MSK event sources": the pollers
    # run with the cluster's subnets and security groups, which must allow them to reach the
    # brokers and, without a NAT, Lambda, STS (and SQS for the on-failure destination) through
    # VPC endpoints. Terraform orders only what references what: a rule the mapping does not
    # reference must be named in depends_on.
    mapping = terraform.resources("aws_lambda_event_source_mapping")["order_events"]
    depends = terraform.depends_on(mapping)
    poller_rules = {
        "aws_vpc_security_group_ingress_rule.kafka_from_pollers",
        "aws_vpc_security_group_egress_rule.pollers_to_kafka",
        "aws_vpc_security_group_egress_rule.pollers_to_endpoints",
        "aws_vpc_security_group_ingress_rule.endpoints_from_pollers",
    }
    assert poller_rules <= {f"aws_vpc_security_group_{kind}_rule.{name}"
                            for kind in ("ingress", "egress")
                            for name in terraform.resources(f"aws_vpc_security_group_{kind}_rule")}
    assert poller_rules | {
        "aws_lambda_invocation.kafka_topics",
        "aws_iam_role_policy.order_events_consumer",
        "aws_vpc_endpoint.interface",
    } <= depends


def test_replay_mappings_may_use_consumer_groups_of_their_own():
    # MSK Developer Guide, "Semantics of IAM authorization policy actions and resources": a
    # consumer group is arn:…:group/<cluster name>/<cluster uuid>/<group>, and committing offsets
    # needs kafka-cluster:AlterGroup on it. The README's replay creates <group>-replay-<n>.
    statement = terraform.policy_statements("order_events_consumer")["CommitOffsets"]
    assert statement["resources"] == [
        "${local.kafka_group_arn_base}/${local.order_events_consumer_group}",
        "${local.kafka_group_arn_base}/${local.order_events_consumer_group}-replay-*",
    ]
    assert terraform.local("order_events_consumer_group") == "${local.name}-order-events"
