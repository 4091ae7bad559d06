//! The record list's DOM, kept in step with the rows the viewer shows.
//!
//! Rows arrive by the thousand each second, are never edited, and leave from the oldest end, so
//! the list is maintained by hand rather than by a keyed `<For>`: both the rows shown and the
//! rows wanted are in arrival order, and one merge-walk over the two removes the rows that went
//! and inserts the new ones (consecutive new rows as one piece of HTML). Rows that stay are not
//! touched, so a record someone opened stays open. The keyed list's generic code was an eighth of
//! the stream page's WASM (14 KB gzipped); this is a few hundred bytes.

// Only the browser keeps a list (the server renders it empty): the rest looks unused there.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use super::{markup::row_html, model::Row};
use leptos::prelude::*;

/// One step of bringing the list from `shown` to `wanted` (both ascending arrival numbers).
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Remove the element at this position.
    Remove(usize),
    /// Insert these rows' HTML before the element at this position (or at the end).
    Insert(usize, String),
}

/// The steps that turn the list showing `shown` into one showing `wanted`, in order: positions
/// are those of the list as the earlier steps left it.
pub fn steps(shown: &[u64], wanted: &[Row]) -> Vec<Step> {
    let mut edit = Edit::default();
    let mut old = shown.iter().copied().peekable();
    for row in wanted {
        while old.next_if(|seq| *seq < row.seq).is_some() {
            edit.remove();
        }
        if old.next_if_eq(&row.seq).is_some() {
            edit.keep();
        } else {
            edit.insert(row);
        }
    }
    for _ in old {
        edit.remove();
    }
    edit.flush();
    edit.steps
}

/// The steps so far, where the walk is in the list, and new rows waiting to go in there.
#[derive(Default)]
struct Edit {
    steps: Vec<Step>,
    at: usize,
    html: String,
    pending: usize,
}

impl Edit {
    fn flush(&mut self) {
        if self.pending > 0 {
            self.steps
                .push(Step::Insert(self.at, std::mem::take(&mut self.html)));
            self.at += std::mem::take(&mut self.pending);
        }
    }

    fn remove(&mut self) {
        self.flush();
        self.steps.push(Step::Remove(self.at));
    }

    fn keep(&mut self) {
        self.flush();
        self.at += 1;
    }

    fn insert(&mut self, row: &Row) {
        self.html += &row_html(row);
        self.pending += 1;
    }
}

/// Applies [`steps`] to the list element; returns what it now shows.
#[cfg(feature = "hydrate")]
pub fn sync(list: &web_sys::Element, shown: &[u64], wanted: &[Row]) -> Vec<u64> {
    let children = list.children();
    for step in steps(shown, wanted) {
        match step {
            Step::Remove(at) => {
                if let Some(child) = children.item(at as u32) {
                    child.remove();
                }
            }
            Step::Insert(at, html) => {
                let _ = match children.item(at as u32) {
                    Some(next) => next.insert_adjacent_html("beforebegin", &html),
                    None => list.insert_adjacent_html("beforeend", &html),
                };
            }
        }
    }
    wanted.iter().map(|r| r.seq).collect()
}

/// The `<ol>` showing `rows`, kept in step with them by hand (see the module's doc), with one
/// click handler for the whole list: the live viewer's list and the search's results.
pub(in crate::pages) fn record_list(
    rows: Memo<Vec<Row>>,
    class: &'static str,
    testid: &'static str,
) -> impl IntoView {
    let list = NodeRef::<leptos::html::Ol>::new();
    // The effect remembers which rows the list shows.
    Effect::new(move |shown: Option<Vec<u64>>| {
        let shown = shown.unwrap_or_default();
        #[cfg(feature = "hydrate")]
        if let Some(list) = list.get() {
            return rows.with(|rows| sync(&list, &shown, rows));
        }
        shown
    });
    view! { <ol class=class data-testid=testid node_ref=list on:click=move |ev| record_click(ev, rows)></ol> }
}

