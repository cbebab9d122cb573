#![no_main]
//! TPM 2.0 structures: TPMS_ATTEST, TPMT_SIGNATURE, TPMT_PUBLIC / TPM2B_PUBLIC, every AK key
//! format (`AkPublic::detect` and the explicit constructors), certificates (DER or PEM), and
//! quote-signature verification over three slices of the input.

use libfuzzer_sys::fuzz_target;
use mr_tpm::{tpms_attest_bytes, verify_quote_signature, AkPublic, Attest, Signature, TpmPublic};

fn parsers(data: &[u8]) {
    if let Ok(attest) = Attest::parse(data) {
        let _ = attest.attest_type();
        if let Some(q) = attest.quote_info() {
            let _ = q.pcr_select.registers().count();
            let _ = q.pcr_select.pcrs().count();
            for bank in &q.pcr_select.banks {
                let _ = bank.pcrs().count();
            }
        }
        let _ = attest.marshal();
    }
    let _ = tpms_attest_bytes(data);
    let _ = mr_tpm::cert::certificate_der(data);
    if let Ok(sig) = Signature::parse(data) {
        let _ = sig.scheme();
        let _ = sig.hash();
        let _ = sig.marshal();
    }
    for public in [TpmPublic::parse_tpmt(data), TpmPublic::parse_tpm2b(data)]
        .into_iter()
        .flatten()
    {
        let _ = public.tpmt_bytes();
        let _ = public.tpm2b_bytes();
        let _ = public.name();
        let _ = public.is_restricted_signing();
    }
    let aks = [
        AkPublic::detect(data),
        AkPublic::from_tpm2b_public(data),
        AkPublic::from_tpmt_public(data),
        AkPublic::from_spki_der(data),
        AkPublic::from_certificate_der(data),
        AkPublic::from_pem(data),
    ];
    for ak in aks.into_iter().flatten() {
        let _ = ak.tpm_public();
        let _ = ak.format();
        let _ = ak.id();
        let _ = ak.name();
        let _ = ak.description();
        let _ = ak.fixed_scheme();
    }
}

fuzz_target!(|data: &[u8]| {
    parsers(data);
    // attest | signature | key, split by the first two bytes.
    if data.len() >= 2 {
        let rest = &data[2..];
        let a = usize::from(data[0]).min(rest.len());
        let (attest, rest) = rest.split_at(a);
        let s = usize::from(data[1]).min(rest.len());
        let (sig, key) = rest.split_at(s);
        if let Ok(ak) = AkPublic::detect(key) {
            let _ = verify_quote_signature(attest, sig, &ak, None);
            let _ = verify_quote_signature(attest, sig, &ak, Some(b"nonce"));
        }
    }
});
