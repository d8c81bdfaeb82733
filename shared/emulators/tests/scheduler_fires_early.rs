//! The payment timeout guarantee, end to end in one process: the Scheduler emulator (on moto)
//! fires this function's schedule early, as EventBridge Scheduler may within its minute of
//! precision, while the customer pays in the last seconds before the deadline; the order is never
//! cancelled.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use order_timeout::{Deps, handle};
use orderflow_adapters::dynamodb::DynamoIdempotencyStore;
use orderflow_adapters::system::{SystemClock, UuidV7Ids};
use orderflow_domain::consumer::{EventConsumer, Failure};
use orderflow_domain::ports::{ApiWith, ConsumerWith};
use orderflow_domain::ports::{Clock, OrderStore};
use orderflow_domain::storefront::{NewOrder, Storefront};
use orderflow_domain::testing::{RecordingDeadLetters, RecordingPublisher};
use orderflow_emulators::lambda::{Invoke, InvokeError};
use orderflow_emulators::scheduler::{AsyncInvokeSettings, FireTime, Scheduler, SchedulerSettings};
use orderflow_testing::figures;
use orderflow_testing::local;
use orderflow_testing::services::LocalServices;
use orderflow_types::{EventType, OrderEvent, OrderId, OrderStatus, Quantity, UserId};
use serde_json::{Value, json};

/// order-timeout, run in this process as the local Lambda endpoint runs it: 15 s per invocation,
/// as `infra/` configures.
struct OrderTimeout {
    deps: Deps<Arc<RecordingPublisher>>,
    invoked_at: Mutex<Vec<DateTime<Utc>>>,
}

impl Invoke for OrderTimeout {
    async fn invoke(&self, function: &str, payload: &Value) -> Result<Value, InvokeError> {
        let now = Utc::now();
        self.invoked_at.lock().expect("lock").push(now);
        let mut context = Context::default();
        context.deadline =
            u64::try_from((now + TimeDelta::seconds(15)).timestamp_millis()).expect("after 1970");
        match handle(&self.deps, LambdaEvent::new(payload.clone(), context)).await {
            Ok(()) => Ok(Value::Null),
            Err(err) => {
                let diagnostic = Diagnostic::from(err);
                Err(InvokeError::Function {
                    function: function.to_owned(),
                    status: 500,
                    body: json!({"errorType": diagnostic.error_type, "errorMessage": diagnostic.error_message}).to_string(),
                })
            }
        }
    }
}

