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
