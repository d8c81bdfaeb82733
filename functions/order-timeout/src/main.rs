use std::time::Duration;

use lambda_runtime::{Error, run, service_fn, tracing};
use order_timeout::{Deps, config, handle};
use orderflow_adapters::load_aws_config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = config::from_env()?;
    // The AWS configuration only gives the MSK IAM token its credentials: this function calls no
    // AWS API itself.
    let publisher = settings.connect(&load_aws_config().await)?;
    // Connected and given its producer id now, the producer publishes the first event at once.
    publisher.warm_up().await;
    // A publish takes at most the delivery timeout; a second more for the handler's own work.
    let deps = Deps::new(
        publisher,
        settings.kafka.delivery_timeout + Duration::from_secs(1),
    );
    run(service_fn(|event| handle(&deps, event))).await
}
