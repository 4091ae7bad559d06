//! A record's payload as bytes, and those bytes as a hex dump: the record list's raw view.
//! The relay sends a decoded record's bytes (`raw`, base64) beside its JSON; a binary payload
//! travels as base64, text as text, and a JSON payload as its JSON.

// Only the browser opens records: on the server this looks unused.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use super::json_html::escape;
use crate::stream::RawStreamRecord;

/// Bytes shown at most: a dump of a megabyte would stall the page for a glance.
const MAX_SHOWN: usize = 64 * 1024;

/// The payload's bytes, as near as the record lets them be known: exact for decoded, binary
/// and text payloads; for JSON, the JSON as the relay sent it.
pub fn payload_bytes(record: &RawStreamRecord) -> Vec<u8> {
    if let Some(raw) = &record.raw {
        return unbase64(raw);
    }
    let Some(value) = &record.value else {
        return Vec::new();
    };
    let as_string = || serde_json::from_str::<String>(value.get()).unwrap_or_default();
    match record.encoding.as_str() {
        "base64" => unbase64(&as_string()),
        "text" => as_string().into_bytes(),
        _ => value.get().as_bytes().to_vec(),
    }
}

/// Sixteen bytes a line: offset, hex, and the printable ASCII, escaped for HTML.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().min(MAX_SHOWN) * 5);
    for (line, chunk) in bytes[..bytes.len().min(MAX_SHOWN)].chunks(16).enumerate() {
        let mut hex = String::with_capacity(48);
        for (i, b) in chunk.iter().enumerate() {
            hex += &format!(
                "{}{b:02x}",
                if i == 8 {
                    "  "
                } else if i > 0 {
                    " "
                } else {
                    ""
                }
            );
        }
        let text: String = chunk
            .iter()
            .map(|b| {
                if b.is_ascii_graphic() || *b == b' ' {
                    char::from(*b)
                } else {
                    '.'
                }
            })
            .collect();
        out += &format!("{:08x}  {hex:<49}  {}\n", line * 16, escape(&text));
    }
    if bytes.len() > MAX_SHOWN {
        out += &format!("… {} more bytes\n", bytes.len() - MAX_SHOWN);
    }
    if bytes.is_empty() {
        out += "(no bytes)\n";
    }
    out
}

/// Standard base64 (padding optional); what does not decode is skipped.
fn unbase64(text: &str) -> Vec<u8> {
    let digit = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    };
    let digits: Vec<u32> = text.bytes().filter_map(digit).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, d)| n | d << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len().max(1)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(encoding: &str, value: &str, raw: Option<&str>) -> RawStreamRecord {
        serde_json::from_value(serde_json::json!({
            "topic": "t", "partition": 0, "offset": 0, "timestamp": null, "key": null,
            "value": serde_json::from_str::<serde_json::Value>(value).unwrap(),
            "encoding": encoding, "raw": raw,
        }))
        .unwrap()
    }

    #[test]
    fn each_kind_of_payload_gives_its_bytes() {
        assert_eq!(
            payload_bytes(&record("avro", r#"{"a":1}"#, Some("AAAAAAcC"))),
            [0, 0, 0, 0, 7, 2]
        );
        assert_eq!(
            payload_bytes(&record("base64", r#""/wAQgA==""#, None)),
            [0xff, 0, 0x10, 0x80]
        );
        assert_eq!(
            payload_bytes(&record("text", r#""hé""#, None)),
            "hé".as_bytes()
        );
        assert_eq!(
            payload_bytes(&record("json", r#"{"a":1}"#, None)),
            br#"{"a":1}"#
        );
        assert_eq!(unbase64("Zm8"), b"fo");
    }

    #[test]
    fn a_dump_shows_offsets_hex_and_escaped_text() {
        let dump = hex_dump(b"<a>\x00\x01bcdefghijklmnopq");
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with("00000000  3c 61 3e 00 01 62 63 64  65 66"),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with("&lt;a&gt;..bcdefghijkl"), "{}", lines[0]);
        assert!(
            lines[1].starts_with("00000010  6d 6e 6f 70 71"),
            "{}",
            lines[1]
        );
        assert_eq!(hex_dump(&[]), "(no bytes)\n");
    }
}
