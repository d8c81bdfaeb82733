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
