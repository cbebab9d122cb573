//! A real kernel's IMA list (ibmtss `sha1.log`, MR_SHARED) replayed entry by entry into PCR 10 of
//! a fresh swtpm through `TpmPcr` (SHA-1 and SHA-256 banks) reaches the kernel's known PCR 10
//! values; quoted with an RSA and an ECC AK, the quote verifies to `VerifiedRegisters` against
//! which the same list replays.
#![cfg(feature = "tpm-device")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use mr::core::log::ima::{self, ImaReader, ImaReaderOptions, ImaReplayConfig};
use mr::core::{Digest, HashAlg, MeasurementRegister, MrId, Provenance, RegisterValue};
use mr::tpm::device::{AkKind, Tpm};
use mr::tpm::harness::Swtpm;
use mr::tpm::{verify_quote, AkPublic, PcrBankSelection, PcrSelection};

const BANKS: [HashAlg; 2] = [HashAlg::Sha1, HashAlg::Sha256];

fn ibmtss() -> Option<PathBuf> {
    mr_testkit::shared("vectors/ima/ibmtss")
}

#[test]
fn real_ima_list_extended_into_swtpm_reaches_the_kernels_pcr10_and_verifies_under_quotes() {
    let Some(dir) = ibmtss() else { return };
    let list = std::fs::read(dir.join("sha1.log")).unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("EXPECTED.json")).unwrap()).unwrap();

    let swtpm = Swtpm::start().expect("swtpm (scripts/install-deps.sh installs it)");
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let pcrs: Vec<_> = BANKS.iter().map(|b| tpm.pcr(10, *b)).collect();
    let mut reader = ImaReader::new(list.as_slice(), ImaReaderOptions::default());
    let mut entries = 0u64;
    while let Some(e) = reader.next_entry().unwrap() {
        for pcr in &pcrs {
            let value = if e.is_violation() {
                Digest::ones(pcr.alg())
            } else {
                e.template_digest(pcr.alg())
            };
            pcr.extend(&value).unwrap();
        }
        entries += 1;
    }
    assert!(entries > 1);
    for pcr in &pcrs {
        let want = expected["whole_log_replays_to"][pcr.alg().name()]
            .as_str()
            .unwrap();
        assert_eq!(
            pcr.read().unwrap(),
            Digest::from_hex(pcr.alg(), want).unwrap(),
            "{}",
            pcr.alg()
        );
    }

    let selection = PcrSelection {
        banks: BANKS
            .iter()
            .map(|b| PcrBankSelection::new(*b, &[10]))
            .collect(),
    };
    let values: Vec<RegisterValue> = pcrs
        .iter()
        .map(|p| RegisterValue {
            id: MrId::Pcr(10),
            value: p.read().unwrap(),
        })
        .collect();
    for kind in [AkKind::Rsa2048, AkKind::EccP256] {
        let ak = tpm.create_ak(kind).unwrap();
        let nonce = format!("nonce for {kind:?}");
        let q = tpm.quote(&ak, nonce.as_bytes(), &selection).unwrap();
        let key = AkPublic::from_tpm2b_public(&q.ak_public).unwrap();
        let verified =
            verify_quote(&q.attest, &q.signature, &key, nonce.as_bytes(), &values).unwrap();
        assert!(matches!(verified.provenance(), Provenance::TpmQuote { .. }));
        let report = ima::replay(list.as_slice(), &ImaReplayConfig::default(), &verified).unwrap();
        assert_eq!(report.entries, entries);
        assert_eq!(report.outcome.covered, Some(entries));
    }
}
