//! [`PartitionOffsets`]: partition → offset, where a subscription starts (`{"position":
//! "offsets"}`), where a live stream joins (`subscribed`, `caught_up`) and where the viewer
//! resumes after a reconnection.

use serde::{Deserialize, Serialize};

/// Partition → offset, as a JSON object (`{"0": 5, "1": 9}`): where a subscription starts, or
/// where the live stream joins.
///
/// A sorted vector rather than a `BTreeMap`: a topic has a handful of partitions, and the map's
/// code (with the stable sort its `collect` brings) was a twelfth of the stream viewer's WASM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionOffsets(Vec<(i32, i64)>);

impl PartitionOffsets {
    /// The offset for `partition`, if one is set.
    pub fn get(&self, partition: i32) -> Option<i64> {
        self.position(partition).ok().map(|i| self.0[i].1)
    }

    /// Sets the offset for `partition`.
    pub fn set(&mut self, partition: i32, offset: i64) {
        match self.position(partition) {
            Ok(i) => self.0[i].1 = offset,
            Err(i) => self.0.insert(i, (partition, offset)),
        }
    }

    /// Sets the offset for `partition` unless it has one already.
    pub fn set_if_absent(&mut self, partition: i32, offset: i64) {
        if let Err(i) = self.position(partition) {
            self.0.insert(i, (partition, offset));
        }
    }

    /// (partition, offset) pairs by partition.
    pub fn iter(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.0.iter().copied()
    }

    /// Whether no partition has an offset (a resume then starts where first asked).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, partition: i32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&partition, |(p, _)| *p)
    }
}

/// Pairs in any order; when a partition repeats, the last pair given wins (as in a JSON object).
impl FromIterator<(i32, i64)> for PartitionOffsets {
    fn from_iter<I: IntoIterator<Item = (i32, i64)>>(pairs: I) -> Self {
        // Inserted one by one: a topic has a handful of partitions (a few thousand at most), and
        // a sort would bring its code into the viewer's WASM.
        let mut offsets = Self::default();
        for (partition, offset) in pairs {
            offsets.set(partition, offset);
        }
        offsets
    }
}

impl<const N: usize> From<[(i32, i64); N]> for PartitionOffsets {
    fn from(pairs: [(i32, i64); N]) -> Self {
        pairs.into_iter().collect()
    }
}

/// JSON object keys are strings: partitions are written as `"0"`.
impl Serialize for PartitionOffsets {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(p, o)| (p.to_string(), o)))
    }
}

/// Read by hand: serde cannot turn string keys back into integers inside internally tagged
/// enums ([`StartPosition`](super::StartPosition) is one).
impl<'de> Deserialize<'de> for PartitionOffsets {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = PartitionOffsets;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of partition → offset")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some((partition, offset)) = map.next_entry::<String, i64>()? {
                    let partition = partition.parse::<i32>().map_err(|_| {
                        serde::de::Error::custom(format!("partition {partition:?} is not a number"))
                    })?;
                    pairs.push((partition, offset));
                }
                Ok(pairs.into_iter().collect())
            }
        }
        d.deserialize_map(Pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn partition_offsets_keep_one_offset_per_partition_in_order() {
        let mut offsets: PartitionOffsets = [(2, 20), (0, 1), (2, 21), (1, 10)].into();
        // The last of a repeated partition wins, as in a JSON object.
        assert_eq!(
            offsets.iter().collect::<Vec<_>>(),
            [(0, 1), (1, 10), (2, 21)]
        );
        assert_eq!(offsets.get(2), Some(21));
        assert_eq!(offsets.get(3), None);
        offsets.set(3, 30);
        offsets.set(0, 2);
        offsets.set_if_absent(1, 99);
        offsets.set_if_absent(-1, 5);
        assert_eq!(
            offsets.iter().collect::<Vec<_>>(),
            [(-1, 5), (0, 2), (1, 10), (2, 21), (3, 30)]
        );
        assert_eq!(
            serde_json::to_string(&offsets).unwrap(),
            r#"{"-1":5,"0":2,"1":10,"2":21,"3":30}"#
        );
        let read: PartitionOffsets = serde_json::from_str(r#"{"1": 4, "0": 3, "1": 5}"#).unwrap();
        assert_eq!(read, PartitionOffsets::from([(0, 3), (1, 5)]));
        assert!(serde_json::from_str::<PartitionOffsets>(r#"{"x": 1}"#).is_err());
        assert!(serde_json::from_str::<PartitionOffsets>(r#"{"0": "1"}"#).is_err());
        assert!(serde_json::from_str::<PartitionOffsets>("[[0, 1]]").is_err());
    }

    proptest::proptest! {
        /// Whatever pairs it is built from, it answers like a map built from the same pairs.
        #[test]
        fn partition_offsets_answer_like_a_map(
            pairs in proptest::collection::vec((-3i32..6, proptest::num::i64::ANY), 0..12),
        ) {
            let map: BTreeMap<i32, i64> = pairs.iter().copied().collect();
            let offsets: PartitionOffsets = pairs.into_iter().collect();
            proptest::prop_assert_eq!(offsets.iter().collect::<Vec<_>>(), map.into_iter().collect::<Vec<_>>());
        }
    }
}
