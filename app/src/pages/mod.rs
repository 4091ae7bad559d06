//! The dashboard's pages, one module each.

mod not_found;
mod overview;
mod topics;

pub use not_found::NotFound;
pub use overview::Overview;
pub use topics::Topics;
