//! The browser entry point. Its only job is to hydrate the HTML that the server rendered, turning
//! it into the live dashboard; everything else lives in the `app` crate.

/// Called by the loader script that `leptos::HydrationScripts` puts into every page.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // `hydrate_lazy`: the pages are lazy routes, fetched as WASM chunks before they hydrate.
    leptos::mount::hydrate_lazy(app::App);
}
