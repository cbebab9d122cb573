//! A valid `mr_ima` journal over a SHA-384 backing register (RTMR3 in the tests), written record
//! by record as the agent writes it, with the values a verifier derives from it; and the digests
//! the agent takes from an IMA list.

use mr_core::log::ima::{ImaReader, ImaReaderOptions};
use mr_core::{Digest, HashAlg};
use mr_virtual::agent::entry_digest;
use mr_virtual::record::Record;
use mr_virtual::MR_IMA;

/// A journal of `mr_ima` extends with one `sync` record and one comment block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleJournal {
    /// The journal text.
    pub text: Vec<u8>,
    /// The backing register's value after every record (SHA-384, from zero).
    pub backing: Digest,
    /// `mr_ima`'s value after every extend (SHA-384, from zero).
    pub mr_ima: Digest,
}

impl SampleJournal {
    /// `extends` extend records of `mr_ima` (digest i = SHA-384 of the byte i), with a comment
    /// and a blank line before record `comment_at` and a `sync` record of the backing value
    /// before record `sync_at`.
    pub fn new(extends: u8, comment_at: u8, sync_at: u8) -> SampleJournal {
        let alg = HashAlg::Sha384;
        let mut backing = Digest::zero(alg);
        let mut mr_ima = Digest::zero(alg);
        let mut text = String::new();
        for i in 0..extends {
            if i == comment_at {
                text.push_str("# a comment\n\n");
            }
            if i == sync_at {
                let sync = Record::Sync { value: backing };
                backing = backing.extended(sync.line_digest(alg).as_bytes());
                text.push_str(&format!("{sync}\n"));
            }
            let digest = alg.hash(&[i]);
            let extend = Record::Extend {
                name: MR_IMA.to_owned(),
                digest,
            };
            mr_ima = mr_ima.extended(digest.as_bytes());
            backing = backing.extended(extend.line_digest(alg).as_bytes());
            text.push_str(&format!("{extend}\n"));
        }
        SampleJournal {
            text: text.into_bytes(),
            backing,
            mr_ima,
        }
    }
}

/// What the IMA agent extends `mr_ima` with for each entry of the IMA list `list`: the entry's
/// SHA-384 template digest (all-0xFF for a violation), checked against the recorded digest.
pub fn mr_ima_digests(list: &[u8]) -> Vec<Digest> {
    let mut reader = ImaReader::new(list, ImaReaderOptions::default());
    let mut out = Vec::new();
    while let Some(entry) = reader.next_entry().expect("a valid IMA list") {
        out.push(entry_digest(entry, HashAlg::Sha384).expect("a consistent IMA entry"));
    }
    out
}
