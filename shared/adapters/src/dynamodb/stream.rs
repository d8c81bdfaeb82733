//! The orders table's stream records, as a DynamoDB Streams event source mapping delivers them to
//! a function, and the partial batch response the function answers with.
//!
//! Written here with serde rather than taken from `aws_lambda_events`: the envelope is small, and
//! the images stay raw JSON until [`order_change`] decodes them one record at a time, so that one
//! image that is no order fails its record, not the whole invocation. Images are in DynamoDB JSON
//! (`{"S": "…"}`, `{"N": "…"}`, …); [`attribute_value`] turns them into the SDK's
//! [`AttributeValue`], and the table's own codec (the one `DynamoStore` reads items with) into
//! [`Order`]s. Both directions, so that tests and local tools build exactly what AWS sends.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use orderflow_domain::error::{Error, Result, cause_chain};
use orderflow_domain::outbox::{ChangeRecord, OrderChange, Undecodable};
use orderflow_types::{Order, OrderId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::codec::{Reader, attr, order_from_item, order_to_item};

/// An item as a stream record carries it: attribute names to DynamoDB JSON values.
pub type Image = Map<String, Value>;

/// What a DynamoDB Streams event source mapping invokes a function with: records of one shard, in
/// stream order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records")]
    pub records: Vec<StreamRecord>,
}

/// One change of one item. Fields not named here (`eventVersion`, `awsRegion`, `userIdentity`,
/// …) are ignored when read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "eventName")]
    pub event_name: EventName,
    /// `aws:dynamodb`.
    #[serde(
        rename = "eventSource",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub event_source: Option<String>,
    /// The stream: `arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>`.
    #[serde(rename = "eventSourceARN")]
    pub event_source_arn: String,
    pub dynamodb: StreamData,
}

/// What kind of write made the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventName {
    Insert,
    Modify,
    Remove,
}

/// The record's DynamoDB part: where it sits in the shard, the item's key and its images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamData {
    /// The record's position in its shard; what the batch response names a record by.
    pub sequence_number: String,
    pub keys: Image,
    /// The item after the write; absent for `REMOVE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_image: Option<Image>,
    /// The item before the write; absent for `INSERT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_image: Option<Image>,
    /// Seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_creation_date_time: Option<f64>,
    /// `KEYS_ONLY`, `NEW_IMAGE`, `OLD_IMAGE` or `NEW_AND_OLD_IMAGES`; the orders table's stream
    /// must be the last, or [`order_change`] finds images missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_view_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

/// The partial batch response of a stream event source mapping (with `ReportBatchItemFailures`
/// on). Lambda checkpoints before the lowest sequence number named and delivers everything from
/// there again; an empty list means the whole batch is done. An empty or missing
/// `itemIdentifier` fails the whole batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamBatchResponse {
    pub batch_item_failures: Vec<StreamBatchItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamBatchItemFailure {
    /// The failed record's `dynamodb.SequenceNumber`.
    pub item_identifier: String,
}

impl StreamBatchResponse {
    /// The response that makes the mapping resume at the record with `sequence_number`, or with
    /// `None` go on after the whole batch.
    pub fn resume_at(sequence_number: Option<&str>) -> Self {
        Self {
            batch_item_failures: sequence_number
                .map(|id| StreamBatchItemFailure {
                    item_identifier: id.to_owned(),
                })
                .into_iter()
                .collect(),
        }
    }
}

/// Every record of `event` for the outbox, in stream order, named by sequence number.
pub fn decode_event(event: &StreamEvent) -> Vec<ChangeRecord> {
    event
        .records
        .iter()
        .map(|record| ChangeRecord {
            id: record.dynamodb.sequence_number.clone(),
            change: order_change(record),
        })
        .collect()
}