#[tokio::test]
async fn an_order_paid_in_its_last_seconds_is_never_cancelled_by_a_scheduler_firing_early() {
    let stack = LocalServices::new(1).await;
    let product = stack.product("kettle", 2_500, 10).await;
    let published = Arc::new(RecordingPublisher::default());
    let orders: Storefront<ApiWith<_, DynamoIdempotencyStore, _, _, UuidV7Ids>> = Storefront {
        store: stack.store(),
        scheduler: stack.scheduler(),
        clock: SystemClock,
        payment_timeout: TimeDelta::seconds(7),
        catalogue: Default::default(),
    };
    let user = UserId::parse("erin").expect("user");
    let order_id = OrderId::parse(local::unique_name("order")).expect("order id");
    let order = orders
        .place(&NewOrder {
            order_id: order_id.clone(),
            user_id: user.clone(),
            items: vec![(product.clone(), Quantity::new(3).expect("quantity"))],
            // To the millisecond, as orders are stored and schedules carry their deadline.
            accepted_at: SystemClock.now(),
        })
        .await
        .expect("placed");
    let due = order.payment_due_at;

    // order-events, applying every event as soon as it is published.
    let consumer: Arc<EventConsumer<ConsumerWith<_, _, _>>> = Arc::new(EventConsumer {
        store: stack.store(),
        dead_letters: RecordingDeadLetters::default(),
        clock: SystemClock,
    });
    let applied = Arc::new(AtomicUsize::new(0));
    let poison = Arc::new(Mutex::new(Vec::<String>::new()));
    let applying = tokio::spawn({
        let (consumer, published, applied, poison) = (
            Arc::clone(&consumer),
            Arc::clone(&published),
            Arc::clone(&applied),
            Arc::clone(&poison),
        );
        async move {
            loop {
                let events = published.events();
                for event in &events[applied.load(Ordering::SeqCst)..] {
                    match consumer.apply(event).await {
                        Ok(()) => {}
                        Err(Failure::Poison(reason)) => poison.lock().expect("lock").push(reason),
                        Err(Failure::Retry(err)) => panic!("{event:?}: {err}"),
                    }
                    applied.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });

    // The Scheduler fires 5 s before the schedule's time, as it may within its minute.
    let function = Arc::new(OrderTimeout {
        deps: Deps::new(Arc::clone(&published), Duration::from_secs(6)),
        invoked_at: Mutex::new(Vec::new()),
    });
    let settings = SchedulerSettings {
        group: stack.schedule_group.clone(),
        poll_interval: Duration::from_millis(100),
        fire: FireTime::Offset(-5),
        max_concurrent: 4,
        async_invoke: AsyncInvokeSettings {
            max_retry_attempts: 2,
            retry_delay: Duration::from_secs(1),
            max_event_age: Duration::from_secs(60),
            on_failure_queue_arn: None,
        },
    };
    let sqs = aws_sdk_sqs::Client::new(local::aws_config().await);
    let mut scheduler = Scheduler::new(
        settings,
        stack.scheduler_client.clone(),
        sqs,
        Arc::clone(&function),
    );
    let started = tokio::time::Instant::now();
    while scheduler.poll().await.expect("poll") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the schedule never fired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Erin pays 1.5 s before her deadline, while order-timeout has been invoked.
    let pay_at = due - TimeDelta::milliseconds(1_500);
    tokio::time::sleep((pay_at - Utc::now()).to_std().unwrap_or_default()).await;
    let paid = orders
        .pay(&user, &order_id)
        .await
        .expect("paid before the deadline");
    let paid_at = Utc::now();
    assert_eq!(paid.status, OrderStatus::Paid);
    scheduler.settle().await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while applied.load(Ordering::SeqCst) < published.events().len() {
        assert!(tokio::time::Instant::now() < deadline, "events not applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    applying.abort();

    let invoked_at = function.invoked_at.lock().expect("lock").clone();
    assert_eq!(invoked_at.len(), 1);
    let early = due - invoked_at[0];
    figures::report(
        "a Scheduler firing early",
        format!(
            "the Scheduler fired {} ms before the deadline; paid {} ms before it; the order stays PAID",
            early.num_milliseconds(),
            (due - paid_at).num_milliseconds()
        ),
    );
    assert!(early > TimeDelta::seconds(3), "fired only {early} early");
    assert!(
        paid_at < due,
        "paid after the deadline: the test proves nothing"
    );

    let timeouts: Vec<OrderEvent> = published
        .events()
        .into_iter()
        .filter(|e| e.event_type == EventType::Timeout)
        .collect();
    assert_eq!(timeouts.len(), 1, "order-timeout announced once");
    let announced = timeouts[0].occurred_at.expect("time");
    assert!(announced >= due, "announced at {announced}, before {due}");
    let stored = stack
        .store()
        .get_order(&order_id)
        .await
        .expect("read")
        .expect("order");
    assert_eq!(stored.status, OrderStatus::Paid);
    assert_eq!(stored.cancel_reason, None);
    assert_eq!(
        stack.stock(&product).await,
        7,
        "the paid order keeps its units"
    );
    assert_eq!(
        stack.status_changes(&order_id).await,
        [
            (None, Some(OrderStatus::Pending)),
            (Some(OrderStatus::Pending), Some(OrderStatus::Paid)),
        ],
        "never cancelled"
    );
    assert!(poison.lock().expect("lock").is_empty());
}
