# Alarms on what needs a person: messages in a dead-letter queue (something was not done and
# will not be retried), function errors and throttles, API 5xx, payment timeouts the Scheduler
# could not deliver, order-events stuck or falling behind, and order-stream's events late. With
# var.alarm_email
# each alarm also notifies an SNS topic with that subscriber (confirm the email AWS sends).

locals {
  alarm_actions = var.alarm_email == null ? [] : [aws_sns_topic.alarms[0].arn]

  # The counts the functions write in CloudWatch embedded metric format (shared/domain/src/metrics.rs),
  # by the function that writes each: its name is the metric's FunctionName dimension.
  metrics_namespace = "orderflow"
  custom_metrics = {
    OrdersPlaced           = "create-order"
    OrdersSoldOut          = "create-order"
    OrdersPaid             = "orders-api"
    PaymentTimeoutsApplied = "order-events"
    RecordsDeadLettered    = "order-events"
    PartitionsStopped      = "order-events"
  }

  dead_letter_queues = {
    "payment-timeouts" = {
      queue = aws_sqs_queue.payment_timeouts_dlq.name
      about = "Payment timeouts the Scheduler could not deliver to order-timeout: their orders stay PENDING and hold stock until redriven (README: Redrive)."
    }
    "order-timeout-failures" = {
      queue = aws_sqs_queue.order_timeout_failures.name
      about = "order-timeout failed payment timeouts after Lambda's retries: their orders stay PENDING and hold stock until redriven (README: Redrive)."
    }
    "order-events-failures" = {
      queue = aws_sqs_queue.order_events_failures.name
      about = "order-events gave up on records after every retry; replay them from Kafka by the offsets in the messages (README: Redrive)."
    }
    "order-stream-failures" = {
      queue = aws_sqs_queue.order_stream_failures.name
      about = "order-stream gave up publishing changes of the orders table: their order events are missing. The messages hold their stream positions (shard, sequence numbers); the records stay in the stream until 24 hours after each change, to be published again."
    }
  }
}

# Encrypted with a key of this stack's own: CloudWatch publishes to the topic only if it may use the
# topic's key, and the AWS managed key (alias/aws/sns) has a policy nobody can change to allow it.
resource "aws_sns_topic" "alarms" {
  count = var.alarm_email == null ? 0 : 1

  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.alarms[0].arn
}

resource "aws_kms_key" "alarms" {
  count = var.alarm_email == null ? 0 : 1

  description             = "${local.name} alarm topic: CloudWatch encrypts alarm notifications with it"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.alarms_key.json
}

resource "aws_kms_alias" "alarms" {
  count = var.alarm_email == null ? 0 : 1

  name          = "alias/${local.name}-alarms"
  target_key_id = aws_kms_key.alarms[0].key_id
}

