//! Figure 3: how many order events per second order-events applies, its handler driven in-process
//! with the MSK event source mapping's batches of 1, 100 and 1000 records over 3 partitions,
//! against a bare loop, measured in the same run, that applies the same records one at a time with
//! the same DynamoDB calls issued directly by the SDK:
//!
//! - `created`: `PutItem` of the user's notification, unless it exists;
//! - `timeout` of a PENDING order past its deadline: `GetItem` of the order, then one
//!   `TransactWriteItems` that cancels it, returns its stock and notifies its user;
//! - `paid`: `GetItem` of the order, then one `TransactWriteItems` that counts the sale.
//!
//! The function works through a batch's partitions concurrently, each in order; the bare loop is
//! sequential. A ratio above 1 is what that concurrency wins on top of the function's own work.
//! moto serves one call at a time, so it wins only the time spent outside moto. When others call
//! moto too, its queue holds three of the function's calls to one of the loop's, which flatters
//! the function: the figure means most on an otherwise idle machine.
//!
//! The orders the events are about are put in the tables beforehand, untimed. Each side runs on
//! fresh tables of its own, seeded alike, and the sides take turns batch by batch.

use std::time::Instant;

use aws_lambda_events::event::kafka::KafkaEvent;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, Select, TransactWriteItem, Update,
};
use chrono::{TimeDelta, Utc};
use lambda_runtime::{Context, LambdaEvent};
use order_events::Deps;
use orderflow_adapters::dynamodb::DynamoStore;
use orderflow_adapters::dynamodb::schema::table;
use orderflow_adapters::msk::KafkaEventBuilder;
use orderflow_adapters::system::SystemClock;
use orderflow_domain::consumer::EventConsumer;
use orderflow_domain::error::cause_chain;
use orderflow_domain::ports::{ConsumerWith, RawRecord, SalesStore};
use orderflow_domain::testing::RecordingDeadLetters;
use orderflow_testing::local::kafka_bootstrap_servers;
use orderflow_types::event::headers;
use orderflow_types::{
    CancelReason, EventType, NotificationKind, Order, OrderEvent, OrderId, OrderLine, OrderStatus,
    Timestamp, UserId, time,
};

use crate::latency::{
    BoxError, Item, Stack, attr, catalogue, failed, n, one_of_each, remove, s, text,
};
use crate::report::{Row, Stat};
use crate::{Outcome, Settings};

/// The topic's partitions; each order's records go to one of them, as a key would send them.
const PARTITIONS: usize = 3;
const TOPIC: &str = "order-events";
const CLUSTER_ARN: &str = "arn:aws:kafka:us-east-1:123456789012:cluster/orderflow/1";

/// The consumer's messages, as `orderflow_domain` words them, so that both sides write the same.
const CREATED_MESSAGE: &str = "Your order was created.";
const TIMED_OUT_MESSAGE: &str = "Your order was cancelled: it was not paid in time.";

/// The consumer as order-events deploys it, but for its dead letters: a record that could not be
/// applied is kept here rather than sent to a topic, so that it fails the measurement instead of
/// passing unseen. No record of a measurement is dead-lettered, so nothing timed differs.
type BenchConsumer = ConsumerWith<DynamoStore, RecordingDeadLetters, SystemClock>;

pub async fn run(settings: &Settings) -> Outcome {
    let mut rows = Vec::new();
    // A quick run's batches are a tenth the size: a batch of 1000 keeps moto busy for minutes.
    for (size, batches) in [
        (1, settings.runs(50, 3)),
        (settings.runs(100, 10), settings.runs(5, 1)),
        (settings.runs(1000, 100), 1),
    ] {
        rows.push(measure(size, batches).await?);
    }
    Ok(rows)
}

