"""The alarms, where they notify, and what they watch, as CloudWatch and SNS document them."""

import terraform


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use():
    # Amazon SNS Developer Guide, "Configuring AWS KMS permissions" / "Enable compatibility between
    # event sources from AWS services and encrypted topics"
    # (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services):
    # CloudWatch publishes to an encrypted topic only if the key policy allows
    # cloudwatch.amazonaws.com kms:GenerateDataKey* and kms:Decrypt, which the AWS managed key
    # alias/aws/sns never does (its policy cannot be changed): a customer managed key is needed.
    topic = terraform.resources("aws_sns_topic")["alarms"]
    assert topic["kms_master_key_id"] == "${aws_kms_key.alarms[0].arn}"
    key = terraform.resources("aws_kms_key")["alarms"]
    assert key["count"] == topic["count"]
    assert key["policy"] == "${data.aws_iam_policy_document.alarms_key.json}"
    # AWS KMS Developer Guide, "Rotating AWS KMS keys": yearly rotation, on request.
    assert key["enable_key_rotation"] is True
    statement = terraform.policy_statements("alarms_key")["CloudWatchPublishesAlarms"]
    assert statement["principals"][0] == {"type": "Service", "identifiers": ["cloudwatch.amazonaws.com"]}
    assert sorted(statement["actions"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    # AWS KMS Developer Guide, "Default key policy": without the account statement nobody could
    # manage the key, and KMS refuses a policy that would lock out the caller.
    admin = terraform.policy_statements("alarms_key")["AccountManagesTheKey"]
    assert admin["principals"][0]["identifiers"] == [
        "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
    ]


def alarms():
    """Alarm resource name => body, with for_each over locals resolved to their keys."""
    return terraform.resources("aws_cloudwatch_metric_alarm")


def assert_alarm(name, namespace, metric, dimensions, statistic="Sum"):
    alarm = alarms()[name]
    assert (alarm["namespace"], alarm["metric_name"]) == (namespace, metric), name
    assert alarm["dimensions"] == dimensions, name
    assert alarm["statistic"] == statistic, name
    assert alarm["alarm_actions"] == "${local.alarm_actions}" and alarm["ok_actions"] == "${local.alarm_actions}"
    assert alarm["treat_missing_data"] == "notBreaching", "no data means nothing happened"
    return alarm


def test_function_errors_and_throttles_are_alarmed_per_function():
    # AWS Lambda Developer Guide, "Types of metrics for Lambda functions"
    # (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html): Errors and
    # Throttles are invocation metrics in AWS/Lambda with the FunctionName dimension.
    for name, metric in (("function_errors", "Errors"), ("function_throttles", "Throttles")):
        alarm = assert_alarm(name, "AWS/Lambda", metric, {"FunctionName": "${aws_lambda_function.this[each.key].function_name}"})
        assert alarm["for_each"] == "${local.functions}"
        assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)


def test_order_events_lag_fires_on_one_record_stuck_for_15_minutes():
    # Same page, "Event source mapping metrics": OffsetLag (Amazon MSK and self-managed Kafka) is
    # the difference between the last record written to the topic and the last one the consumer
    # group processed, at the topic level, not per partition. AWS Lambda Developer Guide,
    # "Configuring partial batch responses" for Kafka: a response naming failed records is a
    # successful invocation, so Errors never counts a stopped partition.
    alarm = assert_alarm("order_events_lag", "AWS/Lambda", "OffsetLag",
                         {"FunctionName": '${aws_lambda_function.this["order-events"].function_name}'},
                         statistic="Minimum")
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanOrEqualToThreshold", "${var.order_events_lag_threshold}")
    assert alarm["period"] * alarm["evaluation_periods"] == 900
    assert terraform.variables()["order_events_lag_threshold"]["default"] == 1
    assert "not per partition" in terraform.variables()["order_events_lag_threshold"]["description"]


def test_order_stream_iterator_age_fires_before_records_are_given_up_on():
    # AWS Lambda Developer Guide, "Types of metrics for Lambda functions"
    # (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html): IteratorAge,
    # for DynamoDB, Kinesis and Amazon DocumentDB event sources, is the age of the last record in
    # the event, in milliseconds, between the stream receiving it and the mapping sending it to
    # the function; in AWS/Lambda by FunctionName.
    alarm = assert_alarm("order_stream_iterator_age", "AWS/Lambda", "IteratorAge",
                         {"FunctionName": '${aws_lambda_function.this["order-stream"].function_name}'},
                         statistic="Maximum")
    assert (alarm["comparison_operator"], alarm["threshold"]) == (
        "GreaterThanThreshold", "${var.order_stream_iterator_age_threshold_seconds * 1000}")
    variables = terraform.variables()
    threshold = variables["order_stream_iterator_age_threshold_seconds"]["default"]
    assert 60 <= threshold < variables["order_stream_max_record_age_seconds"]["default"]
    [precondition] = alarm["lifecycle"][0]["precondition"]
    assert precondition["condition"] == (
        "${var.order_stream_iterator_age_threshold_seconds < var.order_stream_max_record_age_seconds}")


def test_every_alarm_is_on_the_dashboard():
    shown = str(terraform.local("all_alarm_arns"))
    for name in alarms():
        assert f"aws_cloudwatch_metric_alarm.{name}" in shown, f"{name} is not on the dashboard"
    body = terraform.resources("aws_cloudwatch_dashboard")["this"]["dashboard_body"]
    assert '"IteratorAge", "FunctionName", local.function_names["order-stream"]' in body


def test_api_5xx_is_alarmed():
    # Amazon API Gateway Developer Guide, "Monitor CloudWatch metrics for HTTP APIs in API
    # Gateway" (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html):
    # HTTP APIs publish 4xx, 5xx, Count, Latency and IntegrationLatency in AWS/ApiGateway, by ApiId
    # (and Stage); the metric is named "5xx", not REST APIs' "5XXError".
    alarm = assert_alarm("api_5xx", "AWS/ApiGateway", "5xx", {"ApiId": "${aws_apigatewayv2_api.this.id}"})
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)


