//! A fresh set of everything the order pipeline uses on the local services: tables, a schedule
//! group and a topic, each uniquely named, with the real adapters on them; and adapters for the
//! same services that fail for real (an address nothing listens on, a peer that never answers,
//! tables that do not exist).

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use orderflow_types::{OrderEvent, OrderId, OrderStatus, PaymentTimeout, Product, ProductId};
use rdkafka::Message;

use crate::local;
use crate::proxy::FaultProxy;
use crate::stall::StalledEndpoint;
use orderflow_adapters::dynamodb::schema::{TableNames, table};
use orderflow_adapters::dynamodb::{DynamoIdempotencyStore, DynamoStore};
use orderflow_adapters::kafka::{KafkaConfig, KafkaPublisher};
use orderflow_adapters::scheduler::{EventBridgeScheduler, SchedulerConfig, schedule_name};
use orderflow_domain::ports::ProductStore;

/// An address where nothing listens: connections to it are refused at once.
const NOBODY: &str = "127.0.0.1:9";

/// Fresh local resources for one test.
pub struct LocalServices {
    pub tables: TableNames,
    pub schedule_group: String,
    pub topic: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub scheduler_client: aws_sdk_scheduler::Client,
    kafka: KafkaConfig,
}

impl LocalServices {
    /// Creates the tables, the schedule group and a topic of `partitions` partitions.
    pub async fn new(partitions: i32) -> Self {
        let scheduler_client = local::scheduler_client().await;
        let schedule_group = local::unique_name("timeouts");
        scheduler_client
            .create_schedule_group()
            .name(&schedule_group)
            .send()
            .await
            .unwrap_or_else(|err| panic!("creating schedule group {schedule_group}: {err}"));
        Self {
            tables: local::fresh_tables().await,
            schedule_group,
            topic: local::fresh_topic(partitions).await,
            dynamodb: local::dynamodb_client().await,
            scheduler_client,
            kafka: local::kafka_config(),
        }
    }

    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.dynamodb.clone(), &self.tables)
    }

    pub fn idempotency_store(&self) -> DynamoIdempotencyStore {
        DynamoIdempotencyStore::new(self.dynamodb.clone(), &self.tables)
    }

    /// What schedules in this stack's group invoke; nothing runs them locally.
    pub fn scheduler_config(&self) -> SchedulerConfig {
        SchedulerConfig {
            group_name: self.schedule_group.clone(),
            target_arn: "arn:aws:lambda:us-east-1:123456789012:function:order-timeout".into(),
            role_arn: "arn:aws:iam::123456789012:role/orderflow-scheduler".into(),
            dead_letter_arn: Some(
                "arn:aws:sqs:us-east-1:123456789012:orderflow-timeouts-dlq".into(),
            ),
            max_retry_attempts: 185,
            max_event_age: Duration::from_secs(24 * 60 * 60),
        }
    }

    pub fn scheduler(&self) -> EventBridgeScheduler {
        EventBridgeScheduler::new(self.scheduler_client.clone(), self.scheduler_config())
    }

    pub fn publisher(&self) -> KafkaPublisher {
        KafkaPublisher::connect(&self.kafka, None, self.topic.clone())
            .unwrap_or_else(|err| panic!("creating a producer: {err}"))
    }

    /// A store on tables that do not exist: every call is refused, as a deployment fault is.
    pub fn store_without_tables(&self) -> DynamoStore {
        DynamoStore::new(
            self.dynamodb.clone(),
            &TableNames::with_prefix(local::unique_name("missing")),
        )
    }

    /// A store whose endpoint refuses connections: every call is unavailable.
    pub async fn unreachable_store(&self) -> DynamoStore {
        let config = aws_sdk_dynamodb::config::Builder::from(local::aws_config().await)
            .endpoint_url(format!("http://{NOBODY}"))
            .retry_config(RetryConfig::disabled())
            .build();
        DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), &self.tables)
    }

    pub async fn unreachable_idempotency_store(&self) -> DynamoIdempotencyStore {
        let config = aws_sdk_dynamodb::config::Builder::from(local::aws_config().await)
            .endpoint_url(format!("http://{NOBODY}"))
            .retry_config(RetryConfig::disabled())
            .build();
        DynamoIdempotencyStore::new(aws_sdk_dynamodb::Client::from_conf(config), &self.tables)
    }

    pub async fn unreachable_scheduler(&self) -> EventBridgeScheduler {
        let config = aws_sdk_scheduler::config::Builder::from(local::aws_config().await)
            .endpoint_url(format!("http://{NOBODY}"))
            .retry_config(aws_sdk_scheduler::config::retry::RetryConfig::disabled())
            .build();
        EventBridgeScheduler::new(
            aws_sdk_scheduler::Client::from_conf(config),
            self.scheduler_config(),
        )
    }

    /// A store behind `stall`, with the functions' own timeouts and retries: every call fails as
    /// unavailable once [`AWS_OPERATION_TIMEOUT`](orderflow_adapters::AWS_OPERATION_TIMEOUT) passed.
    pub async fn stalled_store(&self, stall: &StalledEndpoint) -> DynamoStore {
        DynamoStore::new(stall.dynamodb_client().await, &self.tables)
    }

    pub async fn stalled_idempotency_store(
        &self,
        stall: &StalledEndpoint,
    ) -> DynamoIdempotencyStore {
        DynamoIdempotencyStore::new(stall.dynamodb_client().await, &self.tables)
    }

    pub async fn stalled_scheduler(&self, stall: &StalledEndpoint) -> EventBridgeScheduler {
        EventBridgeScheduler::new(stall.scheduler_client().await, self.scheduler_config())
    }

    /// A store whose calls go through `proxy`, with the functions' own timeouts and retries.
    pub async fn proxied_store(&self, proxy: &FaultProxy) -> DynamoStore {
        DynamoStore::new(local::dynamodb_client_at(&proxy.url()).await, &self.tables)
    }

    pub async fn proxied_idempotency_store(&self, proxy: &FaultProxy) -> DynamoIdempotencyStore {
        DynamoIdempotencyStore::new(local::dynamodb_client_at(&proxy.url()).await, &self.tables)
    }

    pub async fn proxied_scheduler(&self, proxy: &FaultProxy) -> EventBridgeScheduler {
        EventBridgeScheduler::new(
            local::scheduler_client_at(&proxy.url()).await,
            self.scheduler_config(),
        )
    }

    /// A publisher whose broker is unreachable; a publish fails after a second.
    pub fn unreachable_publisher(&self) -> KafkaPublisher {
        let config = KafkaConfig {
            bootstrap_servers: NOBODY.into(),
            delivery_timeout: Duration::from_secs(1),
            ..self.kafka.clone()
        };
        KafkaPublisher::connect(&config, None, self.topic.clone())
            .unwrap_or_else(|err| panic!("creating a producer: {err}"))
    }

    /// Puts a product with `stock` units at `price_cents`.
    pub async fn product(&self, id: &str, price_cents: u64, stock: u64) -> ProductId {
        let product_id = ProductId::parse(id).unwrap_or_else(|err| panic!("{id}: {err}"));
        self.store()
            .put_product(&Product {
                product_id: product_id.clone(),
                name: format!("Product {id}"),
                price_cents,
                stock,
            })
            .await
            .unwrap_or_else(|err| panic!("putting product {id}: {err}"));
        product_id
    }

    pub async fn stock(&self, id: &ProductId) -> u64 {
        self.store()
            .get_product(id)
            .await
            .unwrap_or_else(|err| panic!("reading product {id}: {err}"))
            .unwrap_or_else(|| panic!("product {id} exists"))
            .stock
    }

    /// Whether the payment timeout of `order` is scheduled.
    pub async fn is_scheduled(&self, order: &OrderId) -> bool {
        self.pending_timeout(order).await.is_some()
    }

    /// The payment timeout the order's schedule will deliver, if it has one: its target input.
    pub async fn pending_timeout(&self, order: &OrderId) -> Option<PaymentTimeout> {
        let found = self
            .scheduler_client
            .get_schedule()
            .group_name(&self.schedule_group)
            .name(schedule_name(order))
            .send()
            .await;
        match found {
            Ok(schedule) => {
                let input = schedule
                    .target()
                    .and_then(|target| target.input())
                    .unwrap_or_else(|| panic!("the schedule of {order} has no input"));
                Some(serde_json::from_str(input).unwrap_or_else(|err| {
                    panic!("the schedule of {order} delivers no payment timeout ({err}): {input}")
                }))
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(err) => panic!("reading the schedule of {order}: {err}"),
        }
    }

    /// The id of every order stored, whoever placed it.
    pub async fn order_ids(&self) -> Vec<OrderId> {
        let mut ids = Vec::new();
        let mut pages = self
            .dynamodb
            .scan()
            .table_name(self.tables.name(table::ORDERS))
            .projection_expression("order_id")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.unwrap_or_else(|err| panic!("scanning orders: {err}"));
            for item in page.items() {
                match item.get("order_id") {
                    Some(AttributeValue::S(id)) => ids.push(
                        OrderId::parse(id.as_str()).unwrap_or_else(|err| panic!("{id}: {err}")),
                    ),
                    other => panic!("an order without a string id: {other:?}"),
                }
            }
        }
        ids
    }

    /// The names of every schedule in this stack's group.
    pub async fn schedule_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut pages = self
            .scheduler_client
            .list_schedules()
            .group_name(&self.schedule_group)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.unwrap_or_else(|err| panic!("listing schedules: {err}"));
            names.extend(
                page.schedules()
                    .iter()
                    .filter_map(|s| s.name().map(str::to_owned)),
            );
        }
        names
    }

    /// The status changes of `order` on the orders table's stream so far, oldest first: what
    /// order-stream turns into order events (`(None, Pending)` → `created`, `(Pending, Paid)` →
    /// `paid`, `(Pending, Cancelled)` → `cancelled`; `orderflow_domain::outbox`). A change that
    /// left the status as it was is not listed.
    pub async fn status_changes(
        &self,
        order: &OrderId,
    ) -> Vec<(Option<OrderStatus>, Option<OrderStatus>)> {
        use aws_sdk_dynamodbstreams::types::{AttributeValue as Value, ShardIteratorType};
        let status = |image: Option<&std::collections::HashMap<String, Value>>| {
            image.map(|image| match image.get("status") {
                Some(Value::S(status)) => OrderStatus::parse(status)
                    .unwrap_or_else(|| panic!("an order image with status {status}")),
                other => panic!("an order image without a status: {other:?}"),
            })
        };
        let table = self.tables.name(table::ORDERS);
        let described = self
            .dynamodb
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .unwrap_or_else(|err| panic!("describing {table}: {err}"));
        let stream_arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .unwrap_or_else(|| panic!("{table} has no stream"))
            .to_owned();
        let streams = local::dynamodb_streams_client().await;
        let stream = streams
            .describe_stream()
            .stream_arn(&stream_arn)
            .send()
            .await
            .unwrap_or_else(|err| panic!("describing the stream of {table}: {err}"));
        let mut changes = Vec::new();
        let shards = stream
            .stream_description()
            .map(|d| d.shards().to_vec())
            .unwrap_or_default();
        for shard in shards {
            let shard_id = shard.shard_id().unwrap_or_default();
            let mut iterator = streams
                .get_shard_iterator()
                .stream_arn(&stream_arn)
                .shard_id(shard_id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .unwrap_or_else(|err| panic!("reading the stream of {table}: {err}"))
                .shard_iterator;
            while let Some(at) = iterator {
                let page = streams
                    .get_records()
                    .shard_iterator(at)
                    .send()
                    .await
                    .unwrap_or_else(|err| panic!("reading the stream of {table}: {err}"));
                if page.records().is_empty() {
                    break;
                }
                for record in page.records() {
                    let Some(change) = record.dynamodb() else {
                        continue;
                    };
                    let key = change.keys().and_then(|keys| keys.get("order_id"));
                    if !matches!(key, Some(Value::S(id)) if id == order.as_str()) {
                        continue;
                    }
                    let (old, new) = (status(change.old_image()), status(change.new_image()));
                    if old != new {
                        changes.push((old, new));
                    }
                }
                iterator = page.next_shard_iterator;
            }
        }
        changes
    }

    /// Every event on the topic so far, duplicates included, read to its end offsets.
    pub async fn events(&self) -> Vec<OrderEvent> {
        local::read_topic(&self.topic)
            .await
            .iter()
            .map(|record| {
                let payload = record.payload().unwrap_or_default();
                serde_json::from_slice(payload)
                    .unwrap_or_else(|err| panic!("not an order event ({err})"))
            })
            .collect()
    }
}
