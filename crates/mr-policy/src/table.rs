//! The accepted digests of each name of a runtime policy (`digests`, `keyrings`, `ima-buf`),
//! decoded straight from the JSON while it is read: each name and its digests go into one arena
//! (grown as the input is read, never sized by a count from the input) and an open-addressing
//! index holds offsets into it. See `docs/appraisal.md` ("Memory and speed").
//!
//! The hasher is foldhash with a per-process random seed. The table's keys are the policy's
//! names (written by the verifier's operator); the list, which the attester controls, is only
//! looked up. A lookup costs the probe sequence of its hash, which an attester cannot lengthen
//! (the table is fixed) and cannot aim at a long one without knowing the seed.
//!
//! A lookup reads two places the cache rarely holds (the index slot and the name's record), so
//! [`DigestTable::get_batch`] looks up several names at once: it reads every slot first, then
//! every record, then compares, so that the memory reads of one name overlap the others'.

use std::hash::BuildHasher;

use mr_core::hexdigits::{decode_into, first_invalid, HexCase};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::policy::MAX_DIGESTS;

/// Shortest and longest digest, in hex digits (keylime's `^[0-9a-f]{40,128}$`).
const HEX_LEN: std::ops::RangeInclusive<usize> = 40..=128;

/// Most names [`DigestTable::get_batch`] looks up at once.
pub(crate) const BATCH: usize = 32;

/// Bytes before a record's name: the name's length and the digests' length (u32, little-endian).
const HEADER: usize = 8;

/// A keylime `digests-object`, `{name: [hex, …]}`, validated and decoded.
#[derive(Clone, Debug, Default)]
pub(crate) struct DigestTable {
    /// One record per name: the [`HEADER`], the name's UTF-8 bytes, then each decoded digest as
    /// a length byte and the digest's bytes (a lookup that found the slot reads one place).
    data: Vec<u8>,
    /// Open addressing with linear probing, built once all names are read: a power of two long
    /// (at least 16) and at most three quarters full. 0 is a free slot; a used one is
    /// `tag << 32 | (at + 1)`, with `tag` the high half of the name's hash and `at` its
    /// record's offset in `data`. A name's probe starts at `tag & (len - 1)`.
    slots: Vec<u64>,
    /// Names in `slots`.
    names: usize,
    hasher: foldhash::fast::RandomState,
    /// Digests read (all names, duplicates and odd-length ones included), for the policy's cap.
    count: usize,
}

/// The high half of `name`'s hash: its slot's tag, and where its probe starts.
fn tag(hasher: &foldhash::fast::RandomState, name: &[u8]) -> u32 {
    (hasher.hash_one(name) >> 32) as u32
}

/// Where a name's probe ended: its slot and its record's digests, or the free slot where it
/// would go.
enum Probe<'t> {
    Found(usize, &'t [u8]),
    Free(usize),
}

impl DigestTable {
    /// Number of names.
    pub(crate) fn len(&self) -> usize {
        self.names
    }

