# The first place an operator looks: every alarm's state, then what the business sees (orders,
# sold-out refusals, payments, timeouts), how order-events and order-stream keep up, and where
# work fails.
# Widgets without x and y are laid out left to right, top to bottom, in this order.

locals {
  function_names = { for name in keys(local.functions) : name => aws_lambda_function.this[name].function_name }

  # A custom metric as a dashboard widget names it: namespace, name, dimension, value.
  custom_metric = {
    for metric, function in local.custom_metrics :
    metric => [local.metrics_namespace, metric, "FunctionName", local.function_names[function]]
  }

  all_alarm_arns = concat(
    [for alarm in aws_cloudwatch_metric_alarm.dead_letters : alarm.arn],
    [for alarm in aws_cloudwatch_metric_alarm.function_errors : alarm.arn],
    [for alarm in aws_cloudwatch_metric_alarm.function_throttles : alarm.arn],
    [for alarm in aws_cloudwatch_metric_alarm.scheduler : alarm.arn],
    [
      aws_cloudwatch_metric_alarm.order_events_lag.arn,
      aws_cloudwatch_metric_alarm.order_stream_iterator_age.arn,
      aws_cloudwatch_metric_alarm.api_5xx.arn,
      aws_cloudwatch_metric_alarm.records_dead_lettered.arn,
      aws_cloudwatch_metric_alarm.partitions_stopped.arn,
    ],
  )

  # Widget defaults: five-minute sums in this stack's region.
  widget = {
    view    = "timeSeries"
    stacked = false
    region  = data.aws_region.current.region
    period  = 300
    stat    = "Sum"
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.name

  dashboard_body = jsonencode({
    widgets = [
      {
        type       = "alarm"
        width      = 24
        height     = 4
        properties = { title = "Alarms", alarms = local.all_alarm_arns }
      },
      {
        type   = "metric"
        width  = 8
        height = 6
        properties = merge(local.widget, {
          title = "Orders"
          metrics = [
            local.custom_metric.OrdersPlaced,
            local.custom_metric.OrdersSoldOut,
            local.custom_metric.OrdersPaid,
            local.custom_metric.PaymentTimeoutsApplied,
          ]
        })
      },
      {
        type   = "metric"
        width  = 8
        height = 6
        properties = merge(local.widget, {
          title = "order-events: lag (records, whole topic), stopped partitions, dead letters"
          metrics = [
            ["AWS/Lambda", "OffsetLag", "FunctionName", local.function_names["order-events"], { stat = "Maximum" }],
            local.custom_metric.PartitionsStopped,
            local.custom_metric.RecordsDeadLettered,
          ]
        })
      },
      {
        type   = "metric"
        width  = 8
        height = 6
        properties = merge(local.widget, {
          title = "order-stream: how late the order events are (IteratorAge, ms)"
          stat  = "Maximum"
          metrics = [
            ["AWS/Lambda", "IteratorAge", "FunctionName", local.function_names["order-stream"]],
          ]
        })
      },
      {
        type   = "metric"
        width  = 8
        height = 6
        properties = merge(local.widget, {
          title   = "Function errors"
          metrics = [for name, function in local.function_names : ["AWS/Lambda", "Errors", "FunctionName", function, { label = name }]]
        })
      },
      {
        type   = "metric"
        width  = 8
        height = 6
        properties = merge(local.widget, {
          title   = "Function throttles"
          metrics = [for name, function in local.function_names : ["AWS/Lambda", "Throttles", "FunctionName", function, { label = name }]]
        })
      },
      {
        type   = "metric"
        width  = 8
        height = 6
        properties = merge(local.widget, {
          title = "API responses"
          metrics = [
            ["AWS/ApiGateway", "Count", "ApiId", aws_apigatewayv2_api.this.id],
            ["AWS/ApiGateway", "4xx", "ApiId", aws_apigatewayv2_api.this.id],
            ["AWS/ApiGateway", "5xx", "ApiId", aws_apigatewayv2_api.this.id],
          ]
        })
      },
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = merge(local.widget, {
          title = "Payment timeouts (Scheduler)"
          metrics = [
            for metric in ["InvocationAttemptCount", "TargetErrorCount", "InvocationDroppedCount", "InvocationsSentToDeadLetterCount", "InvocationsFailedToBeSentToDeadLetterCount"] :
            ["AWS/Scheduler", metric, "ScheduleGroup", aws_scheduler_schedule_group.timeouts.name]
          ]
        })
      },
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = merge(local.widget, {
          title   = "Dead-letter queues (messages waiting)"
          stat    = "Maximum"
          metrics = [for queue in local.dead_letter_queues : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue.queue]]
        })
      },
    ]
  })
}
