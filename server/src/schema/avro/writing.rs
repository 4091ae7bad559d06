//! JSON written as Avro: the walk of a schema that turns a JSON value into the Avro value
//! apache-avro encodes, naming the field it refuses and why.

use super::{AvroError, AvroSchema, MAX_DEPTH, MICROS, MILLIS, NANOS};
use apache_avro::{types::Value, Schema};
use serde_json::Value as Json;

impl AvroSchema {
    #[allow(clippy::wrong_self_convention)]
    pub(super) fn from_json(
        &self,
        json: &Json,
        schema: &Schema,
        path: &str,
        depth: usize,
    ) -> Result<Value, AvroError> {
        if depth > MAX_DEPTH {
            return Err(format!("{path}: nested deeper than {MAX_DEPTH} levels"));
        }
        let refuse = |wanted: &str| Err(format!("{path}: expected {wanted}, got {}", kind(json)));
        let schema = self.resolve(schema);
        Ok(match schema {
            Schema::Null => match json {
                Json::Null => Value::Null,
                _ => return refuse("null"),
            },
            Schema::Boolean => match json {
                Json::Bool(b) => Value::Boolean(*b),
                _ => return refuse("a boolean"),
            },
            Schema::Int => match json.as_i64().and_then(|n| i32::try_from(n).ok()) {
                Some(n) => Value::Int(n),
                None => return refuse("a 32-bit integer"),
            },
            Schema::Long => match json.as_i64() {
                Some(n) => Value::Long(n),
                None => return refuse("an integer"),
            },
            Schema::Float => match json.as_f64() {
                Some(f) => Value::Float(f as f32),
                None => return refuse("a number"),
            },
            Schema::Double => match json.as_f64() {
                Some(f) => Value::Double(f),
                None => return refuse("a number"),
            },
            Schema::String => match json {
                Json::String(s) => Value::String(s.clone()),
                _ => return refuse("a string"),
            },
            Schema::Bytes => match json.as_str().and_then(crate::schema::unbase64) {
                Some(bytes) => Value::Bytes(bytes),
                None => return refuse("base64 text"),
            },
            Schema::Fixed(fixed) => match json.as_str().and_then(crate::schema::unbase64) {
                Some(bytes) if bytes.len() == fixed.size => Value::Fixed(fixed.size, bytes),
                _ => return refuse(&format!("base64 text of {} bytes", fixed.size)),
            },
            Schema::Enum(e) => match json.as_str() {
                Some(symbol) => match e.symbols.iter().position(|s| s == symbol) {
                    Some(i) => Value::Enum(i as u32, symbol.to_owned()),
                    None => {
                        return Err(format!(
                            "{path}: {symbol:?} is not one of {}",
                            e.symbols.join(", ")
                        ))
                    }
                },
                None => return refuse("an enum symbol"),
            },
            Schema::Array(array) => match json {
                Json::Array(items) => Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            self.from_json(v, &array.items, &format!("{path}[{i}]"), depth + 1)
                        })
                        .collect::<Result<_, _>>()?,
                ),
                _ => return refuse("an array"),
            },
            Schema::Map(map) => match json {
                Json::Object(entries) => Value::Map(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            self.from_json(v, &map.types, &format!("{path}.{k}"), depth + 1)
                                .map(|v| (k.clone(), v))
                        })
                        .collect::<Result<_, _>>()?,
                ),
                _ => return refuse("an object"),
            },
            Schema::Record(record) => {
                let Json::Object(object) = json else {
                    return refuse("an object");
                };
                if let Some(unknown) = object
                    .keys()
                    .find(|k| !record.fields.iter().any(|f| &f.name == *k))
                {
                    return Err(format!("{path}.{unknown}: the schema has no such field"));
                }
                let mut fields = Vec::with_capacity(record.fields.len());
                for field in &record.fields {
                    let field_path = format!("{path}.{}", field.name);
                    let value = match (object.get(&field.name), &field.default) {
                        (Some(v), _) => self.from_json(v, &field.schema, &field_path, depth + 1)?,
                        (None, Some(default)) => {
                            self.from_json(default, &field.schema, &field_path, depth + 1)?
                        }
                        (None, None) if accepts_null(self.resolve(&field.schema)) => {
                            self.from_json(&Json::Null, &field.schema, &field_path, depth + 1)?
                        }
                        (None, None) => return Err(format!("{field_path}: missing")),
                    };
                    fields.push((field.name.clone(), value));
                }
                Value::Record(fields)
            }
            Schema::Union(union) => {
                let mut reasons = Vec::new();
                for (i, variant) in union.variants().iter().enumerate() {
                    match self.from_json(json, variant, path, depth + 1) {
                        Ok(v) => return Ok(Value::Union(i as u32, Box::new(v))),
                        Err(e) => reasons.push(e),
                    }
                }
                return Err(reasons.join("; "));
            }
            Schema::Decimal(decimal) => {
                let unscaled = match json {
                    Json::String(s) => parse_decimal(s, decimal.scale),
                    Json::Number(n) => parse_decimal(&n.to_string(), decimal.scale),
                    _ => None,
                };
                let Some(unscaled) = unscaled else {
                    return refuse(&format!("a decimal with at most {} places", decimal.scale));
                };
                let bytes = signed_bytes(unscaled);
                if let Schema::Fixed(fixed) = &*decimal.inner {
                    if bytes.len() > fixed.size {
                        return Err(format!("{path}: too large for {} bytes", fixed.size));
                    }
                }
                Value::Decimal(apache_avro::Decimal::from(bytes))
            }
            Schema::Uuid => match json.as_str().and_then(|s| s.parse().ok()) {
                Some(uuid) => Value::Uuid(uuid),
                None => return refuse("a UUID"),
            },
            Schema::Date => match json {
                Json::String(s) => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                    Ok(date) => {
                        Value::Date((date - chrono::NaiveDate::default()).num_days() as i32)
                    }
                    Err(_) => return refuse("a date (YYYY-MM-DD)"),
                },
                _ => match json.as_i64().and_then(|n| i32::try_from(n).ok()) {
                    Some(days) => Value::Date(days),
                    None => return refuse("a date"),
                },
            },
            Schema::TimestampMillis | Schema::LocalTimestampMillis => match epoch(json, MILLIS) {
                Some(ms) => {
                    if matches!(schema, Schema::TimestampMillis) {
                        Value::TimestampMillis(ms)
                    } else {
                        Value::LocalTimestampMillis(ms)
                    }
                }
                None => return refuse("a time (RFC 3339 text or milliseconds)"),
            },
            Schema::TimestampMicros | Schema::LocalTimestampMicros => match epoch(json, MICROS) {
                Some(us) => {
                    if matches!(schema, Schema::TimestampMicros) {
                        Value::TimestampMicros(us)
                    } else {
                        Value::LocalTimestampMicros(us)
                    }
                }
                None => return refuse("a time (RFC 3339 text or microseconds)"),
            },
            other => {
                return Err(format!(
                    "{path}: writing {other:?} from JSON is not supported"
                ))
            }
        })
    }
}

