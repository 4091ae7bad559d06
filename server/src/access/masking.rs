//! Masked fields: a topic's record values as readers outside its owning team see them. The
//! relay masks a record once per audience and shares the result with every socket of that
//! audience (`relay::record`); searches and exports mask what they send the same way.
//!
//! A value that is not a JSON object or list (text, binary) cannot have its fields masked: a
//! topic with masks shows such a record to its masked audience without its value, so that
//! nothing masked can leave in a form the masks do not understand.

use app::access::{FieldPath, MaskMethod, PathStep};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// What a redacted value becomes.
pub const REDACTED: &str = "***";

/// The deployment's key for hashed fields: equal values hash equally on every instance, and
/// nobody without the key can tell which value a hash came from (by trying likely ones).
#[derive(Clone)]
pub struct MaskKey(Hmac<Sha256>);

impl MaskKey {
    /// A key from secret bytes (shared by every instance: see `Store::first_state`).
    pub fn new(secret: &[u8]) -> MaskKey {
        // HMAC takes keys of any length.
        MaskKey(Hmac::new_from_slice(secret).expect("HMAC takes any key length"))
    }

    /// The keyed hash of a JSON value, as 32 hex digits (128 bits: no collisions in practice,
    /// short enough to read).
    fn hash(&self, value: &Value) -> String {
        let mut mac = self.0.clone();
        // Text hashes as its characters, so `"cust-1"` in one record and another agree; other
        // values as their JSON.
        match value {
            Value::String(text) => mac.update(text.as_bytes()),
            other => mac.update(other.to_string().as_bytes()),
        }
        crate::secrets::hex(&mac.finalize().into_bytes()[..16])
    }
}

impl std::fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaskKey(…)")
    }
}

/// A topic's masks, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Masks(Vec<(FieldPath, MaskMethod)>);

