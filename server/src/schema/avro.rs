//! Avro: a schema (with the named types its references bring) compiled once, records decoded
//! into readable JSON and JSON encoded into records, both walking the schema so that logical
//! types read as what they mean (`timestamp-millis` as a UTC time, `decimal` as its digits).

use apache_avro::{types::Value, Schema};
use serde_json::{json, Map, Value as Json};
use std::{
    collections::{HashMap, HashSet},
    io::Cursor,
};

/// Nesting of types a schema may have, and the JSON-to-Avro walk follows, at most: deeper is
/// refused, not recursed into (decoding follows the types down the stack).
const MAX_DEPTH: usize = 64;
/// Named types one schema may have with its references.
const MAX_NAMED_TYPES: usize = 1_000;
/// The largest `precision` and `scale` a decimal may have.
const MAX_DECIMAL_DIGITS: usize = 76;
/// The most items (or bytes) the decoder allocates for one length it reads: a record cannot
/// claim more than this to make it reserve memory (apache-avro's own bound is 512 MiB).
const MAX_ALLOCATION: usize = 1024 * 1024;

/// A compiled Avro schema and the named types it may refer to.
#[derive(Debug)]
pub struct AvroSchema {
    schema: Schema,
    /// The schemas of the references, which `schema` names.
    dependencies: Vec<Schema>,
    /// Every named type by full name, to follow `Ref`s.
    named: HashMap<String, Schema>,
}

/// Why an Avro schema, record or value was refused.
pub type AvroError = String;

impl AvroSchema {
    /// Parses `text`, whose named types may come from `references` (schema texts, in the order
    /// the registry lists them). A type that contains itself is refused: a record of it could
    /// nest as deep as its bytes allow, and the decoder would follow it down the stack.
    pub fn compile(text: &str, references: &[String]) -> Result<Self, AvroError> {
        static LIMITED: std::sync::Once = std::sync::Once::new();
        LIMITED.call_once(|| {
            apache_avro::util::max_allocation_bytes(MAX_ALLOCATION);
        });
        // apache-avro panics on some malformed names rather than refusing them.
        let parsed = std::panic::catch_unwind(|| Schema::parse_str_with_list(text, references))
            .map_err(|_| "not an Avro schema: the parser gave up on it".to_owned())?;
        let (schema, dependencies) = parsed.map_err(|e| format!("not an Avro schema: {e}"))?;
        let mut named = HashMap::new();
        for s in dependencies.iter().chain([&schema]) {
            collect_named(s, &mut named, 0)?;
        }
        let compiled = Self {
            schema,
            dependencies,
            named,
        };
        compiled.check_shape(&compiled.schema, &mut Vec::new(), &mut HashSet::new())?;
        Ok(compiled)
    }

    /// Every schema a `Ref` may name: the references' and this schema's own named types.
    fn schemata(&self) -> Vec<&Schema> {
        self.dependencies.iter().chain([&self.schema]).collect()
    }