def test_the_schedulers_failures_are_alarmed_for_the_payment_timeout_group():
    # EventBridge Scheduler User Guide, "Monitoring EventBridge Scheduler with Amazon CloudWatch
    # metrics" (https://docs.aws.amazon.com/scheduler/latest/UserGuide/monitoring-cloudwatch.html):
    # AWS/Scheduler publishes TargetErrorCount, InvocationDroppedCount and
    # InvocationsFailedToBeSentToDeadLetterCount, among others, per schedule group (ScheduleGroup).
    alarm = assert_alarm("scheduler", "AWS/Scheduler", "${each.key}",
                         {"ScheduleGroup": "${aws_scheduler_schedule_group.timeouts.name}"})
    assert alarm["for_each"] == "${local.scheduler_alarms}"
    assert set(terraform.local("scheduler_alarms")) == {
        "TargetErrorCount", "InvocationDroppedCount", "InvocationsFailedToBeSentToDeadLetterCount",
    }


def test_messages_in_every_dead_letter_queue_are_alarmed():
    # Amazon SQS Developer Guide, "Available CloudWatch metrics for Amazon SQS":
    # ApproximateNumberOfMessagesVisible in AWS/SQS, by QueueName.
    assert_alarm("dead_letters", "AWS/SQS", "ApproximateNumberOfMessagesVisible",
                 {"QueueName": "${each.value.queue}"}, statistic="Maximum")
    queues = terraform.local("dead_letter_queues")
    assert {q["queue"] for q in queues.values()} == {
        f"${{aws_sqs_queue.{queue}.name}}" for queue in terraform.resources("aws_sqs_queue")
    }
    assert "${aws_sqs_queue.order_stream_failures.name}" in {q["queue"] for q in queues.values()}
