//! Text helpers whose browser build leans on the browser instead of shipping Rust's tables.

/// `text` in lower case, for case-insensitive filters. In the browser this is JavaScript's
/// `toLowerCase` (the same Unicode default case mapping as Rust's `str::to_lowercase`): Rust's
/// version brings its Unicode case tables into the bundle, some 16 KB of WASM for the two pages
/// that filter (topics, stream).
pub fn lowercase(text: &str) -> String {
    #[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
    {
        String::from(js_sys::JsString::from(text).to_lower_case())
    }
    #[cfg(not(all(feature = "hydrate", target_arch = "wasm32")))]
    {
        text.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lowercase_folds_unicode_letters() {
        assert_eq!(
            super::lowercase("Ünïcode ΣΑΣ Topic-1"),
            "ünïcode σας topic-1"
        );
    }
}
