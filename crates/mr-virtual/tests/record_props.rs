//! Properties of the record format: Display/parse round trip, one spelling per record, and no
//! panic on any input (parser and derive).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::ExpectedRegisters;
use mr_core::{Digest, HashAlg, MrId, Provenance, VerifiedRegisters};
use mr_virtual::verify::{derive, DeriveOptions};
use mr_virtual::Record;
use proptest::prelude::*;

fn alg() -> impl Strategy<Value = HashAlg> {
    prop::sample::select(HashAlg::ALL.to_vec())
}

fn digest() -> impl Strategy<Value = Digest> {
    (alg(), prop::collection::vec(any::<u8>(), 64))
        .prop_map(|(a, bytes)| Digest::new(a, &bytes[..a.size()]).unwrap())
}

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        ("[A-Za-z0-9_.-]{1,64}", digest())
            .prop_filter("SYNC is not a name", |(n, _)| n != "SYNC")
            .prop_map(|(name, digest)| Record::Extend { name, digest }),
        digest().prop_map(|value| Record::Sync { value }),
    ]
}

proptest! {
    #[test]
    fn display_then_parse_gives_the_record_back(r in record()) {
        let line = r.to_string();
        prop_assert_eq!(Record::parse(&line).unwrap(), Some(r.clone()));
        for a in HashAlg::ALL {
            prop_assert_eq!(r.line_digest(a), a.hash(line.as_bytes()));
        }
    }

    #[test]
    fn an_accepted_line_is_the_canonical_spelling(line in "[ -~]{0,200}") {
        if let Ok(Some(r)) = Record::parse(&line) {
            prop_assert_eq!(r.to_string(), line);
        }
    }

    #[test]
    fn mutated_records_parse_to_their_own_spelling_or_fail(
        r in record(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = r.to_string().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(text) = std::str::from_utf8(&bytes) {
            match Record::parse(text) {
                Ok(Some(p)) => prop_assert_eq!(p.to_string(), text),
                Ok(None) => prop_assert!(text.is_empty() || text.starts_with('#')),
                Err(_) => {}
            }
        }
    }

    #[test]
    fn derive_never_panics(journal in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut rtmr3 = ExpectedRegisters::new();
        rtmr3.insert(MrId::Rtmr(3), HashAlg::Sha384.hash(b"x")).unwrap();
        let v = VerifiedRegisters::from_verified_root(Provenance::TdQuote { root: "test".into() }, rtmr3);
        let _ = derive(&journal[..], &MrId::Rtmr(3), &v, &DeriveOptions::default());
    }

    #[test]
    fn derive_never_panics_on_record_shaped_lines(
        records in prop::collection::vec(record(), 0..8),
        noise in prop::collection::vec((any::<prop::sample::Index>(), "[ -~\n]{0,8}"), 0..3),
    ) {
        let mut text: String = records.iter().map(|r| format!("{r}\n")).collect();
        for (at, s) in noise {
            let i = at.index(text.len() + 1);
            if text.is_char_boundary(i) {
                text.insert_str(i, &s);
            }
        }
        let mut rtmr3 = ExpectedRegisters::new();
        rtmr3.insert(MrId::Rtmr(3), HashAlg::Sha384.hash(b"x")).unwrap();
        let v = VerifiedRegisters::from_verified_root(Provenance::TdQuote { root: "test".into() }, rtmr3);
        let _ = derive(text.as_bytes(), &MrId::Rtmr(3), &v, &DeriveOptions::default());
    }
}
