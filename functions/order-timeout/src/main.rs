use std::time::Duration;

use lambda_runtime::{Error, run, service_fn, tracing};
use order_timeout::{Config, Deps, handle};
use orderflow_core::adapters::kafka::{KafkaPublisher, create_producer};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let aws = aws_config::load_from_env().await;
    let producer = create_producer(&config.kafka, aws.credentials_provider())?;
    // A publish takes at most the delivery timeout; a second more for the handler's own work.
    let publish_reserve = config.kafka.delivery_timeout + Duration::from_secs(1);
    let deps = Deps::new(KafkaPublisher::new(producer, config.topic), publish_reserve);
    run(service_fn(|event| handle(&deps, event))).await
}
