//! The accepted digests of each name of a runtime policy (`digests`, `keyrings`, `ima-buf`),
//! decoded straight from the JSON while it is read: each name and its digests go into one arena
//! (grown as the input is read, never sized by a count from the input) and a hash table holds
//! offsets into it. See `docs/appraisal.md` ("Memory and speed").
//!
//! The hasher is foldhash with a per-process random seed. The table's keys are the policy's
//! names (written by the verifier's operator); the list, which the attester controls, is only
//! looked up. A lookup costs the probe sequence of its hash, which an attester cannot lengthen
//! (the table is fixed) and cannot aim at a long one without knowing the seed.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::policy::MAX_DIGESTS;

/// Shortest and longest digest, in hex digits (keylime's `^[0-9a-f]{40,128}$`).
const HEX_LEN: std::ops::RangeInclusive<usize> = 40..=128;

/// Marks a byte that is not a lowercase hex digit in [`NIBBLE`].
const INVALID: u8 = 0x80;

/// The value of each lowercase hex digit; [`INVALID`] for every other byte.
const NIBBLE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Where a name's record is in the arena: the name's bytes at `at..at + name_len`, then its
/// digests up to `end`.
#[derive(Clone, Copy, Debug)]
struct Slot {
    at: u32,
    name_len: u32,
    end: u32,
}

/// A keylime `digests-object`, `{name: [hex, …]}`, validated and decoded.
#[derive(Clone, Debug, Default)]
pub(crate) struct DigestTable {
    /// One record per name: the name's UTF-8 bytes, then each decoded digest as a length byte
    /// and the digest's bytes (a lookup reads one place of memory, not three).
    data: Vec<u8>,
    slots: HashTable<Slot>,
    hasher: foldhash::fast::RandomState,
    /// Digests read (all names, duplicates and odd-length ones included), for the policy's cap.
    count: usize,
}

/// The name of the record at `slot`.
fn name_of<'d>(data: &'d [u8], slot: &Slot) -> &'d [u8] {
    data.get(slot.at as usize..(slot.at + slot.name_len) as usize)
        .unwrap_or_default()
}

impl DigestTable {
    /// Number of names.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Digests read, for [`MAX_DIGESTS`].
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The accepted digests of `name`, or `None` when the policy does not name it.
    pub(crate) fn get(&self, name: &str) -> Option<Digests<'_>> {
        let name = name.as_bytes();
        let hash = self.hasher.hash_one(name);
        let slot = self.slots.find(hash, |s| name_of(&self.data, s) == name)?;
        Some(Digests(
            self.data
                .get((slot.at + slot.name_len) as usize..slot.end as usize)
                .unwrap_or_default(),
        ))
    }

    /// Read the object's next name and its digest list (see [`DigestTable`]'s `Deserialize`).
    /// A name given twice keeps its last list (as Python's `json` does).
    fn read_entry<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<bool, A::Error> {
        let at = self.data.len();
        if map.next_key_seed(NameSeed(&mut self.data))?.is_none() {
            return Ok(false);
        }
        let name_len = self.data.len() - at;
        map.next_value_seed(ListSeed(self))?;
        let offset = |n: usize| u32::try_from(n).map_err(|_| de::Error::custom("policy too large"));
        let slot = Slot {
            at: offset(at)?,
            name_len: offset(name_len)?,
            end: offset(self.data.len())?,
        };
        let (data, slots, hasher) = (&self.data, &mut self.slots, &self.hasher);
        let name = name_of(data, &slot);
        let hash = hasher.hash_one(name);
        match slots.find_mut(hash, |s| name_of(data, s) == name) {
            // The earlier record stays in the arena, unreachable (bounded by the input).
            Some(existing) => *existing = slot,
            None => {
                slots.insert_unique(hash, slot, |s| hasher.hash_one(name_of(data, s)));
            }
        }
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
                while table.read_entry(&mut map)? {}
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
        let mark = self.0.len();
        // The length fits a byte: at most 64.
        self.0.push((s.len() / 2) as u8);
        let mut pairs = s.as_bytes().chunks_exact(2);
        let mut invalid = 0u8;
        for pair in pairs.by_ref() {
            let (hi, lo) = (NIBBLE[pair[0] as usize], NIBBLE[pair[1] as usize]);
            invalid |= (hi | lo) & INVALID;
            self.0.push(hi << 4 | (lo & 0x0f));
        }
        // An odd number of digits is valid for the schema but can never equal a digest's hex;
        // it is kept out of the set (keylime keeps it, never matching).
        let odd = pairs.remainder();
        if let [last] = odd {
            invalid |= NIBBLE[*last as usize] & INVALID;
        }
        if invalid != 0 {
            self.0.truncate(mark);
            return Err(bad());
        }
        if !odd.is_empty() {
            self.0.truncate(mark);
        }
        Ok(())
    }
}
