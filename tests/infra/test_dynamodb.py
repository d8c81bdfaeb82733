"""The tables Terraform creates are the ones the code uses."""

import json

import aws_calls
import rust
import terraform

SCHEMA = json.loads((rust.ROOT / "shared/adapters/schema/dynamodb.json").read_text())


def test_terraform_builds_every_table_from_the_schema_file():
    assert terraform.local("dynamodb_tables") == '${jsondecode(file("${path.module}/../shared/adapters/schema/dynamodb.json"))}'
    table = terraform.resources("aws_dynamodb_table")["this"]
    assert table["for_each"] == "${local.dynamodb_tables}"
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert table["point_in_time_recovery"][0]["enabled"] is True
    assert table["server_side_encryption"][0]["enabled"] is True


def test_the_idempotency_keys_expire_by_ttl():
    assert SCHEMA["idempotency"]["ttl_attribute"] == "expires_at"
    ttl = terraform.resources("aws_dynamodb_table")["this"]["dynamic"]
    assert any("ttl" in block for block in ttl)


def test_every_table_and_index_the_code_calls_is_in_the_schema():
    used = set()
    for f in aws_calls.adapter_functions():
        used |= {g.resource for g in aws_calls.grants(f) if isinstance(g.resource, str) and g.resource.startswith("table/")}
    assert used
    for resource in used:
        parts = resource.split("/")
        assert parts[1] in SCHEMA, resource
        if len(parts) == 4:
            indexes = SCHEMA[parts[1]].get("global_secondary_indexes", []) + SCHEMA[parts[1]].get("local_secondary_indexes", [])
            assert parts[3] in {index["name"] for index in indexes}, resource


def test_grants_name_only_tables_and_indexes_of_the_schema():
    for crate, access in terraform.local("function_access").items():
        assert set(access["dynamodb"]) <= set(SCHEMA), crate
        for index in access["dynamodb_indexes"]:
            table, name = index.split("/")
            indexes = SCHEMA[table].get("global_secondary_indexes", []) + SCHEMA[table].get("local_secondary_indexes", [])
            assert name in {i["name"] for i in indexes}, f"{crate}: {index}"


def test_the_orders_table_streams_each_change_with_both_images():
    # Amazon DynamoDB Developer Guide, "Change data capture for DynamoDB Streams"
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html): each stream
    # record appears exactly once, the records of one item in the order of its modifications,
    # for 24 hours; NEW_AND_OLD_IMAGES records the item as it was before and after the change,
    # which order-stream compares to tell a status change from any other write.
    # The schema file, which the code's table creation reads too, says which table has a stream.
    streams = {name: spec["stream_view_type"] for name, spec in SCHEMA.items() if "stream_view_type" in spec}
    assert streams == {"orders": "NEW_AND_OLD_IMAGES"}
    table = terraform.resources("aws_dynamodb_table")["this"]
    assert table["stream_enabled"] == "${try(each.value.stream_view_type, null) != null}"
    assert table["stream_view_type"] == "${try(each.value.stream_view_type, null)}"
    # The stream order-stream's mapping reads is that table's.
    mapping = terraform.resources("aws_lambda_event_source_mapping")["order_stream"]
    assert mapping["event_source_arn"] == '${aws_dynamodb_table.this["orders"].stream_arn}'
