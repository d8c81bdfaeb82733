# EventBridge Scheduler: create-order creates one one-time schedule per order in this group; when
# it fires, the Scheduler invokes order-timeout with this execution role.

resource "aws_scheduler_schedule_group" "timeouts" {
  name = "${local.name}-payment-timeouts"
}

locals {
  # What `aws_scheduler_schedule_group.timeouts.arn` will be, spelled out: the trust policy
  # below conditions on exactly this form (arn:…:scheduler:<region>:<account>:schedule-group/<name>).
  schedule_group_arn = "arn:${data.aws_partition.current.partition}:scheduler:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:schedule-group/${aws_scheduler_schedule_group.timeouts.name}"
}

resource "aws_iam_role" "scheduler" {
  name = "${local.name}-scheduler"
  # Only schedules of this account's payment timeout group may assume it (the confused deputy
  # protection the Scheduler documents); create-order may pass it to the Scheduler only (iam.tf).
  assume_role_policy = data.aws_iam_policy_document.scheduler_trust.json
}

data "aws_iam_policy_document" "scheduler_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }

    # The Scheduler presents the schedule group's ARN as the source, not the schedule's: a
    # schedule ARN here would refuse every CreateSchedule and every firing.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.schedule_group_arn]
    }
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-order-timeout"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeOrderTimeoutOnly"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.this["order-timeout"].arn]
  }

  statement {
    sid       = "DeadLetterUndeliveredTimeouts"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.payment_timeouts_dlq.arn]
  }
}

# Payment timeouts the Scheduler could not deliver to order-timeout after its retries. Each
# message's body is the schedule's input, the payment timeout as order-timeout reads it, with the
# error in its attributes; redrive it by invoking order-timeout with the body (README: Redrive).
# Failures of order-timeout itself go to another queue (lambda.tf), in Lambda's format.
resource "aws_sqs_queue" "payment_timeouts_dlq" {
  name                      = "${local.name}-payment-timeouts-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
}
