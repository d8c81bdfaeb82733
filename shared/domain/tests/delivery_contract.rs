//! The delivery contract (`orderflow_domain::testing::delivery_contract`) against the in-memory
//! fakes; `shared/adapters/tests/delivery_contract.rs` runs it against the adapters.

use orderflow_domain::testing::delivery_contract as contract;
use orderflow_domain::testing::{InMemoryScheduler, RecordingDeadLetters, RecordingPublisher};
use orderflow_types::{OrderId, PaymentTimeout};

fn pending(scheduler: &InMemoryScheduler) -> impl AsyncFn(&OrderId) -> Option<PaymentTimeout> {
    async |order| {
        scheduler
            .pending()
            .into_iter()
            .find(|timeout| &timeout.order_id == order)
    }
}

#[tokio::test]
async fn a_timeout_is_pending_until_cancelled() {
    let scheduler = InMemoryScheduler::default();
    contract::a_timeout_is_pending_until_cancelled(&scheduler, pending(&scheduler)).await;
}

#[tokio::test]
async fn scheduling_again_keeps_the_first_schedule() {
    let scheduler = InMemoryScheduler::default();
    contract::scheduling_again_keeps_the_first_schedule(&scheduler, pending(&scheduler)).await;
}

#[tokio::test]
async fn cancelling_what_is_not_pending_succeeds() {
    let scheduler = InMemoryScheduler::default();
    contract::cancelling_what_is_not_pending_succeeds(&scheduler, pending(&scheduler)).await;
}

#[tokio::test]
async fn events_are_published_as_given_and_in_order() {
    let publisher = RecordingPublisher::default();
    contract::events_are_published_as_given_and_in_order(&publisher, async || publisher.events())
        .await;
}

#[tokio::test]
async fn a_dead_letter_keeps_the_record_and_its_reason() {
    let dead_letters = RecordingDeadLetters::default();
    contract::a_dead_letter_keeps_the_record_and_its_reason(&dead_letters, async || {
        dead_letters.records()
    })
    .await;
}
