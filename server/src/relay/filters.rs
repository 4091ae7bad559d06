//! Filter expressions as the relay holds them: one compiled filter per distinct expression,
//! shared by every stream that asked for it, and each record's verdict per filter kept on the
//! record, so that an expression is evaluated about once per record however many sockets share
//! it (streams of one filter that reach a record at the same instant may each evaluate it; the
//! first verdict kept is the one, and the only one counted).

use crate::filter::{Filter, FilterError, RecordVariables, Verdict};
use app::stream::StreamRecord;
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock, Weak,
    },
};

/// A compiled filter and the id its verdicts are kept under.
#[derive(Debug)]
pub struct SharedFilter {
    id: u64,
    filter: Filter,
}

impl SharedFilter {
    /// The expression as the client wrote it.
    pub fn source(&self) -> &str {
        self.filter.source()
    }

    /// Evaluates it against one record, without keeping the verdict (a search's records are
    /// its own).
    pub fn evaluate(&self, record: &RecordVariables) -> Verdict {
        self.filter.evaluate(record)
    }
}

/// Every filter in use, by expression.
#[derive(Default)]
pub struct Filters {
    by_source: Mutex<HashMap<String, Weak<SharedFilter>>>,
    next_id: AtomicU64,
}

impl Filters {
    /// The compiled filter for `source`: the one streams already share, else a new one.
    pub fn get(&self, source: &str) -> Result<Arc<SharedFilter>, FilterError> {
        let mut by_source = self.by_source.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(shared) = by_source.get(source).and_then(Weak::upgrade) {
            return Ok(shared);
        }
        let shared = Arc::new(SharedFilter {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            filter: Filter::compile(source)?,
        });
        // Expressions nobody uses any more go when a new one comes.
        by_source.retain(|_, filter| filter.strong_count() > 0);
        by_source.insert(source.to_owned(), Arc::downgrade(&shared));
        Ok(shared)
    }
}

/// What the filters said of one record, kept on the record.
#[derive(Debug, Default)]
pub struct Verdicts {
    /// The record as filters read it, parsed on the first evaluation (`None`: not a record).
    variables: OnceLock<Option<RecordVariables>>,
    /// Verdicts by filter id: locked only to look one up or keep one, never while evaluating,
    /// so that streams with different filters evaluate side by side. Sixteen bytes a verdict:
    /// the relay's ring keeps thousands of records, each with a verdict per distinct filter.
    by_filter: Mutex<Vec<(u64, Verdict)>>,
}

impl Verdicts {
    /// `filter`'s verdict on the record whose JSON is `json`: evaluated by the first stream that
    /// asks, remembered for the others; `evaluations` counts the verdicts kept (a stream that
    /// raced another to the same record evaluates it too, uncounted).
    pub fn of(&self, filter: &SharedFilter, json: &str, evaluations: &AtomicU64) -> Verdict {
        let known = |by_filter: &[(u64, Verdict)]| {
            by_filter
                .iter()
                .find(|(id, _)| *id == filter.id)
                .map(|(_, verdict)| *verdict)
        };
        if let Some(verdict) = known(&self.lock()) {
            return verdict;
        }
        let variables = self.variables.get_or_init(|| {
            serde_json::from_str::<StreamRecord>(json)
                .ok()
                .map(|record| RecordVariables::of(&record))
        });
        let verdict = match variables {
            Some(variables) => filter.filter.evaluate(variables),
            None => Verdict::NoMatch,
        };
        // Two streams of one filter may have evaluated the record at the same moment: the first
        // verdict kept is the one (and the only one counted).
        let mut by_filter = self.lock();
        if let Some(first) = known(&by_filter) {
            return first;
        }
        by_filter.push((filter.id, verdict));
        evaluations.fetch_add(1, Ordering::Relaxed);
        verdict
    }

    /// `filter`'s verdict on the record if one was kept; nothing is evaluated.
    pub fn known(&self, filter: &SharedFilter) -> Option<Verdict> {
        self.lock()
            .iter()
            .find(|(id, _)| *id == filter.id)
            .map(|(_, verdict)| *verdict)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Verdict)>> {
        self.by_filter.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_compiled_filter_per_expression_while_it_is_used() {
        let filters = Filters::default();
        let a = filters.get("offset > 1").unwrap();
        let again = filters.get("offset > 1").unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        let other = filters.get("offset > 2").unwrap();
        assert_ne!(a.id, other.id);
        let id = a.id;
        drop((a, again));
        assert_ne!(filters.get("offset > 1").unwrap().id, id, "compiled anew");
        assert!(filters.get("offset >").is_err());
    }

    #[test]
    fn a_verdict_is_evaluated_once_per_record_and_filter() {
        let filters = Filters::default();
        let (big, small) = (
            filters.get("value.n > 5").unwrap(),
            filters.get("value.n < 5").unwrap(),
        );
        let json = r#"{"topic":"t","partition":0,"offset":3,"timestamp":null,"key":null,"headers":{},"value":{"n":9},"encoding":"json"}"#;
        let (verdicts, evaluations) = (Verdicts::default(), AtomicU64::new(0));
        for _ in 0..3 {
            assert_eq!(verdicts.of(&big, json, &evaluations), Verdict::Match);
            assert_eq!(verdicts.of(&small, json, &evaluations), Verdict::NoMatch);
        }
        assert_eq!(evaluations.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn streams_asking_at_once_get_one_verdict_per_filter() {
        let filters = Filters::default();
        let expressions: Vec<_> = (0..8)
            .map(|n| filters.get(&format!("value.n > {n}")).unwrap())
            .collect();
        let json = r#"{"topic":"t","partition":0,"offset":3,"timestamp":null,"key":null,"headers":{},"value":{"n":4},"encoding":"json"}"#;
        let (verdicts, evaluations) = (Verdicts::default(), AtomicU64::new(0));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for (n, filter) in expressions.iter().enumerate() {
                        let expected = if n < 4 {
                            Verdict::Match
                        } else {
                            Verdict::NoMatch
                        };
                        assert_eq!(verdicts.of(filter, json, &evaluations), expected);
                    }
                });
            }
        });
        assert_eq!(evaluations.load(Ordering::Relaxed), 8);
    }
}