/// `batches` batches of `size` records through the function and through the bare loop.
async fn measure(size: usize, batches: usize) -> Result<Row, BoxError> {
    let (function_stack, bare_stack) = Stack::pair().await?;
    let workload = Workload::new(size, batches)?;
    let measured = async {
        for stack in [&function_stack, &bare_stack] {
            workload.seed(stack).await?;
        }
        let deps = Deps::<BenchConsumer> {
            consumer: EventConsumer {
                store: function_stack.store(),
                dead_letters: RecordingDeadLetters::default(),
                clock: SystemClock,
            },
            report_batch_item_failures: true,
        };
        let bare = Bare { stack: &bare_stack };
        let (mut by_function, mut by_bare) = (Vec::new(), Vec::new());
        for (turn, batch) in workload.batches.iter().enumerate() {
            // Function, bare, bare, function, ...: a drift of the machine weighs on both alike.
            if turn % 2 == 0 {
                by_function.push(through_function(&deps, batch).await?);
                by_bare.push(bare.apply_all(batch).await?);
            } else {
                by_bare.push(bare.apply_all(batch).await?);
                by_function.push(through_function(&deps, batch).await?);
            }
        }
        for stack in [&function_stack, &bare_stack] {
            workload.check(stack).await?;
        }
        Ok::<_, BoxError>((by_function, by_bare))
    }
    .await;
    remove([function_stack, bare_stack]).await;
    let (by_function, by_bare) = measured?;
    let subject = format!("order-events, batch of {size}");
    let stat = |rates: &[f64]| Stat::of(rates).ok_or_else(|| format!("{subject}: no batch"));
    Ok(
        Row::new(3, subject.clone(), "events/s", stat(&by_function)?)
            .against("sequential bare SDK loop", stat(&by_bare)?)
            .note(format!(
                "{PARTITIONS} partitions; {} created, {} timeout, {} paid",
                workload.count(EventType::Created),
                workload.count(EventType::Timeout),
                workload.count(EventType::Paid)
            )),
    )
}

/// One invocation of order-events with `batch`, as the event source mapping sends it: records per
/// second of the handler's wall time. Building the event is the mapping's work, so it is untimed.
async fn through_function(deps: &Deps<BenchConsumer>, batch: &[Record]) -> Result<f64, BoxError> {
    let event = batch
        .iter()
        .fold(
            KafkaEventBuilder::new(CLUSTER_ARN, &kafka_bootstrap_servers()),
            |builder, record| builder.record(&record.raw, record.timestamp_ms),
        )
        .build();
    let invocation = LambdaEvent::<KafkaEvent>::new(event, Context::default());
    let started = Instant::now();
    let response = order_events::handle(deps, invocation)
        .await
        .map_err(|err| format!("order-events failed the batch: {err}"))?;
    let wall = started.elapsed();
    if !response.batch_item_failures.is_empty() {
        return Err(format!(
            "order-events did not finish the batch: {:?}",
            response.batch_item_failures
        )
        .into());
    }
    let dead_lettered = deps.consumer.dead_letters.records();
    if let Some((record, reason)) = dead_lettered.first() {
        return Err(format!(
            "order-events dead-lettered {} record(s), the first at offset {}: {reason}",
            dead_lettered.len(),
            record.offset
        )
        .into());
    }
    Ok(batch.len() as f64 / wall.as_secs_f64().max(f64::EPSILON))
}

/// A record as the broker holds it, and the order it is about.
struct Record {
    raw: RawRecord,
    timestamp_ms: i64,
    event_type: EventType,
    order: Order,
}

