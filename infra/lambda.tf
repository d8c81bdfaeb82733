# The functions: one per crate under functions/, each from the zip `make package` builds
# (`cargo lambda build --release --output-format zip`) at target/lambda/<crate>/bootstrap.zip.
# tests/infra checks that this map and the crates agree: the same functions, and for each exactly
# the environment variables its config.rs reads.

locals {
  package_dir      = "${path.module}/../target/lambda"
  kafka_topics_zip = "${local.package_dir}/kafka-topics/kafka-topics.zip"

  # Function ARNs from their names, for the environment of other functions: referring to
  # aws_lambda_function.this from its own environment would be a cycle.
  function_arn = {
    for function in keys(local.functions) :
    function => "arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:function:${local.name}-${function}"
  }

  # The value of every variable a function reads. AWS_REGION is not here: Lambda sets it, and
  # refuses functions that set it themselves.
  environment_values = {
    DYNAMODB_TABLE_PREFIX   = local.table_prefix
    KAFKA_BOOTSTRAP_SERVERS = local.kafka_bootstrap_brokers
    # SASL_SSL with OAUTHBEARER tokens signed with the function's role.
    KAFKA_AUTH             = "msk-iam"
    ORDER_EVENTS_TOPIC     = var.order_events_topic
    ORDER_EVENTS_DLQ_TOPIC = var.order_events_dlq_topic
    # The event source mapping below is configured with ReportBatchItemFailures.
    REPORT_BATCH_ITEM_FAILURES      = "true"
    SCHEDULE_GROUP_NAME             = aws_scheduler_schedule_group.timeouts.name
    ORDER_TIMEOUT_FUNCTION_ARN      = local.function_arn["order-timeout"]
    SCHEDULER_ROLE_ARN              = aws_iam_role.scheduler.arn
    SCHEDULER_DLQ_ARN               = aws_sqs_queue.payment_timeouts_dlq.arn
    SCHEDULER_MAX_RETRY_ATTEMPTS    = tostring(var.scheduler_max_retry_attempts)
    SCHEDULER_MAX_EVENT_AGE_SECONDS = tostring(var.scheduler_max_event_age_seconds)
    PAYMENT_TIMEOUT_SECONDS         = tostring(var.payment_timeout_seconds)
    IDEMPOTENCY_KEY_TTL_SECONDS     = tostring(var.idempotency_key_ttl_seconds)
    # The claim API Gateway's JWT authorizer passes on with the caller's groups, and the group
    # that may set products and stock.
    GROUPS_CLAIM = var.groups_claim
    ADMIN_GROUP  = var.admin_group
    # Identity comes from the JWT authorizer only; request headers never name the caller.
    DEV_IDENTITY_HEADERS = "false"
  }

  # Named after the stack, so that two stacks on one existing cluster never share offsets.
  order_events_consumer_group = "${local.name}-order-events"

  # The API functions write DynamoDB and the Scheduler only: their order events come from the
  # orders table's stream (order-stream), so they have no Kafka settings.
  api_environment = [
    "DYNAMODB_TABLE_PREFIX", "SCHEDULE_GROUP_NAME", "ORDER_TIMEOUT_FUNCTION_ARN", "SCHEDULER_ROLE_ARN",
    "SCHEDULER_DLQ_ARN", "SCHEDULER_MAX_RETRY_ATTEMPTS", "SCHEDULER_MAX_EVENT_AGE_SECONDS",
    "PAYMENT_TIMEOUT_SECONDS", "IDEMPOTENCY_KEY_TTL_SECONDS", "GROUPS_CLAIM", "ADMIN_GROUP",
    "DEV_IDENTITY_HEADERS",
  ]

  # trigger says what invokes the function: "api" (API Gateway, see api.tf), "scheduler" (the
  # payment timeout schedules, see scheduler.tf), "kafka" (the MSK event source mapping below) or
  # "dynamodb-stream" (the orders table's stream, below).
  # Memory is also CPU: 512 MB makes the TLS handshakes at cold start quick.
  functions = {
    "create-order" = {
      description = "POST /orders: reserves stock, stores the order and schedules its payment timeout."
      trigger     = "api"
      memory_size = 512
      # Under API Gateway's 29 s, above its DynamoDB and Scheduler calls, each bounded at 5 s.
      timeout     = 15
      environment = local.api_environment
    }
    "orders-api" = {
      description = "Orders, payments, cancellations, notifications and products for their owners and administrators."
      trigger     = "api"
      memory_size = 512
      timeout     = 15
      environment = local.api_environment
    }
    "order-timeout" = {
      description = "EventBridge Scheduler target: publishes the timeout event of an order whose payment is due."
      trigger     = "scheduler"
      memory_size = 256
      timeout     = 15
      environment = ["KAFKA_BOOTSTRAP_SERVERS", "KAFKA_AUTH", "ORDER_EVENTS_TOPIC"]
    }
    "order-events" = {
      description = "MSK event source mapping target: applies each order event; poison records go to the dead-letter topic."
      trigger     = "kafka"
      memory_size = 512
      # A full batch is applied record by record per partition, with a DynamoDB transaction each.
      timeout = 120
      environment = [
        "DYNAMODB_TABLE_PREFIX", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_AUTH", "ORDER_EVENTS_DLQ_TOPIC",
        "REPORT_BATCH_ITEM_FAILURES",
      ]
    }
    "order-stream" = {
      description = "DynamoDB Streams target: publishes each order status change on the orders table as an order event."
      trigger     = "dynamodb-stream"
      memory_size = 256
      # A full batch published, each event acknowledged by the brokers, with room for the Kafka
      # delivery timeout (5 s) when they are slow.
      timeout     = 60
      environment = ["KAFKA_BOOTSTRAP_SERVERS", "KAFKA_AUTH", "ORDER_EVENTS_TOPIC"]
    }
  }

  # MSK is reachable only from inside the VPC, so the functions that talk to the brokers run in
  # it. The others call DynamoDB and the Scheduler only, through their public endpoints, and stay
  # out of it: no network interfaces to wait for at a cold start, and no endpoints to pay for.
  vpc_functions = toset([for name, function in local.functions : name if contains(function.environment, "KAFKA_BOOTSTRAP_SERVERS")])
}