/// A click in the record list: "copy" copies its record as JSON; the first opening of a record
/// writes its JSON body. One handler for the whole list, not one per row.
fn record_click(ev: leptos::ev::MouseEvent, rows: Memo<Vec<Row>>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(target) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let within = |selector: &str| target.closest(selector).ok().flatten();
        let Some(item) = within("li.record") else {
            return;
        };
        let seq = item
            .get_attribute("data-seq")
            .and_then(|s| s.parse::<u64>().ok());
        let Some(record) = rows.with_untracked(|rows| {
            let i = rows.binary_search_by_key(&seq?, |r| r.seq).ok()?;
            Some(std::sync::Arc::clone(&rows[i].record))
        }) else {
            return;
        };
        let shown = |selector: &str| item.query_selector(selector).ok().flatten();
        if within("[data-copy]").is_some() {
            // Copying does not open or close the record.
            ev.prevent_default();
            crate::browser::copy(&serde_json::to_string(&*record).unwrap_or_default());
        } else if within("[data-raw]").is_some() {
            if let Some(view) = shown(".raw-view") {
                if view.child_nodes().length() == 0 {
                    view.set_inner_html(&super::raw::hex_dump(&super::raw::payload_bytes(&record)));
                }
                let _ = view.toggle_attribute("hidden");
            }
        } else if let Some(button) = within("[data-schema]") {
            let id = button.get_attribute("data-schema").unwrap_or_default();
            let topic = crate::api::encode(&record.topic);
            if let Some(view) = shown(".schema-view") {
                let _ = view.toggle_attribute("hidden");
                if view.child_nodes().length() == 0 {
                    view.set_text_content(Some("loading…"));
                    leptos::task::spawn_local(async move {
                        let text = match crate::api::get::<crate::stream::SchemaView>(format!(
                            "/api/schemas/{id}?topic={topic}"
                        ))
                        .await
                        {
                            Ok(schema) => pretty_schema(&schema.schema),
                            Err(e) => format!("the schema could not be read: {}", e.message),
                        };
                        view.set_text_content(Some(&text));
                    });
                }
            }
        } else if within(".record-head").is_some() {
            let body = item.query_selector(".json").ok().flatten();
            if let Some(body) = body.filter(|b| b.child_nodes().length() == 0) {
                body.set_inner_html(&super::markup::record_body(&record));
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ev, rows);
}

/// A schema's text for reading: JSON (Avro, JSON Schema) indented, anything else as it is.
fn pretty_schema(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::stream::model::test_row;

    /// Applies the steps to a list of arrival numbers, as the browser applies them to elements.
    fn apply(shown: &[u64], wanted: &[u64]) -> (Vec<u64>, usize) {
        let rows: Vec<Row> = wanted.iter().map(|s| test_row(*s, None, "null")).collect();
        let mut list = shown.to_vec();
        let steps = steps(shown, &rows);
        for step in &steps {
            match step {
                Step::Remove(at) => {
                    list.remove(*at);
                }
                Step::Insert(at, html) => {
                    // Each inserted row is one `<li data-seq=…>`.
                    let seqs: Vec<u64> = html
                        .match_indices("data-seq=\"")
                        .map(|(i, m)| {
                            let rest = &html[i + m.len()..];
                            rest[..rest.find('"').unwrap()].parse().unwrap()
                        })
                        .collect();
                    list.splice(*at..*at, seqs);
                }
            }
        }
        (list, steps.len())
    }

    #[test]
    fn the_live_window_slides_with_one_insert() {
        let (list, steps) = apply(&[1, 2, 3, 4], &[3, 4, 5, 6, 7]);
        assert_eq!(list, [3, 4, 5, 6, 7]);
        // Two removals at the front, one insert of three rows at the end.
        assert_eq!(steps, 3);
    }

    #[test]
    fn filters_remove_and_restore_rows_in_place() {
        assert_eq!(apply(&[1, 2, 3, 4, 5], &[2, 4]).0, [2, 4]);
        assert_eq!(apply(&[2, 4], &[1, 2, 3, 4, 5]).0, [1, 2, 3, 4, 5]);
        assert_eq!(apply(&[], &[7]).0, [7]);
        assert_eq!(apply(&[7], &[]).0, Vec::<u64>::new());
        assert_eq!(apply(&[1, 2], &[1, 2]).1, 0);
    }

    proptest::proptest! {
        /// Whatever was shown and whatever is wanted, the list ends up showing what is wanted.
        #[test]
        fn the_list_always_ends_up_as_wanted(
            shown in proptest::collection::btree_set(0u64..40, 0..20),
            wanted in proptest::collection::btree_set(0u64..40, 0..20),
        ) {
            let shown: Vec<u64> = shown.into_iter().collect();
            let wanted: Vec<u64> = wanted.into_iter().collect();
            proptest::prop_assert_eq!(apply(&shown, &wanted).0, wanted);
        }
    }
}
