//! Filter expressions over records: CEL (the Common Expression Language, as Kafbat UI's "smart
//! filters" use) on `key`, `value` (the parsed JSON), `headers`, `partition`, `offset` and
//! `timestamp`. The relay compiles each distinct expression once and evaluates it once per
//! record however many sockets share it; the CLI evaluates the same language on what it reads
//! straight from Kafka, so both give the same results.
//!
//! CEL has no loops but its list macros, no I/O and no functions beyond those it is given: an
//! expression can reach nothing but the record. What it can do is cost time, so an expression
//! is refused at compile time when it is too long, names a function or variable the language
//! does not have, nests list macros (a macro inside a macro walks a list once per element of
//! another), walks a literal list of more than [`MAX_LITERAL_RANGE`] elements, or has a
//! `matches` pattern that is not a valid, bounded regular expression written in it. Patterns
//! are compiled once, when the expression is, never per call. Each evaluation has a time
//! budget and is stopped when it runs past it, not judged after it finished (`deadline`);
//! the relay runs evaluations off the async runtime and bounds each client's share
//! (`relay::evaluation`).

mod deadline;
mod rules;

use app::stream::StreamRecord;
use cel::common::types::{CelBool, CelString};
use cel::ExecutionError;
use cel::{Context, Env, IdedExpr, Value};
use deadline::within_budget;
use regex::Regex;
use rules::{calls_of, check};
use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
    time::{Duration, Instant},
};

/// The longest expression accepted, in characters.
pub const MAX_FILTER_LEN: usize = 1_000;

/// How long one evaluation may take. Generous (a typical one takes microseconds): only an
/// expression that walks a huge list in a huge record gets near it.
pub const EVALUATION_BUDGET: Duration = Duration::from_millis(20);

/// What a filter reads (the viewer tells expressions from text by the same names).
pub use app::stream::FILTER_VARIABLES as VARIABLES;

/// The functions a filter may call (CEL's standard ones; operators are always allowed).
const FUNCTIONS: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "string",
    "int",
    "uint",
    "double",
    "bool",
    "bytes",
    "dyn",
    "type",
    "timestamp",
    "duration",
    "getFullYear",
    "getMonth",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
];

/// Type names an expression may mention (`type(value.amount) == double`).
const TYPE_NAMES: &[&str] = &[
    "int",
    "uint",
    "double",
    "bool",
    "string",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
];

/// The most elements a list written in the expression may have when a list macro walks it
/// (`[1, 2, 3].exists(x, ...)`): the macro's body runs once per element for every record.
pub const MAX_LITERAL_RANGE: usize = 32;

/// The largest compiled form of a `matches` pattern (the `regex` crate's size limit), so that
/// no pattern takes long to compile or much memory to keep.
const MAX_PATTERN_BYTES: usize = 64 * 1024;

/// The most `matches` calls one expression may make: each holds a compiled pattern.
pub const MAX_PATTERNS_PER_FILTER: usize = 8;

/// The most `+` one expression may have: each may copy a string or a list of the record, so a
/// chain of them (`value.s + value.s + …`) would cost its length times the record's size.
pub const MAX_ADDITIONS_PER_FILTER: usize = 16;

/// The most patterns kept compiled; past it the cache starts over (patterns come only from
/// expressions that compiled, so this is many expressions' worth).
const MAX_PATTERNS: usize = 4_096;

/// The environment every filter compiles and runs in: CEL's standard library, and `matches`
/// over patterns compiled once (the library's own compiles the pattern on every call).
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    // Both registrations are new names in an environment built without the library's regex
    // support: they cannot clash.
    let _ = cel::add_overload!(env, fn matches: (CelString, CelString) -> Result<CelBool>, id = "matches");
    let _ = cel::add_member_overload!(env, fn matches: (CelString, CelString) -> Result<CelBool>);
    // Without it every instrumented macro would fail: a start that cannot register it stops.
    cel::add_overload!(env, fn within_budget: (CelBool) -> Result<CelBool>,
        name = deadline::CHECKPOINT, id = "within_budget")
    .expect("the evaluation checkpoint registers in a fresh environment");
    Arc::new(env)
});

