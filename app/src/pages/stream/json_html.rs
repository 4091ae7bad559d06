//! Pretty, syntax-highlighted JSON as an HTML string: objects and arrays fold with
//! `<details>` (native, keyboard-usable), scalars are coloured by class. Built as one string and
//! set as the expanded record's inner HTML, because a record is opened rarely and read whole;
//! every piece of text goes through [`escape`].

use serde_json::Value;
use std::fmt::Write;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The value as highlighted, foldable HTML.
pub fn render(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str(r#"<span class="j-lit">null</span>"#),
        Value::Bool(b) => {
            let _ = write!(out, r#"<span class="j-lit">{b}</span>"#);
        }
        Value::Number(n) => {
            let _ = write!(out, r#"<span class="j-num">{n}</span>"#);
        }
        Value::String(s) => {
            // JSON escapes (`\n`, `\"`) inside, as the record would print.
            let json = Value::String(s.clone()).to_string();
            let inner = json
                .get(1..json.len().saturating_sub(1))
                .unwrap_or_default();
            let _ = write!(out, r#"<span class="j-str">"{}"</span>"#, escape(inner));
        }
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            let _ = write!(
                out,
                "<details open><summary>[{} items]</summary><div class=\"j-in\">",
                items.len()
            );
            for (i, item) in items.iter().enumerate() {
                out.push_str("<div>");
                write_value(out, item);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push_str("</div>");
            }
            out.push_str("</div>]</details>");
        }
        Value::Object(fields) => {
            if fields.is_empty() {
                out.push_str("{}");
                return;
            }
            let _ = write!(
                out,
                "<details open><summary>{{{} fields}}</summary><div class=\"j-in\">",
                fields.len()
            );
            let count = fields.len();
            for (i, (key, item)) in fields.iter().enumerate() {
                let _ = write!(
                    out,
                    r#"<div><span class="j-key">"{}"</span>: "#,
                    escape(key)
                );
                write_value(out, item);
                if i + 1 < count {
                    out.push(',');
                }
                out.push_str("</div>");
            }
            out.push_str("</div>}</details>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_and_keys_is_escaped() {
        let html = render(&serde_json::json!({"<b>": "<script>alert('x')</script>", "n": 1}));
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains(r#"<span class="j-num">1</span>"#));
    }

    #[test]
    fn containers_fold_and_scalars_are_classed() {
        let html = render(&serde_json::json!([true, null, {"a": []}]));
        assert!(html.starts_with("<details open><summary>[3 items]"));
        assert!(html.contains(r#"<span class="j-lit">true</span>"#));
        assert!(html.contains(r#"<span class="j-lit">null</span>"#));
        assert!(html.contains(r#"<span class="j-key">"a"</span>: []"#));
        let html = render(&serde_json::json!("say \"hi\""));
        assert_eq!(html, r#"<span class="j-str">"say \&quot;hi\&quot;"</span>"#);
    }
}
