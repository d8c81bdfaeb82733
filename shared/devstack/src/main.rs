//! `devstack`: prepares the local stack the way Terraform prepares AWS.
//!
//! ```text
//! devstack bootstrap      create the DynamoDB tables, the Kafka topics and the schedule group
//! devstack seed FILE      put the products of a JSON file (an array of products)
//! devstack story          drive the running local pipeline through a short story and print it
//! ```
//!
//! Both are idempotent. Settings come from the environment (see [`Settings`]).

use std::process::ExitCode;
use std::time::Duration;

use orderflow_adapters::dynamodb::{DynamoStore, admin};
use orderflow_domain::error::cause_chain;
use orderflow_domain::ports::ProductStore;
use orderflow_types::Product;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use orderflow_devstack::settings::Settings;
use orderflow_devstack::story;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "usage: devstack bootstrap | devstack seed FILE | devstack story";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_target(false)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["bootstrap"] => bootstrap().await,
        ["seed", file] => seed(file).await,
        ["story"] => story().await,
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("devstack: {}", cause_chain(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn bootstrap() -> Result<(), BoxError> {
    let settings = Settings::from_env()?;
    let aws = aws_config::load_from_env().await;

    admin::create_tables(&aws_sdk_dynamodb::Client::new(&aws), &settings.tables).await?;
    println!("tables ready: {}*", settings.tables.prefix());

    let scheduler = aws_sdk_scheduler::Client::new(&aws);
    match scheduler
        .create_schedule_group()
        .name(&settings.schedule_group)
        .send()
        .await
    {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_conflict_exception()) => {}
        Err(err) => return Err(err.into()),
    }
    println!("schedule group ready: {}", settings.schedule_group);

    let kafka: AdminClient<DefaultClientContext> = settings.kafka.client_config().create()?;
    let topics: Vec<NewTopic> = [&settings.topic, &settings.dead_letter_topic]
        .into_iter()
        .map(|name| NewTopic::new(name, settings.partitions, TopicReplication::Fixed(1)))
        .collect();
    // Without a request timeout an unreachable broker would keep the call waiting forever.
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(15)));
    for result in kafka.create_topics(&topics, &options).await? {
        match result {
            Ok(topic) => println!(
                "topic created: {topic} ({} partitions)",
                settings.partitions
            ),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => println!("topic exists: {topic}"),
            Err((topic, code)) => {
                return Err(format!("creating topic {topic} failed: {code}").into());
            }
        }
    }
    Ok(())
}

async fn seed(file: &str) -> Result<(), BoxError> {
    let settings = Settings::from_env()?;
    let text = std::fs::read_to_string(file).map_err(|err| format!("reading {file}: {err}"))?;
    let products: Vec<Product> = serde_json::from_str(&text)
        .map_err(|err| format!("{file} is not a JSON array of products: {err}"))?;
    let aws = aws_config::load_from_env().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), &settings.tables);
    for product in &products {
        store.put_product(product).await?;
        println!("product {}: {} in stock", product.product_id, product.stock);
    }
    Ok(())
}

async fn story() -> Result<(), BoxError> {
    let settings = Settings::from_env()?;
    let aws = aws_config::load_from_env().await;
    let stack = story::Stack {
        function_urls: format!("{}/lambda-url", settings.lambda_endpoint),
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), &settings.tables),
        kafka: settings.kafka,
        topic: settings.topic,
        dead_letter_topic: settings.dead_letter_topic,
        consumer_group: settings.consumer_group,
        timeout_wait: settings.payment_timeout + Duration::from_secs(60),
    };
    story::run(&stack, |line| println!("  {line}")).await?;
    Ok(())
}