/// Compiled `matches` patterns, by their text.
static PATTERNS: LazyLock<Mutex<HashMap<String, Arc<Regex>>>> = LazyLock::new(Mutex::default);

/// The compiled `pattern`, from the cache or compiled now (within [`MAX_PATTERN_BYTES`]; never
/// under the cache's lock, which every evaluation of `matches` takes).
fn pattern(pattern: &str) -> Result<Arc<Regex>, regex::Error> {
    let cached = PATTERNS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(pattern)
        .cloned();
    if let Some(compiled) = cached {
        return Ok(compiled);
    }
    let compiled = Arc::new(
        regex::RegexBuilder::new(pattern)
            .size_limit(MAX_PATTERN_BYTES)
            .build()?,
    );
    let mut patterns = PATTERNS.lock().unwrap_or_else(|p| p.into_inner());
    if patterns.len() >= MAX_PATTERNS {
        patterns.clear();
    }
    patterns.insert(pattern.to_owned(), compiled.clone());
    Ok(compiled)
}

/// CEL's `text.matches(pattern)`, over the compiled pattern.
fn matches(text: &CelString<'_>, re: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    match pattern(re.inner()) {
        Ok(compiled) => Ok(CelBool::from(compiled.is_match(text.inner()))),
        Err(e) => Err(ExecutionError::function_error("matches", e)),
    }
}

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("the filter has {0} characters; at most {MAX_FILTER_LEN} are allowed")]
    TooLong(usize),
    #[error("the filter is empty")]
    Empty,
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("unknown function `{0}`: a filter may call {list}", list = FUNCTIONS.join(", "))]
    UnknownFunction(String),
    #[error(
        "unknown name `{0}`: a filter reads key, value, headers, partition, offset and timestamp"
    )]
    UnknownVariable(String),
    #[error("too costly per record: a list macro (all, exists, exists_one, map, filter) may not contain another, nor read the record again (only its own variable)")]
    TooCostly,
    #[error("the pattern of `matches` must be a string written in the filter")]
    PatternNotLiteral,
    #[error("the pattern {pattern:?} of `matches` is refused: {reason}")]
    InvalidPattern { pattern: String, reason: String },
    #[error("too costly per record: a list macro may walk a list written in the filter of at most {MAX_LITERAL_RANGE} elements")]
    RangeTooLong,
    #[error("too costly: at most {MAX_PATTERNS_PER_FILTER} `matches` calls per filter")]
    TooManyPatterns,
    #[error("too costly: at most {MAX_ADDITIONS_PER_FILTER} `+` per filter (each may copy a string or a list of the record)")]
    TooManyAdditions,
}

/// A compiled filter expression.
pub struct Filter {
    source: String,
    /// The compiled expression, with its checkpoints (`deadline::instrument`).
    expression: IdedExpr,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Filter").field(&self.source).finish()
    }
}

/// What one evaluation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The expression is `true` for the record.
    Match,
    /// It is `false`, not a boolean, or an error (a missing field, a type mismatch) for it.
    NoMatch,
    /// It took longer than [`EVALUATION_BUDGET`]: the stream should stop.
    OverBudget,
}

