//! Helpers for the IMA history tests on swtpm: measure generated entries into a list and into
//! PCR 10, quote and verify into an `Anchor`, power-cycle the TPM.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;

use mr::core::log::ima::builder::{BuiltEntry, ImaListBuilder};
use mr::core::log::ima::{Anchor, DigestMode};
use mr::core::{HashAlg, MeasurementRegister, MrId, RegisterValue};
use mr::tpm::device::{AttestationKey, Tpm};
use mr::tpm::harness::Swtpm;
use mr::tpm::{verify_quote_signature, AkPublic, PcrBankSelection, PcrSelection};

/// The banks extended and quoted.
pub const BANKS: [HashAlg; 2] = [HashAlg::Sha1, HashAlg::Sha256];

/// A list being measured, and its entry count.
pub struct Measured {
    /// The list.
    pub list: ImaListBuilder,
    /// Entries written.
    pub n: u64,
}

fn extend(tpm: &Tpm, e: &BuiltEntry) {
    for alg in BANKS {
        tpm.pcr(10, alg)
            .extend(&e.extend_value(alg, DigestMode::PerBank))
            .unwrap();
    }
}

impl Measured {
    /// A list whose first entry (boot_aggregate) is already extended.
    pub fn new(tpm: &Tpm) -> Measured {
        let mut list = ImaListBuilder::binary();
        let e = list.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"swtpm pcrs 0-9"));
        extend(tpm, &e);
        Measured { list, n: 1 }
    }
}

/// Measure `count` more files (a violation every 13th) into the list and PCR 10.
pub fn measure(tpm: &Tpm, m: &mut Measured, count: u64) {
    for _ in 0..count {
        let i = m.n;
        let path = format!("/usr/bin/tool-{i}");
        let e = if i.is_multiple_of(13) {
            m.list.violation(10, "ima-ng", HashAlg::Sha256, &path)
        } else {
            m.list
                .ima_ng(10, &HashAlg::Sha256.hash(path.as_bytes()), &path)
        };
        extend(tpm, &e);
        m.n += 1;
    }
}

/// A quote as files would carry it.
pub struct QuoteFiles {
    /// TPMS_ATTEST.
    pub attest: Vec<u8>,
    /// TPMT_SIGNATURE.
    pub sig: Vec<u8>,
    /// The AK's TPM2B_PUBLIC.
    pub ak: Vec<u8>,
    /// The quoted PCR values, `ID:ALG:HEX` lines.
    pub pcrs: String,
}

/// Quote PCR 10 in both banks with `nonce`.
pub fn quote(tpm: &Tpm, ak: &AttestationKey, nonce: &[u8]) -> QuoteFiles {
    let selection = PcrSelection {
        banks: BANKS
            .iter()
            .map(|b| PcrBankSelection::new(*b, &[10]))
            .collect(),
    };
    let q = tpm.quote(ak, nonce, &selection).unwrap();
    let mut pcrs = String::new();
    for (index, alg) in selection.pcrs() {
        pcrs.push_str(&format!(
            "{index}:{alg}:{}\n",
            tpm.read_pcr(index, alg).unwrap()
        ));
    }
    QuoteFiles {
        attest: q.attest,
        sig: q.signature,
        ak: q.ak_public,
        pcrs,
    }
}

/// Verify quote files (signature, nonce, PCR digest) into an anchor with the quote's counters.
pub fn verify(q: &QuoteFiles, nonce: &[u8]) -> Anchor {
    let key = AkPublic::detect(&q.ak).unwrap();
    let signed = verify_quote_signature(&q.attest, &q.sig, &key, Some(nonce)).unwrap();
    let values: Vec<RegisterValue> = q.pcrs.lines().map(|l| l.parse().unwrap()).collect();
    assert!(values.iter().all(|v| v.id == MrId::Pcr(10)));
    let verified = signed.verify_pcrs(&values).unwrap();
    let ci = signed.clock_info();
    Anchor::tpm(verified, ci.reset_count, ci.restart_count).unwrap()
}

/// Quote and verify.
pub fn anchor(tpm: &Tpm, ak: &AttestationKey, nonce: &[u8]) -> Anchor {
    verify(&quote(tpm, ak, nonce), nonce)
}

fn ctrl(swtpm: &Swtpm, cmd: &[u8]) -> [u8; 4] {
    let mut s = TcpStream::connect(("127.0.0.1", swtpm.port() + 1)).unwrap();
    s.write_all(cmd).unwrap();
    let mut rc = [0u8; 4];
    s.read_exact(&mut rc).unwrap();
    rc
}

/// Power-cycle the emulated TPM (swtpm control channel CMD_INIT, then TPM2_Startup(CLEAR) on the
/// command port): a TPM Reset, so resetCount increments and PCRs are reset. Nobody may hold the
/// command port (drop every `Tpm` first).
pub fn power_cycle(swtpm: &Swtpm) {
    // CMD_INIT (2) with no flags.
    assert_eq!(ctrl(swtpm, &[0, 0, 0, 2, 0, 0, 0, 0]), [0; 4], "CMD_INIT");
    let mut s = TcpStream::connect(("127.0.0.1", swtpm.port())).unwrap();
    // TPM2_Startup(TPM_SU_CLEAR): tag 0x8001, size 12, command code 0x144, startupType 0.
    s.write_all(&[0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0])
        .unwrap();
    let mut resp = [0u8; 10];
    s.read_exact(&mut resp).unwrap();
    let rc = u32::from_be_bytes([resp[6], resp[7], resp[8], resp[9]]);
    // 0x100 TPM_RC_INITIALIZE: swtpm already sent Startup itself (startup-clear flag).
    assert!(rc == 0 || rc == 0x100, "TPM2_Startup rc {rc:#x}");
}
