//! Hostile input for property tests (proptest): any JSON, with the strings that break careless
//! parsers among its leaves, and a runtime per generated case.

use std::future::Future;

use proptest::prelude::*;
use serde_json::Value;

/// Strings worth trying wherever a string goes: empty, SQL- and path-injection shapes, NUL, a
/// right-to-left override, an emoji.
pub const HOSTILE_STRINGS: &[&str] = &[
    "",
    "' OR '1'='1",
    "../../etc/passwd",
    "\u{0000}",
    "\u{202e}gnp.exe",
    "🙂",
];

/// Any JSON value, nested up to four levels: unicode and control characters, integers of every
/// size up to `u64::MAX`, floats, and among the strings [`HOSTILE_STRINGS`] and `known` (ids and
/// names the test's data uses, so that some generated values mean something).
pub fn any_json(known: &[&'static str]) -> impl Strategy<Value = Value> + use<> {
    let strings: Vec<&'static str> = HOSTILE_STRINGS.iter().chain(known).copied().collect();
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(strings).prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Runs `future` to completion on a fresh single-threaded runtime: one per generated case, so
/// that no case sees another's tasks.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|err| panic!("building a runtime: {err}"))
        .block_on(future)
}
