//! Records as readers outside a topic's owners see them: its masked fields masked before the
//! record leaves the server (live, replay, search), and before a filter expression looks at it,
//! so that a filter cannot probe a hidden value. A live record is masked once for every stream
//! of the masked audience (kept beside the record, as filter verdicts are); replayed and
//! searched records are masked as they are read.

use super::{
    feed::LiveRecord,
    record::{encode_record, EncodedRecord},
};
use crate::access::{
    masking::{MaskKey, Masks},
    Audience, Ownership, Viewer,
};
use app::{stream::StreamRecord, wire::Topic};
use std::{
    hash::{Hash, Hasher},
    sync::Arc,
};

/// How a record with a value the masks cannot reach (text, binary) is marked: it is sent
/// without its value.
pub const WITHHELD: &str = "withheld";

/// One topic's masks with the deployment's key: what a masked stream applies.
#[derive(Debug)]
pub struct MaskView {
    masks: Masks,
    key: MaskKey,
    /// Tells one set of masks from another (a live record's masked form is kept for the masks
    /// it was made with).
    id: u64,
}

impl MaskView {
    /// What `viewer` reading `topic` must have masked: nothing for its owners and admins, or
    /// when the topic masks nothing.
    pub fn for_reader(viewer: &Viewer, topic: &Topic, key: &MaskKey) -> Option<Arc<MaskView>> {
        if topic.masks.is_empty() || viewer.audience(&Ownership::of(topic)) == Audience::Clear {
            return None;
        }
        let rules = app::access::parse_masks(&topic.masks).ok()?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for (path, method) in &rules {
            path.to_string().hash(&mut hasher);
            method.hash(&mut hasher);
        }
        Some(Arc::new(MaskView {
            masks: Masks::new(rules),
            key: key.clone(),
            id: hasher.finish(),
        }))
    }

    /// Masks a protocol record in place: its value's masked fields, or its whole value when
    /// the masks cannot reach into it.
    /// A value decoded with a schema is JSON like any other; its raw bytes never leave, since
    /// they hold what the masks hide.
    pub fn mask_record(&self, record: &mut StreamRecord) {
        record.raw = None;
        // Why a payload did not decode may quote it: only the kind of reason leaves.
        if let Some(reason) = &mut record.undecoded {
            if let Some((kind, _)) = reason.split_once(": ") {
                *reason = kind.to_owned();
            }
        }
        let is_json = record.encoding == "json" || record.schema.is_some();
        let masked = match &mut record.value {
            None => true,
            Some(value) if is_json => self.masks.apply(value, &self.key),
            Some(_) => false,
        };
        if !masked {
            record.value = None;
            record.encoding = WITHHELD.to_owned();
        }
    }

    /// A record read for this stream alone (replayed), masked.
    pub fn mask(&self, record: &EncodedRecord) -> EncodedRecord {
        match serde_json::from_str::<StreamRecord>(record.json()) {
            Ok(mut decoded) => {
                self.mask_record(&mut decoded);
                encode_record(&decoded)
            }
            // The relay wrote it; should it not read back, nothing of its value leaves.
            Err(_) => withheld(record),
        }
    }

    /// A live record's masked form, made by the first masked stream that needs it and shared
    /// by the others.
    pub fn mask_shared(&self, record: &LiveRecord) -> LiveRecord {
        if let Some((id, masked)) = record.masked.get() {
            if *id == self.id {
                return masked.clone();
            }
        }
        let masked = Arc::new(self.mask(record));
        // Another stream may have set it meanwhile (with these masks: the same record), or the
        // topic's masks changed under older streams: then this one is not kept.
        let _ = record.masked.set((self.id, masked.clone()));
        masked
    }
}