    /// Digests read, for [`MAX_DIGESTS`].
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The accepted digests of `name`, or `None` when the policy does not name it.
    pub(crate) fn get(&self, name: &str) -> Option<Digests<'_>> {
        let name = name.as_bytes();
        match self.probe(name, tag(&self.hasher, name))? {
            Probe::Found(_, digests) => Some(Digests(digests)),
            Probe::Free(_) => None,
        }
    }

    /// [`DigestTable::get`] of each of `names`, in order (at most [`BATCH`]; the rest are not
    /// looked up and their places are `None`). The index slots of all names are read first, then the start of
    /// every record they point to, then each name is compared: the reads of different names do
    /// not wait for each other, so their cache misses overlap.
    pub(crate) fn get_batch<'t>(&'t self, names: &[&[u8]]) -> [Option<Digests<'t>>; BATCH] {
        let mut found = [const { None }; BATCH];
        let names = names.get(..BATCH).unwrap_or(names);
        let mut tags = [0u32; BATCH];
        for (slot_tag, name) in tags.iter_mut().zip(names) {
            *slot_tag = tag(&self.hasher, name);
        }
        let tags = &tags[..names.len()];
        let mask = self.slots.len().wrapping_sub(1);
        let mut first = [0u64; BATCH];
        for (slot, tag) in first.iter_mut().zip(tags) {
            *slot = self.slots.get(*tag as usize & mask).copied().unwrap_or(0);
        }
        // Touch the first two lines of each record the first slots point to (a free slot
        // points nowhere: `at` wraps past the arena's end). Only the cache is the point.
        let mut touched = 0u8;
        for slot in &first[..names.len()] {
            let at = (*slot as u32).wrapping_sub(1) as usize;
            touched ^= self.data.get(at).copied().unwrap_or(0);
            touched ^= self.data.get(at.wrapping_add(64)).copied().unwrap_or(0);
        }
        std::hint::black_box(touched);
        for ((out, name), tag) in found.iter_mut().zip(names).zip(tags) {
            if let Some(Probe::Found(_, digests)) = self.probe(name, *tag) {
                *out = Some(Digests(digests));
            }
        }
        found
    }

    /// The name and the digests of the record at `at`.
    fn record(&self, at: usize) -> Option<(&[u8], &[u8])> {
        let header = self.data.get(at..at.checked_add(HEADER)?)?;
        let name_len = u32::from_le_bytes(header.get(..4)?.try_into().ok()?) as usize;
        let digests_len = u32::from_le_bytes(header.get(4..)?.try_into().ok()?) as usize;
        let body = at + HEADER;
        let record = self
            .data
            .get(body..body.checked_add(name_len)?.checked_add(digests_len)?)?;
        Some(record.split_at(name_len))
    }

    /// Follow `name`'s probe sequence (`None` for an empty index). The index always has a free
    /// slot, so the probe ends.
    fn probe(&self, name: &[u8], tag: u32) -> Option<Probe<'_>> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut pos = tag as usize & mask;
        loop {
            let slot = *self.slots.get(pos)?;
            if slot == 0 {
                return Some(Probe::Free(pos));
            }
            if (slot >> 32) as u32 == tag {
                if let Some((stored, digests)) = self.record((slot as u32 - 1) as usize) {
                    if stored == name {
                        return Some(Probe::Found(pos, digests));
                    }
                }
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Build the index over `records` (each a slot value, in the order read): sized once for
    /// all of them, at most three quarters full. A name given twice keeps its last record (as
    /// Python's `json` does); the earlier one stays in the arena, unreachable (bounded by the
    /// input). The records go in batches whose first slots are read before any is placed, so
    /// that the cache misses of a batch overlap.
    fn index(&mut self, records: &[u64]) {
        let len = (records.len() * 4 / 3 + 1).next_power_of_two().max(16);
        self.slots = vec![0; len];
        let mask = len - 1;
        for batch in records.chunks(BATCH) {
            let mut touched = 0u64;
            for record in batch {
                touched ^= self
                    .slots
                    .get((record >> 32) as usize & mask)
                    .copied()
                    .unwrap_or(0);
            }
            std::hint::black_box(touched);
            for &record in batch {
                let tag = (record >> 32) as u32;
                let at = (record as u32).wrapping_sub(1) as usize;
                let Some((name, _)) = self.record(at) else {
                    continue;
                };
                match self.probe(name, tag) {
                    Some(Probe::Found(pos, _)) => self.slots[pos] = record,
                    Some(Probe::Free(pos)) => {
                        self.slots[pos] = record;
                        self.names += 1;
                    }
                    None => {}
                }
            }
        }
    }

    /// Read the object's next name and its digest list into the arena, and its slot value
    /// into `records` (see [`DigestTable`]'s `Deserialize`).
    fn read_entry<'de, A: MapAccess<'de>>(
        &mut self,
        map: &mut A,
        records: &mut Vec<u64>,
    ) -> Result<bool, A::Error> {
        let at = self.data.len();
        self.data.extend_from_slice(&[0; HEADER]);
        if map.next_key_seed(NameSeed(&mut self.data))?.is_none() {
            self.data.truncate(at);
            return Ok(false);
        }
        let name_len = self.data.len() - at - HEADER;
        map.next_value_seed(ListSeed(self))?;
        let digests_len = self.data.len() - at - HEADER - name_len;
        let too_large = || de::Error::custom("policy too large");
        // `at + 1` must fit the slot's low half.
        let slot_at = u32::try_from(at + 1).map_err(|_| too_large())?;
        let name_len = u32::try_from(name_len).map_err(|_| too_large())?;
        let digests_len = u32::try_from(digests_len).map_err(|_| too_large())?;
        let Some(record) = self.data.get_mut(at..) else {
            return Err(too_large());
        };
        record[..4].copy_from_slice(&name_len.to_le_bytes());
        record[4..HEADER].copy_from_slice(&digests_len.to_le_bytes());
        let name_tag = tag(&self.hasher, &record[HEADER..HEADER + name_len as usize]);
        records.push(u64::from(name_tag) << 32 | u64::from(slot_at));
        Ok(true)
    }
}

/// The accepted digests of one name.
#[derive(Clone, Debug)]
pub(crate) struct Digests<'t>(&'t [u8]);

impl<'t> Iterator for Digests<'t> {
    type Item = &'t [u8];
    fn next(&mut self) -> Option<&'t [u8]> {
        let (&len, rest) = self.0.split_first()?;
        let (digest, rest) = rest.split_at_checked(len as usize)?;
        self.0 = rest;
        Some(digest)
    }
}

impl<'de> serde::Deserialize<'de> for DigestTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DigestTable;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of digest lists")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DigestTable, A::Error> {
                let mut table = DigestTable::default();
                let mut records = Vec::new();
                while table.read_entry(&mut map, &mut records)? {}
                table.index(&records);
                Ok(table)
            }
        }
        d.deserialize_map(V)
    }
}

