use lambda_runtime::{Error, run, service_fn, spawn_graceful_shutdown_handler, tracing};
use order_events::{AwsConsumer, Config, Deps, flush_at_shutdown, handle};
use orderflow_adapters::dynamodb::DynamoStore;
use orderflow_adapters::kafka::{KafkaDeadLetters, KafkaPublisher};
use orderflow_adapters::load_aws_config;
use orderflow_adapters::system::SystemClock;
use orderflow_domain::consumer::EventConsumer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let aws = load_aws_config().await;
    let publisher = KafkaPublisher::connect(
        &config.kafka,
        aws.credentials_provider(),
        config.dead_letter_topic.clone(),
    )?;
    let on_shutdown = publisher.clone();
    spawn_graceful_shutdown_handler(|| async move { flush_at_shutdown(&on_shutdown) }).await;
    let deps = Deps::<AwsConsumer> {
        consumer: EventConsumer {
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), &config.tables),
            dead_letters: KafkaDeadLetters::new(publisher, config.dead_letter_topic),
            clock: SystemClock,
        },
        report_batch_item_failures: config.report_batch_item_failures,
    };
    run(service_fn(|event| handle(&deps, event))).await
}
