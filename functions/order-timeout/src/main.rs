use std::time::Duration;

use lambda_runtime::{Error, run, service_fn, tracing};
use order_timeout::{Config, Deps, handle};
use orderflow_core::adapters::kafka::KafkaPublisher;
use orderflow_core::adapters::load_aws_config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    // Only for the MSK IAM token's credentials: this function calls no AWS API itself.
    let aws = load_aws_config().await;
    let publisher =
        KafkaPublisher::connect(&config.kafka, aws.credentials_provider(), config.topic)?;
    // A publish takes at most the delivery timeout; a second more for the handler's own work.
    let publish_reserve = config.kafka.delivery_timeout + Duration::from_secs(1);
    let deps = Deps::new(publisher, publish_reserve);
    run(service_fn(|event| handle(&deps, event))).await
}
