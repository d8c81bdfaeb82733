# One role per function, with up to three policies: what the Lambda runtime needs of it (logs,
# and network interfaces in the VPC), what its code calls (function_access below), and, for
# order-events and order-stream, what their event source mappings need to read Kafka or the
# orders table's stream on their behalf.

locals {
  # What each function's code calls, on which resource. tests/infra derives the same from the
  # code (the adapter methods each function binary links, and the AWS calls each method makes)
  # and fails when the two differ in either direction.
  #   dynamodb:          table => actions; a transaction needs the action of each of its items.
  #   dynamodb_indexes:  "table/index" => actions.
  #   schedules:         actions on the payment timeout group's schedules. CreateSchedule also
  #                      grants iam:PassRole on the Scheduler's role, which each schedule names.
  #   kafka_write:       topics the function produces to, with an idempotent producer.
  # Reading the orders table's stream is not here: the Lambda service does it for order-stream's
  # event source mapping, and its code never calls DynamoDB (order_stream_source below).
  function_access = {
    "create-order" = {
      dynamodb = {
        # BatchGetItem: an order and its products, read together before an order its function
        # has no prices for, or believes short (OrderStore::order_and_products).
        products = ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"]
        # UpdateItem and the notification: an order left PENDING at its payment deadline by
        # placing it is cancelled there (Storefront::place).
        orders        = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
        notifications = ["dynamodb:PutItem"]
        idempotency   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
      }
      dynamodb_indexes = {}
      schedules        = ["scheduler:CreateSchedule", "scheduler:DeleteSchedule"]
      kafka_write      = []
    }
    "orders-api" = {
      dynamodb = {
        products      = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:UpdateItem"]
        orders        = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        notifications = ["dynamodb:PutItem"]
        idempotency   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
      }
      dynamodb_indexes = {
        "orders/by_user"              = ["dynamodb:Query"]
        "notifications/by_created_at" = ["dynamodb:Query"]
      }
      schedules   = ["scheduler:DeleteSchedule"]
      kafka_write = []
    }
    "order-timeout" = {
      dynamodb         = {}
      dynamodb_indexes = {}
      schedules        = []
      kafka_write      = [var.order_events_topic]
    }
    "order-events" = {
      dynamodb = {
        orders        = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        products      = ["dynamodb:UpdateItem"]
        notifications = ["dynamodb:PutItem"]
        statistics    = ["dynamodb:PutItem", "dynamodb:UpdateItem"]
      }
      dynamodb_indexes = {}
      schedules        = []
      # Poison records only: the order changes it makes are announced by order-stream.
      kafka_write = [var.order_events_dlq_topic]
    }
    "order-stream" = {
      dynamodb         = {}
      dynamodb_indexes = {}
      schedules        = []
      kafka_write      = [var.order_events_topic]
    }
  }

  schedules_arn = "arn:${data.aws_partition.current.partition}:scheduler:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:schedule/${aws_scheduler_schedule_group.timeouts.name}/*"
}

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name               = "${local.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

# --- What the Lambda runtime needs ---------------------------------------------------------------

resource "aws_iam_role_policy" "function_runtime" {
  for_each = local.functions

  name   = "runtime"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function_runtime[each.key].json
}