impl Record {
    /// The record announcing `event_type` for `order` at `offset` of `partition`, keyed by the
    /// order id and with the headers order-timeout and order-stream give their records.
    fn of(
        order: Order,
        event_type: EventType,
        partition: usize,
        offset: i64,
        now: Timestamp,
    ) -> Result<Self, BoxError> {
        let event = OrderEvent::new(
            order.order_id.clone(),
            order.user_id.clone(),
            event_type,
            now,
        );
        let mut headers = vec![
            (headers::EVENT_TYPE.to_owned(), event_type.as_str().into()),
            (headers::CONTENT_TYPE.to_owned(), headers::JSON.into()),
        ];
        if let Some(id) = &event.event_id {
            headers.push((headers::EVENT_ID.to_owned(), id.as_str().into()));
        }
        let raw = RawRecord {
            topic: TOPIC.into(),
            partition: i64::try_from(partition)?,
            offset,
            key: Some(order.order_id.as_str().into()),
            value: Some(serde_json::to_vec(&event)?),
            headers,
        };
        Ok(Self {
            raw,
            timestamp_ms: now.timestamp_millis(),
            event_type,
            order,
        })
    }
}

/// Every batch of a measurement, and the orders they need in the tables.
struct Workload {
    batches: Vec<Vec<Record>>,
    /// When every paid order was paid: its sales are counted on that day.
    paid_at: Timestamp,
}

/// What the `k`-th record of a measurement announces. Each order is announced `created` when
/// placed and later `paid` or `timeout`, so the stream carries about as many `created` as the
/// other two together; of four orders, three are paid and one times out. Per eight records: four
/// `created`, three `paid`, one `timeout`.
fn event_type(k: usize) -> EventType {
    match k % 8 {
        1 | 3 | 5 => EventType::Paid,
        7 => EventType::Timeout,
        _ => EventType::Created,
    }
}

/// The order the `k`-th record is about, as the orders table holds it beforehand: one awaiting
/// payment, one paid, or one whose payment was due a minute ago.
fn order(
    k: usize,
    lines: &[OrderLine],
    now: Timestamp,
    paid_at: Timestamp,
) -> Result<Order, BoxError> {
    let user =
        UserId::parse(format!("user-{}", k % 100)).map_err(|err| format!("a user id: {err}"))?;
    let (placed, due) = match event_type(k) {
        EventType::Timeout => (now - TimeDelta::minutes(31), now - TimeDelta::minutes(1)),
        _ => (now - TimeDelta::minutes(20), now + TimeDelta::minutes(10)),
    };
    let mut order = Order::new_pending(OrderId::generate(), user, lines.to_vec(), placed, due);
    if event_type(k) == EventType::Paid {
        order.status = OrderStatus::Paid;
        order.updated_at = paid_at;
    }
    Ok(order)
}

impl Workload {
    fn new(size: usize, batches: usize) -> Result<Self, BoxError> {
        let now = Utc::now();
        let paid_at = now - TimeDelta::minutes(10);
        let lines = one_of_each(&catalogue()?)?;
        let mut offsets = [0_i64; PARTITIONS];
        let mut records = Vec::with_capacity(size * batches);
        for k in 0..size * batches {
            let partition = k % PARTITIONS;
            let order = order(k, &lines, now, paid_at)?;
            records.push(Record::of(
                order,
                event_type(k),
                partition,
                offsets[partition],
                now,
            )?);
            offsets[partition] += 1;
        }
        let mut records = records.into_iter();
        let batches = (0..batches)
            .map(|_| records.by_ref().take(size).collect())
            .collect();
        Ok(Self { batches, paid_at })
    }

    fn records(&self) -> impl Iterator<Item = &Record> {
        self.batches.iter().flatten()
    }

    fn count(&self, event_type: EventType) -> usize {
        self.records()
            .filter(|record| record.event_type == event_type)
            .count()
    }

    /// Puts the products and the orders the `timeout` and `paid` records are about; a `created`
    /// record reads no order. On moto a transaction costs more the larger the tables it touches,
    /// and both sides' tables hold the same, so their ratio does not depend on how many orders the
    /// table holds besides.
    async fn seed(&self, stack: &Stack) -> Result<(), BoxError> {
        stack.seed_products().await?;
        let read = self
            .records()
            .filter(|record| record.event_type != EventType::Created);
        stack.put_orders(read.map(|record| &record.order)).await
    }

