//! The store and idempotency contracts against DynamoDB on moto;
//! `shared/domain/tests/store_contract.rs` runs them against the in-memory fakes.

use orderflow_adapters::dynamodb::DynamoIdempotencyStore;
use orderflow_testing::local;

mod store {
    orderflow_domain::store_contract_tests!(orderflow_testing::local::dynamo_store());
}

mod idempotency {
    use super::*;

    orderflow_domain::idempotency_contract_tests!(async {
        DynamoIdempotencyStore::new(local::dynamodb_client().await, &local::fresh_tables().await)
    });
}