/// A record without its value, for when it cannot be masked.
fn withheld(record: &EncodedRecord) -> EncodedRecord {
    encode_record(&StreamRecord {
        topic: String::new(),
        partition: record.partition,
        offset: record.offset,
        timestamp: None,
        key: None,
        headers: Default::default(),
        value: None,
        encoding: WITHHELD.to_owned(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::access::{AccessLevel, MaskMethod, MaskRule, TeamName};
    use serde_json::json;

    fn topic(masks: &[(&str, MaskMethod)]) -> Topic {
        let mut topic: Topic = serde_json::from_value(json!({
            "topic_id": 1, "topic_name": "payments", "status": "active", "partitions": 1,
            "replication_factor": 1, "description": "", "event_type": null, "created_by": "ana",
            "created_at": "t", "approved_at": null, "activated_at": null, "rejected_at": null,
            "rejected_reason": null, "deactivated_at": null, "updated_at": "t",
            "subscriber_count": 0, "owner_team": "payments",
        }))
        .unwrap();
        topic.access = AccessLevel::Approval;
        topic.masks = masks
            .iter()
            .map(|(path, method)| MaskRule {
                path: (*path).into(),
                method: *method,
            })
            .collect();
        topic
    }

    fn reader(teams: &[&str]) -> Viewer {
        Viewer::Person {
            user: "someone".into(),
            teams: teams
                .iter()
                .map(|t| TeamName::parse(t, "t").unwrap())
                .collect(),
            admin: false,
        }
    }

    fn record(value: serde_json::Value, encoding: &str) -> StreamRecord {
        StreamRecord {
            topic: "payments".into(),
            partition: 0,
            offset: 7,
            timestamp: Some(1),
            key: Some("k".into()),
            headers: Default::default(),
            value: Some(value),
            encoding: encoding.into(),
            ..Default::default()
        }
    }

    #[test]
    fn owners_and_admins_read_clear_and_topics_without_masks_need_nothing() {
        let key = MaskKey::new(b"k");
        let masked = topic(&[("customer_id", MaskMethod::Hash)]);
        assert!(MaskView::for_reader(&reader(&["payments"]), &masked, &key).is_none());
        assert!(MaskView::for_reader(&Viewer::AdminToken, &masked, &key).is_none());
        assert!(MaskView::for_reader(&reader(&["web"]), &masked, &key).is_some());
        assert!(MaskView::for_reader(&Viewer::Anyone, &masked, &key).is_some());
        assert!(MaskView::for_reader(&reader(&["web"]), &topic(&[]), &key).is_none());
    }

    #[test]
    fn values_the_masks_cannot_reach_are_withheld() {
        let view = MaskView::for_reader(
            &reader(&[]),
            &topic(&[("customer_id", MaskMethod::Redact)]),
            &MaskKey::new(b"k"),
        )
        .unwrap();
        let mut json = record(json!({"customer_id": "c-1", "amount": 3}), "json");
        view.mask_record(&mut json);
        assert_eq!(json.value, Some(json!({"customer_id": "***", "amount": 3})));
        for (value, encoding) in [
            (json!("customer_id=c-1"), "text"),
            (json!("AAEC"), "base64"),
            (json!("c-1"), "json"),
        ] {
            let mut other = record(value, encoding);
            view.mask_record(&mut other);
            assert_eq!((other.value, other.encoding.as_str()), (None, WITHHELD));
            assert_eq!(
                other.key.as_deref(),
                Some("k"),
                "the key and place are kept"
            );
        }
    }

    #[test]
    fn a_decoded_record_is_masked_like_json_and_its_bytes_never_leave() {
        let view = MaskView::for_reader(
            &reader(&[]),
            &topic(&[("customer_id", MaskMethod::Redact)]),
            &MaskKey::new(b"k"),
        )
        .unwrap();
        let mut avro = record(json!({"customer_id": "c-1", "amount": 3}), "avro");
        avro.schema = Some(app::stream::RecordSchema {
            format: "avro".into(),
            id: Some(4),
            ..Default::default()
        });
        avro.raw = Some("AAAAAAQCYy0x".into());
        view.mask_record(&mut avro);
        assert_eq!(avro.value, Some(json!({"customer_id": "***", "amount": 3})));
        assert_eq!((avro.encoding.as_str(), avro.raw), ("avro", None));

        let mut undecoded = record(json!("AAAAAAQ="), "base64");
        undecoded.undecoded = Some("does not match schema 4: invalid character 'c-1'".into());
        view.mask_record(&mut undecoded);
        assert_eq!(undecoded.value, None);
        assert_eq!(
            undecoded.undecoded.as_deref(),
            Some("does not match schema 4"),
            "why, without what the decoder quoted"
        );
    }

    #[test]
    fn a_live_record_is_masked_once_for_its_masks() {
        let key = MaskKey::new(b"k");
        let view = MaskView::for_reader(
            &reader(&[]),
            &topic(&[("customer_id", MaskMethod::Hash)]),
            &key,
        )
        .unwrap();
        let live: LiveRecord = Arc::new(encode_record(&record(
            json!({"customer_id": "c-1"}),
            "json",
        )));
        let first = view.mask_shared(&live);
        let second = view.mask_shared(&live);
        assert!(Arc::ptr_eq(&first, &second), "shared");
        assert!(!first.json().contains("c-1"));
        // Other masks on the same record: computed for them, not taken from the first.
        let other = MaskView::for_reader(
            &reader(&[]),
            &topic(&[("customer_id", MaskMethod::Redact)]),
            &key,
        )
        .unwrap();
        assert!(other.mask_shared(&live).json().contains("***"));
    }
}