    /// Whether every record was applied on `stack`: one notification per `created` and per
    /// `timeout` (written in the cancelling transaction), and every paid order's sale counted.
    async fn check(&self, stack: &Stack) -> Result<(), BoxError> {
        let notifications = stack.name(table::NOTIFICATIONS);
        let mut pages = stack
            .dynamodb
            .scan()
            .table_name(&notifications)
            .select(Select::Count)
            .into_paginator()
            .send();
        let mut notified = 0;
        while let Some(page) = pages.next().await {
            notified += page
                .map_err(|err| failed("counting notifications", err))?
                .count;
        }
        let expected = self.count(EventType::Created) + self.count(EventType::Timeout);
        if usize::try_from(notified).ok() != Some(expected) {
            return Err(format!(
                "{notified} notifications on {notifications}, not {expected}: records were skipped"
            )
            .into());
        }
        let day = self.paid_at.format("%Y-%m-%d").to_string();
        let sales = stack
            .store()
            .daily_sales(&day)
            .await
            .map_err(|err| format!("reading the sales of {day}: {}", cause_chain(&err)))?;
        let paid = self.count(EventType::Paid) as u64;
        if sales.paid_orders != paid {
            return Err(format!(
                "{} sales counted on {day}, not {paid}: records were skipped",
                sales.paid_orders
            )
            .into());
        }
        Ok(())
    }
}

/// The bare SDK loop of figure 3: the consumer's calls for each record, in turn, shaped as the
/// store adapter shapes them, with nothing around them but what their answers must be checked
/// for.
struct Bare<'a> {
    stack: &'a Stack,
}

