//! Against a real swtpm (feature `device`): PCRs through the `MeasurementRegister` trait, AKs,
//! quotes verified by the pure-Rust verifier, and every rejection reason.
#![cfg(feature = "device")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::{HashAlg, MeasurementRegister, MrId, Provenance, RegisterValue, SoftRegister};
use mr_tpm::device::{AkHierarchy, AkKind, Tpm};
use mr_tpm::harness::Swtpm;
use mr_tpm::{
    verify_quote, verify_quote_signature, AkPublic, Error, PcrBankSelection, PcrSelection,
};

fn tpm() -> (Swtpm, Tpm) {
    let swtpm = Swtpm::start().expect("swtpm (install swtpm: scripts/install-deps.sh)");
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    (swtpm, tpm)
}

#[test]
fn pcr16_and_pcr23_extend_through_the_trait_to_the_software_value() {
    let (_swtpm, tpm) = tpm();
    for index in [16, 23] {
        for alg in [HashAlg::Sha1, HashAlg::Sha256] {
            let pcr = tpm.pcr(index, alg);
            let soft = SoftRegister::new(MrId::Pcr(index), alg);
            assert_eq!(pcr.read().unwrap(), soft.read().unwrap());
            for m in [b"first".as_slice(), b"second", b"third"] {
                let d = alg.hash(m);
                pcr.extend(&d).unwrap();
                soft.extend(&d).unwrap();
            }
            assert_eq!(pcr.id(), MrId::Pcr(index));
            assert_eq!(pcr.alg(), alg);
            assert_eq!(pcr.read().unwrap(), soft.read().unwrap());
        }
    }
    // A digest of the wrong bank is refused, not truncated.
    let err = tpm
        .pcr(16, HashAlg::Sha1)
        .extend(&HashAlg::Sha256.hash(b"x"))
        .unwrap_err();
    assert!(err.to_string().contains("sha256"), "{err}");
    tpm.reset_pcr(16).unwrap();
    assert!(tpm.pcr(16, HashAlg::Sha256).read().unwrap().is_zero());
}

#[test]
fn ak_handles_are_flushed_so_many_keys_fit_in_a_tpm_without_resource_manager() {
    let (_swtpm, tpm) = tpm();
    // swtpm holds three transient objects; creating more without flushing fails.
    for _ in 0..8 {
        let ak = tpm.create_ak(AkKind::EccP256).unwrap();
        assert!(AkPublic::from_tpm2b_public(ak.public_tpm2b()).is_ok());
    }
}

fn pcr_values(tpm: &Tpm, selection: &PcrSelection) -> Vec<RegisterValue> {
    selection
        .pcrs()
        .map(|(index, alg)| RegisterValue {
            id: MrId::Pcr(index),
            value: tpm.read_pcr(index, alg).unwrap(),
        })
        .collect()
}

