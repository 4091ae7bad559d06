//! Composing a test record on a topic's page (admins, active topics): a key, headers one per
//! line (`name: value`), and a JSON value checked as it is typed; sent through
//! `POST /api/topics/{id}/records`, which answers where it landed.

use crate::{
    api::{self, Method},
    components::ErrorNote,
    wire::{ProduceRequest, Produced},
};
use leptos::prelude::*;
use std::collections::BTreeMap;

/// Headers as typed: one `name: value` per line, blank lines ignored.
pub fn parse_headers(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(n, line)| match line.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(format!("header line {}: write it as `name: value`", n + 1)),
        })
        .collect()
}

/// The composer, folded until opened; `on_sent` runs after each record sent (the page's history
/// then shows it).
#[component]
pub fn Composer(topic_id: i64, on_sent: Callback<()>) -> impl IntoView {
    let key = RwSignal::new(String::new());
    let headers = RwSignal::new(String::new());
    let message = RwSignal::new(String::new());
    let value = RwSignal::new("{}".to_owned());
    let value_problem = Memo::new(move |_| {
        value.with(|v| {
            serde_json::from_str::<serde_json::Value>(v)
                .err()
                .map(|e| format!("not JSON: {e}"))
        })
    });
    let header_problem = Memo::new(move |_| headers.with(|h| parse_headers(h).err()));
    let send = Action::new(move |request: &ProduceRequest| {
        api::send::<_, Produced>(
            Method::Post,
            format!("/api/topics/{topic_id}/records"),
            request,
        )
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = send.value().get() {
            on_sent.run(());
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (Ok(value), Ok(headers)) = (
            serde_json::from_str(&value.get_untracked()),
            parse_headers(&headers.get_untracked()),
        ) else {
            return;
        };
        let key = key.get_untracked();
        let message = message.get_untracked().trim().to_owned();
        send.dispatch(ProduceRequest {
            key: (!key.is_empty()).then_some(key),
            headers,
            value,
            message: (!message.is_empty()).then_some(message),
        });
    };
    view! {
        <details class="card composer" data-testid="composer">
            <summary>"Produce a test record"</summary>
            <form on:submit=submit>
                <div class="field">
                    <label for="record-key">"Key (optional)"</label>
                    <input id="record-key" prop:value=key on:input=move |ev| key.set(event_target_value(&ev))/>
                </div>
                <div class="field">
                    <label for="record-headers">"Headers, one " <code>"name: value"</code> " per line"</label>
                    <textarea id="record-headers" rows="2" prop:value=headers
                        on:input=move |ev| headers.set(event_target_value(&ev))></textarea>
                    <p class="field-error" role="alert" data-testid="headers-error">{move || header_problem.get()}</p>
                </div>
                <div class="field">
                    <label for="record-value">"Value (JSON)"</label>
                    <textarea id="record-value" rows="6" class="mono" prop:value=value
                        aria-invalid=move || value_problem.with(Option::is_some).to_string()
                        on:input=move |ev| value.set(event_target_value(&ev))></textarea>
                    <p class="field-error" role="alert" data-testid="value-error">{move || value_problem.get()}</p>
                </div>
                <div class="field">
                    <label for="record-message">"Protobuf message (optional: the schema's first when empty)"</label>
                    <input id="record-message" class="mono" placeholder="shop.Payment" prop:value=message
                        on:input=move |ev| message.set(event_target_value(&ev))/>
                </div>
                <button type="submit" data-testid="send-record"
                    disabled=move || send.pending().get() || value_problem.with(Option::is_some) || header_problem.with(Option::is_some)>
                    "Send"
                </button>
            </form>
            {move || send.value().get().map(|result| match result {
                Ok(p) => view! {
                    <p class="ok" data-testid="record-sent">{format!("Sent to partition {} at offset {}.", p.partition, p.offset)}</p>
                }.into_any(),
                Err(error) => view! { <ErrorNote what="Not sent" error/> }.into_any(),
            })}
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_one_per_line() {
        assert_eq!(
            parse_headers("event_type: payment\n\n source : ui \nempty:").unwrap(),
            BTreeMap::from([
                ("event_type".into(), "payment".into()),
                ("source".into(), "ui".into()),
                ("empty".into(), String::new()),
            ])
        );
        assert_eq!(parse_headers("").unwrap(), BTreeMap::new());
        assert!(parse_headers("no colon").unwrap_err().contains("line 1"));
        assert!(parse_headers("a: 1\n: nameless")
            .unwrap_err()
            .contains("line 2"));
    }
}
