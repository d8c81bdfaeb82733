//! The delivery contract (`orderflow_domain::testing::delivery_contract`) against the adapters on
//! the local services: EventBridge Scheduler on moto, the Kafka producer and dead-letter topic on
//! the broker. `shared/domain/tests/delivery_contract.rs` runs it against the fakes.

use orderflow_adapters::kafka::{KafkaDeadLetters, dead_letter_headers, raw_record};
use orderflow_domain::ports::RawRecord;
use orderflow_domain::testing::delivery_contract as contract;
use orderflow_testing::local;
use orderflow_testing::services::LocalServices;

#[tokio::test]
async fn a_timeout_is_pending_until_cancelled() {
    let services = LocalServices::new(1).await;
    contract::a_timeout_is_pending_until_cancelled(&services.scheduler(), async |order| {
        services.pending_timeout(order).await
    })
    .await;
}

#[tokio::test]
async fn scheduling_again_keeps_the_first_schedule() {
    let services = LocalServices::new(1).await;
    contract::scheduling_again_keeps_the_first_schedule(&services.scheduler(), async |order| {
        services.pending_timeout(order).await
    })
    .await;
}

#[tokio::test]
async fn cancelling_what_is_not_pending_succeeds() {
    let services = LocalServices::new(1).await;
    contract::cancelling_what_is_not_pending_succeeds(&services.scheduler(), async |order| {
        services.pending_timeout(order).await
    })
    .await;
}

#[tokio::test]
async fn events_are_published_as_given_and_in_order() {
    let services = LocalServices::new(3).await;
    contract::events_are_published_as_given_and_in_order(&services.publisher(), async || {
        services.events().await
    })
    .await;
}

#[tokio::test]
async fn a_dead_letter_keeps_the_record_and_its_reason() {
    let services = LocalServices::new(1).await;
    let topic = local::fresh_topic(1).await;
    let dead_letters = KafkaDeadLetters::new(services.publisher(), topic.clone());
    contract::a_dead_letter_keeps_the_record_and_its_reason(&dead_letters, async || {
        local::read_topic(&topic)
            .await
            .iter()
            .map(|message| from_dead_letter(raw_record(message)))
            .collect()
    })
    .await;
}

/// The record a dead letter was made from, and its reason, from the headers the dead-letter
/// topic adds.
fn from_dead_letter(mut stored: RawRecord) -> (RawRecord, String) {
    use dead_letter_headers::*;
    let mut header = |name: &str| -> String {
        let at = stored
            .headers
            .iter()
            .position(|(key, _)| key == name)
            .unwrap_or_else(|| panic!("no {name} header"));
        String::from_utf8(stored.headers.remove(at).1).expect("UTF-8 header")
    };
    let reason = header(REASON);
    let topic = header(SOURCE_TOPIC);
    let partition = header(SOURCE_PARTITION).parse().expect("a partition");
    let offset = header(SOURCE_OFFSET).parse().expect("an offset");
    let record = RawRecord {
        topic,
        partition,
        offset,
        ..stored
    };
    (record, reason)
}