/// Appends an object key to the arena.
struct NameSeed<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for NameSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for NameSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a name")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Reads one name's non-empty array of digests into the arena.
struct ListSeed<'a>(&'a mut DigestTable);

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a non-empty array of 40 to 128 lowercase hex digits")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut n = 0usize;
        while seq.next_element_seed(HexSeed(&mut self.0.data))?.is_some() {
            n += 1;
            self.0.count += 1;
            if self.0.count > MAX_DIGESTS {
                return Err(de::Error::custom(format!(
                    "more than {MAX_DIGESTS} digests"
                )));
            }
        }
        if n == 0 {
            return Err(de::Error::custom("empty digest list"));
        }
        Ok(())
    }
}

/// Validates one digest and appends it, decoded, to the arena.
struct HexSeed<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for HexSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for HexSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("40 to 128 lowercase hex digits")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        let bad = || {
            E::custom(format!(
                "digest {:?} is not 40 to 128 lowercase hex digits",
                s.chars().take(140).collect::<String>()
            ))
        };
        if !HEX_LEN.contains(&s.len()) {
            return Err(bad());
        }
        let text = s.as_bytes();
        if text.len() % 2 == 1 {
            // An odd number of digits is valid for the schema but can never equal a digest's
            // hex: it is kept out of the set (keylime keeps it, never matching).
            return match first_invalid(text, HexCase::Lower) {
                None => Ok(()),
                Some(_) => Err(bad()),
            };
        }
        let mark = self.0.len();
        let len = text.len() / 2;
        // The length fits a byte: at most 64.
        self.0.push(len as u8);
        self.0.resize(mark + 1 + len, 0);
        if !decode_into(text, &mut self.0[mark + 1..], HexCase::Lower) {
            self.0.truncate(mark);
            return Err(bad());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn table(json: &str) -> DigestTable {
        serde_json::from_str(json).unwrap()
    }

    fn digest_of(i: usize) -> String {
        format!("{:040x}", i * 7919 + 1)
    }

    /// A table of `n` names `/n/{i}`, each with one 20-byte digest.
    fn names(n: usize) -> DigestTable {
        let body: Vec<String> = (0..n)
            .map(|i| format!("\"/n/{i}\": [\"{}\"]", digest_of(i)))
            .collect();
        table(&format!("{{{}}}", body.join(",")))
    }

    fn one(d: Option<Digests<'_>>) -> Option<Vec<u8>> {
        d.map(|mut d| {
            let first = d.next().unwrap().to_vec();
            assert!(d.next().is_none());
            first
        })
    }

    #[test]
    fn the_index_keeps_every_name_and_is_at_most_three_quarters_full() {
        for n in [0, 1, 11, 12, 13, 100, 4096, 20_000] {
            let t = names(n);
            assert_eq!(t.len(), n);
            assert!(t.slots.is_empty() || t.names * 4 <= t.slots.len() * 3);
            assert!(t.slots.len().is_power_of_two() || t.slots.is_empty());
            for i in (0..n).step_by(7) {
                let want = hex::decode(digest_of(i)).unwrap();
                assert_eq!(
                    one(t.get(&format!("/n/{i}"))),
                    Some(want),
                    "n {n}, name {i}"
                );
            }
            assert!(t.get(&format!("/n/{n}")).is_none());
            assert!(t.get("").is_none());
        }
    }

    #[test]
    fn batch_lookups_equal_single_lookups() {
        for t in [names(0), names(3), names(5000)] {
            let queries: Vec<String> = (0..200)
                .map(|i| match i % 4 {
                    0 => format!("/n/{i}"),
                    1 => format!("/n/{}", i * 31),
                    2 => format!("/absent/{i}"),
                    _ => String::new(),
                })
                .collect();
            for batch in queries.chunks(BATCH).chain([&queries[..0], &queries[..1]]) {
                let names: Vec<&[u8]> = batch.iter().map(|q| q.as_bytes()).collect();
                let found = t.get_batch(&names);
                for (i, q) in batch.iter().enumerate() {
                    assert_eq!(one(found[i].clone()), one(t.get(q)), "{q}");
                }
                assert!(found[batch.len()..].iter().all(Option::is_none));
            }
            // More names than a batch: the rest are not looked up.
            let many: Vec<&[u8]> = queries.iter().map(|q| q.as_bytes()).collect();
            assert_eq!(t.get_batch(&many).len(), BATCH);
        }
    }

    #[test]
    fn a_name_given_again_replaces_its_list_and_counts_once() {
        let a = digest_of(1);
        let b = digest_of(2);
        let t = table(&format!(
            r#"{{"/x": ["{a}"], "/y": ["{a}"], "/x": ["{b}", "{a}"]}}"#
        ));
        assert_eq!(t.len(), 2);
        assert_eq!(t.count(), 4);
        let got: Vec<Vec<u8>> = t.get("/x").unwrap().map(<[u8]>::to_vec).collect();
        assert_eq!(got, [hex::decode(&b).unwrap(), hex::decode(&a).unwrap()]);
    }
}