impl Filter {
    /// Compiles `source`, or says what is wrong with it and where.
    pub fn compile(source: &str) -> Result<Filter, FilterError> {
        let length = source.chars().count();
        if length > MAX_FILTER_LEN {
            return Err(FilterError::TooLong(length));
        }
        if source.trim().is_empty() {
            return Err(FilterError::Empty);
        }
        let program = ENV.compile(source).map_err(|errors| {
            let first = errors.errors.first();
            FilterError::Syntax {
                line: first.map_or(1, |e| usize::try_from(e.pos.0).unwrap_or(1)),
                column: first.map_or(0, |e| usize::try_from(e.pos.1).unwrap_or(0) + 1),
                message: first.map_or_else(|| errors.to_string(), |e| e.msg.clone()),
            }
        })?;
        let mut patterns = 0;
        check(program.expression(), &mut Vec::new(), 0, &mut patterns)?;
        if calls_of(program.expression(), "_+_") > MAX_ADDITIONS_PER_FILTER {
            return Err(FilterError::TooManyAdditions);
        }
        Ok(Filter {
            source: source.to_owned(),
            expression: deadline::instrument(program.expression()),
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the filter against one record's variables.
    pub fn evaluate(&self, record: &RecordVariables) -> Verdict {
        let started = Instant::now();
        let mut context = Context::with_env(ENV.clone());
        for (name, value) in VARIABLES.iter().zip(&record.0) {
            context.add_variable_from_value(*name, value.clone());
        }
        let result = deadline::with_deadline(started + EVALUATION_BUDGET, || {
            Value::resolve(&self.expression, &context)
        });
        if started.elapsed() > EVALUATION_BUDGET {
            return Verdict::OverBudget;
        }
        match result {
            Ok(Value::Bool(true)) => Verdict::Match,
            _ => Verdict::NoMatch,
        }
    }

    /// Whether the filter matches `record` (an evaluation over budget does not).
    pub fn matches(&self, record: &StreamRecord) -> bool {
        self.evaluate(&RecordVariables::of(record)) == Verdict::Match
    }
}

/// One record as a filter sees it, converted once however many filters read it.
pub struct RecordVariables([Value; 6]);

impl std::fmt::Debug for RecordVariables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordVariables")
    }
}

impl RecordVariables {
    /// `record`'s variables, in the order of [`VARIABLES`].
    pub fn of(record: &StreamRecord) -> RecordVariables {
        let key = record.key.as_deref().map_or(Value::Null, Value::from);
        let value = record.value.as_ref().map_or(Value::Null, json_to_value);
        let headers = Value::Map(
            record
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), Value::from(v.as_str())))
                .collect::<std::collections::HashMap<_, _>>()
                .into(),
        );
        let timestamp = record
            .timestamp
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map_or(Value::Null, |t| Value::Timestamp(t.fixed_offset()));
        RecordVariables([
            key,
            value,
            headers,
            Value::Int(record.partition.into()),
            Value::Int(record.offset),
            timestamp,
        ])
    }
}

