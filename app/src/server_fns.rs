//! Server functions: each runs on the server (through [`crate::backend::Backend`]) when the page
//! renders or when the browser calls it. They live under `/sfn/` so that `/api/` stays the REST
//! contract alone.

use crate::wire::Overview;
use leptos::prelude::*;

/// Stats and health for the overview page.
#[server(prefix = "/sfn", endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, ServerFnError> {
    let backend = expect_context::<crate::backend::SharedBackend>();
    backend.overview().await.map_err(ServerFnError::new)
}
