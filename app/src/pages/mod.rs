//! The dashboard's pages, one module each.

mod audit;
mod compose;
mod not_found;
mod overview;
mod signin;
mod stream;
mod subscriptions;
mod tokens;
mod topic_detail;
mod topics;

pub use audit::Audit;
pub use not_found::NotFound;
pub use overview::Overview;
pub use signin::{Account, SignIn};
pub use stream::{Search, Stream};
pub use subscriptions::Subscriptions;
pub use tokens::Tokens;
pub use topic_detail::TopicPage;
pub use topics::Topics;
