//! Terraform creates the DynamoDB tables from the same schema file the code uses. These tests fail
//! if `infra/dynamodb.tf` stops reading that file, or stops applying part of it.

use std::path::{Path, PathBuf};

use orderflow_adapters::dynamodb::schema::{SCHEMA_JSON, TABLES, TableNames};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The file with every run of whitespace folded to one space.
fn terraform(file: &str) -> String {
    let text = std::fs::read_to_string(repo_root().join("infra").join(file)).expect("infra file");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn terraform_reads_the_schema_file_the_code_embeds() {
    let tf = terraform("dynamodb.tf");
    let prefix = r#"dynamodb_tables = jsondecode(file("${path.module}/"#;
    let start = tf
        .find(prefix)
        .expect("dynamodb.tf decodes the schema file into local.dynamodb_tables");
    let rest = &tf[start + prefix.len()..];
    let relative = &rest[..rest.find('"').expect("closing quote")];
    let file = repo_root().join("infra").join(relative);
    let on_disk =
        std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
    assert_eq!(
        on_disk,
        SCHEMA_JSON,
        "Terraform reads {} but the code embeds another file",
        file.display()
    );
}

#[test]
fn terraform_applies_every_part_of_the_schema() {
    let tf = terraform("dynamodb.tf");
    for required in [
        r#"resource "aws_dynamodb_table" "this" { for_each = local.dynamodb_tables"#,
        r#"name = "${local.table_prefix}${each.key}""#,
        "hash_key = each.value.hash_key",
        "range_key = try(each.value.range_key, null)",
        r#"dynamic "attribute" { for_each = each.value.attributes content { name = attribute.key type = attribute.value } }"#,
        r#"dynamic "global_secondary_index" { for_each = try(each.value.global_secondary_indexes, [])"#,
        "hash_key = global_secondary_index.value.hash_key range_key = global_secondary_index.value.range_key projection_type = global_secondary_index.value.projection_type",
        r#"dynamic "local_secondary_index" { for_each = try(each.value.local_secondary_indexes, [])"#,
        "range_key = local_secondary_index.value.range_key projection_type = local_secondary_index.value.projection_type",
        r#"for_each = try(each.value.ttl_attribute, null) == null ? [] : [each.value.ttl_attribute] content { attribute_name = ttl.value enabled = true }"#,
        r#"billing_mode = "PAY_PER_REQUEST""#,
        "stream_enabled = try(each.value.stream_view_type, null) != null",
        "stream_view_type = try(each.value.stream_view_type, null)",
    ] {
        assert!(
            tf.contains(required),
            "infra/dynamodb.tf no longer has: {required}"
        );
    }
    // Every table the code declares has what Terraform needs of it.
    for (name, spec) in TABLES.iter() {
        assert!(!spec.hash_key.is_empty(), "{name}");
        for index in &spec.global_secondary_indexes {
            assert!(
                index.hash_key.is_some(),
                "{name}.{}: Terraform needs the GSI hash key",
                index.name
            );
        }
    }
}

#[test]
fn physical_names_are_built_the_same_way() {
    let tf = terraform("dynamodb.tf");
    assert!(tf.contains(r#"table_prefix = "${var.project}-${var.environment}-""#));
    // With the default project and environment, Terraform's names are the code's names.
    let names = TableNames::with_prefix("orderflow-dev-");
    assert_eq!(names.name("orders"), "orderflow-dev-orders");
}
