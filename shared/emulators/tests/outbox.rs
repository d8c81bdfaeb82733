//! No acknowledged change without its event. With the broker away (every connection to it reset,
//! new ones refused), customers place, pay and cancel orders through create-order's and
//! orders-api's handlers, and order-events cancels an unpaid order at its deadline: every answer
//! is 2xx, since none of them talks to Kafka. Meanwhile the DynamoDB Streams mapping emulator
//! keeps handing the orders table's stream (on moto) to order-stream's handler, which cannot
//! publish and reports the earliest record not done. Once the broker is back, every status
//! transition's event is on the topic exactly once, with its deterministic id, each order's events
//! in the order of its changes; and nothing else is.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lambda_http::{Body, Response};
use lambda_runtime::{Context, LambdaEvent};
use orderflow_adapters::kafka::KafkaPublisher;
use orderflow_domain::consumer::EventConsumer;
use orderflow_domain::outbox;
use orderflow_domain::ports::{ApiPorts, ConsumerWith, OrderStore};
use orderflow_domain::testing::{FixedClock, RecordingDeadLetters};
use orderflow_emulators::lambda::{Invoke, InvokeError};
use orderflow_emulators::streams::{StreamClients, StreamMapping, StreamSettings};
use orderflow_http::ApiContext;
use orderflow_http::testing::{ApiGatewayRequest, json_body};
use orderflow_testing::api::{answered, cancel, healthy, order, order_request, pay};
use orderflow_testing::broker::ProxiedTopic;
use orderflow_testing::figures;
use orderflow_testing::local::{self, TEST_LIMIT, within};
use orderflow_testing::services::LocalServices;
use orderflow_types::{EventType, OrderEvent, OrderId, OrderStatus};
use serde_json::{Value, json};

/// order-stream, run in this process as the local Lambda endpoint runs it, counting what it was
/// handed and what it reported not done.
struct OrderStream {
    publisher: KafkaPublisher,
    invocations: AtomicUsize,
    /// Invocations that answered with a record to resume at.
    incomplete: AtomicUsize,
    /// Invocations running now.
    running: AtomicUsize,
}

impl Invoke for OrderStream {
    async fn invoke(&self, function: &str, payload: &Value) -> Result<Value, InvokeError> {
        self.invocations.fetch_add(1, Ordering::SeqCst);
        self.running.fetch_add(1, Ordering::SeqCst);
        let handled = order_stream::handle(
            &self.publisher,
            LambdaEvent::new(payload.clone(), Context::default()),
        )
        .await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        match handled {
            Ok(response) => {
                if !response.batch_item_failures.is_empty() {
                    self.incomplete.fetch_add(1, Ordering::SeqCst);
                }
                serde_json::to_value(response).map_err(|err| InvokeError::Response {
                    function: function.to_owned(),
                    reason: err.to_string(),
                })
            }
            Err(err) => Err(InvokeError::Function {
                function: function.to_owned(),
                status: 500,
                body: json!({ "errorMessage": err.to_string() }).to_string(),
            }),
        }
    }
}

async fn create<P: ApiPorts>(api: &ApiContext<P>, request: &ApiGatewayRequest) -> Response<Body> {
    answered(create_order::handle(api, request.build()).await)
}