data "aws_iam_policy_document" "function_runtime" {
  for_each = local.functions
  #checkov:skip=CKV_AWS_111:Lambda manages the function's network interfaces with these actions; EC2 offers no resource to scope the Describe calls to, and the interfaces do not exist before they are created.
  #checkov:skip=CKV_AWS_356:Same statement: Lambda's VPC access needs these EC2 actions on any resource.

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  # Only the functions in the VPC (lambda.tf, vpc_functions) have network interfaces.
  dynamic "statement" {
    for_each = contains(local.vpc_functions, each.key) ? [each.key] : []
    content {
      sid = "VpcNetworkInterfaces"
      actions = [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ]
      resources = ["*"]
    }
  }

  # Asynchronous invocations that failed every retry (aws_lambda_function_event_invoke_config).
  dynamic "statement" {
    for_each = each.value.trigger == "scheduler" ? [aws_sqs_queue.order_timeout_failures.arn] : []
    content {
      sid       = "OnFailureDestination"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }
}

# --- What the code calls -------------------------------------------------------------------------

resource "aws_iam_role_policy" "function_code" {
  for_each = local.function_access

  name   = "code"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function_code[each.key].json
}

data "aws_iam_policy_document" "function_code" {
  for_each = local.function_access

  dynamic "statement" {
    for_each = each.value.dynamodb
    content {
      sid       = "DynamoDb${replace(title(replace(statement.key, "_", " ")), " ", "")}"
      actions   = statement.value
      resources = [aws_dynamodb_table.this[statement.key].arn]
    }
  }

  dynamic "statement" {
    for_each = each.value.dynamodb_indexes
    content {
      sid       = "DynamoDbIndex${replace(title(replace(replace(statement.key, "/", " "), "_", " ")), " ", "")}"
      actions   = statement.value
      resources = ["${aws_dynamodb_table.this[split("/", statement.key)[0]].arn}/index/${split("/", statement.key)[1]}"]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.schedules) > 0 ? [each.value.schedules] : []
    content {
      sid       = "PaymentTimeoutSchedules"
      actions   = statement.value
      resources = [local.schedules_arn]
    }
  }

  # A schedule names the role the Scheduler assumes to invoke order-timeout: creating one passes
  # that role, and only that role, only to the Scheduler.
  dynamic "statement" {
    for_each = contains(each.value.schedules, "scheduler:CreateSchedule") ? [aws_iam_role.scheduler.arn] : []
    content {
      sid       = "PassSchedulerRole"
      actions   = ["iam:PassRole"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["scheduler.amazonaws.com"]
      }
    }
  }

  # The producer is idempotent (enable.idempotence=true), which MSK authorizes on the cluster.
  dynamic "statement" {
    for_each = length(each.value.kafka_write) > 0 ? [local.kafka_cluster_arn] : []
    content {
      sid       = "KafkaConnectAsIdempotentProducer"
      actions   = ["kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.kafka_write) > 0 ? [each.value.kafka_write] : []
    content {
      sid       = "KafkaProduce"
      actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
      resources = [for topic in statement.value : local.kafka_topic_arn[topic]]
    }
  }
}

# --- What the event source mapping needs of order-events' role -----------------------------------

resource "aws_iam_role_policy" "order_events_consumer" {
  name   = "kafka-event-source"
  role   = aws_iam_role.function["order-events"].id
  policy = data.aws_iam_policy_document.order_events_consumer.json
}

data "aws_iam_policy_document" "order_events_consumer" {
  #checkov:skip=CKV_AWS_111:The pollers inspect the cluster's network with EC2 Describe calls and find the brokers with kafka:GetBootstrapBrokers, none of which takes a resource.
  #checkov:skip=CKV_AWS_356:Same statements: these read-only calls have no resource to scope them to.

  statement {
    sid       = "InspectTheClusterNetwork"
    actions   = ["ec2:DescribeVpcs", "ec2:DescribeSecurityGroups"]
    resources = ["*"]
  }

  statement {
    sid       = "DescribeTheCluster"
    actions   = ["kafka:DescribeClusterV2"]
    resources = [local.kafka_cluster_arn]
  }

  # GetBootstrapBrokers supports no resource-level permission: granted on a cluster ARN, it is
  # not granted at all, and the pollers cannot find the brokers.
  statement {
    sid       = "FindTheBrokers"
    actions   = ["kafka:GetBootstrapBrokers"]
    resources = ["*"]
  }

  statement {
    sid       = "ConnectAsConsumer"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration"]
    resources = [local.kafka_cluster_arn]
  }

  statement {
    sid       = "ReadOrderEvents"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = [local.kafka_topic_arn[var.order_events_topic]]
  }

  # The mapping's consumer group, and those of the temporary mappings that replay the topic from
  # a point in time (README: Redrive), named <group>-replay-<anything>.
  statement {
    sid     = "CommitOffsets"
    actions = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
    resources = [
      "${local.kafka_group_arn_base}/${local.order_events_consumer_group}",
      "${local.kafka_group_arn_base}/${local.order_events_consumer_group}-replay-*",
    ]
  }

  statement {
    sid       = "OnFailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.order_events_failures.arn]
  }
}

# --- What the event source mapping needs of order-stream's role ---------------------------------

# Lambda reads a DynamoDB stream for an event source mapping with the function's execution role,
# and sends what it gave up on to the on-failure destination with the same role.
resource "aws_iam_role_policy" "order_stream_source" {
  name   = "dynamodb-stream-source"
  role   = aws_iam_role.function["order-stream"].id
  policy = data.aws_iam_policy_document.order_stream_source.json
}

data "aws_iam_policy_document" "order_stream_source" {
  statement {
    sid       = "ReadOrdersStream"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    resources = [aws_dynamodb_table.this["orders"].stream_arn]
  }

  # ListStreams supports no resource-level permission: granted on the stream's ARN it is not
  # granted at all, and creating the mapping fails its check of the role. It lists stream ARNs
  # only, never their records.
  statement {
    sid       = "ListStreams"
    actions   = ["dynamodb:ListStreams"]
    resources = ["*"]
  }

  statement {
    sid       = "OnFailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.order_stream_failures.arn]
  }
}

# --- The topic creator ---------------------------------------------------------------------------

resource "aws_iam_role" "kafka_topics" {
  name               = "${local.name}-kafka-topics"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

resource "aws_iam_role_policy" "kafka_topics" {
  name   = "create-topics"
  role   = aws_iam_role.kafka_topics.id
  policy = data.aws_iam_policy_document.kafka_topics.json
}

data "aws_iam_policy_document" "kafka_topics" {
  #checkov:skip=CKV_AWS_111:Lambda manages the function's network interfaces with these actions; EC2 offers no resource to scope them to.
  #checkov:skip=CKV_AWS_356:Same statement: Lambda's VPC access needs these EC2 actions on any resource.

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.kafka_topics.arn}:*"]
  }

  statement {
    sid = "VpcNetworkInterfaces"
    actions = [
      "ec2:CreateNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSubnets",
      "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses",
      "ec2:UnassignPrivateIpAddresses",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "Connect"
    actions   = ["kafka-cluster:Connect"]
    resources = [local.kafka_cluster_arn]
  }

  statement {
    sid       = "CreateAndGrowTopics"
    actions   = ["kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic", "kafka-cluster:AlterTopic"]
    resources = values(local.kafka_topic_arn)
  }

  # Setting retention.ms on a topic that exists (IncrementalAlterConfigs); the admin client reads
  # the topic's settings first on a broker that only has the older AlterConfigs.
  statement {
    sid       = "SetTopicRetention"
    actions   = ["kafka-cluster:AlterTopicDynamicConfiguration", "kafka-cluster:DescribeTopicDynamicConfiguration"]
    resources = values(local.kafka_topic_arn)
  }
}
