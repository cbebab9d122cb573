#![no_main]
//! The virtual-register journal: the record parser on every line of the input, and
//! `mr_virtual::verify::derive` against the backing value of a valid journal (extends, a comment,
//! a SYNC record), with the input either editing that journal (first byte even; see edits.rs) or
//! replacing it (first byte odd).
//!
//! Properties: no panic; a line that parses prints back as exactly that line; every derive
//! rejection is Malformed or Rejected; whatever derive accepts gives the valid journal's mr_ima.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mr_core::{
    Digest, ErrorClass, ExpectedRegisters, HashAlg, MrId, Provenance, VerifiedRegisters,
};
use mr_testkit::journal::SampleJournal;
use mr_virtual::record::Record;
use mr_virtual::verify::{derive, DeriveOptions};
use mr_virtual::MR_IMA;

#[path = "edits.rs"]
mod edits;

const RTMR3: MrId = MrId::Rtmr(3);

struct Base {
    journal: Vec<u8>,
    verified: VerifiedRegisters,
    mr_ima: Digest,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let SampleJournal {
            text,
            backing,
            mr_ima: virt,
        } = SampleJournal::new(6, 2, 4);
        let mut rtmr3 = ExpectedRegisters::new();
        rtmr3.insert(RTMR3, backing).expect("one value");
        let verified = VerifiedRegisters::from_verified_root(
            Provenance::TdQuote {
                root: "fuzz root".into(),
            },
            rtmr3,
        );
        Base {
            journal: text,
            verified,
            mr_ima: virt,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let b = base();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let journal = if mode % 2 == 0 {
        edits::apply(&b.journal, rest)
    } else {
        rest.to_vec()
    };
    for line in journal.split(|c| *c == b'\n') {
        if let Ok(text) = std::str::from_utf8(line) {
            if let Ok(Some(rec)) = Record::parse(text) {
                assert_eq!(rec.to_string(), text, "a record with two spellings");
            }
        }
    }
    match derive(&journal[..], &RTMR3, &b.verified, &DeriveOptions::default()) {
        Ok(d) => assert_eq!(
            d.get(MR_IMA, HashAlg::Sha384),
            Some(b.mr_ima),
            "an edited journal derived another mr_ima"
        ),
        Err(e) => assert!(
            matches!(e.class(), ErrorClass::Malformed | ErrorClass::Rejected),
            "rejection of class {:?}: {e}",
            e.class()
        ),
    }
});
