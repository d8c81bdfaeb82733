use lambda_http::{Error, run, service_fn, tracing};
use orderflow_core::adapters::kafka::KafkaPublisher;
use orderflow_core::adapters::load_aws_config;
use orders_api::{Deps, config, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = config::from_env()?;
    let aws = load_aws_config().await;
    let publisher = KafkaPublisher::connect(
        &settings.kafka,
        aws.credentials_provider(),
        settings.topic.clone(),
    )?;
    let deps = Deps::new(&settings, &aws, publisher);
    run(service_fn(|request| handle(&deps, request))).await
}
