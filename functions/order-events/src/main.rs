use std::time::Duration;

use lambda_runtime::{Error, run, service_fn, spawn_graceful_shutdown_handler, tracing};
use order_events::{Config, Deps, handle};
use orderflow_core::adapters::dynamodb::DynamoStore;
use orderflow_core::adapters::kafka::{KafkaDeadLetters, KafkaPublisher, create_producer};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let aws = aws_config::load_from_env().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), &config.tables);
    let producer = create_producer(&config.kafka, aws.credentials_provider())?;
    let publisher = KafkaPublisher::new(producer, config.topic);
    let dead_letters = KafkaDeadLetters::new(publisher.clone(), config.dead_letter_topic);
    let on_shutdown = publisher.clone();
    spawn_graceful_shutdown_handler(|| async move {
        if let Err(err) = on_shutdown.flush(Duration::from_millis(400)) {
            ::tracing::error!(error = %err, "producer not flushed at shutdown");
        }
    })
    .await;
    let deps = Deps::new(
        store,
        publisher,
        dead_letters,
        config.report_batch_item_failures,
    );
    run(service_fn(|event| handle(&deps, event))).await
}
