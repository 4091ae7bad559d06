//! The viewer's HTML written as strings: record rows, the lists and options its controls
//! rewrite whole, the counters. Everything from a record or the relay goes through
//! [`escape`].
//!
//! Why strings: what the viewer redraws ten times a second, or rewrites whole, is cheaper as one
//! string the browser parses than as Leptos views, and each distinct reactive view costs the
//! page's WASM 1–4 KB gzipped (BENCHMARKS.md, "Dashboard: Bundle"). The controls stay Leptos views.

// Rows and record bodies exist only in the browser: on the server they look unused.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use super::{
    json_html::{self, escape},
    model::Row,
};
use crate::stream::RawStreamRecord;

/// The viewer's counters, each in an element the tests read by its `data-testid`.
pub fn counters_html(received: u64, rate: u64, skipped: u64, held: usize) -> String {
    let mut html = format!(
        "<span data-testid=\"received\">{received}</span> received · \
         <span data-testid=\"rate\">{rate}</span>/s · \
         <span data-testid=\"skipped\">{skipped}</span> skipped"
    );
    if held > 0 {
        html += &format!(" · <span data-testid=\"held\">{held}</span> held while paused");
    }
    html
}

/// A row as HTML: its head line (topic, partition, offset, time, key, preview, a copy
/// button) in a closed `<details>`, whose JSON body is written on first opening
/// ([`super::record_click`]).
///
/// Rows come and go by the thousand each second and are never edited, so they are written as one
/// string each, not built as reactive views: the browser parses it faster than it runs the calls
/// that would build it node by node, and the page's WASM is 5 KB smaller (gzipped).
pub fn row_html(row: &Row) -> String {
    let r = &*row.record;
    let mut html = format!(
        "<li class=\"record\" data-seq=\"{}\" data-partition=\"{}\" data-offset=\"{}\"><details>\
         <summary class=\"record-head\"><span class=\"mono muted\">{} p{} #{}</span>",
        row.seq,
        r.partition,
        r.offset,
        escape(&r.topic),
        r.partition,
        r.offset
    );
    if let Some(ms) = r.timestamp {
        html += &format!("<time class=\"muted\">{}</time>", format_ms(ms));
    }
    if let Some(key) = &r.key {
        html += &format!("<span class=\"key mono\">{}</span>", escape(key));
    }
    if let Some(schema) = &r.schema {
        html += &format!(
            "<span class=\"badge schema\" data-testid=\"schema-badge\" title=\"{}\">{}</span>",
            escape(&schema.label()),
            escape(&schema.format.replace('_', " "))
        );
    }
    if let Some(reason) = &r.undecoded {
        html += &format!(
            "<span class=\"badge undecoded\" data-testid=\"undecoded-badge\" title=\"{}\">not decoded</span>",
            escape(reason)
        );
    }
    let preview: String = row.text.chars().take(240).collect();
    html += &format!(
        "<code class=\"preview\">{}</code><button type=\"button\" class=\"link\" title=\"Copy the record as JSON\" data-copy>copy</button></summary><div class=\"json\"></div></details></li>",
        escape(&preview)
    );
    html
}

/// The topic checkboxes, `chosen` ones checked.
pub fn topic_checks_html(names: &[String], chosen: &[String]) -> String {
    names
        .iter()
        .map(|name| {
            let checked = if chosen.contains(name) {
                " checked"
            } else {
                ""
            };
            let name = escape(name);
            format!(
                "<label class=\"check\"><input type=\"checkbox\" value=\"{name}\"{checked}>\
                 <span class=\"mono\">{name}</span></label>"
            )
        })
        .collect()
}

/// `<li>` items, escaped (for the notices: a list rewritten whole, see [`row_html`] for why).
pub fn items_html(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    items
        .into_iter()
        .map(|item| format!("<li>{}</li>", escape(item.as_ref())))
        .collect()
}

/// The partition filter's options: "all", then each partition seen, `chosen` selected.
pub fn partition_options(partitions: &[i32], chosen: Option<i32>) -> String {
    let mut html = String::from("<option value=\"\">all</option>");
    for &p in partitions {
        let selected = if chosen == Some(p) { " selected" } else { "" };
        html += &format!("<option value=\"{p}\"{selected}>{p}</option>");
    }
    html
}

/// A topic `<select>`'s options, `chosen` selected.
pub fn topic_options(names: &[String], chosen: &str) -> String {
    names
        .iter()
        .map(|name| {
            let selected = if name == chosen { " selected" } else { "" };
            let name = escape(name);
            format!("<option value=\"{name}\"{selected}>{name}</option>")
        })
        .collect()
}

