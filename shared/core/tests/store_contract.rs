//! The store contract, against the in-memory fake and against DynamoDB (moto).

mod in_memory {
    use orderflow_core::testing::InMemoryStore;

    orderflow_core::store_contract_tests!(async { InMemoryStore::default() });
}

mod dynamodb {
    use orderflow_core::testing::local;

    orderflow_core::store_contract_tests!(local::dynamo_store());
}