impl Bare<'_> {
    /// Applies `batch` one record at a time: records per second of its wall time.
    async fn apply_all(&self, batch: &[Record]) -> Result<f64, BoxError> {
        let started = Instant::now();
        for record in batch {
            let value = record.raw.value.as_deref().unwrap_or_default();
            let event: OrderEvent = serde_json::from_slice(value)?;
            match event.event_type {
                EventType::Created => self.notify(&event).await?,
                EventType::Timeout => self.expire(&event).await?,
                EventType::Paid => self.count_sale(&event).await?,
                EventType::Cancelled => return Err("the workload has no cancelled events".into()),
            }
        }
        Ok(batch.len() as f64 / started.elapsed().as_secs_f64().max(f64::EPSILON))
    }

    fn notification(
        event: &OrderEvent,
        kind: NotificationKind,
        message: &str,
        at: Timestamp,
    ) -> Item {
        Item::from([
            (attr::USER_ID.into(), s(event.user_id.as_str())),
            (
                attr::NOTIFICATION_ID.into(),
                s(format!("{}#{}", event.order_id, kind.as_str())),
            ),
            (attr::ORDER_ID.into(), s(event.order_id.as_str())),
            (attr::KIND.into(), s(kind.as_str())),
            (attr::MESSAGE.into(), s(message)),
            (attr::CREATED_AT.into(), s(time::format(&at))),
        ])
    }

    /// `created`: the notification, unless it exists.
    async fn notify(&self, event: &OrderEvent) -> Result<(), BoxError> {
        let at = event.occurred_at.unwrap_or_else(Utc::now);
        self.stack
            .dynamodb
            .put_item()
            .table_name(self.stack.name(table::NOTIFICATIONS))
            .set_item(Some(Self::notification(
                event,
                NotificationKind::OrderCreated,
                CREATED_MESSAGE,
                at,
            )))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", attr::NOTIFICATION_ID)
            .send()
            .await
            .map_err(|err| failed(format!("notifying order {}", event.order_id), err))?;
        Ok(())
    }

    /// The order an event is about, checked to be its user's.
    async fn order(&self, event: &OrderEvent) -> Result<Item, BoxError> {
        let found = self
            .stack
            .dynamodb
            .get_item()
            .table_name(self.stack.name(table::ORDERS))
            .key(attr::ORDER_ID, s(event.order_id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| failed(format!("reading order {}", event.order_id), err))?;
        let item = found
            .item
            .ok_or_else(|| format!("order {} does not exist", event.order_id))?;
        if text(&item, attr::USER_ID)? != event.user_id.as_str() {
            return Err(format!("order {} is another user's", event.order_id).into());
        }
        Ok(item)
    }

    /// Each line of `order`: its product and units.
    fn lines(order: &Item) -> Result<Vec<(String, String)>, BoxError> {
        let Some(AttributeValue::L(lines)) = order.get(attr::LINES) else {
            return Err("an order without lines".into());
        };
        lines
            .iter()
            .map(|line| {
                let line = line.as_m().map_err(|_| "an order line that is not a map")?;
                let units = line
                    .get(attr::QUANTITY)
                    .and_then(|units| units.as_n().ok())
                    .ok_or("an order line without a quantity")?;
                Ok((text(line, attr::PRODUCT_ID)?.to_owned(), units.clone()))
            })
            .collect()
    }

    /// `timeout`: a PENDING order past its deadline is cancelled, its stock returned and its user
    /// notified, in one transaction.
    async fn expire(&self, event: &OrderEvent) -> Result<(), BoxError> {
        let order = self.order(event).await?;
        let now = Utc::now();
        let due = time::parse(text(&order, attr::PAYMENT_DUE_AT)?)?;
        let status = text(&order, attr::STATUS)?;
        if status != OrderStatus::Pending.as_str() || now < due {
            return Err(format!("order {} is {status}, due at {due}", event.order_id).into());
        }
        let cancel = Update::builder()
            .table_name(self.stack.name(table::ORDERS))
            .key(attr::ORDER_ID, s(event.order_id.as_str()))
            .update_expression("SET #status = :cancelled, #updated = :at, #reason = :reason")
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#updated", attr::UPDATED_AT)
            .expression_attribute_names("#reason", attr::CANCEL_REASON)
            .expression_attribute_values(":cancelled", s(OrderStatus::Cancelled.as_str()))
            .expression_attribute_values(":pending", s(OrderStatus::Pending.as_str()))
            .expression_attribute_values(":at", s(time::format(&now)))
            .expression_attribute_values(":reason", s(CancelReason::PaymentTimeout.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|err| failed("building the cancellation", err))?;
        let mut items = vec![TransactWriteItem::builder().update(cancel).build()];
        for (product, units) in Self::lines(&order)? {
            let restore = Update::builder()
                .table_name(self.stack.name(table::PRODUCTS))
                .key(attr::PRODUCT_ID, s(product))
                .update_expression("ADD #stock :quantity")
                .expression_attribute_names("#stock", attr::STOCK)
                .expression_attribute_values(":quantity", AttributeValue::N(units))
                .build()
                .map_err(|err| failed("building a stock return", err))?;
            items.push(TransactWriteItem::builder().update(restore).build());
        }
        let notify = Put::builder()
            .table_name(self.stack.name(table::NOTIFICATIONS))
            .set_item(Some(Self::notification(
                event,
                NotificationKind::OrderCancelled,
                TIMED_OUT_MESSAGE,
                now,
            )))
            .build()
            .map_err(|err| failed("building the notification", err))?;
        items.push(TransactWriteItem::builder().put(notify).build());
        self.transact(items, "cancelling", &event.order_id).await
    }

    /// `paid`: the sale is counted on its day and per product, with a per-order marker, in one
    /// transaction.
    async fn count_sale(&self, event: &OrderEvent) -> Result<(), BoxError> {
        let order = self.order(event).await?;
        let status = text(&order, attr::STATUS)?;
        if status != OrderStatus::Paid.as_str() {
            return Err(format!("order {} is {status}, not PAID", event.order_id).into());
        }
        let paid_at = text(&order, attr::UPDATED_AT)?;
        let total = order
            .get(attr::TOTAL_CENTS)
            .and_then(|total| total.as_n().ok())
            .ok_or("an order without a total")?;
        let statistics = self.stack.name(table::STATISTICS);
        let marker = Put::builder()
            .table_name(&statistics)
            .item(attr::STAT_KEY, s(format!("sale#{}", event.order_id)))
            .item(attr::PAID_AT, s(paid_at))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", attr::STAT_KEY)
            .build()
            .map_err(|err| failed("building the sale's marker", err))?;
        let day = time::parse(paid_at)?.format("%Y-%m-%d").to_string();
        let per_day = Update::builder()
            .table_name(&statistics)
            .key(attr::STAT_KEY, s(format!("day#{day}")))
            .update_expression("ADD #orders :one, #revenue :revenue")
            .expression_attribute_names("#orders", attr::PAID_ORDERS)
            .expression_attribute_names("#revenue", attr::REVENUE_CENTS)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":revenue", n(total))
            .build()
            .map_err(|err| failed("building the day's count", err))?;
        let mut items = vec![
            TransactWriteItem::builder().put(marker).build(),
            TransactWriteItem::builder().update(per_day).build(),
        ];
        for (product, units) in Self::lines(&order)? {
            let per_product = Update::builder()
                .table_name(&statistics)
                .key(attr::STAT_KEY, s(format!("product#{product}")))
                .update_expression("ADD #units :units")
                .expression_attribute_names("#units", attr::UNITS_SOLD)
                .expression_attribute_values(":units", AttributeValue::N(units))
                .build()
                .map_err(|err| failed("building a product's count", err))?;
            items.push(TransactWriteItem::builder().update(per_product).build());
        }
        self.transact(items, "counting the sale of", &event.order_id)
            .await
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        action: &str,
        order: &OrderId,
    ) -> Result<(), BoxError> {
        self.stack
            .dynamodb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|err| failed(format!("{action} order {order}"), err))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_half_created_three_eighths_paid_one_eighth_timeout() {
        let kinds: Vec<EventType> = (0..8).map(event_type).collect();
        assert_eq!(
            kinds,
            [
                EventType::Created,
                EventType::Paid,
                EventType::Created,
                EventType::Paid,
                EventType::Created,
                EventType::Paid,
                EventType::Created,
                EventType::Timeout,
            ]
        );
    }

    #[test]
    fn records_go_round_robin_over_the_partitions_with_offsets_in_order() {
        let workload = Workload::new(4, 2).unwrap();
        let placed: Vec<Vec<(i64, i64)>> = workload
            .batches
            .iter()
            .map(|batch| {
                batch
                    .iter()
                    .map(|r| (r.raw.partition, r.raw.offset))
                    .collect()
            })
            .collect();
        assert_eq!(
            placed,
            [
                vec![(0, 0), (1, 0), (2, 0), (0, 1)],
                vec![(1, 1), (2, 1), (0, 2), (1, 2)]
            ]
        );
        let record = &workload.batches[0][1];
        assert_eq!(
            record.raw.key.as_deref(),
            Some(record.order.order_id.as_str().as_bytes())
        );
        let counts =
            [EventType::Created, EventType::Paid, EventType::Timeout].map(|t| workload.count(t));
        assert_eq!(counts, [4, 3, 1]);
    }

    #[test]
    fn timeouts_are_for_pending_orders_past_their_deadline_and_paid_ones_for_paid_orders() {
        let workload = Workload::new(8, 1).unwrap();
        let now = Utc::now();
        assert_eq!(workload.count(EventType::Timeout), 1);
        for record in workload.records() {
            let order = &record.order;
            match record.event_type {
                EventType::Timeout => {
                    assert_eq!(order.status, OrderStatus::Pending);
                    assert!(order.payment_due_at < now);
                }
                EventType::Paid => {
                    assert_eq!(order.status, OrderStatus::Paid);
                    assert_eq!(order.updated_at, workload.paid_at);
                }
                _ => assert_eq!(order.status, OrderStatus::Pending),
            }
        }
    }
}
