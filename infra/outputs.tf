output "dynamodb_table_prefix" {
  description = "DYNAMODB_TABLE_PREFIX for the functions."
  value       = local.table_prefix
}

output "dynamodb_tables" {
  description = "Physical table name by logical name."
  value       = { for logical, table in aws_dynamodb_table.this : logical => table.name }
}