impl Masks {
    /// The masks of `rules` (checked by `app::access::parse_masks`).
    pub fn new(rules: Vec<(FieldPath, MaskMethod)>) -> Masks {
        Masks(rules)
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Masks `value` in place. Returns `false` when the value is not something whose fields
    /// can be masked (neither an object nor a list): the caller then withholds it.
    pub fn apply(&self, value: &mut Value, key: &MaskKey) -> bool {
        if self.0.is_empty() {
            return true;
        }
        if !matches!(value, Value::Object(_) | Value::Array(_)) {
            return false;
        }
        for (path, method) in &self.0 {
            mask_at(value, path.steps(), *method, key);
        }
        true
    }
}

/// Masks what `steps` lead to inside `value`; absent fields are left alone.
fn mask_at(value: &mut Value, steps: &[PathStep], method: MaskMethod, key: &MaskKey) {
    let Some((step, rest)) = steps.split_first() else {
        return;
    };
    match value {
        Value::Object(fields) => match step {
            PathStep::Field(name) => {
                if rest.is_empty() {
                    if method == MaskMethod::Remove {
                        fields.remove(name);
                    } else if let Some(field) = fields.get_mut(name) {
                        *field = masked(field, method, key);
                    }
                } else if let Some(field) = fields.get_mut(name) {
                    mask_at(field, rest, method, key);
                }
            }
            PathStep::Any => {
                if rest.is_empty() {
                    if method == MaskMethod::Remove {
                        fields.clear();
                    } else {
                        fields
                            .values_mut()
                            .for_each(|field| *field = masked(field, method, key));
                    }
                } else {
                    fields
                        .values_mut()
                        .for_each(|field| mask_at(field, rest, method, key));
                }
            }
        },
        Value::Array(elements) => {
            let chosen: Box<dyn Iterator<Item = usize>> = match step {
                PathStep::Any => Box::new(0..elements.len()),
                PathStep::Field(index) => match index.parse::<usize>() {
                    Ok(i) if i < elements.len() => Box::new(std::iter::once(i)),
                    _ => return,
                },
            };
            if rest.is_empty() && method == MaskMethod::Remove {
                // Removing an element would shift the others' indexes: it is redacted instead.
                for i in chosen {
                    elements[i] = Value::String(REDACTED.to_owned());
                }
            } else if rest.is_empty() {
                for i in chosen {
                    elements[i] = masked(&elements[i], method, key);
                }
            } else {
                for i in chosen {
                    mask_at(&mut elements[i], rest, method, key);
                }
            }
        }
        _ => {}
    }
}

/// A value as `method` shows it (for every method but `remove`).
fn masked(value: &Value, method: MaskMethod, key: &MaskKey) -> Value {
    match method {
        MaskMethod::Remove | MaskMethod::Redact => Value::String(REDACTED.to_owned()),
        MaskMethod::Hash => Value::String(key.hash(value)),
        MaskMethod::Last4 => {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Value::String(REDACTED.to_owned()),
            };
            let count = text.chars().count();
            // Four characters or fewer would show whole: all of them are hidden.
            let shown = if count > 4 { 4 } else { 0 };
            let mut out: String = "*".repeat(count - shown);
            out.extend(text.chars().skip(count - shown));
            Value::String(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::access::{parse_masks, MaskRule};
    use serde_json::json;

    fn masks(rules: &[(&str, MaskMethod)]) -> Masks {
        let rules: Vec<MaskRule> = rules
            .iter()
            .map(|(path, method)| MaskRule {
                path: (*path).to_owned(),
                method: *method,
            })
            .collect();
        Masks::new(parse_masks(&rules).unwrap())
    }

    fn masked_copy(masks: &Masks, mut value: Value) -> Value {
        assert!(masks.apply(&mut value, &MaskKey::new(b"test key")));
        value
    }

    /// Every field of every generator's records, masked one at a time by each method: the
    /// field shows as the method says and nothing else changes.
    #[test]
    fn every_generators_records_are_masked_field_by_field() {
        let key = MaskKey::new(b"test key");
        for event_type in app::domain::EventType::ALL {
            let mut generator = crate::generate::generator(event_type, 7, "masked");
            let mut record = crate::generate::Record::default();
            let records: Vec<Value> = (0..30)
                .map(|_| {
                    generator.next_into(&mut record);
                    serde_json::from_slice(&record.payload).unwrap()
                })
                .collect();
            let fields: Vec<String> = records[0].as_object().unwrap().keys().cloned().collect();
            for field in &fields {
                for method in [
                    MaskMethod::Remove,
                    MaskMethod::Redact,
                    MaskMethod::Hash,
                    MaskMethod::Last4,
                ] {
                    let masks = masks(&[(field.as_str(), method)]);
                    let mut hashes = std::collections::HashMap::new();
                    for original in &records {
                        let mut value = original.clone();
                        assert!(masks.apply(&mut value, &key));
                        let (clear, shown) = (&original[field], value.get(field));
                        let what =
                            format!("{event_type:?} {field} {method:?}: {clear} as {shown:?}");
                        match method {
                            MaskMethod::Remove => assert!(shown.is_none(), "{what}"),
                            MaskMethod::Redact => {
                                assert_eq!(shown, Some(&json!(REDACTED)), "{what}")
                            }
                            MaskMethod::Hash => {
                                let hash = shown.and_then(Value::as_str).expect(&what);
                                assert!(
                                    hash.len() == 32 && hash.chars().all(|c| c.is_ascii_hexdigit()),
                                    "{what}"
                                );
                                // The same value hashes the same in every record: joins still work.
                                let earlier = hashes
                                    .entry(clear.to_string())
                                    .or_insert_with(|| hash.to_owned());
                                assert_eq!(earlier, hash, "{what}");
                            }
                            MaskMethod::Last4 => {
                                let shown = shown.and_then(Value::as_str).expect(&what);
                                let text = match clear {
                                    Value::String(t) => t.clone(),
                                    Value::Number(n) => n.to_string(),
                                    _ => String::new(),
                                };
                                let count = text.chars().count();
                                if count > 4 {
                                    let tail: String = text.chars().skip(count - 4).collect();
                                    assert_eq!(
                                        shown,
                                        format!("{}{tail}", "*".repeat(count - 4)),
                                        "{what}"
                                    );
                                } else {
                                    assert!(
                                        !shown.is_empty() && shown.chars().all(|c| c == '*'),
                                        "{what}"
                                    );
                                }
                            }
                        }
                        // Nothing else changed.
                        for other in fields.iter().filter(|f| *f != field) {
                            assert_eq!(value.get(other), original.get(other), "{what}: {other}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn each_method_shows_what_it_says() {
        use MaskMethod::*;
        let record = json!({"customer_id": "cust-00017", "card": "4111111111111111",
                            "note": "hi", "amount": 12.5, "pin": 1234, "ok": true});
        let out = masked_copy(
            &masks(&[
                ("customer_id", Hash),
                ("card", Last4),
                ("note", Redact),
                ("amount", Remove),
                ("pin", Last4),
                ("ok", Last4),
            ]),
            record,
        );
        assert_eq!(out["card"], "************1111");
        assert_eq!(out["note"], REDACTED);
        assert!(out.get("amount").is_none(), "removed: {out}");
        assert_eq!(out["pin"], "****", "four digits or fewer are hidden whole");
        assert_eq!(out["ok"], REDACTED);
        let hash = out["customer_id"].as_str().unwrap();
        assert_eq!(hash.len(), 32);
        assert!(!hash.contains("00017"));
    }

    #[test]
    fn a_hash_is_the_same_for_the_same_value_and_key_only() {
        let rule = masks(&[("id", MaskMethod::Hash)]);
        let key = MaskKey::new(b"deployment one");
        let hashed = |key: &MaskKey, id: &str| {
            let mut v = json!({ "id": id });
            rule.apply(&mut v, key);
            v["id"].clone()
        };
        assert_eq!(
            hashed(&key, "cust-1"),
            hashed(&key, "cust-1"),
            "joins still work"
        );
        assert_ne!(hashed(&key, "cust-1"), hashed(&key, "cust-2"));
        assert_ne!(
            hashed(&key, "cust-1"),
            hashed(&MaskKey::new(b"deployment two"), "cust-1"),
            "another key, another hash: a list of likely ids hashed elsewhere tells nothing"
        );
    }

    #[test]
    fn nested_and_wildcard_paths_reach_every_match_and_skip_absent_fields() {
        let rule = masks(&[
            ("card.number", MaskMethod::Last4),
            ("contact.*.email", MaskMethod::Redact),
            ("items.*.sku", MaskMethod::Remove),
            ("tags.1", MaskMethod::Redact),
        ]);
        let out = masked_copy(
            &rule,
            json!({
                "card": {"number": "5500000000000004", "brand": "mc"},
                "contact": {"home": {"email": "a@x", "phone": "1"}, "work": {"phone": "2"}},
                "items": [{"sku": "A", "qty": 1}, {"qty": 2}, "loose"],
                "tags": ["a", "b"],
            }),
        );
        assert_eq!(
            out,
            json!({
                "card": {"number": "************0004", "brand": "mc"},
                "contact": {"home": {"email": REDACTED, "phone": "1"}, "work": {"phone": "2"}},
                "items": [{"qty": 1}, {"qty": 2}, "loose"],
                "tags": ["a", REDACTED],
            })
        );
        // A record without the fields is unchanged.
        assert_eq!(masked_copy(&rule, json!({"other": 1})), json!({"other": 1}));
    }

    #[test]
    fn removing_under_a_wildcard_empties_and_list_elements_are_redacted_not_dropped() {
        let out = masked_copy(
            &masks(&[
                ("secret.*", MaskMethod::Remove),
                ("list.0", MaskMethod::Remove),
            ]),
            json!({"secret": {"a": 1, "b": 2}, "list": ["x", "y"]}),
        );
        assert_eq!(out, json!({"secret": {}, "list": [REDACTED, "y"]}));
    }

    #[test]
    fn values_without_fields_are_not_masked_but_refused() {
        let rule = masks(&[("id", MaskMethod::Hash)]);
        let key = MaskKey::new(b"k");
        for mut value in [json!("cust-1 as text"), json!(42), json!(null)] {
            assert!(!rule.apply(&mut value, &key), "{value}");
        }
        let mut text = json!("anything");
        assert!(
            Masks::default().apply(&mut text, &key),
            "no masks: nothing to refuse"
        );
    }

    #[test]
    fn the_key_is_not_shown() {
        assert_eq!(format!("{:?}", MaskKey::new(b"secret")), "MaskKey(…)");
    }
}