async fn act<P: ApiPorts>(api: &ApiContext<P>, request: &ApiGatewayRequest) -> Response<Body> {
    answered(orders_api::handle(api, request.build()).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_broker_away_every_change_is_answered_and_its_event_is_published_once_it_is_back()
{
    within(TEST_LIMIT, "the whole test", async {
        let stack = LocalServices::new(1).await;
        let mug = stack.product("mug", 1_450, 100).await;
        let ProxiedTopic {
            broker,
            proxy,
            topic,
            publisher,
        } = ProxiedTopic::start(3).await;
        let order_stream = std::sync::Arc::new(OrderStream {
            publisher,
            invocations: AtomicUsize::new(0),
            incomplete: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
        });
        // The broker goes away before anything is written: no event can be published until it
        // is back.
        proxy.cut();
        let mut settings = StreamSettings::new(stack.tables.name("orders"), "order-stream");
        settings.poll_interval = Duration::from_millis(200);
        // Retried for as long as the broker is away, as a mapping whose bounds outlast an outage.
        settings.max_retry_attempts = None;
        settings.max_retry_delay = Duration::from_secs(1);
        let clients = StreamClients::new(local::aws_config().await);
        let mapping = StreamMapping::start(settings, clients, order_stream.clone())
            .await
            .expect("the orders table has a stream");
        let running = tokio::spawn(mapping.run());

        // Customers place, pay and cancel while the broker is away: every answer is 2xx.
        let api = healthy(&stack);
        let started = Instant::now();
        let mut orders = Vec::new();
        for n in 0..6 {
            let request = order_request(&format!("user-{n}"), &[(&mug, 1)])
                .idempotency_key(&format!("order-{n}"));
            let placed = create(&api, &request).await;
            assert_eq!(placed.status(), 201, "{}", json_body(&placed));
            // A client's retry with the same key: the same order, no second change.
            let again = create(&api, &request).await;
            assert_eq!(json_body(&again), json_body(&placed));
            orders.push(order(&placed));
        }
        let mut expected: BTreeMap<(OrderId, EventType), usize> = orders
            .iter()
            .map(|o| ((o.order_id.clone(), EventType::Created), 1))
            .collect();
        for placed in &orders[..2] {
            let paid = act(&api, &pay(placed.user_id.as_str(), &placed.order_id)).await;
            assert_eq!(paid.status(), 200, "{}", json_body(&paid));
            expected.insert((placed.order_id.clone(), EventType::Paid), 1);
        }
        for placed in &orders[2..4] {
            let request = cancel(placed.user_id.as_str(), &placed.order_id);
            for _ in 0..2 {
                let cancelled = act(&api, &request).await;
                assert_eq!(cancelled.status(), 200, "{}", json_body(&cancelled));
            }
            expected.insert((placed.order_id.clone(), EventType::Cancelled), 1);
        }
        // order-events applies the payment timeout of the fifth order: its cancellation is a
        // change of the table like any other, and order-stream announces it.
        let timed_out = &orders[4];
        let consumer: EventConsumer<ConsumerWith<_, _, _>> = EventConsumer {
            store: stack.store(),
            dead_letters: RecordingDeadLetters::default(),
            clock: FixedClock::at(timed_out.payment_due_at),
        };
        let timeout = OrderEvent::new(
            timed_out.order_id.clone(),
            timed_out.user_id.clone(),
            EventType::Timeout,
            timed_out.payment_due_at,
        );
        consumer.apply(&timeout).await.expect("the timeout applies");
        let stored = stack.store().get_order(&timed_out.order_id).await;
        assert_eq!(
            stored.expect("read").map(|o| o.status),
            Some(OrderStatus::Cancelled)
        );
        expected.insert((timed_out.order_id.clone(), EventType::Cancelled), 1);
        let answered_in = started.elapsed();

        // order-stream was handed the changes and could not publish them.
        let failing = local::eventually(Duration::from_secs(30), || {
            order_stream.incomplete.load(Ordering::SeqCst) >= 2
        })
        .await;
        assert!(
            failing,
            "order-stream reported records not done while the broker was away"
        );
        let down_for = started.elapsed();
        // Back between two attempts, so that no attempt straddles the moment.
        assert!(
            local::eventually(Duration::from_secs(10), || {
                order_stream.running.load(Ordering::SeqCst) == 0
            })
            .await
        );
        proxy.restore();
        let back = Instant::now();

        let want: usize = expected.values().sum();
        while back.elapsed() < Duration::from_secs(60) && broker.payloads(&topic).await.len() < want
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let caught_up_in = back.elapsed();
        // A last look once everything is out: nothing more arrives.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let events: Vec<OrderEvent> = broker
            .payloads(&topic)
            .await
            .iter()
            .map(|payload| serde_json::from_slice(payload).expect("an order event"))
            .collect();
        running.abort();

        let mut found: BTreeMap<(OrderId, EventType), usize> = BTreeMap::new();
        for event in &events {
            *found
                .entry((event.order_id.clone(), event.event_type))
                .or_default() += 1;
            assert_eq!(
                event.event_id,
                Some(outbox::event_id(&event.order_id, event.event_type).expect("an id")),
                "the event id is the transition's"
            );
        }
        figures::report(
            "the outbox with the broker away",
            format!(
                "{} orders placed, paid, cancelled and timed out, every answer 2xx in \
                 {answered_in:.1?} with the broker away ({} connections refused); {} invocations \
                 of order-stream, {} of them reporting records not done; broker back after \
                 {down_for:.1?}, {} events on the topic {caught_up_in:.1?} later, each transition \
                 once",
                orders.len(),
                proxy.refused(),
                order_stream.invocations.load(Ordering::SeqCst),
                order_stream.incomplete.load(Ordering::SeqCst),
                events.len(),
            ),
        );
        assert_eq!(found, expected, "every transition's event, exactly once");
        // Each order's events are in the order of its changes: `created` first.
        for placed in &orders {
            let first = events
                .iter()
                .find(|event| event.order_id == placed.order_id)
                .map(|event| event.event_type);
            assert_eq!(first, Some(EventType::Created), "order {}", placed.order_id);
        }
    })
    .await;
}
