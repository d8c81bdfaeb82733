//! The store and idempotency contracts against the in-memory fakes;
//! `shared/adapters/tests/store_contract.rs` runs them against DynamoDB.

mod store {
    orderflow_domain::store_contract_tests!(async {
        orderflow_domain::testing::InMemoryStore::default()
    });
}

mod idempotency {
    orderflow_domain::idempotency_contract_tests!(async {
        orderflow_domain::testing::InMemoryIdempotencyStore::default()
    });
}
