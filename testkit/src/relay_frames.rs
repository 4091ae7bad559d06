//! Reading the relay's frames lightly: how many records a frame carries and how many it says
//! were skipped, without decoding a single record. A debug-built test client that parses every
//! value cannot keep up with a fast feed, and a load generator that does starves the server it
//! measures; the relay benchmark and the integration tests count with this one reader.

use serde::{de::IgnoredAny, Deserialize};

/// One text frame from `/api/stream`, counted.
#[derive(Debug, Deserialize)]
pub struct FrameCount {
    /// The frame's `type` (`records`, `lagged`, `subscribed`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// `records`: the records, not decoded.
    #[serde(default)]
    records: Vec<IgnoredAny>,
    /// `lagged`: how many records the relay skipped for this socket.
    #[serde(default)]
    pub skipped: u64,
}

impl FrameCount {
    /// Reads a frame's text (`None` for something that is not a frame).
    pub fn read(text: &str) -> Option<FrameCount> {
        serde_json::from_str(text).ok()
    }

    /// How many records the frame carries (0 for frames other than `records`).
    pub fn records(&self) -> usize {
        self.records.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_records_and_skips_without_decoding_values() {
        let records = FrameCount::read(
            r#"{"type":"records","records":[{"value":{"deep":[1,2,{"x":null}]}},{"value":"x"}]}"#,
        )
        .unwrap();
        assert_eq!((records.kind.as_str(), records.records()), ("records", 2));
        let lagged = FrameCount::read(r#"{"type":"lagged","topic":"t","skipped":7}"#).unwrap();
        assert_eq!(
            (lagged.kind.as_str(), lagged.skipped, lagged.records()),
            ("lagged", 7, 0)
        );
        assert!(FrameCount::read("not json").is_none());
    }
}