    /// The record `bytes` holds, as JSON; every byte must belong to it.
    pub fn decode(&self, bytes: &[u8]) -> Result<Json, AvroError> {
        let mut reader = Cursor::new(bytes);
        let value = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            apache_avro::from_avro_datum_schemata(&self.schema, self.schemata(), &mut reader, None)
        }))
        .map_err(|_| "the decoder gave up on it".to_owned())?
        .map_err(|e| e.to_string())?;
        let left = bytes.len() as u64 - reader.position();
        if left > 0 {
            return Err(format!("{left} bytes left over after the record"));
        }
        Ok(self.to_json(&value, &self.schema))
    }

    /// `value` as an Avro record of this schema, or which field the schema refuses and why.
    pub fn encode(&self, value: &Json) -> Result<Vec<u8>, AvroError> {
        let avro = self.from_json(value, &self.schema, "value", 0)?;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            apache_avro::to_avro_datum_schemata(&self.schema, self.schemata(), avro)
        }))
        .map_err(|_| "the encoder gave up on it".to_owned())?
        .map_err(|e| e.to_string())
    }

    fn resolve<'a>(&'a self, schema: &'a Schema) -> &'a Schema {
        match schema {
            Schema::Ref { name } => self.named.get(&name.fullname(None)).unwrap_or(schema),
            other => other,
        }
    }

    /// Refuses what decoding could not do safely: a type that contains itself (a record of it
    /// could nest as deep as its bytes allow), types nested deeper than [`MAX_DEPTH`], and
    /// decimals of more than [`MAX_DECIMAL_DIGITS`] digits. Each named type is walked once
    /// (`done`), so a schema that names one type many times costs no more than one that names
    /// it once.
    fn check_shape(
        &self,
        schema: &Schema,
        path: &mut Vec<String>,
        done: &mut HashSet<String>,
    ) -> Result<(), AvroError> {
        if path.len() > MAX_DEPTH {
            return Err(format!("types nested deeper than {MAX_DEPTH} levels"));
        }
        let named = |name: &apache_avro::schema::Name| name.fullname(None);
        match schema {
            Schema::Ref { name } => {
                let full = named(name);
                if path.contains(&full) {
                    return Err(format!("the type {full} contains itself"));
                }
                if done.contains(&full) {
                    return Ok(());
                }
                match self.named.get(&full) {
                    Some(target) if !matches!(target, Schema::Ref { .. }) => {
                        self.check_shape(target, path, done)
                    }
                    _ => Ok(()),
                }
            }
            Schema::Record(record) => {
                let full = named(&record.name);
                if path.contains(&full) {
                    return Err(format!("the type {full} contains itself"));
                }
                if done.contains(&full) {
                    return Ok(());
                }
                path.push(full.clone());
                for field in &record.fields {
                    self.check_shape(&field.schema, path, done)?;
                }
                path.pop();
                done.insert(full);
                Ok(())
            }
            Schema::Array(array) => self.nested(&array.items, path, done),
            Schema::Map(map) => self.nested(&map.types, path, done),
            Schema::Union(union) => union
                .variants()
                .iter()
                .try_for_each(|v| self.check_shape(v, path, done)),
            Schema::Decimal(decimal)
                if decimal.precision > MAX_DECIMAL_DIGITS || decimal.scale > MAX_DECIMAL_DIGITS =>
            {
                Err(format!("decimals of more than {MAX_DECIMAL_DIGITS} digits"))
            }
            _ => Ok(()),
        }
    }

    /// [`Self::check_shape`] one level down (an array's items, a map's values).
    fn nested(
        &self,
        schema: &Schema,
        path: &mut Vec<String>,
        done: &mut HashSet<String>,
    ) -> Result<(), AvroError> {
        path.push(String::new());
        let checked = self.check_shape(schema, path, done);
        path.pop();
        checked
    }

    fn to_json(&self, value: &Value, schema: &Schema) -> Json {
        let schema = self.resolve(schema);
        match value {
            Value::Null => Json::Null,
            Value::Boolean(b) => Json::Bool(*b),
            Value::Int(n) => json!(n),
            Value::Long(n) => json!(n),
            Value::Float(f) => float(f64::from(*f)),
            Value::Double(f) => float(*f),
            Value::Bytes(bytes) | Value::Fixed(_, bytes) => match schema {
                Schema::Decimal(decimal) => Json::String(decimal_text(bytes, decimal.scale)),
                _ => Json::String(super::base64(bytes)),
            },
            Value::String(s) => Json::String(s.clone()),
            Value::Enum(_, symbol) => Json::String(symbol.clone()),
            Value::Union(index, inner) => {
                let variant = match schema {
                    Schema::Union(union) => union.variants().get(*index as usize),
                    _ => None,
                };
                self.to_json(inner, variant.unwrap_or(&Schema::Null))
            }
            Value::Array(items) => {
                let item_schema = match schema {
                    Schema::Array(array) => &*array.items,
                    _ => &Schema::Null,
                };
                Json::Array(items.iter().map(|v| self.to_json(v, item_schema)).collect())
            }
            Value::Map(entries) => {
                let value_schema = match schema {
                    Schema::Map(map) => &*map.types,
                    _ => &Schema::Null,
                };
                let mut keys: Vec<&String> = entries.keys().collect();
                keys.sort();
                Json::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), self.to_json(&entries[k], value_schema)))
                        .collect(),
                )
            }
            Value::Record(fields) => {
                let field_schemas: HashMap<&str, &Schema> = match schema {
                    Schema::Record(record) => record
                        .fields
                        .iter()
                        .map(|f| (f.name.as_str(), &f.schema))
                        .collect(),
                    _ => HashMap::new(),
                };
                let mut object = Map::new();
                for (name, value) in fields {
                    let field_schema = field_schemas.get(name.as_str()).copied();
                    object.insert(
                        name.clone(),
                        self.to_json(value, field_schema.unwrap_or(&Schema::Null)),
                    );
                }
                Json::Object(object)
            }
            Value::Decimal(decimal) => {
                let scale = match schema {
                    Schema::Decimal(d) => d.scale,
                    _ => 0,
                };
                let bytes = Vec::<u8>::try_from(decimal).unwrap_or_default();
                Json::String(decimal_text(&bytes, scale))
            }
            Value::BigDecimal(decimal) => Json::String(decimal.to_string()),
            Value::Date(days) => Json::String(
                chrono::DateTime::from_timestamp(i64::from(*days) * 86_400, 0)
                    .map_or_else(|| days.to_string(), |d| d.format("%Y-%m-%d").to_string()),
            ),
            Value::TimeMillis(ms) => time_of_day(i64::from(*ms), MILLIS),
            Value::TimeMicros(us) => time_of_day(*us, MICROS),
            Value::TimestampMillis(ms) => instant(*ms, MILLIS, true),
            Value::TimestampMicros(us) => instant(*us, MICROS, true),
            Value::TimestampNanos(ns) => instant(*ns, NANOS, true),
            Value::LocalTimestampMillis(ms) => instant(*ms, MILLIS, false),
            Value::LocalTimestampMicros(us) => instant(*us, MICROS, false),
            Value::LocalTimestampNanos(ns) => instant(*ns, NANOS, false),
            Value::Duration(d) => json!({
                "months": u32::from(d.months()),
                "days": u32::from(d.days()),
                "millis": u32::from(d.millis()),
            }),
            Value::Uuid(uuid) => Json::String(uuid.to_string()),
        }
    }

    #[allow(clippy::wrong_self_convention)]
    fn from_json(
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
            Schema::Bytes => match json.as_str().and_then(super::unbase64) {
                Some(bytes) => Value::Bytes(bytes),
                None => return refuse("base64 text"),
            },
            Schema::Fixed(fixed) => match json.as_str().and_then(super::unbase64) {
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

fn collect_named(
    schema: &Schema,
    named: &mut HashMap<String, Schema>,
    depth: usize,
) -> Result<(), AvroError> {
    if depth > MAX_DEPTH {
        return Err(format!("types nested deeper than {MAX_DEPTH} levels"));
    }
    if named.len() > MAX_NAMED_TYPES {
        return Err(format!("more than {MAX_NAMED_TYPES} named types"));
    }
    match schema {
        Schema::Record(record) => {
            named.insert(record.name.fullname(None), schema.clone());
            for field in &record.fields {
                collect_named(&field.schema, named, depth + 1)?;
            }
        }
        Schema::Enum(e) => {
            named.insert(e.name.fullname(None), schema.clone());
        }
        Schema::Fixed(f) => {
            named.insert(f.name.fullname(None), schema.clone());
        }
        Schema::Array(a) => collect_named(&a.items, named, depth + 1)?,
        Schema::Map(m) => collect_named(&m.types, named, depth + 1)?,
        Schema::Union(u) => {
            for v in u.variants() {
                collect_named(v, named, depth + 1)?;
            }
        }
        _ => {}
    }
    Ok(())
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

/// A float as JSON: a number, or its name (`NaN`, `inf`) where JSON has none.
fn float(f: f64) -> Json {
    serde_json::Number::from_f64(f).map_or_else(|| Json::String(f.to_string()), Json::Number)
}

/// Units of a second: what the logical types count in.
const MILLIS: i64 = 1_000;
const MICROS: i64 = 1_000_000;
const NANOS: i64 = 1_000_000_000;

/// `value` (in `per_second` units since the epoch) as RFC 3339, in UTC (`…Z`) or, for local
/// timestamps, without zone, with as many fractional digits as it has; the number itself when
/// it is out of the calendar's range.
fn instant(value: i64, per_second: i64, utc: bool) -> Json {
    let (seconds, sub) = (value.div_euclid(per_second), value.rem_euclid(per_second));
    let nanos = sub * (NANOS / per_second);
    let Some(time) = chrono::DateTime::from_timestamp(seconds, nanos as u32) else {
        return json!(value);
    };
    let format = match (nanos == 0, nanos % 1_000_000 == 0, nanos % 1_000 == 0) {
        (true, _, _) => "%Y-%m-%dT%H:%M:%S",
        (_, true, _) => "%Y-%m-%dT%H:%M:%S%.3f",
        (_, _, true) => "%Y-%m-%dT%H:%M:%S%.6f",
        _ => "%Y-%m-%dT%H:%M:%S%.9f",
    };
    let text = time.format(format).to_string();
    Json::String(if utc { text + "Z" } else { text })
}

/// A time of day (`value` in `per_second` units since midnight) as `HH:MM:SS` with its
/// fraction; the number itself when it is not within a day.
fn time_of_day(value: i64, per_second: i64) -> Json {
    if !(0..86_400 * per_second).contains(&value) {
        return json!(value);
    }
    let (seconds, sub) = (value / per_second, value % per_second);
    let nanos = sub * (NANOS / per_second);
    let base = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60
    );
    Json::String(match (nanos == 0, nanos % 1_000_000 == 0) {
        (true, _) => base,
        (_, true) => format!("{base}.{:03}", nanos / 1_000_000),
        _ => format!("{base}.{:06}", nanos / 1_000),
    })
}

/// A time as `per_second` units since the epoch: from RFC 3339 text (UTC when it names no
/// zone), or a number already in those units.
fn epoch(json: &Json, per_second: i64) -> Option<i64> {
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

/// The digits of a decimal whose unscaled value is `bytes` (big-endian two's complement).
fn decimal_text(bytes: &[u8], scale: usize) -> String {
    if bytes.len() > 16 {
        return format!("0x{}", crate::secrets::hex(bytes));
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut wide = if negative { [0xff_u8; 16] } else { [0_u8; 16] };
    wide[16 - bytes.len()..].copy_from_slice(bytes);
    let unscaled = i128::from_be_bytes(wide);
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

/// The unscaled value of decimal text with at most `scale` places.
fn parse_decimal(text: &str, scale: usize) -> Option<i128> {
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
fn signed_bytes(n: i128) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let sign = if n < 0 { 0xff } else { 0 };
    let mut start = 0;
    while start < 15 && bytes[start] == sign && (bytes[start + 1] & 0x80 == sign & 0x80) {
        start += 1;
    }
    bytes[start..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYMENT: &str = r#"{
        "type": "record", "name": "Payment", "namespace": "shop",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "amount", "type": "double"},
            {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["OK", "FAILED"]}},
            {"name": "note", "type": ["null", "string"], "default": null},
            {"name": "tags", "type": {"type": "array", "items": "string"}}
        ]}"#;

    #[test]
    fn a_payment_decodes_readably_and_round_trips() {
        let schema = AvroSchema::compile(PAYMENT, &[]).unwrap();
        let value = json!({
            "id": "p-1", "amount": 512.5, "price": "-12.05", "at": "2026-12-06T09:30:00.250Z",
            "status": "FAILED", "note": "gift", "tags": ["a", "b"]
        });
        let bytes = schema.encode(&value).unwrap();
        assert_eq!(schema.decode(&bytes).unwrap(), value);
    }

    #[test]
    fn a_missing_optional_field_is_null_and_a_bad_field_is_named() {
        let schema = AvroSchema::compile(PAYMENT, &[]).unwrap();
        let mut value = json!({
            "id": "p-1", "amount": 1.0, "price": "1", "at": 0, "status": "OK", "tags": []
        });
        let decoded = schema.decode(&schema.encode(&value).unwrap()).unwrap();
        assert_eq!(decoded["note"], Json::Null);
        assert_eq!(decoded["price"], "1.00");
        assert_eq!(decoded["at"], "1970-01-01T00:00:00Z");
        value["amount"] = json!("lots");
        assert_eq!(
            schema.encode(&value).unwrap_err(),
            "value.amount: expected a number, got a string"
        );
        value["amount"] = json!(1.0);
        value["status"] = json!("LOST");
        assert!(schema
            .encode(&value)
            .unwrap_err()
            .starts_with("value.status: \"LOST\" is not one of"));
        value["status"] = json!("OK");
        value["extra"] = json!(1);
        assert_eq!(
            schema.encode(&value).unwrap_err(),
            "value.extra: the schema has no such field"
        );
    }

    #[test]
    fn left_over_bytes_mean_the_record_is_not_of_this_schema() {
        let schema = AvroSchema::compile(r#""long""#, &[]).unwrap();
        assert_eq!(schema.decode(&[2]).unwrap(), json!(1));
        assert_eq!(
            schema.decode(&[2, 2]).unwrap_err(),
            "1 bytes left over after the record"
        );
        assert!(schema.decode(&[0x80]).is_err(), "a varint cut short");
    }

    #[test]
    fn references_bring_named_types() {
        let address = r#"{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"city","type":"string"}]}"#;
        let customer = r#"{"type":"record","name":"Customer","namespace":"shop","fields":[{"name":"home","type":"shop.Address"}]}"#;
        let schema = AvroSchema::compile(customer, &[address.to_owned()]).unwrap();
        let value = json!({"home": {"city": "Lyon"}});
        assert_eq!(
            schema.decode(&schema.encode(&value).unwrap()).unwrap(),
            value
        );
        assert!(
            AvroSchema::compile(customer, &[]).is_err(),
            "unknown type without the reference"
        );
    }

    #[test]
    fn a_type_that_contains_itself_is_refused() {
        let list =
            r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#;
        assert_eq!(
            AvroSchema::compile(list, &[]).unwrap_err(),
            "the type Node contains itself"
        );
    }

    #[test]
    fn decimals_keep_their_digits() {
        assert_eq!(decimal_text(&[0x04, 0xd2], 2), "12.34");
        assert_eq!(decimal_text(&[0xff], 3), "-0.001");
        assert_eq!(decimal_text(&[0x00], 0), "0");
        for (text, scale) in [
            ("12.34", 2),
            ("-0.001", 3),
            ("7", 0),
            ("-128", 0),
            ("128", 0),
        ] {
            let unscaled = parse_decimal(text, scale).unwrap();
            assert_eq!(decimal_text(&signed_bytes(unscaled), scale), text);
        }
        assert_eq!(
            parse_decimal("1.234", 2),
            None,
            "more places than the scale"
        );
        assert_eq!(parse_decimal("1e3", 2), None);
    }

    #[test]
    fn times_read_as_times() {
        assert_eq!(instant(1_000, MILLIS, true), "1970-01-01T00:00:01Z");
        assert_eq!(instant(1_500, MICROS, false), "1970-01-01T00:00:00.001500");
        assert_eq!(instant(-1, MILLIS, true), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            instant(i64::MAX, MICROS, true),
            json!(i64::MAX),
            "past the calendar"
        );
        assert_eq!(time_of_day(3_723_004, MILLIS), "01:02:03.004");
        assert_eq!(time_of_day(-1, MILLIS), json!(-1));
        assert_eq!(
            epoch(&json!("1970-01-01T00:00:01.5Z"), MICROS),
            Some(1_500_000)
        );
        assert_eq!(
            epoch(&json!(7), MICROS),
            Some(7),
            "a number is in the type's unit"
        );
    }

    #[test]
    fn a_type_used_twice_decodes_and_deep_or_wide_schemas_are_refused() {
        let twice = r#"{"type":"record","name":"Trip","fields":[
            {"name":"from","type":{"type":"record","name":"Place","fields":[{"name":"city","type":"string"}]}},
            {"name":"to","type":"Place"}]}"#;
        let schema = AvroSchema::compile(twice, &[]).unwrap();
        let value = json!({"from": {"city": "Lyon"}, "to": {"city": "Porto"}});
        assert_eq!(
            schema.decode(&schema.encode(&value).unwrap()).unwrap(),
            value
        );

        // Forty types, each of two fields of the one before: walked once each, not 2⁴⁰ times.
        let mut types = vec![
            r#"{"type":"record","name":"T0","fields":[{"name":"x","type":"long"}]}"#.to_owned(),
        ];
        for i in 1..40 {
            types.push(format!(
                r#"{{"type":"record","name":"T{i}","fields":[{{"name":"a","type":"T{p}"}},{{"name":"b","type":"T{p}"}}]}}"#,
                p = i - 1
            ));
        }
        let started = std::time::Instant::now();
        let wide = AvroSchema::compile(types.last().unwrap(), &types[..39]);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(wide.is_ok(), "forty levels pass: {wide:?}");
    }

    #[test]
    fn what_could_harm_the_decoder_is_refused() {
        let mut deep = r#""long""#.to_owned();
        for _ in 0..100 {
            deep = format!(r#"{{"type":"array","items":{deep}}}"#);
        }
        assert!(AvroSchema::compile(&deep, &[])
            .unwrap_err()
            .contains("deeper than"));
        let wide_decimal =
            r#"{"type":"bytes","logicalType":"decimal","precision":2000000000,"scale":1000000000}"#;
        assert!(AvroSchema::compile(wide_decimal, &[])
            .unwrap_err()
            .contains("digits"));
        assert!(AvroSchema::compile(r#"{"type":"record","name":"1","fields":[]}"#, &[]).is_err());
        // An array that claims a billion items in a record of a few bytes.
        let array = AvroSchema::compile(r#"{"type":"array","items":"long"}"#, &[]).unwrap();
        assert!(array.decode(&[0x80, 0xa8, 0xd6, 0xb9, 0x07]).is_err());
    }
}
