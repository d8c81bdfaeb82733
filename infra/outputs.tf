output "dynamodb_table_prefix" {
  description = "DYNAMODB_TABLE_PREFIX for the functions."
  value       = local.table_prefix
}

output "dynamodb_tables" {
  description = "Physical table name by logical name."
  value       = { for logical, table in aws_dynamodb_table.this : logical => table.name }
}

output "api_url" {
  description = "Base URL of the HTTP API: POST <api_url>/orders with a JWT in Authorization: Bearer."
  value       = aws_apigatewayv2_stage.default.invoke_url
}

output "order_events_topic" {
  description = "The order event topic."
  value       = var.order_events_topic
}

output "order_events_dlq_topic" {
  description = "The dead-letter topic of poison order events."
  value       = var.order_events_dlq_topic
}

output "kafka_bootstrap_brokers" {
  description = "The cluster's IAM bootstrap brokers (port 9098), reachable from inside the VPC only."
  value       = local.kafka_bootstrap_brokers
}

output "kafka_cluster_arn" {
  description = "The MSK cluster the functions use."
  value       = local.kafka_cluster_arn
}

output "functions" {
  description = "Lambda function name by crate."
  value       = { for crate, function in aws_lambda_function.this : crate => function.function_name }
}

output "schedule_group" {
  description = "The Scheduler group of the payment timeout schedules."
  value       = aws_scheduler_schedule_group.timeouts.name
}

output "dead_letter_queues" {
  description = "URLs of the SQS queues that collect what was not done: payment timeouts the Scheduler could not deliver, those order-timeout failed, order events given up on, and changes of the orders table whose events order-stream gave up publishing."
  value = {
    payment_timeouts       = aws_sqs_queue.payment_timeouts_dlq.url
    order_timeout_failures = aws_sqs_queue.order_timeout_failures.url
    order_events_failures  = aws_sqs_queue.order_events_failures.url
    order_stream_failures  = aws_sqs_queue.order_stream_failures.url
  }
}

output "cognito_user_pool_id" {
  description = "The Cognito user pool that issues the API's JWTs (null with jwt_issuer)."
  value       = local.create_user_pool ? aws_cognito_user_pool.this[0].id : null
}

output "cognito_client_id" {
  description = "The app client to sign in with (null with jwt_issuer)."
  value       = local.create_user_pool ? aws_cognito_user_pool_client.this[0].id : null
}

output "kafka_topics" {
  description = "What the topic creator found and did when it last ran: each topic's partitions and retention."
  value       = jsondecode(aws_lambda_invocation.kafka_topics.result)
}

output "dashboard_url" {
  description = "The CloudWatch dashboard: alarms, orders, order-events lag, order-stream's delay, errors and dead letters."
  value       = "https://${data.aws_region.current.region}.console.aws.amazon.com/cloudwatch/home?region=${data.aws_region.current.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.this.dashboard_name}"
}
