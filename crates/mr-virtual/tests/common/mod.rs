//! Helpers shared by the mr-virtual integration tests: independent folds computed with `sha2`
//! directly (not through mr-core), and test backing registers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mr_core::{
    Digest, ExpectedRegisters, HashAlg, MeasurementRegister, MrId, Provenance, SoftRegister,
    VerifiedRegisters,
};
use mr_virtual::verify::{derive, DeriveOptions};
use mr_virtual::{Derived, Error};
use sha2::{Digest as _, Sha384};

/// SHA-384 of the concatenation of `parts`, with sha2 directly.
pub fn sha384(parts: &[&[u8]]) -> [u8; 48] {
    let mut h = Sha384::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The value a zero-reset SHA-384 register reaches when extended with `H(line)` for each line.
pub fn fold_lines<S: AsRef<str>>(lines: &[S]) -> [u8; 48] {
    lines.iter().fold([0u8; 48], |v, l| {
        sha384(&[&v, &sha384(&[l.as_ref().as_bytes()])])
    })
}

/// The value a zero-reset SHA-384 register reaches when extended with each digest.
pub fn fold_digests(digests: &[[u8; 48]]) -> [u8; 48] {
    digests.iter().fold([0u8; 48], |v, d| sha384(&[&v, d]))
}

/// The test's i-th measurement.
pub fn measurement(i: u64) -> [u8; 48] {
    sha384(&[b"measurement", &i.to_le_bytes()])
}

/// As an mr-core digest.
pub fn digest(bytes: &[u8; 48]) -> Digest {
    Digest::new(HashAlg::Sha384, bytes).unwrap()
}

/// The extend record line for `mr_ima` and `d`.
pub fn extend_line(name: &str, d: &[u8; 48]) -> String {
    format!("{name} extend sha384/{}", hex::encode(d))
}

/// The journal's lines (without `\n`).
pub fn journal_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A backing register shared between "boots" of the attester (the hardware outlives the
/// process): RTMR3 in SHA-384.
#[derive(Clone, Debug)]
pub struct SharedRtmr(pub Arc<SoftRegister>);

impl SharedRtmr {
    pub fn new() -> SharedRtmr {
        SharedRtmr(Arc::new(SoftRegister::new(MrId::Rtmr(3), HashAlg::Sha384)))
    }
}

impl MeasurementRegister for SharedRtmr {
    fn id(&self) -> MrId {
        self.0.id()
    }
    fn alg(&self) -> HashAlg {
        self.0.alg()
    }
    fn read(&self) -> Result<Digest, mr_core::Error> {
        self.0.read()
    }
    fn extend(&self, digest: &Digest) -> Result<(), mr_core::Error> {
        self.0.extend(digest)
    }
}

/// A backing register whose `fail_at`-th extend (1-based) fails without extending: a crash
/// between the journal append and the register extend.
#[derive(Debug)]
pub struct FailingRegister {
    pub inner: SharedRtmr,
    pub fail_at: u64,
    pub extends: AtomicU64,
}

impl FailingRegister {
    pub fn new(inner: SharedRtmr, fail_at: u64) -> FailingRegister {
        FailingRegister {
            inner,
            fail_at,
            extends: AtomicU64::new(0),
        }
    }
}

impl MeasurementRegister for FailingRegister {
    fn id(&self) -> MrId {
        self.inner.id()
    }
    fn alg(&self) -> HashAlg {
        self.inner.alg()
    }
    fn read(&self) -> Result<Digest, mr_core::Error> {
        self.inner.read()
    }
    fn extend(&self, digest: &Digest) -> Result<(), mr_core::Error> {
        let n = self.extends.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at {
            return Err(mr_core::Error::Register {
                register: self.id(),
                reason: format!("injected failure at extend {n}"),
            });
        }
        self.inner.extend(digest)
    }
}

/// A SHA-384 register whose value lives in a file (hex), so that several processes share it.
/// Not locked itself: `VirtualRegister` extends it only under the journal lock.
#[derive(Debug)]
pub struct FileRegister {
    pub path: PathBuf,
}

impl FileRegister {
    pub fn create(path: &Path) -> FileRegister {
        std::fs::write(path, hex::encode([0u8; 48])).unwrap();
        FileRegister {
            path: path.to_owned(),
        }
    }
}

impl MeasurementRegister for FileRegister {
    fn id(&self) -> MrId {
        MrId::Rtmr(3)
    }
    fn alg(&self) -> HashAlg {
        HashAlg::Sha384
    }
    fn read(&self) -> Result<Digest, mr_core::Error> {
        let text = std::fs::read_to_string(&self.path)?;
        Digest::from_hex(HashAlg::Sha384, &text)
    }
    fn extend(&self, digest: &Digest) -> Result<(), mr_core::Error> {
        let old = self.read()?;
        let new = sha384(&[old.as_bytes(), digest.as_bytes()]);
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, hex::encode(new))?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }
}

/// What a verified TD quote gives: RTMR0-2 (fixed values) and RTMR3 = `rtmr3`.
pub fn td_quoted(rtmr3: &[u8]) -> VerifiedRegisters {
    let mut v = ExpectedRegisters::new();
    for i in 0..3u8 {
        v.insert(MrId::Rtmr(i), HashAlg::Sha384.hash(&[i])).unwrap();
    }
    v.insert(MrId::Rtmr(3), Digest::new(HashAlg::Sha384, rtmr3).unwrap())
        .unwrap();
    VerifiedRegisters::from_verified_root(
        Provenance::TdQuote {
            root: "test root".into(),
        },
        v,
    )
}

/// What a verified TPM quote over PCR 16 in two banks gives: SHA-1 at its reset value (never
/// extended), SHA-256 = `sha256`.
pub fn pcr16_quoted(sha256: Digest) -> VerifiedRegisters {
    let mut values = ExpectedRegisters::new();
    values
        .insert(MrId::Pcr(16), Digest::zero(HashAlg::Sha1))
        .unwrap();
    values.insert(MrId::Pcr(16), sha256).unwrap();
    VerifiedRegisters::from_verified_root(
        Provenance::TpmQuote {
            ak_name: "000b".into(),
        },
        values,
    )
}

/// `derive` of `journal` over PCR 16 verified as `quoted`, with `options`.
pub fn derive_pcr16(
    journal: &str,
    quoted: &VerifiedRegisters,
    options: &DeriveOptions,
) -> Result<Derived, Error> {
    derive(journal.as_bytes(), &MrId::Pcr(16), quoted, options)
}

/// The journal text of `lines` (each ended by a newline).
pub fn text<S: AsRef<str>>(lines: &[S]) -> String {
    lines.iter().map(|l| format!("{}\n", l.as_ref())).collect()
}
