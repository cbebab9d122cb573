//! Realistic synthetic IMA lists of any length, written in chunks so that memory stays flat:
//! the project's own source of lists for the shipped example, benchmarks, tamper tests and RSS
//! checks. Deterministic for a given seed.
//!
//! The mix, per 1000 entries: one `boot_aggregate` first, then mostly `ima-ng` file
//! measurements (SHA-256 file digests), an `ima-sig` entry every 50th, an `ima-buf`
//! kexec command line every 100th, a violation every 500th; all in PCR 10.

use std::io::Write;

use crate::alg::{Digest, HashAlg};
use crate::register::{MrId, RegisterValue};

use super::builder::{BuiltEntry, ImaListBuilder};
use super::{DigestMode, ListKind};

/// Entries written per builder chunk (bounds the memory used while writing).
const CHUNK_ENTRIES: u64 = 4096;

/// A small deterministic generator (SplitMix64); not for anything secret.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// What [`write_sample_list`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleSummary {
    /// Entries written.
    pub entries: u64,
    /// Violation entries among them.
    pub violations: u64,
    /// The value of PCR 10 in every requested bank after the whole list (per-bank template
    /// digests, as kernels since 5.8 extend).
    pub expected: Vec<RegisterValue>,
}

/// Write a synthetic list of `entries` entries (at least 1: the `boot_aggregate`) to `out`.
pub fn write_sample_list<W: Write>(
    out: &mut W,
    kind: ListKind,
    entries: u64,
    banks: &[HashAlg],
    seed: u64,
) -> std::io::Result<SampleSummary> {
    let mut rng = SplitMix64(seed);
    let mut pcr: Vec<Digest> = banks.iter().map(|b| Digest::zero(*b)).collect();
    let mut violations = 0u64;
    let mut written = 0u64;
    let extend = |e: &BuiltEntry, pcr: &mut [Digest]| {
        for v in pcr.iter_mut() {
            *v = v.extended(e.extend_value(v.alg(), DigestMode::PerBank).as_bytes());
        }
    };
    while written < entries.max(1) {
        let mut b = ImaListBuilder::new(kind).with_capacity(1 << 20);
        let end = (written + CHUNK_ENTRIES).min(entries.max(1));
        while written < end {
            let i = written;
            let e = if i == 0 {
                // What a fresh TPM's PCRs 0-9 (all zero) aggregate to in the SHA-256 bank.
                b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(&[0u8; 32 * 10]))
            } else if i.is_multiple_of(500) {
                violations += 1;
                b.violation(
                    10,
                    "ima-ng",
                    HashAlg::Sha256,
                    &format!("/var/log/app-{i}.log"),
                )
            } else {
                let r = rng.next();
                let file = HashAlg::Sha256.hash(&r.to_le_bytes());
                if i.is_multiple_of(100) {
                    let cmdline = format!("root=/dev/vda1 ro console=ttyS0 kexec={r:x}");
                    b.ima_buf(10, HashAlg::Sha256, "kexec-cmdline", cmdline.as_bytes())
                } else if i.is_multiple_of(50) {
                    // An IMA v2 signature header (type 3, version 2, sha256, key id, length)
                    // followed by pseudo-random "signature" bytes.
                    let mut sig = vec![0x03, 0x02, 0x04, 0x12, 0x34, 0x56, 0x78, 0x01, 0x00];
                    for _ in 0..32 {
                        sig.extend_from_slice(&rng.next().to_le_bytes());
                    }
                    b.ima_sig(10, &file, &format!("/usr/bin/tool-{}", r % 997), &sig)
                } else {
                    let dir = ["/usr/lib/x86_64-linux-gnu", "/usr/bin", "/etc", "/usr/sbin"];
                    let d = dir.get((r % 4) as usize).copied().unwrap_or("/usr/bin");
                    b.ima_ng(10, &file, &format!("{d}/file-{}.so.{}", r % 100_003, i % 7))
                }
            };
            extend(&e, &mut pcr);
            written += 1;
        }
        out.write_all(b.as_bytes())?;
    }
    Ok(SampleSummary {
        entries: written,
        violations,
        expected: pcr
            .into_iter()
            .map(|value| RegisterValue {
                id: MrId::Pcr(10),
                value,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::log::ima::{replay, ImaReplayConfig};
    use crate::register::ExpectedRegisters;

    #[test]
    fn sample_lists_replay_to_their_summary() {
        let banks = [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384];
        for kind in [ListKind::Binary, ListKind::Ascii] {
            let mut list = Vec::new();
            let s = write_sample_list(&mut list, kind, 5000, &banks, 7).unwrap();
            assert_eq!(s.entries, 5000);
            assert_eq!(s.violations, 9);
            let expected = ExpectedRegisters::from_values(s.expected.clone()).unwrap();
            let r = replay(&list[..], &ImaReplayConfig::default(), &expected).unwrap();
            assert_eq!(r.entries, 5000);
            assert_eq!(r.outcome.covered, Some(5000));
            assert_eq!(r.violations, 9);
        }
    }

    #[test]
    fn same_seed_same_list() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_sample_list(&mut a, ListKind::Binary, 300, &[HashAlg::Sha1], 1).unwrap();
        write_sample_list(&mut b, ListKind::Binary, 300, &[HashAlg::Sha1], 1).unwrap();
        assert_eq!(a, b);
    }
}
