//! Blocking work (broker look-ups, commits, readers) run off the async runtime, with its
//! result and the pool's own failure (a panic, a cancelled task) folded into one error text:
//! callers report either the same way.

use std::fmt::Display;
use tokio::task::JoinError;

/// Runs `work` on the blocking pool and waits for it.
pub(super) async fn blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, String>
where
    T: Send + 'static,
    E: Display + Send + 'static,
{
    joined(tokio::task::spawn_blocking(work).await)
}

/// The result of a blocking task that was spawned earlier and has now been awaited.
pub(super) fn joined<T, E: Display>(result: Result<Result<T, E>, JoinError>) -> Result<T, String> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}
