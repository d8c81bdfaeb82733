"""The payment timeouts' Scheduler group and its execution role, as EventBridge Scheduler
documents them."""

import terraform


def test_the_role_trusts_the_schedule_group_not_its_schedules():
    # EventBridge Scheduler User Guide, "Cross-service confused deputy prevention"
    # (https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html):
    # the Scheduler assumes the execution role with aws:SourceArn set to the schedule group's ARN,
    # arn:aws:scheduler:<region>:<account>:schedule-group/<group>, and aws:SourceAccount.
    statement = terraform.policy_statements("scheduler_trust")["0"]
    assert statement["actions"] == ["sts:AssumeRole"]
    assert statement["principals"][0] == {"type": "Service", "identifiers": ["scheduler.amazonaws.com"]}
    conditions = {c["variable"]: c for c in statement["condition"]}
    assert set(conditions) == {"aws:SourceAccount", "aws:SourceArn"}
    assert conditions["aws:SourceAccount"]["test"] == "StringEquals"
    assert conditions["aws:SourceAccount"]["values"] == ["${data.aws_caller_identity.current.account_id}"]
    assert conditions["aws:SourceArn"]["test"] == "StringEquals"
    assert conditions["aws:SourceArn"]["values"] == ["${local.schedule_group_arn}"]
    assert terraform.local("schedule_group_arn") == (
        "arn:${data.aws_partition.current.partition}:scheduler:${data.aws_region.current.region}:"
        "${data.aws_caller_identity.current.account_id}:schedule-group/${aws_scheduler_schedule_group.timeouts.name}"
    )


def test_schedules_are_created_in_the_group_the_role_trusts():
    assert terraform.local("environment_values")["SCHEDULE_GROUP_NAME"] == "${aws_scheduler_schedule_group.timeouts.name}"
    assert terraform.local("environment_values")["SCHEDULER_ROLE_ARN"] == "${aws_iam_role.scheduler.arn}"
    role = terraform.resources("aws_iam_role")["scheduler"]
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.scheduler_trust.json}"


def test_the_schedulers_dead_letters_and_lambdas_failures_have_a_queue_each():
    # EventBridge Scheduler User Guide, "Configuring a dead-letter queue for EventBridge
    # Scheduler": the queue receives the schedule's input as the message body, with the error in
    # message attributes, sent with the schedule's execution role (sqs:SendMessage).
    # AWS Lambda Developer Guide, "Capturing records of Lambda asynchronous invocations": an
    # on-failure destination receives an invocation record (requestContext, requestPayload,
    # responseContext, responsePayload), sent with the function's execution role.
    # Two formats, two queues: each has one redrive procedure (README: Redrive).
    assert terraform.local("environment_values")["SCHEDULER_DLQ_ARN"] == "${aws_sqs_queue.payment_timeouts_dlq.arn}"
    scheduler = terraform.policy_statements("scheduler")["DeadLetterUndeliveredTimeouts"]
    assert (scheduler["actions"], scheduler["resources"]) == (["sqs:SendMessage"], ["${aws_sqs_queue.payment_timeouts_dlq.arn}"])
    invoke_config = terraform.resources("aws_lambda_function_event_invoke_config")["scheduled"]
    destination = invoke_config["destination_config"][0]["on_failure"][0]["destination"]
    assert destination == "${aws_sqs_queue.order_timeout_failures.arn}"
    runtime = terraform.data_sources("aws_iam_policy_document")["function_runtime"]
    [on_failure] = [d["statement"] for d in runtime["dynamic"]
                    if d["statement"]["content"][0].get("sid") == "OnFailureDestination"]
    assert on_failure["for_each"] == '${each.value.trigger == "scheduler" ? [aws_sqs_queue.order_timeout_failures.arn] : []}'
    queues = {q["queue"] for q in terraform.local("dead_letter_queues").values()}
    assert {"${aws_sqs_queue.payment_timeouts_dlq.name}", "${aws_sqs_queue.order_timeout_failures.name}"} <= queues
