//! Where a stream starts, as the viewer's form asks it: the kinds of start the form offers, and
//! the form's text read into the protocol's [`StartPosition`] (numbers, offsets, a date and time).
//!
//! Pure parsing: it must not touch signals, the DOM or the connection; the controls call it when
//! the user presses Start.

use crate::stream::{PartitionOffsets, StartPosition};

/// Where to start, as the form holds it: one choice of the form's select, each indexing its own
/// value field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StartKind {
    Latest,
    Earliest,
    Last,
    Offset,
    Time,
    Stored,
}

impl StartKind {
    /// Every kind with its word (the option's value) and label, in declaration order, so that
    /// `kind as usize` indexes the form's value fields.
    pub(super) const ALL: [(StartKind, &'static str, &'static str); 6] = [
        (StartKind::Latest, "latest", "new records only"),
        (StartKind::Earliest, "earliest", "from the beginning"),
        (StartKind::Last, "last", "the last N per partition"),
        (StartKind::Offset, "offset", "from an offset"),
        (StartKind::Time, "time", "from a time"),
        (StartKind::Stored, "stored", "where I left off"),
    ];

    /// The choices as `<option>`s (the first one selected), written once for the select.
    pub(super) fn options_html() -> String {
        Self::ALL
            .iter()
            .map(|(_, word, label)| format!("<option value=\"{word}\">{label}</option>"))
            .collect()
    }

    /// The kind an option's value names (latest for anything else).
    pub(super) fn parse(word: &str) -> StartKind {
        Self::ALL
            .iter()
            .find(|(_, w, _)| *w == word)
            .map_or(StartKind::Latest, |(k, _, _)| *k)
    }
}

/// The start position from the form, or why it is not one (shown to the user as is).
/// `partitions` is the most partitions of the chosen topics (an offset applies to each).
pub(super) fn start_position(
    kind: StartKind,
    value: &str,
    partitions: i32,
) -> Result<StartPosition, String> {
    let value = value.trim();
    match kind {
        StartKind::Latest => Ok(StartPosition::Latest),
        StartKind::Earliest => Ok(StartPosition::Earliest),
        StartKind::Stored => Ok(StartPosition::Stored),
        StartKind::Last => value
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| StartPosition::Last { n })
            .ok_or_else(|| "N must be a whole number above 0".to_owned()),
        StartKind::Offset => {
            // `120` (every partition) or `0:120,1:80`.
            let offsets: Option<PartitionOffsets> = if value.contains(':') {
                value
                    .split(',')
                    .map(|pair| {
                        let (p, o) = pair.split_once(':')?;
                        Some((p.trim().parse().ok()?, o.trim().parse().ok()?))
                    })
                    .collect()
            } else {
                value
                    .parse::<i64>()
                    .ok()
                    .map(|o| (0..partitions.max(1)).map(|p| (p, o)).collect())
            };
            offsets
                .filter(|m| !m.is_empty() && m.iter().all(|(_, o)| o >= 0))
                .map(|offsets| StartPosition::Offsets { offsets })
                .ok_or_else(|| {
                    "give an offset (120) or partition:offset pairs (0:120,1:80)".to_owned()
                })
        }
        StartKind::Time => parse_local_time(value)
            .map(|at| StartPosition::Timestamp { at })
            .ok_or_else(|| "pick a date and time".to_owned()),
    }
}

/// `YYYY-MM-DDTHH:MM[:SS[.mmm]]` from a `datetime-local` input, read as UTC, in milliseconds.
pub(in crate::pages) fn parse_local_time(value: &str) -> Option<i64> {
    let (date, time) = value.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    // `HH:MM`, `HH:MM:SS` or `HH:MM:SS.mmm`, read as integers (no float parsing in the bundle).
    let (time, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min) = (t.next()??, t.next()??);
    let sec = t.next().flatten().unwrap_or(0);
    let millis = match fraction {
        "" => 0,
        f if f.len() <= 3 && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{f:0<3}").parse::<i64>().ok()?
        }
        _ => return None,
    };
    if !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&min)
        || !(0..60).contains(&sec)
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400_000 + (h * 3600 + min * 60 + sec) * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions_come_from_the_form() {
        assert_eq!(
            start_position(StartKind::Latest, "", 3),
            Ok(StartPosition::Latest)
        );
        assert_eq!(
            start_position(StartKind::Last, " 25 ", 3),
            Ok(StartPosition::Last { n: 25 })
        );
        assert!(start_position(StartKind::Last, "0", 3).is_err());
        assert_eq!(
            start_position(StartKind::Offset, "7", 2),
            Ok(StartPosition::Offsets {
                offsets: PartitionOffsets::from([(0, 7), (1, 7)])
            })
        );
        assert_eq!(
            start_position(StartKind::Offset, "0:5, 2:9", 3),
            Ok(StartPosition::Offsets {
                offsets: PartitionOffsets::from([(0, 5), (2, 9)])
            })
        );
        assert!(start_position(StartKind::Offset, "0:-1", 3).is_err());
        assert!(start_position(StartKind::Offset, "x", 3).is_err());
        assert_eq!(
            start_position(StartKind::Time, "2026-11-25T15:30", 1),
            Ok(StartPosition::Timestamp {
                at: 1_795_620_600_000
            })
        );
        assert!(start_position(StartKind::Time, "", 1).is_err());
    }

    #[test]
    fn start_kinds_are_listed_in_declaration_order_so_they_index_their_values() {
        for (i, (kind, word, _)) in StartKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i);
            assert_eq!(StartKind::parse(word), *kind);
        }
    }

    #[test]
    fn times_convert_to_epoch_milliseconds() {
        assert_eq!(parse_local_time("1970-01-01T00:00"), Some(0));
        assert_eq!(
            parse_local_time("2000-03-01T00:00:01"),
            Some(951_868_801_000)
        );
        assert_eq!(parse_local_time("2000-13-01T00:00"), None);
        assert_eq!(parse_local_time("1970-01-01T00:00:02.5"), Some(2_500));
        assert_eq!(parse_local_time("1970-01-01T00:00:02.123"), Some(2_123));
        assert_eq!(parse_local_time("1970-01-01T00:00:61"), None);
        assert_eq!(parse_local_time("1970-01-01T00:00:01.1234"), None);
        assert_eq!(parse_local_time("1970-01-01T-1:00"), None);
    }
}
