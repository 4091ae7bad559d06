//! The dashboard's pages, one module each.

mod not_found;
mod overview;

pub use not_found::NotFound;
pub use overview::Overview;
