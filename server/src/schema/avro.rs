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

mod writing;

#[cfg(test)]
mod tests;
