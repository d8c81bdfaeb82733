locals {
  # Physical table names are this prefix plus the logical name: the functions get the prefix as
  # DYNAMODB_TABLE_PREFIX.
  table_prefix = "${var.project}-${var.environment}-"

  # The schema the code uses. The local stack and the tests create their tables from the same
  # file (shared/adapters/src/dynamodb/schema.rs), so what runs locally is what is deployed.
  dynamodb_tables = jsondecode(file("${path.module}/../shared/adapters/schema/dynamodb.json"))
}

resource "aws_dynamodb_table" "this" {
  for_each = local.dynamodb_tables

  name                        = "${local.table_prefix}${each.key}"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = each.value.hash_key
  range_key                   = try(each.value.range_key, null)
  deletion_protection_enabled = var.dynamodb_deletion_protection
  # The schema gives the orders table a stream with both images: its changes are the order
  # events. order-stream publishes each status change it reads from the stream (lambda.tf), so
  # an acknowledged change always has its event; a change is told by comparing the item before
  # and after it, hence both images.
  stream_enabled   = try(each.value.stream_view_type, null) != null
  stream_view_type = try(each.value.stream_view_type, null)
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key (server_side_encryption below); a customer managed key would add a key policy and kms:Decrypt grants to every function for no control this stack uses.

  dynamic "attribute" {
    for_each = each.value.attributes
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  dynamic "global_secondary_index" {
    for_each = try(each.value.global_secondary_indexes, [])
    content {
      name            = global_secondary_index.value.name
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = global_secondary_index.value.projection_type
    }
  }

  dynamic "local_secondary_index" {
    for_each = try(each.value.local_secondary_indexes, [])
    content {
      name            = local_secondary_index.value.name
      range_key       = local_secondary_index.value.range_key
      projection_type = local_secondary_index.value.projection_type
    }
  }

  dynamic "ttl" {
    for_each = try(each.value.ttl_attribute, null) == null ? [] : [each.value.ttl_attribute]
    content {
      attribute_name = ttl.value
      enabled        = true
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  # At rest with the AWS managed key for DynamoDB (aws/dynamodb) rather than the AWS owned one.
  server_side_encryption {
    enabled = true
  }
}
