# Kafka: an MSK Serverless cluster with IAM authentication, or an existing MSK cluster
# (var.existing_kafka), and the two topics the code uses.

resource "aws_msk_serverless_cluster" "this" {
  count = local.create_network ? 1 : 0

  cluster_name = local.name

  vpc_config {
    subnet_ids         = aws_subnet.private[*].id
    security_group_ids = [aws_security_group.kafka[0].id]
  }

  client_authentication {
    sasl {
      iam {
        enabled = true
      }
    }
  }
}

locals {
  kafka_cluster_arn       = local.create_network ? aws_msk_serverless_cluster.this[0].arn : var.existing_kafka.cluster_arn
  kafka_bootstrap_brokers = local.create_network ? aws_msk_serverless_cluster.this[0].bootstrap_brokers_sasl_iam : var.existing_kafka.bootstrap_brokers

  # IAM names topics and consumer groups as arn:<partition>:kafka:<region>:<account>:topic/<cluster
  # name>/<cluster uuid>/<topic>: the cluster ARN's tail after "cluster/" is "<name>/<uuid>".
  kafka_cluster_path   = split("cluster/", local.kafka_cluster_arn)[1]
  kafka_arn_prefix     = "arn:${data.aws_partition.current.partition}:kafka:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}"
  kafka_topic_arn      = { for topic in local.kafka_topics : topic => "${local.kafka_arn_prefix}:topic/${local.kafka_cluster_path}/${topic}" }
  kafka_group_arn_base = "${local.kafka_arn_prefix}:group/${local.kafka_cluster_path}"

  kafka_topics = [var.order_events_topic, var.order_events_dlq_topic]

  # Topic configs the topic creator sets, on new topics and existing ones alike. MSK Serverless
  # keeps records 7 days unless told otherwise: shorter than the failures queue keeps pointers.
  kafka_topic_configs = {
    (var.order_events_topic)     = { "retention.ms" = tostring(var.order_events_retention_days * 86400000) }
    (var.order_events_dlq_topic) = { "retention.ms" = tostring(var.order_events_dlq_retention_days * 86400000) }
  }
}

# --- Topics ------------------------------------------------------------------------------------
#
# MSK Serverless does not create topics on first use, has no topic API of its own (MSK's topic
# API is for provisioned clusters), and its brokers are only reachable from inside the VPC, so
# neither a Terraform Kafka provider on the operator's machine nor the AWS CLI can create them.
# A small function in the VPC does, with Kafka's admin protocol and the same IAM authentication
# as the order functions; Terraform invokes it on every apply whose topic settings, cluster or
# creator changed. It creates what is missing, sets each topic's retention, and adds partitions
# when kafka_topic_partitions grows; it never deletes a topic or its data. Its code is infra/topics/kafka_topics.py, packaged by `make package`.

resource "aws_lambda_function" "kafka_topics" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by Terraform, which reports a failure itself; a dead-letter queue would never receive anything.
  #checkov:skip=CKV_AWS_115:Runs once per apply; a reserved concurrency would only take capacity from the account.
  #checkov:skip=CKV_AWS_173:Its environment holds no secret: broker addresses and a region.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile this stack does not manage; the zip is built and uploaded by the same `make deploy`.
  #checkov:skip=CKV_AWS_50:Runs once per apply; its log says everything X-Ray would.
  function_name = "${local.name}-kafka-topics"
  description   = "Creates the order event topics on the cluster; invoked by Terraform."
  role          = aws_iam_role.kafka_topics.arn

  filename         = local.kafka_topics_zip
  source_code_hash = filebase64sha256(local.kafka_topics_zip)
  runtime          = "python3.13"
  handler          = "kafka_topics.handler"
  architectures    = [var.lambda_architecture]
  memory_size      = 256
  timeout          = 120

  vpc_config {
    subnet_ids         = local.subnet_ids
    security_group_ids = [aws_security_group.functions.id]
  }

  environment {
    variables = {
      KAFKA_BOOTSTRAP_SERVERS = local.kafka_bootstrap_brokers
      KAFKA_AUTH              = "msk-iam"
    }
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.kafka_topics.name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  depends_on = [aws_iam_role_policy.kafka_topics]
}

resource "aws_cloudwatch_log_group" "kafka_topics" {
  #checkov:skip=CKV_AWS_158:Encrypted with the CloudWatch Logs service key; these logs hold no personal data.
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days, chosen per environment.
  name              = "/aws/lambda/${local.name}-kafka-topics"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_invocation" "kafka_topics" {
  function_name = aws_lambda_function.kafka_topics.function_name

  # A change of any of these invokes the function again.
  input = jsonencode({
    topics             = local.kafka_topic_configs
    partitions         = var.kafka_topic_partitions
    replication_factor = var.kafka_replication_factor
  })

  # And so does a new cluster: changing the MSK Serverless cluster's network or authentication
  # replaces it with an empty one, and the ARN changes with it. A new creator runs too.
  triggers = {
    cluster = local.kafka_cluster_arn
    creator = aws_lambda_function.kafka_topics.source_code_hash
  }

  lifecycle {
    precondition {
      condition = alltrue([
        for topic in local.kafka_topics :
        tonumber(local.kafka_topic_configs[topic]["retention.ms"]) >= aws_sqs_queue.order_events_failures.message_retention_seconds * 1000
      ])
      error_message = "Both topics must keep their records at least as long as the order-events failures queue keeps the offsets pointing at them."
    }
  }

  # Once the cluster's network is complete: the function reaches the brokers through these rules.
  depends_on = [
    aws_vpc_security_group_egress_rule.functions_to_kafka,
    aws_vpc_security_group_ingress_rule.kafka_from_functions,
  ]
}
