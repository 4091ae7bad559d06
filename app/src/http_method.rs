//! The HTTP methods of the dashboard's REST calls: named by [`crate::api`], which makes the
//! calls, and by [`crate::backend`], which carries them in-process during server-side rendering.
//!
//! A module of its own so that both can name a method while `api` alone depends on `backend`
//! (never the other way round). It must not depend on any other module of the crate.

/// The HTTP methods the dashboard uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}