resource "aws_lambda_function" "this" {
  for_each = local.functions
  #checkov:skip=CKV_AWS_116:Failures are kept where each trigger keeps them: API callers get the error, the event source mappings have on-failure queues, and order-timeout's asynchronous failures go to a queue of their own (aws_lambda_function_event_invoke_config).
  #checkov:skip=CKV_AWS_173:The environment holds names and ARNs, no secret; the Lambda service key encrypts it at rest.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile this stack does not manage; `make deploy` builds and uploads the zips in one step.
  #checkov:skip=CKV_AWS_50:The functions emit no X-Ray segments; their JSON logs carry order ids from end to end.
  #checkov:skip=CKV_AWS_117:Only the Kafka clients need the VPC (vpc_config below); the API functions call DynamoDB and the Scheduler at their public endpoints, with IAM, and run outside it.

  function_name = "${local.name}-${each.key}"
  description   = each.value.description
  role          = aws_iam_role.function[each.key].arn

  filename         = "${local.package_dir}/${each.key}/bootstrap.zip"
  source_code_hash = filebase64sha256("${local.package_dir}/${each.key}/bootstrap.zip")
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.lambda_architecture]
  memory_size      = each.value.memory_size
  timeout          = each.value.timeout
  # API functions are capped (var.api_reserved_concurrency); -1 is unreserved. order-events is
  # bounded by its pollers and partitions, order-stream by the stream's shards times its
  # parallelization factor, order-timeout by the Scheduler's delivery rate.
  reserved_concurrent_executions = each.value.trigger == "api" && var.api_reserved_concurrency != null ? var.api_reserved_concurrency : -1

  environment {
    variables = { for variable in each.value.environment : variable => local.environment_values[variable] }
  }

  dynamic "vpc_config" {
    for_each = contains(local.vpc_functions, each.key) ? [local.subnet_ids] : []
    content {
      subnet_ids         = vpc_config.value
      security_group_ids = [aws_security_group.functions.id]
    }
  }

  # JSON log records from the runtime; lambda_runtime's tracing subscriber follows
  # AWS_LAMBDA_LOG_FORMAT, which this sets, and writes its events as JSON too.
  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function[each.key].name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  # The role must be able to write logs and create network interfaces before the first call.
  depends_on = [aws_iam_role_policy.function_runtime, aws_iam_role_policy.function_code]
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions
  #checkov:skip=CKV_AWS_158:Encrypted with the CloudWatch Logs service key; the logs hold ids, never payloads or tokens.
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days, chosen per environment.

  name              = "/aws/lambda/${local.name}-${each.key}"
  retention_in_days = var.log_retention_days
}

# --- Triggers ----------------------------------------------------------------------------------

# The Scheduler invokes order-timeout asynchronously. A function error after Lambda's own retries
# would otherwise be dropped; here it lands in a queue of its own. Not the Scheduler's dead-letter
# queue: Lambda sends an invocation record (the event under requestPayload, the error under
# responsePayload), the Scheduler the bare event, and one queue should hold one format.
resource "aws_lambda_function_event_invoke_config" "scheduled" {
  for_each = { for name, function in local.functions : name => function if function.trigger == "scheduler" }

  function_name                = aws_lambda_function.this[each.key].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.order_timeout_failures.arn
    }
  }
}

resource "aws_sqs_queue" "order_timeout_failures" {
  name                      = "${local.name}-order-timeout-failures"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
}