data "aws_iam_policy_document" "alarms_key" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource is always the key itself ("*"); the account statement is KMS's default, which lets IAM policies in this account manage the key.
  #checkov:skip=CKV_AWS_111:Same statement: KMS's default key policy, without which the key could become unmanageable.
  #checkov:skip=CKV_AWS_356:In a key policy "*" means this key only; there is no other resource to name.

  # KMS's default key policy: the account's IAM policies decide who administers and uses the key.
  statement {
    sid       = "AccountManagesTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  # What the SNS guide asks of an encrypted topic's key for CloudWatch alarms to publish to it.
  statement {
    sid       = "CloudWatchPublishesAlarms"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each = local.dead_letter_queues

  alarm_name          = "${local.name}-${each.key}-not-empty"
  alarm_description   = each.value.about
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value.queue }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = local.functions

  alarm_name          = "${local.name}-${each.key}-errors"
  alarm_description   = "${each.key} failed invocations (unhandled errors, timeouts, crashes). API functions answer expected failures with responses, so any count here is a fault."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# OffsetLag is the difference between the last offset written to the topic and the last the
# consumer group committed, summed over the topic's partitions, one figure per mapping (it is not
# per partition). A partial batch response is a successful invocation, so a partition stopped at
# a record that keeps failing raises no Errors: the lag never returning to zero is the sign. The
# lowest value of each 5 minutes stays above the threshold only if the lag never cleared.
resource "aws_cloudwatch_metric_alarm" "order_events_lag" {
  alarm_name          = "${local.name}-order-events-lag"
  alarm_description   = "order-events has had at least ${var.order_events_lag_threshold} unprocessed record(s) on its topic for 15 minutes without a break: a partition is stopped at a record that keeps failing (see PartitionsStopped and the function's log), or the pollers cannot keep up."
  namespace           = "AWS/Lambda"
  metric_name         = "OffsetLag"
  dimensions          = { FunctionName = aws_lambda_function.this["order-events"].function_name }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.order_events_lag_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# IteratorAge is the age of the newest record of each batch the mapping hands order-stream: how
# late the events of the orders table's changes are. Near zero when the function keeps up; it
# grows while a batch is retried (a broker outage) or the shards outrun the function.
resource "aws_cloudwatch_metric_alarm" "order_stream_iterator_age" {
  alarm_name          = "${local.name}-order-stream-iterator-age"
  alarm_description   = "order-stream is publishing order events more than ${var.order_stream_iterator_age_threshold_seconds} s after their changes: it cannot publish (see its errors and log) or cannot keep up. Records still failing at ${var.order_stream_max_record_age_seconds} s are given up on (order-stream-failures)."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = aws_lambda_function.this["order-stream"].function_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.order_stream_iterator_age_threshold_seconds * 1000
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  lifecycle {
    precondition {
      condition     = var.order_stream_iterator_age_threshold_seconds < var.order_stream_max_record_age_seconds
      error_message = "order_stream_iterator_age_threshold_seconds must be below order_stream_max_record_age_seconds: the alarm must come before records are given up on."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "function_throttles" {
  for_each = local.functions

  alarm_name          = "${local.name}-${each.key}-throttles"
  alarm_description   = "${each.key} invocations were refused for lack of concurrency (its reserved concurrency, or the account's): API callers got 429s or 5xx, events wait for a retry."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.this[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${local.name}-api-5xx"
  alarm_description   = "The HTTP API answered 5xx: a function failed or timed out (an opaque 502/503/504 from API Gateway), or answered a generic 500/503 whose cause is in its log."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5xx"
  dimensions          = { ApiId = aws_apigatewayv2_api.this.id }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# What the Scheduler reports for the payment timeout group. A timeout it cannot deliver after its
# retries goes to the payment timeouts queue (alarmed above); these catch what goes wrong on the
# way there, and a target that keeps failing before the retries run out.
locals {
  scheduler_alarms = {
    "TargetErrorCount"                           = "order-timeout failed or refused payment timeouts (each is retried; a persistent one ends in the dead-letter queue). Check the Scheduler role's trust policy and permissions and order-timeout's log."
    "InvocationDroppedCount"                     = "The Scheduler dropped payment timeouts after its retries without a dead-letter queue receiving them: their orders stay PENDING and hold stock. Find them by their schedules (the order id is the name) and cancel the orders."
    "InvocationsFailedToBeSentToDeadLetterCount" = "The Scheduler could not put undelivered payment timeouts in the dead-letter queue (permission, encryption or a deleted queue): they are lost. Check the Scheduler role's sqs:SendMessage and the queue."
  }
}

resource "aws_cloudwatch_metric_alarm" "scheduler" {
  for_each = local.scheduler_alarms

  alarm_name          = "${local.name}-payment-timeouts-${each.key}"
  alarm_description   = each.value
  namespace           = "AWS/Scheduler"
  metric_name         = each.key
  dimensions          = { ScheduleGroup = aws_scheduler_schedule_group.timeouts.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# From the counts order-events writes (local.custom_metrics). A dead-lettered record is an event
# that was not applied and never will be without a person.
resource "aws_cloudwatch_metric_alarm" "records_dead_lettered" {
  alarm_name          = "${local.name}-order-events-dead-lettered"
  alarm_description   = "order-events sent records to ${var.order_events_dlq_topic}: events it can never apply (their reason is a header of each record). README: Redrive."
  namespace           = local.metrics_namespace
  metric_name         = "RecordsDeadLettered"
  dimensions          = { FunctionName = aws_lambda_function.this[local.custom_metrics.RecordsDeadLettered].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# One stopped partition is a retry in progress; stopped partitions in most of 15 minutes are a
# record that keeps failing, which the mapping retries up to order_events_max_retry_attempts.
resource "aws_cloudwatch_metric_alarm" "partitions_stopped" {
  alarm_name          = "${local.name}-order-events-partitions-stopped"
  alarm_description   = "order-events keeps stopping a partition at a record it cannot apply yet (a dependency down, a permission denied): nothing after it on that partition is applied. Its log names the partition, the offset and the cause."
  namespace           = local.metrics_namespace
  metric_name         = "PartitionsStopped"
  dimensions          = { FunctionName = aws_lambda_function.this[local.custom_metrics.PartitionsStopped].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
