//! The DynamoDB adapter against moto: the tables it creates, concurrency, and its error mapping.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{KeyType, TimeToLiveStatus};
use orderflow_adapters::dynamodb::schema::{IndexSpec, TABLES, TableNames, TableSpec};
use orderflow_adapters::dynamodb::{DynamoStore, admin};
use orderflow_domain::error::{Dependency, Error};
use orderflow_domain::ports::{OrderStore, ProductStore};
use orderflow_testing::local;
use orderflow_types::{Order, OrderId, OrderLine, Product, ProductId, Quantity, UserId};

fn key_names(keys: &[aws_sdk_dynamodb::types::KeySchemaElement]) -> (String, Option<String>) {
    let find = |kind: KeyType| {
        keys.iter()
            .find(|k| k.key_type() == &kind)
            .map(|k| k.attribute_name().to_owned())
    };
    (
        find(KeyType::Hash).unwrap_or_default(),
        find(KeyType::Range),
    )
}

/// An index's name and its (hash, range) key attributes.
type IndexKeys = (String, (String, Option<String>));

fn index_keys(name: Option<&str>, keys: &[aws_sdk_dynamodb::types::KeySchemaElement]) -> IndexKeys {
    (name.unwrap_or_default().to_owned(), key_names(keys))
}

/// What the schema says an index's keys are; a local index shares the table's hash key.
fn declared(spec: &TableSpec, indexes: &[IndexSpec]) -> Vec<IndexKeys> {
    indexes
        .iter()
        .map(|i| {
            let hash = i.hash_key.clone().unwrap_or_else(|| spec.hash_key.clone());
            (i.name.clone(), (hash, Some(i.range_key.clone())))
        })
        .collect()
}

#[tokio::test]
async fn created_tables_match_the_schema_file() {
    let client = local::dynamodb_client().await;
    let names = local::fresh_tables().await;
    // A second run changes nothing and does not fail.
    admin::create_tables(&client, &names)
        .await
        .expect("create tables again");

    for (logical, spec) in TABLES.iter() {
        let name = names.name(logical);
        let described = client
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .expect("describe");
        let table = described.table().expect("table");
        assert_eq!(
            key_names(table.key_schema()),
            (spec.hash_key.clone(), spec.range_key.clone()),
            "{name}"
        );

        let attributes: BTreeMap<String, String> = table
            .attribute_definitions()
            .iter()
            .map(|a| {
                (
                    a.attribute_name().to_owned(),
                    a.attribute_type().as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(attributes, spec.attributes, "{name}");

        let gsis: Vec<IndexKeys> = table
            .global_secondary_indexes()
            .iter()
            .map(|i| index_keys(i.index_name(), i.key_schema()))
            .collect();
        assert_eq!(
            gsis,
            declared(spec, &spec.global_secondary_indexes),
            "{name}"
        );
        let lsis: Vec<IndexKeys> = table
            .local_secondary_indexes()
            .iter()
            .map(|i| index_keys(i.index_name(), i.key_schema()))
            .collect();
        assert_eq!(
            lsis,
            declared(spec, &spec.local_secondary_indexes),
            "{name}"
        );

        let ttl = client
            .describe_time_to_live()
            .table_name(&name)
            .send()
            .await
            .expect("ttl");
        let ttl = ttl.time_to_live_description().expect("ttl description");
        match &spec.ttl_attribute {
            Some(attribute) => {
                assert_eq!(
                    ttl.time_to_live_status(),
                    Some(&TimeToLiveStatus::Enabled),
                    "{name}"
                );
                assert_eq!(ttl.attribute_name(), Some(attribute.as_str()), "{name}");
            }
            None => assert_ne!(
                ttl.time_to_live_status(),
                Some(&TimeToLiveStatus::Enabled),
                "{name}"
            ),
        }
    }
    admin::delete_tables(&client, &names).await.expect("delete");
    admin::delete_tables(&client, &names)
        .await
        .expect("deleting missing tables is fine");
}

#[tokio::test]
async fn concurrent_orders_never_oversell() {
    let store = Arc::new(local::dynamo_store().await);
    let sku = ProductId::parse("hot-item").unwrap();
    let product = Product {
        product_id: sku.clone(),
        name: "Hot item".into(),
        price_cents: 999,
        stock: 10,
    };
    store.put_product(&product).await.expect("put product");

    let attempts = (0..25).map(|n| {
        let store = Arc::clone(&store);
        let sku = sku.clone();
        tokio::spawn(async move {
            let now = chrono::Utc::now();
            let order = Order::new_pending(
                OrderId::parse(format!("race-{n}")).unwrap(),
                UserId::parse(format!("user-{n}")).unwrap(),
                vec![OrderLine {
                    product_id: sku,
                    quantity: Quantity::new(1).unwrap(),
                    unit_price_cents: 999,
                }],
                now,
                now + chrono::Duration::minutes(30),
            );
            store.place_order(&order).await
        })
    });
    let mut placed = 0;
    for attempt in futures::future::join_all(attempts).await {
        match attempt.expect("task") {
            Ok(()) => placed += 1,
            Err(Error::OutOfStock(short)) => assert_eq!(short[0].requested, 1),
            // Contention may cancel a transaction; a client retries it. It must never oversell.
            Err(err) if err.is_retryable() => {}
            Err(err) => panic!("unexpected error: {err}"),
        }
    }
    let left = store
        .get_product(&sku)
        .await
        .expect("get")
        .expect("exists")
        .stock;
    assert_eq!(placed + left, 10, "placed {placed}, left {left}");
    assert_eq!(placed, 10, "every unit is sold when demand exceeds stock");
}

#[tokio::test]
async fn a_missing_table_is_a_rejection_not_a_retryable_failure() {
    let store = DynamoStore::new(
        local::dynamodb_client().await,
        &TableNames::with_prefix(local::unique_name("absent")),
    );
    let err = store
        .get_product(&ProductId::parse("a").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Rejected {
                dependency: Dependency::DynamoDb,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retryable() {
    let config = aws_sdk_dynamodb::config::Builder::from(local::aws_config().await)
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        &TableNames::with_prefix("any-"),
    );
    let err = store
        .get_order(&OrderId::parse("o").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unavailable {
                dependency: Dependency::DynamoDb,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn corrupt_items_are_reported_not_guessed() {
    let client = local::dynamodb_client().await;
    let names = local::fresh_tables().await;
    client
        .put_item()
        .table_name(names.name("orders"))
        .item(
            "order_id",
            aws_sdk_dynamodb::types::AttributeValue::S("o-1".into()),
        )
        .item(
            "status",
            aws_sdk_dynamodb::types::AttributeValue::S("PENDING".into()),
        )
        .send()
        .await
        .expect("put");
    let store = DynamoStore::new(client, &names);
    let err = store
        .get_order(&OrderId::parse("o-1").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidData { kind: "order", .. }),
        "{err:?}"
    );
}
