use lambda_runtime::{Error, run, service_fn, spawn_graceful_shutdown_handler, tracing};
use order_events::{Config, Deps, flush_at_shutdown, handle};
use orderflow_core::adapters::dynamodb::DynamoStore;
use orderflow_core::adapters::kafka::{KafkaDeadLetters, KafkaPublisher};
use orderflow_core::adapters::load_aws_config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let aws = load_aws_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), &config.tables);
    let publisher =
        KafkaPublisher::connect(&config.kafka, aws.credentials_provider(), config.topic)?;
    let dead_letters = KafkaDeadLetters::new(publisher.clone(), config.dead_letter_topic);
    let on_shutdown = publisher.clone();
    spawn_graceful_shutdown_handler(|| async move { flush_at_shutdown(&on_shutdown) }).await;
    let deps = Deps::new(
        store,
        publisher,
        dead_letters,
        config.report_batch_item_failures,
    );
    run(service_fn(|event| handle(&deps, event))).await
}