/// An opened record: what it was decoded with (or why not), buttons for its raw bytes and its
/// schema, and its value as highlighted JSON (or as escaped text if it is not JSON).
pub fn record_body(record: &RawStreamRecord) -> String {
    let mut html = String::from("<div class=\"record-tools\">");
    if let Some(schema) = &record.schema {
        html += &format!("<span class=\"muted\">{}</span>", escape(&schema.label()));
        if let Some(id) = schema.id {
            html += &format!(
                "<button type=\"button\" class=\"link\" data-schema=\"{id}\">schema</button>"
            );
        }
    }
    if let Some(reason) = &record.undecoded {
        html += &format!(
            "<span class=\"undecoded\">not decoded: {}</span>",
            escape(reason)
        );
    }
    html += "<button type=\"button\" class=\"link\" data-raw>raw</button></div>\
             <pre class=\"raw-view\" data-testid=\"raw-view\" hidden></pre>\
             <pre class=\"schema-view\" data-testid=\"schema-view\" hidden></pre><div class=\"value\">";
    html += &match &record.value {
        None => "null".to_owned(),
        Some(raw) => json_html::render(raw.get()).unwrap_or_else(|| escape(raw.get())),
    };
    html + "</div>"
}

/// Milliseconds since the epoch → `HH:MM:SS.mmm` (UTC).
pub fn format_ms(ms: i64) -> String {
    let day_ms = ms.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::stream::model::test_row;

    #[test]
    fn topic_options_are_escaped_and_one_is_selected() {
        let names = ["a".to_owned(), "<b>".to_owned()];
        assert_eq!(
            topic_options(&names, "<b>"),
            "<option value=\"a\">a</option><option value=\"&lt;b&gt;\" selected>&lt;b&gt;</option>"
        );
    }

    #[test]
    fn a_row_is_written_as_escaped_html_with_its_head_and_an_empty_body() {
        let html = row_html(&test_row(1, Some("k&<"), r#"{"a":"<b>"}"#));
        assert!(html.starts_with(
            r#"<li class="record" data-seq="1" data-partition="2" data-offset="7"><details><summary class="record-head">"#
        ));
        assert!(html.contains(r#"<span class="mono muted">t&lt;1&gt; p2 #7</span>"#));
        assert!(html.contains(r#"<time class="muted">00:00:01.002</time>"#));
        assert!(html.contains(r#"<span class="key mono">k&amp;&lt;</span>"#));
        assert!(
            html.contains(r#"<code class="preview">{&quot;a&quot;:&quot;&lt;b&gt;&quot;}</code>"#)
        );
        assert!(html.contains("data-copy>copy</button></summary>"));
        assert!(html.ends_with(r#"<div class="json"></div></details></li>"#));
        // No key, no key element; the preview is cut at 240 characters.
        let long = format!("\"{}\"", "é".repeat(300));
        let html = row_html(&test_row(1, None, &long));
        assert!(!html.contains("class=\"key"));
        assert!(html.contains(&format!(">&quot;{}</code>", "é".repeat(239))));
        // The body is highlighted JSON, escaped.
        let body = record_body(&test_row(1, None, r#"{"a":"<b>"}"#).record);
        assert!(body.contains("j-key") && body.contains("&lt;b&gt;") && !body.contains("<b>"));
    }

    #[test]
    fn lists_written_as_html_are_escaped_and_keep_the_choice() {
        assert_eq!(items_html(["a<b", "c"]), "<li>a&lt;b</li><li>c</li>");
        assert_eq!(
            partition_options(&[0, 2], Some(2)),
            r#"<option value="">all</option><option value="0">0</option><option value="2" selected>2</option>"#
        );
    }

    #[test]
    fn counters_show_held_records_only_while_there_are_some() {
        assert_eq!(
            counters_html(5, 2, 1, 0),
            "<span data-testid=\"received\">5</span> received · \
             <span data-testid=\"rate\">2</span>/s · \
             <span data-testid=\"skipped\">1</span> skipped"
        );
        assert!(counters_html(5, 2, 1, 3)
            .ends_with(" · <span data-testid=\"held\">3</span> held while paused"));
    }

    #[test]
    fn times_of_day_are_written_to_the_millisecond() {
        assert_eq!(format_ms(951_868_801_002), "00:00:01.002");
        assert_eq!(format_ms(-1), "23:59:59.999");
    }
}
