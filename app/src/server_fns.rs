//! Server functions: each runs on the server (through [`crate::backend::Backend`]) when the page
//! renders or when the browser calls it. They live under `/sfn/` so that `/api/` stays the REST
//! contract alone.

use crate::wire::{FormError, NewTopicRequest, Overview, Topic};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// Stats and health for the overview page.
#[server(prefix = "/sfn", endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, ServerFnError> {
    let backend = expect_context::<crate::backend::SharedBackend>();
    backend.overview().await.map_err(ServerFnError::new)
}

/// Every topic for the topics page.
#[server(prefix = "/sfn", endpoint = "topics")]
pub async fn list_topics() -> Result<Vec<Topic>, ServerFnError> {
    let backend = expect_context::<crate::backend::SharedBackend>();
    backend.topics().await.map_err(ServerFnError::new)
}

/// Submits the request form; `Ok(Err(_))` is a refusal to show next to the form.
#[server(prefix = "/sfn", endpoint = "request_topic", input = Json)]
pub async fn request_topic(
    request: NewTopicRequest,
) -> Result<Result<i64, FormError>, ServerFnError> {
    let backend = expect_context::<crate::backend::SharedBackend>();
    backend
        .request_topic(request)
        .await
        .map_err(ServerFnError::new)
}
