//! The few browser facilities the dashboard uses beyond Leptos: cookies, the clipboard, file
//! downloads, timing, the hydration mark, and the WebSocket to the relay ([`RelaySocket`], which the live viewer and
//! the search page share). Only compiled for the browser (`hydrate`).

mod relay_socket;

pub use relay_socket::{RelaySender, RelaySocket, SocketEvent};
use wasm_bindgen::{JsCast, JsValue};

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

/// The value of cookie `name`, if set and non-empty.
pub fn cookie(name: &str) -> Option<String> {
    let all = document()?
        .dyn_into::<web_sys::HtmlDocument>()
        .ok()?
        .cookie()
        .ok()?;
    all.split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// Sets a first-party cookie for a year (`SameSite=Lax`; `value` must be cookie-safe).
pub fn set_cookie(name: &str, value: &str) {
    if let Some(doc) = document().and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok()) {
        let _ = doc.set_cookie(&format!(
            "{name}={value}; Path=/; Max-Age=31536000; SameSite=Lax"
        ));
    }
}

/// Copies text to the clipboard (best effort: browsers refuse outside secure contexts).
pub fn copy(text: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().clipboard().write_text(text);
    }
}

/// Offers `text` as a file download named `file_name`.
pub fn download(file_name: &str, mime: &str, text: &str) {
    let Some(doc) = document() else { return };
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Some(a) = doc
        .create_element("a")
        .ok()
        .and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    {
        a.set_href(&url);
        a.set_download(file_name);
        a.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

/// Marks the document as hydrated with `page` (`<html data-hydrated="…">`), and the moment as
/// the performance mark `hydrated`: from then on the page answers clicks. Tests and benchmarks
/// wait for it.
pub fn mark_hydrated(page: &str) {
    if let Some(html) = document().and_then(|d| d.document_element()) {
        let _ = html.set_attribute("data-hydrated", page);
    }
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark("hydrated");
    }
}

/// Milliseconds since the page started (monotonic).
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}