fn accepts_null(schema: &Schema) -> bool {
    match schema {
        Schema::Null => true,
        Schema::Union(u) => u.variants().iter().any(|v| matches!(v, Schema::Null)),
        _ => false,
    }
}

fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// A time as `per_second` units since the epoch: from RFC 3339 text (UTC when it names no
/// zone), or a number already in those units.
pub(super) fn epoch(json: &Json, per_second: i64) -> Option<i64> {
    let Json::String(text) = json else {
        return json.as_i64();
    };
    let time = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .ok()?;
    let sub = i64::from(time.timestamp_subsec_nanos()) / (NANOS / per_second);
    time.timestamp().checked_mul(per_second)?.checked_add(sub)
}

/// The unscaled value of decimal text with at most `scale` places.
pub(super) fn parse_decimal(text: &str, scale: usize) -> Option<i128> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty()
        || fraction.len() > scale
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{whole}{fraction:0<scale$}");
    let value: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    Some(if negative { -value } else { value })
}

/// The shortest big-endian two's complement bytes of `n`.
pub(super) fn signed_bytes(n: i128) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let sign = if n < 0 { 0xff } else { 0 };
    let mut start = 0;
    while start < 15 && bytes[start] == sign && (bytes[start + 1] & 0x80 == sign & 0x80) {
        start += 1;
    }
    bytes[start..].to_vec()
}
