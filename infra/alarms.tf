# Alarms on what needs a person: messages in a dead-letter queue (something was not done and
# will not be retried), function errors, and order-events falling behind. With var.alarm_email
# each alarm also notifies an SNS topic with that subscriber (confirm the email AWS sends).

locals {
  alarm_actions = var.alarm_email == null ? [] : [aws_sns_topic.alarms[0].arn]

  dead_letter_queues = {
    "payment-timeouts" = {
      queue = aws_sqs_queue.payment_timeouts_dlq.name
      about = "Payment timeouts that were never announced: their orders stay PENDING and hold stock until redriven."
    }
    "order-events-failures" = {
      queue = aws_sqs_queue.order_events_failures.name
      about = "order-events gave up on records after every retry; replay them from Kafka by the offsets in the messages."
    }
  }
}

resource "aws_sns_topic" "alarms" {
  count = var.alarm_email == null ? 0 : 1

  name              = "${local.name}-alarms"
  kms_master_key_id = "alias/aws/sns"
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

resource "aws_cloudwatch_metric_alarm" "order_events_lag" {
  alarm_name          = "${local.name}-order-events-lag"
  alarm_description   = "order-events is more than ${var.order_events_lag_threshold} records behind on a partition for 15 minutes: it is failing and retrying (see its errors), or needs more pollers."
  namespace           = "AWS/Lambda"
  metric_name         = "OffsetLag"
  dimensions          = { FunctionName = aws_lambda_function.this["order-events"].function_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.order_events_lag_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