/// A JSON value as CEL sees it: integers as `int` (or `uint` past `i64`), other numbers as
/// `double`, objects as maps with string keys.
fn json_to_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => {
            Value::List(Arc::new(items.iter().map(json_to_value).collect()))
        }
        serde_json::Value::Object(fields) => Value::Map(
            fields
                .iter()
                .map(|(k, v)| (k.as_str(), json_to_value(v)))
                .collect::<std::collections::HashMap<_, _>>()
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn payment(amount: serde_json::Value, level: &str) -> StreamRecord {
        StreamRecord {
            topic: "payments".into(),
            partition: 2,
            offset: 41,
            timestamp: Some(1_764_460_800_000), // 2025-11-30T00:00:00Z
            key: Some("order-7".into()),
            headers: BTreeMap::from([("event_type".into(), "payment".into())]),
            value: Some(serde_json::json!({
                "amount": amount,
                "level": level,
                "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 5}],
                "customer": {"country": "PT"},
            })),
            encoding: "json".into(),
            ..Default::default()
        }
    }

    fn matches(source: &str, record: &StreamRecord) -> bool {
        Filter::compile(source)
            .unwrap_or_else(|e| panic!("{source}: {e}"))
            .matches(record)
    }

    #[test]
    fn each_variable_and_the_forms_people_write() {
        let r = payment(serde_json::json!(612.5), "ERROR");
        for yes in [
            r#"value.amount > 500.0 && headers.event_type == "payment""#,
            "value.amount > 500",
            r#"value.level in ["ERROR", "WARN"]"#,
            r#"key == "order-7""#,
            r#"key.startsWith("order-")"#,
            "partition == 2 && offset >= 41",
            r#"value.customer.country == "PT""#,
            r#"value.items.exists(i, i.qty > 4)"#,
            r#"value.items.all(i, i.sku.matches("^[a-z]$"))"#,
            r#"size(value.items) == 2"#,
            r#"timestamp >= timestamp("2025-11-30T00:00:00Z")"#,
            r#"timestamp.getFullYear() == 2025"#,
            r#"has(value.customer) && !has(value.refund)"#,
            r#""event_type" in headers"#,
        ] {
            assert!(matches(yes, &r), "{yes}");
        }
        for no in [
            "value.amount > 1000",
            r#"value.level == "INFO""#,
            r#"headers.event_type == "sensor""#,
            "partition == 0",
            // A missing field is an error for this record: no match, not a failure.
            "value.refund.amount > 0",
            // Not a boolean.
            "value.amount",
        ] {
            assert!(!matches(no, &r), "{no}");
        }
        // A tombstone and a keyless record.
        let mut empty = payment(serde_json::Value::Null, "");
        empty.value = None;
        empty.key = None;
        assert!(matches("value == null && key == null", &empty));
    }

    #[test]
    fn every_list_macro_gives_what_it_did_before_it_had_checkpoints() {
        let r = payment(serde_json::json!(1), "ERROR");
        for (source, expected) in [
            ("value.items.all(i, i.qty > 1)", true),
            ("value.items.all(i, i.qty > 2)", false),
            ("value.items.exists(i, i.qty == 5)", true),
            ("value.items.exists_one(i, i.qty > 1)", false),
            ("value.items.exists_one(i, i.qty > 2)", true),
            ("value.items.map(i, i.qty) == [2, 5]", true),
            ("value.items.map(i, i.qty > 2, i.sku) == ['b']", true),
            ("value.items.filter(i, i.qty > 2).size() == 1", true),
            ("[1, 2, 3].filter(x, x > 1) == [2, 3]", true),
            // An error in one element is absorbed by a later one that decides.
            ("value.items.exists(i, i.missing > 0 || i.qty == 5)", true),
        ] {
            assert_eq!(matches(source, &r), expected, "{source}");
        }
    }

    #[test]
    fn an_evaluation_past_its_budget_is_stopped_while_it_runs() {
        // A list so long that walking it with a pattern per element takes seconds.
        let items: Vec<u64> = (0..400_000).collect();
        let mut r = payment(serde_json::json!(1), "ERROR");
        r.value = Some(serde_json::json!({ "items": items }));
        let variables = RecordVariables::of(&r);
        for source in [
            r#"value.items.all(x, string(x).matches("^[0-9]+$"))"#,
            r#"value.items.exists(x, string(x).matches("^-"))"#,
            r#"value.items.exists_one(x, string(x).matches("^-"))"#,
            r#"value.items.filter(x, string(x).matches("^-")).size() > 0"#,
            r#"value.items.map(x, string(x).matches("^-")).size() > 0"#,
        ] {
            let filter = Filter::compile(source).unwrap();
            let started = Instant::now();
            assert_eq!(filter.evaluate(&variables), Verdict::OverBudget, "{source}");
            let took = started.elapsed();
            // Stopped at the budget, give or take one element and a loaded machine.
            assert!(took < EVALUATION_BUDGET * 10, "{source}: {took:?}");
        }
        // The deadline is the evaluation's only: the next one on this thread runs whole.
        let small = payment(serde_json::json!(1), "ERROR");
        assert!(matches("value.items.all(i, i.qty > 1)", &small));
    }

    #[test]
    fn matches_works_in_both_forms_on_patterns_compiled_once() {
        let r = payment(serde_json::json!(1), "ERROR");
        assert!(matches(r#"key.matches("^order-[0-9]+$")"#, &r));
        assert!(matches(r#"matches(key, "order")"#, &r));
        assert!(!matches(r#"key.matches("^ORDER")"#, &r));
        let compiled = pattern("^order-[0-9]+$").unwrap();
        assert!(Arc::ptr_eq(&compiled, &pattern("^order-[0-9]+$").unwrap()));
    }

    #[test]
    fn refusals_say_what_and_where() {
        let syntax = Filter::compile("value.amount >").unwrap_err();
        assert!(
            matches!(syntax, FilterError::Syntax { line: 1, column, .. } if column > 10),
            "{syntax:?}"
        );
        assert_eq!(
            Filter::compile(r#"readFile("/etc/passwd") == """#).unwrap_err(),
            FilterError::UnknownFunction("readFile".into())
        );
        assert_eq!(
            Filter::compile("env.HOME == \"/root\"").unwrap_err(),
            FilterError::UnknownVariable("env".into())
        );
        assert_eq!(
            Filter::compile(&"1 == 1 && ".repeat(200)).unwrap_err(),
            FilterError::TooLong(2000)
        );
        assert_eq!(
            Filter::compile("value.items.all(i, value.items.exists(j, j.qty == i.qty))")
                .unwrap_err(),
            FilterError::TooCostly
        );
        assert_eq!(Filter::compile("  ").unwrap_err(), FilterError::Empty);
        // Quadratic in the record: the record read again inside a macro.
        assert_eq!(
            Filter::compile("value.items.exists(i, i in value.items)").unwrap_err(),
            FilterError::TooCostly
        );
        assert_eq!(
            Filter::compile("value.items.map(i, value.items + value.items) != []").unwrap_err(),
            FilterError::TooCostly
        );
        assert_eq!(
            Filter::compile("key.matches(value.pattern)").unwrap_err(),
            FilterError::PatternNotLiteral
        );
        // A macro walking a long list written in the expression: its body runs per element for
        // every record.
        let hundred: Vec<String> = (0..100).map(|n| n.to_string()).collect();
        assert_eq!(
            Filter::compile(&format!("[{}].all(x, x >= 0)", hundred.join(","))).unwrap_err(),
            FilterError::RangeTooLong
        );
        assert_eq!(
            Filter::compile(&format!(
                "([{}] + [1]).exists(x, x == 1)",
                hundred[..32].join(",")
            ))
            .unwrap_err(),
            FilterError::RangeTooLong
        );
        assert!(Filter::compile(&format!("[{}].all(x, x >= 0)", hundred[..32].join(","))).is_ok());
        // Membership in a long list is one pass, not a walk per element: allowed.
        assert!(Filter::compile(&format!("value.n in [{}]", hundred.join(","))).is_ok());
        // Patterns are checked (and compiled) with the expression.
        assert!(matches!(
            Filter::compile(r#"key.matches("(unclosed")"#).unwrap_err(),
            FilterError::InvalidPattern { .. }
        ));
        assert!(matches!(
            Filter::compile(r#"key.matches(".{1000}.{1000}.{1000}")"#).unwrap_err(),
            FilterError::InvalidPattern { .. }
        ));
        // A chain of `+` copies the record's strings or lists once per link.
        let chain = ["value.s"; MAX_ADDITIONS_PER_FILTER + 2].join(" + ");
        assert_eq!(
            Filter::compile(&format!("size({chain}) > 0")).unwrap_err(),
            FilterError::TooManyAdditions
        );
        assert!(Filter::compile("value.a + value.b + 1 > 2").is_ok());
        // Each pattern is compiled and kept: a few per expression.
        let many = [r#"key.matches("a")"#; MAX_PATTERNS_PER_FILTER + 1].join(" || ");
        assert_eq!(
            Filter::compile(&many).unwrap_err(),
            FilterError::TooManyPatterns
        );
        // A macro's own variables are known inside it only.
        assert_eq!(
            Filter::compile("value.items.exists(i, i.qty > 1) && i.qty > 1").unwrap_err(),
            FilterError::UnknownVariable("i".into())
        );
    }
}
