//! The dashboard's pages, one module (or folder) each; every page is a lazy route, so its code is
//! a WASM chunk of its own, fetched when the page is first shown.
//!
//! | module | route | page |
//! | --- | --- | --- |
//! | [`overview`] | `/` | counters, health, each active topic's rate |
//! | [`topics`] | `/topics` | every topic, and the form to request one |
//! | [`topic_detail`] (with [`compose`], [`topic_owners`]) | `/topics/:id` | one topic: settings, actions, history, a test record; for its owners, who may read it and who does |
//! | [`subscriptions`] | `/subscriptions` | the user's subscriptions (everyone's for an admin) |
//! | [`stream`] | `/stream` | the live viewer (a folder: connection, rows, list, form) |
//! | [`search`] | `/search` | a search of a topic's history (a folder: form, run); shows matches with the viewer's rows |
//! | [`audit`] | `/audit` | the audit log (admin) |
//! | [`inbox`] | `/inbox` | what waits for an owner: subscription requests; for admins, claims |
//! | [`signin`], [`tokens`] | `/signin`, `/tokens` | who you are: admin sign-in, personal access tokens (one chunk) |
//! | [`not_found`] | anything else | what an unknown path shows |

mod audit;
mod compose;
mod inbox;
mod not_found;
mod overview;
mod search;
mod signin;
mod stream;
mod subscriptions;
mod tokens;
mod topic_detail;
mod topic_owners;
mod topics;

pub use audit::Audit;
pub use inbox::{InboxCount, InboxPage};
pub use not_found::NotFound;
pub use overview::Overview;
pub use search::Search;
pub use signin::{Account, SignIn};
pub use stream::Stream;
pub use subscriptions::Subscriptions;
pub use tokens::Tokens;
pub use topic_detail::TopicPage;
pub use topics::Topics;