/// The change of an orders table item that `record` carries: its images decoded into orders.
/// Each kind of write must carry the images it has in a `NEW_AND_OLD_IMAGES` stream, so that a
/// stream configured with less fails loudly instead of looking like other changes.
pub fn order_change(record: &StreamRecord) -> std::result::Result<OrderChange, Undecodable> {
    let data = &record.dynamodb;
    let order_id = order_key(&data.keys).map_err(|error| Undecodable {
        order_id: None,
        error,
    })?;
    let decoded = match record.event_name {
        EventName::Insert => image("NewImage", data.new_image.as_ref()).map(OrderChange::Inserted),
        EventName::Modify => image("OldImage", data.old_image.as_ref()).and_then(|old| {
            let new = image("NewImage", data.new_image.as_ref())?;
            Ok(OrderChange::Modified { old, new })
        }),
        EventName::Remove => image("OldImage", data.old_image.as_ref()).map(OrderChange::Removed),
    };
    decoded.map_err(|error| Undecodable {
        order_id: Some(order_id),
        error,
    })
}

/// The order id in a record's `Keys`.
fn order_key(keys: &Image) -> Result<OrderId> {
    let keys = item(keys).map_err(|err| invalid("Keys", &err))?;
    Reader::new(&keys, "stream record key").parsed(attr::ORDER_ID, str::parse::<OrderId>)
}

/// The order in one of a record's images; `which` names it in errors.
fn image(which: &str, image: Option<&Image>) -> Result<Order> {
    let image = image.ok_or_else(|| {
        Error::invalid_data(
            "stream record",
            format!("{which} is missing: the orders table's stream must be NEW_AND_OLD_IMAGES"),
        )
    })?;
    item(image)
        .and_then(|item| order_from_item(&item))
        .map_err(|err| invalid(which, &err))
}

fn invalid(which: &str, err: &Error) -> Error {
    Error::invalid_data("stream record", format!("{which}: {}", cause_chain(err)))
}

/// An item in DynamoDB JSON as the SDK's attribute values.
pub fn item(image: &Image) -> Result<HashMap<String, AttributeValue>> {
    image
        .iter()
        .map(|(name, value)| {
            convert(value)
                .map(|value| (name.clone(), value))
                .map_err(|problem| problem.at_name(name).into_error())
        })
        .collect()
}

/// One attribute value in DynamoDB JSON (`{"S": "text"}`, `{"N": "42"}`, `{"B": "<base64>"}`,
/// `{"BOOL": true}`, `{"NULL": true}`, `{"M": {…}}`, `{"L": […]}`, `{"SS": […]}`, `{"NS": […]}`,
/// `{"BS": […]}`) as the SDK's.
pub fn attribute_value(json: &Value) -> Result<AttributeValue> {
    convert(json).map_err(Problem::into_error)
}

/// What is wrong where, in a value being converted; the path grows as the error unwinds.
struct Problem {
    path: String,
    what: String,
}

impl Problem {
    fn new(what: impl Into<String>) -> Self {
        Self {
            path: String::new(),
            what: what.into(),
        }
    }

    fn at_name(mut self, name: &str) -> Self {
        self.path = if self.path.is_empty() || self.path.starts_with('[') {
            format!("{name}{}", self.path)
        } else {
            format!("{name}.{}", self.path)
        };
        self
    }

    fn at_index(mut self, index: usize) -> Self {
        self.path = if self.path.is_empty() || self.path.starts_with('[') {
            format!("[{index}]{}", self.path)
        } else {
            format!("[{index}].{}", self.path)
        };
        self
    }

    fn into_error(self) -> Error {
        let what = self.what;
        match self.path.as_str() {
            "" => Error::invalid_data("DynamoDB JSON", what),
            path => Error::invalid_data("DynamoDB JSON", format!("{path} {what}")),
        }
    }
}

