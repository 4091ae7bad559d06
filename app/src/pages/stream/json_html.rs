//! Pretty, syntax-highlighted JSON as an HTML string: objects and arrays fold with
//! `<details>` (native, keyboard-usable), scalars are coloured by class. Built as one string and
//! set as the expanded record's inner HTML, because a record is opened rarely and read whole;
//! every piece of text goes through [`escape`].
//!
//! It reads the JSON text itself rather than a `serde_json::Value`: numbers and strings are shown
//! as the record wrote them, and the browser bundle carries no JSON tree for this one view.

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

fn push_escaped(out: &mut String, text: &str) {
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
}

/// The JSON text as highlighted, foldable HTML; `None` when it is not one JSON value.
pub fn render(json: &str) -> Option<String> {
    let mut reader = Reader { text: json, at: 0 };
    let mut out = String::with_capacity(json.len() * 3);
    reader.value(&mut out, 0)?;
    reader.skip_space();
    (reader.at == json.len()).then_some(out)
}

/// Deepest nesting rendered (the relay's JSON parser stops at 128 too): deeper text is refused
/// rather than recursed into.
const MAX_DEPTH: usize = 128;

/// A cursor over JSON text. Positions only ever stop on ASCII bytes, so slicing is safe.
struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Consumes `byte` (after spaces) if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_space();
        let next = self.peek() == Some(byte);
        self.at += usize::from(next);
        next
    }

    fn value(&mut self, out: &mut String, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_space();
        match self.peek()? {
            b'{' => self.container(out, depth, b'}', "fields"),
            b'[' => self.container(out, depth, b']', "items"),
            b'"' => {
                let inner = self.string()?;
                out.push_str(r#"<span class="j-str">""#);
                push_escaped(out, inner);
                out.push_str(r#""</span>"#);
                Some(())
            }
            b'-' | b'0'..=b'9' => {
                let start = self.at;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.at += 1;
                }
                out.push_str(r#"<span class="j-num">"#);
                out.push_str(&self.text[start..self.at]);
                out.push_str("</span>");
                Some(())
            }
            _ => {
                let word = ["null", "true", "false"]
                    .into_iter()
                    .find(|w| self.text.get(self.at..).is_some_and(|t| t.starts_with(w)))?;
                self.at += word.len();
                out.push_str(r#"<span class="j-lit">"#);
                out.push_str(word);
                out.push_str("</span>");
                Some(())
            }
        }
    }

    /// A string's text between its quotes, escapes kept as written.
    fn string(&mut self) -> Option<&str> {
        let start = self.at + 1;
        let mut i = start;
        let bytes = self.text.as_bytes();
        loop {
            match bytes.get(i)? {
                b'\\' => i += 2,
                b'"' => break,
                _ => i += 1,
            }
        }
        self.at = i + 1;
        self.text.get(start..i)
    }

    /// An object (`close` is `}`) or array (`]`): a folding block that says how many `what` it
    /// holds, one member per line.
    fn container(&mut self, out: &mut String, depth: usize, close: u8, what: &str) -> Option<()> {
        self.at += 1;
        if self.eat(close) {
            out.push_str(if close == b'}' { "{}" } else { "[]" });
            return Some(());
        }
        let mut members = String::new();
        let mut count = 0_usize;
        loop {
            members.push_str("<div>");
            if close == b'}' {
                self.skip_space();
                if self.peek() != Some(b'"') {
                    return None;
                }
                let key = self.string()?;
                members.push_str(r#"<span class="j-key">""#);
                push_escaped(&mut members, key);
                members.push_str(r#""</span>: "#);
                if !self.eat(b':') {
                    return None;
                }
            }
            self.value(&mut members, depth + 1)?;
            count += 1;
            let more = self.eat(b',');
            if more {
                members.push(',');
            }
            members.push_str("</div>");
            if !more {
                break;
            }
        }
        if !self.eat(close) {
            return None;
        }
        let (open, end) = if close == b'}' {
            ("{", "}")
        } else {
            ("[", "]")
        };
        out.push_str("<details open><summary>");
        out.push_str(open);
        out.push_str(&count.to_string());
        out.push(' ');
        out.push_str(what);
        out.push_str(end);
        out.push_str(r#"</summary><div class="j-in">"#);
        out.push_str(&members);
        out.push_str("</div>");
        out.push_str(end);
        out.push_str("</details>");
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_and_keys_is_escaped() {
        let html = render(r#"{"<b>": "<script>alert('x')</script>", "n": 1}"#).unwrap();
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains(r#"<span class="j-num">1</span>"#));
    }

    #[test]
    fn containers_fold_and_scalars_are_classed() {
        let html = render(r#"[true, null, {"a": []}]"#).unwrap();
        assert!(html.starts_with("<details open><summary>[3 items]"));
        assert!(html.contains(r#"<span class="j-lit">true</span>"#));
        assert!(html.contains(r#"<span class="j-lit">null</span>"#));
        assert!(html.contains(r#"<span class="j-key">"a"</span>: []"#));
        assert!(render(r#"{"a":{"b":1,"c":2}}"#)
            .unwrap()
            .contains("<summary>{2 fields}</summary>"));
        let html = render(r#""say \"hi\"""#).unwrap();
        assert_eq!(html, r#"<span class="j-str">"say \&quot;hi\&quot;"</span>"#);
        assert_eq!(
            render("-1.5e3").unwrap(),
            r#"<span class="j-num">-1.5e3</span>"#
        );
    }

    #[test]
    fn text_that_is_not_one_json_value_is_refused() {
        for bad in [
            "",
            "{",
            "[1,",
            r#"{"a" 1}"#,
            "{1: 2}",
            "nul",
            "[1] 2",
            r#""open"#,
        ] {
            assert_eq!(render(bad), None, "{bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert_eq!(render(&deep), None);
    }

    proptest::proptest! {
        /// Whatever the JSON, its tags balance and no markup from the values leaks through.
        #[test]
        fn any_json_renders_with_balanced_tags(value in json_value()) {
            let text = value.to_string();
            let html = render(&text).unwrap();
            proptest::prop_assert_eq!(
                html.matches("<details").count(),
                html.matches("</details>").count()
            );
            proptest::prop_assert_eq!(
                html.matches("<span").count(),
                html.matches("</span>").count()
            );
            proptest::prop_assert!(!strip_tags(&html).contains('<'));
        }

        /// Arbitrary text never panics the reader.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
            let _ = render(&text);
        }
    }

    fn strip_tags(html: &str) -> String {
        let mut out = String::new();
        let mut inside = false;
        for c in html.chars() {
            match c {
                '<' => inside = true,
                '>' => inside = false,
                c if !inside => out.push(c),
                _ => {}
            }
        }
        out
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(serde_json::Value::from),
            (-1e6_f64..1e6).prop_map(serde_json::Value::from),
            "\\PC{0,12}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map("\\PC{0,8}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
