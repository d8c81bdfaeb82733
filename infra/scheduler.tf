# EventBridge Scheduler: create-order creates one one-time schedule per order in this group; when
# it fires, the Scheduler invokes order-timeout with this execution role.

resource "aws_scheduler_schedule_group" "timeouts" {
  name = "${local.name}-payment-timeouts"
}

resource "aws_iam_role" "scheduler" {
  name = "${local.name}-scheduler"
  # Only schedules of this account may assume it (the confused deputy protection the Scheduler
  # documents), and create-order may pass it only for its own group (iam.tf).
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

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:scheduler:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:schedule/${aws_scheduler_schedule_group.timeouts.name}/*"]
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

# Payment timeouts that were never announced: schedules the Scheduler could not deliver after its
# retries, and order-timeout invocations that failed after Lambda's. Each message names the order;
# redrive it by invoking order-timeout with the message's payload. An alarm watches its depth.
resource "aws_sqs_queue" "payment_timeouts_dlq" {
  name                      = "${local.name}-payment-timeouts-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
}
