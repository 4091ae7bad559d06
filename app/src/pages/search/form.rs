//! The search form's fields, as typed, and the protocol's `search` request they describe: empty
//! fields leave their bound out, and a wrong field says what is wrong with it (shown as is).
//!
//! Pure parsing: it must not touch signals, the DOM or the socket; the page calls it when the
//! user presses Search.

use crate::{pages::stream::parse_local_time, stream::SearchRequest};

/// The relay's bounds on `max_matches` (it clamps; the form says so before it does).
const MAX_MATCHES: u64 = 10_000;

/// The form's fields, as typed.
#[derive(Debug, Default, Clone)]
pub(super) struct SearchForm {
    pub(super) topic: String,
    pub(super) filter: String,
    pub(super) partition: String,
    pub(super) from_offset: String,
    pub(super) to_offset: String,
    pub(super) since: String,
    pub(super) until: String,
    pub(super) max_matches: String,
}

/// The `search` request the form describes, named `id`, or what is wrong with the form (shown
/// as is). Empty fields leave their bound out: the whole topic, every record, 1,000 matches.
pub(super) fn search_request(id: String, form: &SearchForm) -> Result<SearchRequest, String> {
    fn number<T: std::str::FromStr>(typed: &str, what: &str) -> Result<Option<T>, String> {
        match typed.trim() {
            "" => Ok(None),
            t => t
                .parse()
                .map(Some)
                .map_err(|_| format!("{what} must be a whole number of 0 or more")),
        }
    }
    fn time(typed: &str, what: &str) -> Result<Option<i64>, String> {
        match typed.trim() {
            "" => Ok(None),
            t => parse_local_time(t)
                .map(Some)
                .ok_or_else(|| format!("{what}: pick a date and time")),
        }
    }
    if form.topic.is_empty() {
        return Err("choose a topic".into());
    }
    let partition = number::<u16>(&form.partition, "the partition")?;
    let offset = |typed: &str, what: &str| -> Result<Option<i64>, String> {
        let offset = number::<u64>(typed, what)?;
        offset
            .map(|o| i64::try_from(o).map_err(|_| format!("{what} is past any offset")))
            .transpose()
    };
    let from_offset = offset(&form.from_offset, "the first offset")?;
    let to_offset = offset(&form.to_offset, "the end offset")?;
    if let (Some(from), Some(to)) = (from_offset, to_offset) {
        if to <= from {
            return Err("the end offset (not included) must be after the first offset".into());
        }
    }
    let (since, until) = (time(&form.since, "from")?, time(&form.until, "until")?);
    if let (Some(since), Some(until)) = (since, until) {
        if until <= since {
            return Err("“until” must be after “from”".into());
        }
    }
    let max_matches = number::<u64>(&form.max_matches, "the cap on matches")?;
    if max_matches.is_some_and(|n| !(1..=MAX_MATCHES).contains(&n)) {
        return Err(format!("the cap on matches is 1 to {MAX_MATCHES}"));
    }
    let filter = Some(form.filter.trim())
        .filter(|f| !f.is_empty())
        .map(str::to_owned);
    Ok(SearchRequest {
        id,
        topic: form.topic.clone(),
        filter,
        partition: partition.map(i32::from),
        from_offset,
        to_offset,
        since,
        until,
        max_matches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(topic: &str) -> SearchForm {
        SearchForm {
            topic: topic.into(),
            ..SearchForm::default()
        }
    }

    #[test]
    fn an_empty_form_searches_the_whole_topic() {
        let request = search_request("s1".into(), &form("payments")).unwrap();
        assert_eq!(request, SearchRequest::whole_topic("s1", "payments"));
    }

    #[test]
    fn every_bound_the_form_takes_reaches_the_request() {
        let request = search_request(
            "s2".into(),
            &SearchForm {
                filter: " value.amount > 5.0 ".into(),
                partition: "1".into(),
                from_offset: "10".into(),
                to_offset: "20".into(),
                since: "2026-11-30T10:00".into(),
                until: "2026-11-30T11:00".into(),
                max_matches: "50".into(),
                ..form("payments")
            },
        )
        .unwrap();
        assert_eq!(request.filter.as_deref(), Some("value.amount > 5.0"));
        assert_eq!(request.partition, Some(1));
        assert_eq!(
            (request.from_offset, request.to_offset),
            (Some(10), Some(20))
        );
        assert_eq!(
            (request.since, request.until),
            (Some(1_796_032_800_000), Some(1_796_036_400_000))
        );
        assert_eq!(request.max_matches, Some(50));
    }

    #[test]
    fn a_wrong_form_says_what_is_wrong() {
        let wrong = |f: SearchForm| search_request("s".into(), &f).unwrap_err();
        assert_eq!(wrong(form("")), "choose a topic");
        assert!(wrong(SearchForm {
            partition: "-1".into(),
            ..form("t")
        })
        .contains("partition"));
        assert!(wrong(SearchForm {
            from_offset: "x".into(),
            ..form("t")
        })
        .contains("first offset"));
        let backwards = SearchForm {
            from_offset: "9".into(),
            to_offset: "9".into(),
            ..form("t")
        };
        assert!(wrong(backwards).contains("after the first"));
        let huge = SearchForm {
            to_offset: "18446744073709551615".into(),
            ..form("t")
        };
        assert!(wrong(huge).contains("past any offset"));
        assert!(wrong(SearchForm {
            since: "yesterday".into(),
            ..form("t")
        })
        .contains("from"));
        assert!(wrong(SearchForm {
            max_matches: "0".into(),
            ..form("t")
        })
        .contains("1 to 10000"));
        assert!(wrong(SearchForm {
            max_matches: "10001".into(),
            ..form("t")
        })
        .contains("cap"));
    }
}
