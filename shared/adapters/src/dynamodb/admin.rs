//! Creates the tables of `schema/dynamodb.json`, for local stacks and tests. In AWS, Terraform
//! creates them from the same file.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, StreamSpecification,
    StreamViewType, TableStatus, TimeToLiveSpecification,
};
use tracing::info;

use crate::dynamodb::schema::{IndexSpec, TABLES, TableNames, TableSpec};
use crate::{build_error, sdk_error};
use orderflow_domain::error::{Dependency, Error, Result};

const DYNAMODB: Dependency = Dependency::DynamoDb;
const ACTION: &str = "create a table";

/// Creates every table that does not exist yet, waits until all are active, and enables TTL where
/// the schema has it. Safe to run again.
pub async fn create_tables(client: &Client, names: &TableNames) -> Result<()> {
    for (logical, spec) in TABLES.iter() {
        let name = names.name(logical);
        let created = client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attribute_definitions(spec)?))
            .set_key_schema(Some(key_schema(&spec.hash_key, spec.range_key.as_deref())?))
            .set_global_secondary_indexes(non_empty(
                spec.global_secondary_indexes
                    .iter()
                    .map(|index| global_index(spec, index))
                    .collect::<Result<Vec<_>>>()?,
            ))
            .set_local_secondary_indexes(non_empty(
                spec.local_secondary_indexes
                    .iter()
                    .map(|index| local_index(spec, index))
                    .collect::<Result<Vec<_>>>()?,
            ))
            .set_stream_specification(stream(spec)?)
            .send()
            .await;
        match created {
            Ok(_) => info!(table = %name, "created table"),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                info!(table = %name, "table exists");
            }
            Err(err) => return Err(sdk_error(DYNAMODB, ACTION, err)),
        }
        wait_until_active(client, &name).await?;
        if let Some(attribute) = &spec.ttl_attribute {
            let ttl = TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(attribute)
                .build()
                .map_err(|err| build_error(DYNAMODB, ACTION, err))?;
            let enabled = client
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(ttl)
                .send()
                .await;
            match enabled {
                Ok(_) => {}
                // Enabling TTL twice is refused with a ValidationException; that is the goal state.
                Err(err)
                    if err
                        .as_service_error()
                        .and_then(|e| e.meta().message())
                        .is_some_and(|m| m.contains("already enabled")) => {}
                Err(err) => return Err(sdk_error(DYNAMODB, "enable TTL", err)),
            }
        }
    }
    Ok(())
}

/// Deletes every table of the schema under `names`; missing tables are skipped.
pub async fn delete_tables(client: &Client, names: &TableNames) -> Result<()> {
    for logical in TABLES.keys() {
        let deleted = client
            .delete_table()
            .table_name(names.name(logical))
            .send()
            .await;
        match deleted {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(err) => return Err(sdk_error(DYNAMODB, "delete a table", err)),
        }
    }
    Ok(())
}

async fn wait_until_active(client: &Client, name: &str) -> Result<()> {
    for _ in 0..120 {
        let description = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|err| sdk_error(DYNAMODB, "describe a table", err))?;
        if description.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(Error::Unavailable {
        dependency: DYNAMODB,
        action: "wait for a new table",
        source: format!("table {name} did not become active within a minute").into(),
    })
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

fn attribute_definitions(spec: &TableSpec) -> Result<Vec<AttributeDefinition>> {
    spec.attributes
        .iter()
        .map(|(name, kind)| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()
                .map_err(|err| build_error(DYNAMODB, ACTION, err))
        })
        .collect()
}

fn key_schema(hash: &str, range: Option<&str>) -> Result<Vec<KeySchemaElement>> {
    let element = |name: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .map_err(|err| build_error(DYNAMODB, ACTION, err))
    };
    let mut schema = vec![element(hash, KeyType::Hash)?];
    if let Some(range) = range {
        schema.push(element(range, KeyType::Range)?);
    }
    Ok(schema)
}

/// The table's stream, enabled with the schema's view type; `None` for a table without one.
fn stream(spec: &TableSpec) -> Result<Option<StreamSpecification>> {
    let Some(view) = spec.stream_view_type.as_deref() else {
        return Ok(None);
    };
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::from(view))
        .build()
        .map(Some)
        .map_err(|err| build_error(DYNAMODB, ACTION, err))
}

fn projection(index: &IndexSpec) -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::from(index.projection_type.as_str()))
        .build()
}

fn global_index(spec: &TableSpec, index: &IndexSpec) -> Result<GlobalSecondaryIndex> {
    let hash = index.hash_key.as_deref().unwrap_or(&spec.hash_key);
    GlobalSecondaryIndex::builder()
        .index_name(&index.name)
        .set_key_schema(Some(key_schema(hash, Some(&index.range_key))?))
        .projection(projection(index))
        .build()
        .map_err(|err| build_error(DYNAMODB, ACTION, err))
}

fn local_index(spec: &TableSpec, index: &IndexSpec) -> Result<LocalSecondaryIndex> {
    LocalSecondaryIndex::builder()
        .index_name(&index.name)
        .set_key_schema(Some(key_schema(&spec.hash_key, Some(&index.range_key))?))
        .projection(projection(index))
        .build()
        .map_err(|err| build_error(DYNAMODB, ACTION, err))
}
