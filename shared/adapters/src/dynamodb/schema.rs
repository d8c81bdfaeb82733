//! The DynamoDB schema, defined once in `schema/dynamodb.json`. Terraform (`infra/dynamodb.tf`)
//! creates its tables from the same file, and the local bootstrap and the tests create theirs from
//! it through this module, so the two cannot drift.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// The schema file, as Terraform reads it too.
pub const SCHEMA_JSON: &str = include_str!("../../schema/dynamodb.json");

/// Every table, by logical name.
pub static TABLES: LazyLock<BTreeMap<String, TableSpec>> = LazyLock::new(|| {
    // The file is part of the binary and covered by tests; failing to parse it is a build defect.
    serde_json::from_str(SCHEMA_JSON).expect("schema/dynamodb.json is valid")
});

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub description: String,
    pub hash_key: String,
    #[serde(default)]
    pub range_key: Option<String>,
    /// Key attributes of the table and its indexes, with their type (`S`, `N` or `B`).
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexSpec>,
    #[serde(default)]
    pub local_secondary_indexes: Vec<IndexSpec>,
    #[serde(default)]
    pub ttl_attribute: Option<String>,
    /// The table's stream, if it has one: what each record carries (`NEW_AND_OLD_IMAGES` for the
    /// orders table, whose changes order-stream turns into order events).
    #[serde(default)]
    pub stream_view_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSpec {
    pub name: String,
    /// Absent for local secondary indexes, which share the table's hash key.
    #[serde(default)]
    pub hash_key: Option<String>,
    pub range_key: String,
    pub projection_type: String,
}

/// Logical table names, as in the schema file.
pub mod table {
    pub const PRODUCTS: &str = "products";
    pub const ORDERS: &str = "orders";
    pub const NOTIFICATIONS: &str = "notifications";
    pub const STATISTICS: &str = "statistics";
    pub const IDEMPOTENCY: &str = "idempotency";
    pub const ALL: [&str; 5] = [PRODUCTS, ORDERS, NOTIFICATIONS, STATISTICS, IDEMPOTENCY];
}

/// Physical table names: a deployment-wide prefix and the logical name (`orderflow-dev-orders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    prefix: String,
}

impl TableNames {
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn name(&self, logical: &str) -> String {
        format!("{}{logical}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_defines_exactly_the_tables_the_code_uses() {
        let names: Vec<&str> = TABLES.keys().map(String::as_str).collect();
        let mut expected = table::ALL.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected);
    }

    #[test]
    fn every_key_attribute_is_declared_and_every_declared_attribute_is_a_key() {
        for (name, spec) in TABLES.iter() {
            let mut keys = vec![spec.hash_key.clone()];
            keys.extend(spec.range_key.clone());
            for index in spec
                .global_secondary_indexes
                .iter()
                .chain(&spec.local_secondary_indexes)
            {
                keys.extend(index.hash_key.clone());
                keys.push(index.range_key.clone());
            }
            keys.sort();
            keys.dedup();
            let declared: Vec<String> = spec.attributes.keys().cloned().collect();
            assert_eq!(declared, keys, "table {name}");
            for kind in spec.attributes.values() {
                assert!(
                    ["S", "N", "B"].contains(&kind.as_str()),
                    "table {name}: type {kind}"
                );
            }
            for index in &spec.local_secondary_indexes {
                assert!(
                    index.hash_key.is_none(),
                    "table {name}: an LSI shares the table's hash key"
                );
            }
            for index in &spec.global_secondary_indexes {
                assert!(
                    index.hash_key.is_some(),
                    "table {name}: GSI {} needs a hash key",
                    index.name
                );
            }
        }
    }

    #[test]
    fn only_the_orders_table_has_a_stream_and_it_carries_both_images() {
        // order-stream tells a transition from the old and the new status: it needs both images.
        let streams: Vec<(&str, &str)> = TABLES
            .iter()
            .filter_map(|(name, spec)| Some((name.as_str(), spec.stream_view_type.as_deref()?)))
            .collect();
        assert_eq!(streams, [(table::ORDERS, "NEW_AND_OLD_IMAGES")]);
    }

    #[test]
    fn physical_names_carry_the_prefix() {
        assert_eq!(
            TableNames::with_prefix("orderflow-dev-").name(table::ORDERS),
            "orderflow-dev-orders"
        );
    }
}
