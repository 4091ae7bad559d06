//! The schema registry's wire format: a zero byte, the schema id as four big-endian bytes, for
//! Protobuf the indexes of the message in its file (zigzag varints: a count, then the path; a
//! single zero for the first message), then the payload. Framing only: no schema is read here.

/// The first byte of every framed record.
pub const MAGIC: u8 = 0;

/// Most message indexes read from a Protobuf frame: nesting deeper than this is not a schema
/// anyone writes, and a forged count must not make the reader allocate.
const MAX_MESSAGE_INDEXES: usize = 64;

/// A framed payload split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed<'a> {
    pub schema_id: u32,
    /// Everything after the schema id (Protobuf's message indexes are still in front).
    pub body: &'a [u8],
}

/// The schema id and body of `payload` if it is framed: the magic byte and at least the four
/// bytes of an id. Anything else (JSON, text, unframed binary) is not.
pub fn split(payload: &[u8]) -> Option<Framed<'_>> {
    match payload {
        [MAGIC, a, b, c, d, body @ ..] => Some(Framed {
            schema_id: u32::from_be_bytes([*a, *b, *c, *d]),
            body,
        }),
        _ => None,
    }
}

/// Reads Protobuf's message indexes from the front of a framed body: the path to the message
/// (`[0]` is the file's first message, `[1, 0]` the first message nested in its second) and
/// the payload after them. `None` when they do not parse.
pub fn message_indexes(body: &[u8]) -> Option<(Vec<i32>, &[u8])> {
    let (count, mut rest) = zigzag_varint(body)?;
    if count == 0 {
        return Some((vec![0], rest));
    }
    let count = usize::try_from(count).ok()?;
    if count > MAX_MESSAGE_INDEXES {
        return None;
    }
    let mut path = Vec::with_capacity(count);
    for _ in 0..count {
        let (index, after) = zigzag_varint(rest)?;
        path.push(i32::try_from(index).ok().filter(|i| *i >= 0)?);
        rest = after;
    }
    Some((path, rest))
}

/// The frame's header for `schema_id` (and, for Protobuf, the message path), to which the
/// payload is appended.
pub fn header(schema_id: u32, message_path: Option<&[i32]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.push(MAGIC);
    out.extend_from_slice(&schema_id.to_be_bytes());
    if let Some(path) = message_path {
        if path == [0] {
            out.push(0);
        } else {
            put_zigzag_varint(&mut out, path.len() as i64);
            for index in path {
                put_zigzag_varint(&mut out, i64::from(*index));
            }
        }
    }
    out
}

fn zigzag_varint(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let mut raw: u64 = 0;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let value = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

fn put_zigzag_varint(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_frame_gives_its_id_and_body() {
        let framed = split(&[0, 0, 0, 1, 2, 9, 8]).unwrap();
        assert_eq!((framed.schema_id, framed.body), (258, &[9_u8, 8][..]));
        assert_eq!(split(br#"{"a":1}"#), None);
        assert_eq!(split(&[0, 0, 0, 1]), None, "too short for an id");
    }

    #[test]
    fn the_first_message_is_one_zero_byte() {
        assert_eq!(header(7, Some(&[0])), vec![0, 0, 0, 0, 7, 0]);
        assert_eq!(message_indexes(&[0, 42]), Some((vec![0], &[42_u8][..])));
        // Two indexes, [1, 0]: count 2 → 4, 1 → 2, 0 → 0 in zigzag.
        assert_eq!(
            message_indexes(&[4, 2, 0, 42]),
            Some((vec![1, 0], &[42_u8][..]))
        );
    }

    #[test]
    fn forged_indexes_do_not_parse() {
        assert_eq!(message_indexes(&[]), None);
        assert_eq!(
            message_indexes(&[0xff; 11]),
            None,
            "a varint longer than ten bytes"
        );
        assert_eq!(message_indexes(&[2, 1]), None, "a negative index");
        assert_eq!(
            message_indexes(&[0xfe, 0x7f]),
            None,
            "a count past the bound"
        );
    }

    proptest! {
        #[test]
        fn message_paths_round_trip(path in proptest::collection::vec(0_i32..100_000, 1..8), payload in proptest::collection::vec(any::<u8>(), 0..20)) {
            let mut frame = header(12, Some(&path));
            frame.extend_from_slice(&payload);
            let framed = split(&frame).unwrap();
            prop_assert_eq!(framed.schema_id, 12);
            let (read, rest) = message_indexes(framed.body).unwrap();
            prop_assert_eq!(read, path);
            prop_assert_eq!(rest, &payload[..]);
        }
    }
}