#[test]
fn quotes_by_rsa_and_ecc_aks_verify_and_each_tampering_is_named() {
    let (_swtpm, tpm) = tpm();
    for (index, m) in [(16u32, b"a".as_slice()), (23, b"b")] {
        tpm.extend_pcr(index, &HashAlg::Sha256.hash(m)).unwrap();
        tpm.extend_pcr(index, &HashAlg::Sha1.hash(m)).unwrap();
    }
    let selection = PcrSelection {
        banks: vec![
            PcrBankSelection::new(HashAlg::Sha256, &[0, 16, 23]),
            PcrBankSelection::new(HashAlg::Sha1, &[16]),
        ],
    };
    let values = pcr_values(&tpm, &selection);
    let nonce = b"fresh nonce 0123";
    // Primary keys derive from the hierarchy seed: another hierarchy gives another key.
    let other_ak = tpm
        .create_ak_in(AkKind::EccP256, AkHierarchy::Owner)
        .unwrap();
    let other = AkPublic::from_tpm2b_public(other_ak.public_tpm2b()).unwrap();
    for kind in [AkKind::Rsa2048, AkKind::EccP256] {
        let ak = tpm.create_ak(kind).unwrap();
        let q = tpm.quote(&ak, nonce, &selection).unwrap();
        let key = AkPublic::from_tpm2b_public(&q.ak_public).unwrap();
        let verified = verify_quote(&q.attest, &q.signature, &key, nonce, &values).unwrap();
        assert_eq!(verified.len(), 4);
        assert_eq!(
            verified.get(&MrId::Pcr(16), HashAlg::Sha1),
            Some(&values[3].value)
        );
        assert_eq!(
            verified.provenance(),
            &Provenance::TpmQuote {
                ak_name: hex::encode(key.name().unwrap())
            }
        );
        // The TPM's qualifiedSigner for a primary key is its Name qualified by the hierarchy;
        // the AK Name is what the provenance records.
        assert_eq!(key.name().unwrap().len(), 34);

        let err = verify_quote(&q.attest, &q.signature, &key, b"stale nonce", &values).unwrap_err();
        assert!(matches!(err, Error::WrongNonce { .. }), "{kind:?}: {err}");

        let mut sig = q.signature.clone();
        let last = sig.len() - 1;
        sig[last] ^= 1;
        let err = verify_quote(&q.attest, &sig, &key, nonce, &values).unwrap_err();
        assert!(matches!(err, Error::BadSignature), "{kind:?}: {err}");

        let mut tampered = values.clone();
        tampered[1].value = HashAlg::Sha256.hash(b"not what was measured");
        let err = verify_quote(&q.attest, &q.signature, &key, nonce, &tampered).unwrap_err();
        assert!(
            matches!(err, Error::PcrDigestMismatch { .. }),
            "{kind:?}: {err}"
        );

        let err = verify_quote(&q.attest, &q.signature, &other, nonce, &values).unwrap_err();
        match kind {
            AkKind::EccP256 => assert!(matches!(err, Error::BadSignature), "{kind:?}: {err}"),
            AkKind::Rsa2048 => assert!(
                matches!(err, Error::KeySchemeMismatch { .. }),
                "{kind:?}: {err}"
            ),
        }

        let mut attest = q.attest.clone();
        attest[0] ^= 0xff;
        let err = verify_quote(&attest, &q.signature, &key, nonce, &values).unwrap_err();
        assert!(matches!(err, Error::BadSignature), "{kind:?}: {err}");

        let missing = &values[..3];
        let err = verify_quote(&q.attest, &q.signature, &key, nonce, missing).unwrap_err();
        assert!(
            matches!(
                err,
                Error::MissingPcrValue {
                    index: 16,
                    alg: HashAlg::Sha1
                }
            ),
            "{kind:?}: {err}"
        );
    }
}

#[test]
fn clock_info_tells_two_quotes_of_one_boot_from_a_reboot() {
    let (_swtpm, tpm) = tpm();
    let ak = tpm.create_ak(AkKind::EccP256).unwrap();
    let key = AkPublic::from_tpm2b_public(ak.public_tpm2b()).unwrap();
    let selection = PcrSelection {
        banks: vec![PcrBankSelection::new(HashAlg::Sha256, &[16])],
    };
    let q1 = tpm.quote(&ak, b"n1", &selection).unwrap();
    let q2 = tpm.quote(&ak, b"n2", &selection).unwrap();
    let s1 = verify_quote_signature(&q1.attest, &q1.signature, &key, Some(b"n1")).unwrap();
    let s2 = verify_quote_signature(&q2.attest, &q2.signature, &key, Some(b"n2")).unwrap();
    assert!(!s2.clock_info().rebooted_since(s1.clock_info()));
    assert!(s2.clock_info().clock >= s1.clock_info().clock);
    let mut rebooted = *s2.clock_info();
    rebooted.reset_count += 1;
    assert!(rebooted.rebooted_since(s1.clock_info()));
}
