//! The idempotency contract, held by the in-memory store and by DynamoDB on moto alike.

mod in_memory {
    orderflow_core::idempotency_contract_tests!(async {
        orderflow_core::testing::InMemoryIdempotencyStore::default()
    });
}

mod dynamodb {
    use orderflow_core::adapters::dynamodb::DynamoIdempotencyStore;
    use orderflow_core::testing::local;

    orderflow_core::idempotency_contract_tests!(async {
        DynamoIdempotencyStore::new(local::dynamodb_client().await, &local::fresh_tables().await)
    });
}