# order-events reads order-events through an event source mapping in provisioned mode, the mode
# in which Kafka mappings honour retry limits, on-failure destinations and partial batch responses.
resource "aws_lambda_event_source_mapping" "order_events" {
  function_name    = aws_lambda_function.this["order-events"].arn
  event_source_arn = local.kafka_cluster_arn
  topics           = [var.order_events_topic]
  batch_size       = var.order_events_batch_size
  enabled          = true
  # From the first record: events published before the mapping existed (between topic creation
  # and the first poll) are applied, not skipped. Records are idempotent, so nothing counts twice.
  starting_position = "TRIM_HORIZON"

  maximum_batching_window_in_seconds = var.order_events_batching_window_seconds

  amazon_managed_kafka_event_source_config {
    consumer_group_id = local.order_events_consumer_group
  }

  provisioned_poller_config {
    minimum_pollers = var.order_events_pollers.minimum
    maximum_pollers = var.order_events_pollers.maximum
  }

  # The function names the first unfinished record of each partition
  # (REPORT_BATCH_ITEM_FAILURES=true); the mapping resumes there.
  function_response_types = ["ReportBatchItemFailures"]
  # Partial batch responses already isolate the failing record; splitting batches would only
  # replay records that succeeded.
  bisect_batch_on_function_error = false
  maximum_retry_attempts         = var.order_events_max_retry_attempts
  # Records are never too old to apply: a payment timeout is due however late it is seen.
  maximum_record_age_in_seconds = -1

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.order_events_failures.arn
    }
  }

  metrics_config {
    metrics = ["EventCount", "ErrorCount", "KafkaMetrics"]
  }

  # The pollers need the topics, the role's grants, and their network before the first poll:
  # nothing else orders these before the mapping, and a mapping created first cannot reach the
  # brokers: it reports a PROBLEM as its last processing result, or is disabled.
  depends_on = [
    aws_lambda_invocation.kafka_topics,
    aws_iam_role_policy.order_events_consumer,
    aws_vpc_endpoint.interface,
    aws_vpc_security_group_ingress_rule.kafka_from_pollers,
    aws_vpc_security_group_egress_rule.pollers_to_kafka,
    aws_vpc_security_group_egress_rule.pollers_to_endpoints,
    aws_vpc_security_group_ingress_rule.endpoints_from_pollers,
    aws_vpc_security_group_ingress_rule.kafka_from_functions,
    aws_vpc_security_group_egress_rule.functions_to_kafka,
  ]
}

# Where the mapping sends the metadata (topic, partition, offsets) of records it gave up on after
# every retry. The records themselves stay in Kafka for the topic's retention, to be replayed.
resource "aws_sqs_queue" "order_events_failures" {
  name                      = "${local.name}-order-events-failures"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
}

# order-stream reads the orders table's stream: every change of an order, in the order it was
# made, which it publishes as order events (the transactional outbox: the API writes the table
# only, and the event follows from the write). The Lambda service reads the stream with
# order-stream's role (iam.tf, order_stream_source).
resource "aws_lambda_event_source_mapping" "order_stream" {
  function_name    = aws_lambda_function.this["order-stream"].arn
  event_source_arn = aws_dynamodb_table.this["orders"].stream_arn
  enabled          = true
  # From the oldest record the stream holds: changes written before the mapping was enabled (or
  # while it was disabled) are published, not skipped. Events are at least once either way.
  starting_position = "TRIM_HORIZON"

  batch_size                         = var.order_stream_batch_size
  maximum_batching_window_in_seconds = var.order_stream_batching_window_seconds
  # Concurrent batches per shard. Lambda keeps the records of one item (one order) in order at
  # any factor, which is the only order the events need.
  parallelization_factor = var.order_stream_parallelization_factor

  # The function names the first record it could not publish, and the mapping retries from
  # there. An invocation that fails outright (a crash, a timeout) has its batch split in two
  # before the retry, so that one record that keeps failing does not hold back the records
  # before it: it ends up retried, and given up on, alone. A split uses up no retry.
  function_response_types        = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error = true
  # Bounded, because the stream keeps records 24 hours only: a record given up on while it is
  # still in the stream can be read again from the position the failures queue receives.
  maximum_retry_attempts        = var.order_stream_max_retry_attempts
  maximum_record_age_in_seconds = var.order_stream_max_record_age_seconds

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.order_stream_failures.arn
    }
  }

  # Creating the mapping checks that the role may read the stream; and the first batch is
  # published only if the topics and the function's way to the brokers exist.
  depends_on = [
    aws_iam_role_policy.order_stream_source,
    aws_lambda_invocation.kafka_topics,
    aws_vpc_security_group_egress_rule.functions_to_kafka,
    aws_vpc_security_group_ingress_rule.kafka_from_functions,
  ]
}

# Where the mapping sends the position (shard, first and last sequence numbers, times) of records
# it gave up on: the records themselves stay in the stream for the rest of their 24 hours.
resource "aws_sqs_queue" "order_stream_failures" {
  name                      = "${local.name}-order-stream-failures"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
}