fn convert(json: &Value) -> std::result::Result<AttributeValue, Problem> {
    let typed = json
        .as_object()
        .filter(|object| object.len() == 1)
        .and_then(|object| object.iter().next());
    let Some((tag, value)) = typed else {
        return Err(Problem::new(
            "is not an attribute value (an object with one type key)",
        ));
    };
    let problem = |expected: &str| Problem::new(format!("is {tag} but not {expected}"));
    Ok(match tag.as_str() {
        "S" => AttributeValue::S(text(value).ok_or_else(|| problem("a string"))?),
        "N" => AttributeValue::N(text(value).ok_or_else(|| problem("a numeric string"))?),
        "B" => AttributeValue::B(binary(value).ok_or_else(|| problem("base64"))?),
        "BOOL" => AttributeValue::Bool(value.as_bool().ok_or_else(|| problem("a boolean"))?),
        "NULL" => AttributeValue::Null(value.as_bool().ok_or_else(|| problem("a boolean"))?),
        "M" => {
            let entries = value.as_object().ok_or_else(|| problem("an object"))?;
            let mut map = HashMap::with_capacity(entries.len());
            for (name, value) in entries {
                map.insert(name.clone(), convert(value).map_err(|p| p.at_name(name))?);
            }
            AttributeValue::M(map)
        }
        "L" => {
            let values = value.as_array().ok_or_else(|| problem("an array"))?;
            let mut list = Vec::with_capacity(values.len());
            for (index, value) in values.iter().enumerate() {
                list.push(convert(value).map_err(|p| p.at_index(index))?);
            }
            AttributeValue::L(list)
        }
        "SS" => AttributeValue::Ss(set(value, text).ok_or_else(|| problem("strings"))?),
        "NS" => AttributeValue::Ns(set(value, text).ok_or_else(|| problem("numeric strings"))?),
        "BS" => AttributeValue::Bs(set(value, binary).ok_or_else(|| problem("base64 strings"))?),
        _ => return Err(Problem::new(format!("has an unknown type {tag}"))),
    })
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

fn binary(value: &Value) -> Option<Blob> {
    STANDARD.decode(value.as_str()?).ok().map(Blob::new)
}

fn set<T>(value: &Value, member: fn(&Value) -> Option<T>) -> Option<Vec<T>> {
    value.as_array()?.iter().map(member).collect()
}

/// An attribute value as DynamoDB JSON: the inverse of [`attribute_value`].
pub fn attribute_json(value: &AttributeValue) -> Result<Value> {
    let strings = |values: &[String]| Value::from(values.to_vec());
    let base64 = |blob: &Blob| Value::from(STANDARD.encode(blob.as_ref()));
    let (tag, json) = match value {
        AttributeValue::S(text) => ("S", Value::from(text.as_str())),
        AttributeValue::N(number) => ("N", Value::from(number.as_str())),
        AttributeValue::B(blob) => ("B", base64(blob)),
        AttributeValue::Bool(flag) => ("BOOL", Value::from(*flag)),
        AttributeValue::Null(flag) => ("NULL", Value::from(*flag)),
        AttributeValue::M(map) => ("M", Value::Object(image_json(map)?)),
        AttributeValue::L(list) => (
            "L",
            Value::Array(list.iter().map(attribute_json).collect::<Result<_>>()?),
        ),
        AttributeValue::Ss(values) => ("SS", strings(values)),
        AttributeValue::Ns(values) => ("NS", strings(values)),
        AttributeValue::Bs(blobs) => ("BS", Value::Array(blobs.iter().map(base64).collect())),
        other => {
            return Err(Error::invalid_data(
                "attribute value",
                format!("{other:?} has no DynamoDB JSON form known here"),
            ));
        }
    };
    Ok(Value::Object(Map::from_iter([(tag.to_owned(), json)])))
}

/// An item as DynamoDB JSON, as a stream record carries it.
pub fn image_json(item: &HashMap<String, AttributeValue>) -> Result<Image> {
    item.iter()
        .map(|(name, value)| Ok((name.clone(), attribute_json(value)?)))
        .collect()
}

/// The image of `order` in a stream record: the item `DynamoStore` writes for it, as DynamoDB
/// JSON. For tests and local tools that build the records DynamoDB Streams would carry.
pub fn order_image(order: &Order) -> Result<Image> {
    image_json(&order_to_item(order))
}

#[cfg(test)]
mod tests {
    use orderflow_types::{
        CancelReason, OrderLine, OrderStatus, ProductId, Quantity, UserId, time,
    };
    use serde_json::json;

    use super::*;

    /// The example event of "Using AWS Lambda with Amazon DynamoDB" in the AWS Lambda Developer
    /// Guide (<https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html>, "Example DynamoDB
    /// Streams record event"), as published in awsdocs/aws-lambda-developer-guide,
    /// `doc_source/with-ddb.md`.
    const AWS_EXAMPLE: &str = r#"{
  "Records": [
    {
      "eventID": "1",
      "eventVersion": "1.0",
      "dynamodb": {
        "Keys": {
          "Id": {
            "N": "101"
          }
        },
        "NewImage": {
          "Message": {
            "S": "New item!"
          },
          "Id": {
            "N": "101"
          }
        },
        "StreamViewType": "NEW_AND_OLD_IMAGES",
        "SequenceNumber": "111",
        "SizeBytes": 26
      },
      "awsRegion": "us-west-2",
      "eventName": "INSERT",
      "eventSourceARN": "arn:aws:dynamodb:us-west-2:111122223333:table/TestTable/stream/2015-05-11T21:21:33.291",
      "eventSource": "aws:dynamodb"
    },
    {
      "eventID": "2",
      "eventVersion": "1.0",
      "dynamodb": {
        "OldImage": {
          "Message": {
            "S": "New item!"
          },
          "Id": {
            "N": "101"
          }
        },
        "SequenceNumber": "222",
        "Keys": {
          "Id": {
            "N": "101"
          }
        },
        "SizeBytes": 59,
        "NewImage": {
          "Message": {
            "S": "This item has changed"
          },
          "Id": {
            "N": "101"
          }
        },
        "StreamViewType": "NEW_AND_OLD_IMAGES"
      },
      "awsRegion": "us-west-2",
      "eventName": "MODIFY",
      "eventSourceARN": "arn:aws:dynamodb:us-west-2:111122223333:table/TestTable/stream/2015-05-11T21:21:33.291",
      "eventSource": "aws:dynamodb"
    }
  ]}"#;

    fn at(text: &str) -> orderflow_types::Timestamp {
        time::parse(text).unwrap()
    }

    fn pending() -> Order {
        Order::new_pending(
            OrderId::parse("o-1").unwrap(),
            UserId::parse("auth0|u-1").unwrap(),
            vec![OrderLine {
                product_id: ProductId::parse("sku-1").unwrap(),
                quantity: Quantity::new(3).unwrap(),
                unit_price_cents: 250,
            }],
            at("2026-11-25T20:04:05.123Z"),
            at("2026-11-25T20:34:05.123Z"),
        )
    }

    fn cancelled() -> Order {
        Order {
            status: OrderStatus::Cancelled,
            cancel_reason: Some(CancelReason::Customer),
            updated_at: at("2026-11-25T20:10:00Z"),
            ..pending()
        }
    }

    /// A record of the orders table as the mapping delivers it.
    fn record(event_name: &str, old: Option<&Order>, new: Option<&Order>) -> StreamRecord {
        let mut data = json!({
            "ApproximateCreationDateTime": 1_795_637_045,
            "Keys": {"order_id": {"S": "o-1"}},
            "SequenceNumber": "4421584500000000017450439091",
            "SizeBytes": 212,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        for (name, order) in [("OldImage", old), ("NewImage", new)] {
            if let Some(order) = order {
                data[name] = Value::Object(order_image(order).unwrap());
            }
        }
        serde_json::from_value(json!({
            "eventID": "c4ca4238a0b923820dcc509a6f75849b",
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-25T00:00:00.000",
            "dynamodb": data,
        }))
        .unwrap()
    }

    fn detail(undecodable: Undecodable) -> String {
        cause_chain(&undecodable.error)
    }

    #[test]
    fn the_aws_example_event_parses_with_its_sequence_numbers() {
        let event: StreamEvent = serde_json::from_str(AWS_EXAMPLE).unwrap();
        let [insert, modify] = event.records.as_slice() else {
            panic!("two records: {event:?}");
        };
        assert_eq!(
            (insert.event_name, insert.dynamodb.sequence_number.as_str()),
            (EventName::Insert, "111")
        );
        assert_eq!(
            (modify.event_name, modify.dynamodb.sequence_number.as_str()),
            (EventName::Modify, "222")
        );
        assert_eq!(insert.event_source.as_deref(), Some("aws:dynamodb"));
        assert_eq!(
            insert.event_source_arn,
            "arn:aws:dynamodb:us-west-2:111122223333:table/TestTable/stream/2015-05-11T21:21:33.291"
        );
        assert_eq!(insert.dynamodb.old_image, None);
        assert_eq!(
            insert.dynamodb.stream_view_type.as_deref(),
            Some("NEW_AND_OLD_IMAGES")
        );
        assert_eq!(modify.dynamodb.size_bytes, Some(59));
        let new = item(modify.dynamodb.new_image.as_ref().unwrap()).unwrap();
        assert_eq!(
            new,
            HashMap::from([
                (
                    "Message".into(),
                    AttributeValue::S("This item has changed".into())
                ),
                ("Id".into(), AttributeValue::N("101".into())),
            ])
        );
    }

    #[test]
    fn records_of_another_table_are_undecodable_and_name_no_order() {
        let event: StreamEvent = serde_json::from_str(AWS_EXAMPLE).unwrap();
        let records = decode_event(&event);
        assert_eq!(records.len(), 2);
        for record in records {
            let undecodable = record.change.unwrap_err();
            assert_eq!(undecodable.order_id, None);
            assert_eq!(
                detail(undecodable),
                "stored stream record key is invalid: attribute order_id is missing"
            );
        }
    }

    /// "Configuring partial batch response with DynamoDB and Lambda"
    /// (<https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html>):
    /// `{"batchItemFailures": [{"itemIdentifier": "<SequenceNumber>"}]}`, and an empty list for a
    /// batch that is all done.
    #[test]
    fn the_batch_response_names_a_record_by_its_sequence_number() {
        assert_eq!(
            serde_json::to_value(StreamBatchResponse::resume_at(Some(
                "4421584500000000017450439092"
            )))
            .unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "4421584500000000017450439092"}]})
        );
        assert_eq!(
            serde_json::to_value(StreamBatchResponse::resume_at(None)).unwrap(),
            json!({"batchItemFailures": []})
        );
    }

    #[test]
    fn every_kind_of_write_decodes_into_its_change() {
        let (old, new) = (pending(), cancelled());
        assert_eq!(
            order_change(&record("INSERT", None, Some(&old))).unwrap(),
            OrderChange::Inserted(old.clone())
        );
        assert_eq!(
            order_change(&record("MODIFY", Some(&old), Some(&new))).unwrap(),
            OrderChange::Modified {
                old: old.clone(),
                new: new.clone()
            }
        );
        assert_eq!(
            order_change(&record("REMOVE", Some(&new), None)).unwrap(),
            OrderChange::Removed(new)
        );
    }

    #[test]
    fn an_order_image_is_the_item_dynamo_store_writes() {
        assert_eq!(
            Value::Object(order_image(&cancelled()).unwrap()),
            json!({
                "order_id": {"S": "o-1"},
                "user_id": {"S": "auth0|u-1"},
                "status": {"S": "CANCELLED"},
                "lines": {"L": [{"M": {
                    "product_id": {"S": "sku-1"},
                    "quantity": {"N": "3"},
                    "unit_price_cents": {"N": "250"},
                }}]},
                "total_cents": {"N": "750"},
                "created_at": {"S": "2026-11-25T20:04:05.123Z"},
                "updated_at": {"S": "2026-11-25T20:10:00.000Z"},
                "payment_due_at": {"S": "2026-11-25T20:34:05.123Z"},
                "cancel_reason": {"S": "customer"},
            })
        );
    }

    #[test]
    fn missing_images_fail_the_record_naming_the_stream_view() {
        let order = pending();
        for record in [
            record("INSERT", None, None),
            record("MODIFY", None, Some(&order)),
            record("MODIFY", Some(&order), None),
            record("REMOVE", None, None),
        ] {
            let undecodable = order_change(&record).unwrap_err();
            assert_eq!(undecodable.order_id, Some(order.order_id.clone()));
            let detail = detail(undecodable);
            assert!(
                detail.contains("is missing: the orders table's stream must be NEW_AND_OLD_IMAGES"),
                "{detail}"
            );
        }
    }

    #[test]
    fn an_image_that_is_no_order_fails_the_record_naming_the_attribute() {
        let order = pending();
        let mut broken = record("MODIFY", Some(&order), Some(&order));
        let new = broken.dynamodb.new_image.as_mut().unwrap();
        new.insert("status".into(), json!({"S": "SHIPPED"}));
        let undecodable = order_change(&broken).unwrap_err();
        assert_eq!(undecodable.order_id, Some(order.order_id.clone()));
        assert_eq!(
            detail(undecodable),
            "stored stream record is invalid: NewImage: stored order is invalid: attribute \
             status is invalid: unknown status"
        );

        let mut broken = record("INSERT", None, Some(&order));
        let new = broken.dynamodb.new_image.as_mut().unwrap();
        new["lines"]["L"][0]["M"]["quantity"] = json!({"N": 3});
        assert_eq!(
            detail(order_change(&broken).unwrap_err()),
            "stored stream record is invalid: NewImage: stored DynamoDB JSON is invalid: \
             lines[0].quantity is N but not a numeric string"
        );
    }

    #[test]
    fn every_dynamodb_json_type_converts_and_back() {
        let json = json!({"M": {
            "s": {"S": "text"},
            "n": {"N": "-12.5e3"},
            "b": {"B": "AAEC/w=="},
            "bool": {"BOOL": true},
            "null": {"NULL": true},
            "l": {"L": [{"S": "a"}, {"N": "1"}]},
            "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2.5"]},
            "bs": {"BS": ["AA==", "/w=="]},
        }});
        let value = attribute_value(&json).unwrap();
        let AttributeValue::M(map) = &value else {
            panic!("a map: {value:?}");
        };
        assert_eq!(map["s"], AttributeValue::S("text".into()));
        assert_eq!(map["n"], AttributeValue::N("-12.5e3".into()));
        assert_eq!(map["b"], AttributeValue::B(Blob::new(vec![0, 1, 2, 255])));
        assert_eq!(map["bool"], AttributeValue::Bool(true));
        assert_eq!(map["null"], AttributeValue::Null(true));
        assert_eq!(
            map["l"],
            AttributeValue::L(vec![
                AttributeValue::S("a".into()),
                AttributeValue::N("1".into())
            ])
        );
        assert_eq!(map["ss"], AttributeValue::Ss(vec!["a".into(), "b".into()]));
        assert_eq!(
            map["ns"],
            AttributeValue::Ns(vec!["1".into(), "2.5".into()])
        );
        assert_eq!(
            map["bs"],
            AttributeValue::Bs(vec![Blob::new(vec![0]), Blob::new(vec![255])])
        );
        assert_eq!(attribute_json(&value).unwrap(), json);
    }

    #[test]
    fn malformed_dynamodb_json_is_refused_with_where_and_why() {
        for (json, expected) in [
            (
                json!("text"),
                "is not an attribute value (an object with one type key)",
            ),
            (
                json!({"S": "a", "N": "1"}),
                "is not an attribute value (an object with one type key)",
            ),
            (json!({"X": "a"}), "has an unknown type X"),
            (json!({"S": 1}), "is S but not a string"),
            (json!({"B": "not base64!"}), "is B but not base64"),
            (json!({"NULL": "yes"}), "is NULL but not a boolean"),
            (json!({"SS": ["a", 1]}), "is SS but not strings"),
            (
                json!({"M": {"a": {"L": [{"S": "ok"}, {"M": {"b": {"N": true}}}]}}}),
                "a[1].b is N but not a numeric string",
            ),
        ] {
            let err = attribute_value(&json).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("stored DynamoDB JSON is invalid: {expected}"),
                "{json}"
            );
        }
    }

    #[test]
    fn events_that_are_no_stream_events_do_not_parse() {
        for json in [
            json!({}),
            json!({"Records": [{"messageId": "1", "body": "{}", "eventSource": "aws:sqs"}]}),
            json!({"Records": [{"eventID": "1", "eventName": "UPSERT", "eventSourceARN": "a",
                "dynamodb": {"SequenceNumber": "1", "Keys": {}}}]}),
        ] {
            assert!(
                serde_json::from_value::<StreamEvent>(json.clone()).is_err(),
                "{json}"
            );
        }
    }
}
