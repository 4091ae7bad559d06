//! The live stream's frame protocol (`GET /api/stream`, WebSocket, JSON text frames), shared by
//! the server's relay, the browser's viewer and search page, and the CLI's `--via-relay` mode.
//! docs/protocol.md describes it for other clients; keep the two in step.
//!
//! | module | job |
//! | --- | --- |
//! | `frames` | the frames: [`ClientFrame`], [`ServerFrame`] and what they carry ([`StartPosition`], [`SearchRequest`], [`StreamRecord`]) |
//! | `offsets` | [`PartitionOffsets`]: partition → offset, where a stream starts or joins |
//! | `light` | the browser's readers of server frames: one pass, a typed [`FrameKind`], record values left unparsed |
//! | `filter` | what a filter expression reads, and telling an expression from text to find |
//!
//! Everything is re-exported here: callers name `app::stream::ServerFrame`, not the file it is
//! in. This module must not depend on any runtime (it compiles to WASM as well).

mod filter;
mod frames;
mod light;
mod offsets;

pub use filter::{looks_like_filter_expression, FILTER_VARIABLES};
pub use frames::{
    ClientFrame, RecordSchema, SchemaReferenceView, SchemaView, SearchRequest, ServerFrame,
    StartPosition, StreamRecord,
};
pub use light::{FrameKind, RawStreamRecord, SearchFrameFields, ServerFrameFields};
pub use offsets::PartitionOffsets;
