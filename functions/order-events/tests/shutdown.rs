//! The shutdown hook against the local broker: what the producer still holds when Lambda shuts
//! the execution environment down is delivered before the hook returns.

use order_events::flush_at_shutdown;
use orderflow_adapters::kafka::KafkaPublisher;
use orderflow_domain::ports::EventPublisher;
use orderflow_testing::local;
use orderflow_types::{EventType, OrderEvent, OrderId, UserId};
use rdkafka::Message;

fn created(order: &str) -> OrderEvent {
    OrderEvent::new(
        OrderId::parse(order).expect("order id"),
        UserId::parse("u-1").expect("user id"),
        EventType::Created,
        chrono::Utc::now(),
    )
}

#[tokio::test]
async fn the_shutdown_hook_delivers_every_record_still_in_flight() {
    let topic = local::fresh_topic(3).await;
    let publisher =
        KafkaPublisher::connect(&local::kafka_config(), None, topic.clone()).expect("producer");
    // A warm function's producer, connected and with its producer id, as at any shutdown but one
    // during the first invocation.
    publisher.publish(&created("o-warm")).await.expect("warm");
    let orders: Vec<String> = (0..20).map(|i| format!("o-{i}")).collect();

    // Publishes that have not been acknowledged yet, as in an invocation cut short: on this
    // single-threaded runtime each task runs up to its wait for the broker, then the hook runs
    // before any of them is resumed.
    let in_flight: Vec<_> = orders
        .iter()
        .map(|id| {
            let (publisher, event) = (publisher.clone(), created(id));
            tokio::spawn(async move { publisher.publish(&event).await })
        })
        .collect();
    tokio::task::yield_now().await;
    assert!(
        in_flight.iter().all(|task| !task.is_finished()),
        "nothing was acknowledged before the hook"
    );
    assert!(
        publisher.in_flight().expect("queue") > 0,
        "records wait in the producer"
    );

    flush_at_shutdown(&publisher);
    assert_eq!(
        publisher.in_flight().expect("queue"),
        0,
        "the hook returned with every record acknowledged"
    );

    let mut delivered: Vec<String> = local::read_topic(&topic)
        .await
        .iter()
        .map(|m| String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned())
        .collect();
    delivered.sort();
    let mut expected = orders.clone();
    expected.push("o-warm".into());
    expected.sort();
    assert_eq!(delivered, expected, "every record is on the topic, once");
    for task in in_flight {
        task.await.expect("task").expect("acknowledged");
    }
}
