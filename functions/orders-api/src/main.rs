use lambda_http::{Error, run, service_fn, tracing};
use orderflow_core::adapters::kafka::{KafkaPublisher, create_producer};
use orders_api::{Deps, config, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = config::from_env()?;
    let aws = aws_config::load_from_env().await;
    let producer = create_producer(&settings.kafka, aws.credentials_provider())?;
    let publisher = KafkaPublisher::new(producer, settings.topic.clone());
    let deps = Deps::new(&settings, &aws, publisher);
    run(service_fn(|request| handle(&deps, request))).await
}
