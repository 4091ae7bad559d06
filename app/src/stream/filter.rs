//! What a stream's or a search's `filter` expression reads, and how the browser tells an
//! expression (sent to the relay) from text to find (matched in the page). The server's filter
//! language evaluates the expressions; this module only names their variables.

/// What a filter expression reads; [`looks_like_filter_expression`] and the server's filter
/// language agree on these names.
pub const FILTER_VARIABLES: [&str; 6] = [
    "key",
    "value",
    "headers",
    "partition",
    "offset",
    "timestamp",
];

/// Whether what someone typed into a filter box is meant as an expression (sent to the relay)
/// rather than text to find: it starts with a name a filter reads (`value.level == "ERROR"`,
/// `offset > 5`) or with `has(`/`size(`/`!`, and has an operator or a call in it. `payment` or
/// `order-7` stay text.
pub fn looks_like_filter_expression(typed: &str) -> bool {
    let typed = typed.trim();
    let starts = FILTER_VARIABLES.iter().any(|name| {
        typed.strip_prefix(name).is_some_and(|rest| {
            rest.starts_with(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        })
    }) || ["has(", "size(", "!"].iter().any(|p| typed.starts_with(p));
    let operator = ["==", "!=", "<", ">", "&&", "||", " in ", "("]
        .iter()
        .any(|op| typed.contains(op));
    starts && operator
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_are_told_from_text() {
        for expression in [
            r#"value.level == "ERROR""#,
            "offset>5",
            "partition == 1 && key.startsWith(\"a\")",
            r#"headers.event_type in ["payment"]"#,
            "has(value.refund)",
            "timestamp > timestamp(\"2026-01-01T00:00:00Z\")",
        ] {
            assert!(looks_like_filter_expression(expression), "{expression}");
        }
        for text in [
            "payment",
            "order-7",
            "value",
            "keyboard == 1",
            "",
            "error (timeout)",
        ] {
            assert!(!looks_like_filter_expression(text), "{text}");
        }
    }
}
