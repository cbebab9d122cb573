//! Azure vTPM evidence from Confidential Containers' trustee (tests/data/PROVENANCE.md):
//! verified with the outcome trustee states, and every link broken one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, UNIX_EPOCH};

use mr_core::{ErrorClass, HashAlg, MrId, Provenance};
use mr_rtmr::quote::VerifyOptions;
use mr_vtpm::hcl::{HclReport, HwReportType, RUNTIME_DATA_OFFSET};
use mr_vtpm::{
    snp, verify_az_snp_vtpm, verify_az_tdx_vtpm, AzVtpmEvidence, Error, Hardware, SnpOptions,
    TdxOptions, VerifiedHardware,
};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
/// 2025-06-01T00:00:00Z: every certificate of the test data is valid then.
const AT: u64 = 1_748_736_000;
const CHALLENGE: &[u8] = b"challenge";

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{path}")).unwrap()
}

fn evidence(path: &str) -> AzVtpmEvidence {
    AzVtpmEvidence::from_trustee_json(&read(path)).unwrap()
}

fn tdx_options(nonce: &[u8]) -> TdxOptions {
    TdxOptions {
        quote: VerifyOptions::at_unix(AT),
        nonce: Some(nonce.to_vec()),
    }
}

fn amd_bundle() -> Vec<Vec<u8>> {
    let mut pem = read("trustee/amd/milan_ask_ark_asvk.pem");
    pem.extend(read("trustee/amd/genoa_ask_ark_asvk.pem"));
    snp::read_bundle(&pem).unwrap()
}

fn snp_options(nonce: &[u8]) -> SnpOptions {
    let mut o = SnpOptions::new(amd_bundle(), UNIX_EPOCH + Duration::from_secs(AT));
    o.nonce = Some(nonce.to_vec());
    o
}

fn pcr0(v: &mr_vtpm::VerifiedVtpm) -> String {
    v.registers
        .get(&MrId::Pcr(0), HashAlg::Sha256)
        .unwrap()
        .to_hex()
}

/// The error's reason and class, for the rejection tests.
fn rejected(e: Error) -> &'static str {
    assert_eq!(e.class(), ErrorClass::Rejected, "{e}");
    e.reason()
}

// --- HCL report parsing ----------------------------------------------------------------------

#[test]
fn hcl_reports_of_azure_cvm_tooling_parse_with_their_ak() {
    for (file, kind) in [
        ("azure-cvm-tooling/hcl-report-tdx.bin", HwReportType::Tdx),
        ("azure-cvm-tooling/hcl-report-snp.bin", HwReportType::Snp),
    ] {
        let bytes = read(file);
        let hcl = HclReport::parse(&bytes).unwrap();
        assert_eq!(hcl.report_type, kind, "{file}");
        let rd = hcl.parse_runtime_data().unwrap();
        let ak = rd.ak().unwrap();
        assert!(ak.id().starts_with("spki-sha256:"), "{file}");
        assert_eq!(rd.key("HCLAkPub").unwrap().modulus_len(), 256, "{file}");
        // azure-cvm-tooling's SNP report has no EK in its runtime data.
        assert_eq!(
            rd.key("HCLEkPub").is_ok(),
            kind == HwReportType::Tdx,
            "{file}"
        );
        assert_eq!(hcl.hash_type, 1);
        assert_eq!(
            hcl.runtime_data().len() + RUNTIME_DATA_OFFSET + hcl.trailing_bytes(),
            bytes.len()
        );
    }
}

#[test]
fn truncated_hcl_reports_are_parse_errors() {
    let bytes = read("azure-cvm-tooling/hcl-report-tdx.bin");
    let hcl = HclReport::parse(&bytes).unwrap();
    let end = RUNTIME_DATA_OFFSET + hcl.runtime_data().len();
    for len in (0..end).step_by(7).chain([end - 1]) {
        let e = HclReport::parse(&bytes[..len]).unwrap_err();
        assert!(matches!(e, Error::Parse(_)), "{len}: {e}");
        assert_eq!(e.class(), ErrorClass::Malformed);
    }
    assert!(HclReport::parse(&bytes[..end]).is_ok());
}

#[test]
fn hcl_reports_whose_sizes_disagree_or_whose_type_is_unknown_are_refused() {
    let good = read("azure-cvm-tooling/hcl-report-snp.bin");
    for (offset, what) in [
        (0usize, "header signature"),
        (8, "header report size"),
        (0x4C0, "request data size"),
        (0x4C8, "request data report type"),
    ] {
        let mut bad = good.clone();
        bad[offset] ^= 0x01;
        let e = HclReport::parse(&bad).unwrap_err();
        match e {
            Error::Parse(p) => assert_eq!(p.structure, what),
            other => panic!("{what}: {other}"),
        }
    }
    // A runtime data size beyond the input.
    let mut bad = good.clone();
    bad[0x4D0..0x4D4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(HclReport::parse(&bad), Err(Error::Parse(_))));
}

#[test]
fn a_runtime_data_with_two_aks_is_refused() {
    let rd = br#"{"keys":[{"kid":"HCLAkPub","kty":"RSA","n":"AQAB","e":"AQAB"},{"kid":"HCLAkPub","kty":"RSA","n":"AQAB","e":"AQAB"}]}"#;
    let rd = mr_vtpm::RuntimeData::parse(rd).unwrap();
    assert!(matches!(rd.ak(), Err(Error::RuntimeDataKey { .. })));
    let rd = br#"{"keys":[{"kid":"HCLAkPub","kty":"EC","crv":"P-256"}]}"#;
    let rd = mr_vtpm::RuntimeData::parse(rd).unwrap();
    assert!(matches!(rd.ak(), Err(Error::RuntimeDataKey { .. })));
    assert!(mr_vtpm::RuntimeData::parse(br#"{"keys":[], "keys":[]}"#).is_err());
}

// --- TDX ---------------------------------------------------------------------------------------

#[test]
fn trustee_tdx_evidence_verifies_with_the_pcr0_trustee_states() {
    for file in [
        "trustee/az-tdx-vtpm/evidence-v1.json",
        "trustee/az-tdx-vtpm/evidence-v0.json",
    ] {
        let ev = evidence(file);
        let v = verify_az_tdx_vtpm(&ev, &tdx_options(CHALLENGE)).unwrap();
        assert_eq!(
            pcr0(&v),
            "782b20b10f55cc46e2142cc2145d548698073e5beb82752c8d7f9279f0d8a273",
            "{file}"
        );
        assert_eq!(v.registers.len(), 24);
        assert_eq!(v.quote.nonce(), CHALLENGE);
        assert!(matches!(v.hardware, VerifiedHardware::Tdx(_)));
        match v.registers.provenance() {
            Provenance::VtpmQuote { ak_name, hardware } => {
                assert!(ak_name.starts_with("spki-sha256:"));
                assert!(hardware.contains("TD quote chained to"), "{hardware}");
                assert!(hardware.contains("Intel SGX Root CA"), "{hardware}");
            }
            other => panic!("{other}"),
        }
        assert_eq!(v.chain.len(), 4, "{:?}", v.chain);
    }
}

#[test]
fn tdx_without_a_nonce_verifies_but_checks_no_freshness() {
    let ev = evidence("trustee/az-tdx-vtpm/evidence-v1.json");
    let mut o = tdx_options(CHALLENGE);
    o.nonce = None;
    let v = verify_az_tdx_vtpm(&ev, &o).unwrap();
    assert!(!v.quote.nonce_checked());
}

#[test]
fn a_reportdata_nonce_for_the_td_quote_is_a_usage_error() {
    let ev = evidence("trustee/az-tdx-vtpm/evidence-v1.json");
    let mut o = tdx_options(CHALLENGE);
    o.quote = o.quote.with_nonce(CHALLENGE);
    let e = verify_az_tdx_vtpm(&ev, &o).unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e}");
    assert_eq!(e.class(), ErrorClass::Malformed);
}

#[test]
fn tdx_wrong_nonce_is_rejected() {
    let ev = evidence("trustee/az-tdx-vtpm/evidence-v1.json");
    let e = verify_az_tdx_vtpm(&ev, &tdx_options(b"egnellahc")).unwrap_err();
    assert_eq!(rejected(e), "wrong_nonce");
}

#[test]
fn tdx_tampered_runtime_data_is_rejected_as_unbound() {
    let mut ev = evidence("trustee/az-tdx-vtpm/evidence-v1.json");
    // A byte inside the AK's modulus (base64url 'A'..'Z' stays base64url).
    let at = RUNTIME_DATA_OFFSET + 60;
    ev.hcl_report[at] = if ev.hcl_report[at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let e = verify_az_tdx_vtpm(&ev, &tdx_options(CHALLENGE)).unwrap_err();
    assert_eq!(rejected(e), "runtime_data_binding");
}

#[test]
fn tdx_hcl_report_of_another_vm_is_rejected_as_unbound() {
    let mut ev = evidence("trustee/az-tdx-vtpm/evidence-v1.json");
    ev.hcl_report = read("azure-cvm-tooling/hcl-report-tdx.bin");
    let e = verify_az_tdx_vtpm(&ev, &tdx_options(CHALLENGE)).unwrap_err();
    assert_eq!(rejected(e), "runtime_data_binding");
}

#[test]
fn tdx_quote_signed_by_another_ak_is_rejected() {
    // The SNP evidence's vTPM quote: a real quote, by the AK of another VM.
    let mut ev = evidence("trustee/az-tdx-vtpm/evidence-v1.json");
    ev.tpm_quote = evidence("trustee/az-snp-vtpm/evidence-v1.json").tpm_quote;
    let e = verify_az_tdx_vtpm(&ev, &tdx_options(CHALLENGE)).unwrap_err();
    assert_eq!(rejected(e), "vtpm_quote_signature");
}

#[test]
fn tdx_tampered_quote_signature_message_or_pcr_is_rejected() {
    let base = evidence("trustee/az-tdx-vtpm/evidence-v1.json");
    let mut sig = base.clone();
    sig.tpm_quote.signature[10] ^= 1;
    let mut msg = base.clone();
    let last = msg.tpm_quote.message.len() - 1;
    msg.tpm_quote.message[last] ^= 1; // a pcrDigest byte
    let mut pcr = base.clone();
    pcr.tpm_quote.pcrs[10][0] ^= 1;
    for (ev, reason) in [
        (sig, "vtpm_quote_signature"),
        (msg, "vtpm_quote_signature"),
        (pcr, "pcr_digest_mismatch"),
    ] {
        let e = verify_az_tdx_vtpm(&ev, &tdx_options(CHALLENGE)).unwrap_err();
        assert_eq!(rejected(e), reason);
    }
}

#[test]
fn tdx_tampered_td_quote_report_data_or_signature_is_rejected() {
    let base = evidence("trustee/az-tdx-vtpm/evidence-v1.json");
    let Hardware::TdQuote(q) = &base.hardware else {
        panic!()
    };
    // REPORTDATA of the TD 1.0 body (header 48 + 520), and a byte of the quote signature.
    for offset in [48 + 520, 48 + 584 + 4 + 10] {
        let mut q = q.clone();
        q[offset] ^= 1;
        let mut ev = base.clone();
        ev.hardware = Hardware::TdQuote(q);
        let e = verify_az_tdx_vtpm(&ev, &tdx_options(CHALLENGE)).unwrap_err();
        assert_eq!(rejected(e), "td_quote", "offset {offset}");
    }
}

#[test]
fn tdx_quote_outside_its_certificates_validity_is_rejected() {
    let ev = evidence("trustee/az-tdx-vtpm/evidence-v1.json");
    let mut o = tdx_options(CHALLENGE);
    o.quote = VerifyOptions::at_unix(1_600_000_000); // 2020: before the PCK certificate
    let e = verify_az_tdx_vtpm(&ev, &o).unwrap_err();
    assert_eq!(rejected(e), "td_quote");
}

#[test]
fn snp_evidence_is_not_tdx_evidence() {
    let ev = evidence("trustee/az-snp-vtpm/evidence-v1.json");
    let e = verify_az_tdx_vtpm(&ev, &tdx_options(CHALLENGE)).unwrap_err();
    assert!(matches!(e, Error::WrongReportType { .. }));
    assert_eq!(e.class(), ErrorClass::Malformed);
}

// --- SNP ---------------------------------------------------------------------------------------

#[test]
fn trustee_snp_evidence_verifies_with_the_pcr0_trustee_states() {
    let v2_nonce =
        hex::decode("982f5c6e45df0ed3f10b6f60b02f0c8390e281300f3805e2279c16168cd6ae9aa398f647caa2338748cd0fd9f5f819ef")
            .unwrap();
    let genoa_nonce =
        hex::decode("0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f")
            .unwrap();
    for (file, nonce, pcr0_hex) in [
        (
            "trustee/az-snp-vtpm/evidence-v0.json",
            CHALLENGE.to_vec(),
            "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced",
        ),
        (
            "trustee/az-snp-vtpm/evidence-v1.json",
            CHALLENGE.to_vec(),
            "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced",
        ),
        (
            "trustee/az-snp-vtpm/evidence-v2.json",
            v2_nonce,
            "84275b2f4312cd4fc6cbe6b152ad3c3683e513d9f1e23c34fca160c8cca7a6a7",
        ),
        (
            "trustee/az-snp-vtpm/evidence-genoa.json",
            genoa_nonce,
            "afd689d0bb1c5f36f023fbaf574135f555a28a10c1f6b938d2a25e70c7783338",
        ),
    ] {
        let ev = evidence(file);
        let v =
            verify_az_snp_vtpm(&ev, &snp_options(&nonce)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(pcr0(&v), pcr0_hex, "{file}");
        let VerifiedHardware::Snp(snp) = &v.hardware else {
            panic!("{file}")
        };
        assert_eq!(snp.report.vmpl, 0);
        assert!(!snp.report.debug_allowed());
        assert_eq!(snp.chain.certificates.len(), 3, "{file}: VCEK, ASK, ARK");
        assert!(
            matches!(v.registers.provenance(), Provenance::VtpmQuote { hardware, .. } if hardware.contains("ARK-")),
            "{file}: {}",
            v.registers.provenance()
        );
    }
}

#[test]
fn snp_vcek_from_the_options_when_the_evidence_has_none() {
    let mut ev = evidence("trustee/az-snp-vtpm/evidence-v1.json");
    let Hardware::Snp { vcek } = &mut ev.hardware else {
        panic!()
    };
    let vcek = vcek.take();
    let e = verify_az_snp_vtpm(&ev, &snp_options(CHALLENGE)).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Malformed);
    let mut o = snp_options(CHALLENGE);
    o.vcek = vcek;
    verify_az_snp_vtpm(&ev, &o).unwrap();
}

#[test]
fn snp_vcek_of_another_chip_is_rejected() {
    let mut ev = evidence("trustee/az-snp-vtpm/evidence-v1.json");
    let genoa_vcek =
        mr_tpm::cert::certificate_der(&read("trustee/az-snp-vtpm/vcek-genoa.pem")).unwrap();
    ev.hardware = Hardware::Snp {
        vcek: Some(genoa_vcek),
    };
    let e = verify_az_snp_vtpm(&ev, &snp_options(CHALLENGE)).unwrap_err();
    assert_eq!(rejected(e), "vcek_mismatch");
}

#[test]
fn snp_vcek_without_its_generation_in_the_bundle_is_rejected() {
    let ev = evidence("trustee/az-snp-vtpm/evidence-v1.json");
    let genoa_only = snp::read_bundle(&read("trustee/amd/genoa_ask_ark_asvk.pem")).unwrap();
    let mut o = snp_options(CHALLENGE);
    o.ask_ark = genoa_only;
    let e = verify_az_snp_vtpm(&ev, &o).unwrap_err();
    assert_eq!(rejected(e), "vcek_chain");
    // Outside the VCEK's validity.
    let mut o = snp_options(CHALLENGE);
    o.at = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let e = verify_az_snp_vtpm(&ev, &o).unwrap_err();
    assert_eq!(rejected(e), "vcek_chain");
}

#[test]
fn snp_tampered_report_runtime_data_quote_and_nonce_are_rejected() {
    let base = evidence("trustee/az-snp-vtpm/evidence-v1.json");
    // SNP report: REPORTDATA (0x50), the measurement (0x90), the reported TCB's SNP SPL
    // (0x186, as trustee's test) — all at HCL offset 0x20 + …
    for (offset, reason) in [
        (0x20 + 0x50, "snp_report_signature"),
        (0x20 + 0x90, "snp_report_signature"),
        (0x20 + 0x186, "vcek_mismatch"),
    ] {
        let mut ev = base.clone();
        ev.hcl_report[offset] ^= 1;
        let e = verify_az_snp_vtpm(&ev, &snp_options(CHALLENGE)).unwrap_err();
        assert_eq!(rejected(e), reason, "offset 0x{offset:x}");
    }
    let mut rd = base.clone();
    let at = RUNTIME_DATA_OFFSET + 60;
    rd.hcl_report[at] = if rd.hcl_report[at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let mut sig = base.clone();
    sig.tpm_quote.signature[0] ^= 1;
    let mut pcr = base.clone();
    pcr.tpm_quote.pcrs[0][0] ^= 1;
    let mut other_ak = base.clone();
    other_ak.tpm_quote = evidence("trustee/az-tdx-vtpm/evidence-v1.json").tpm_quote;
    for (ev, nonce, reason) in [
        (rd, CHALLENGE, "runtime_data_binding"),
        (sig, CHALLENGE, "vtpm_quote_signature"),
        (pcr, CHALLENGE, "pcr_digest_mismatch"),
        (other_ak, CHALLENGE, "vtpm_quote_signature"),
        (base.clone(), &b"challengf"[..], "wrong_nonce"),
    ] {
        let e = verify_az_snp_vtpm(&ev, &snp_options(nonce)).unwrap_err();
        assert_eq!(rejected(e), reason);
    }
}

#[test]
fn snp_v2_user_data_must_start_with_the_nonce() {
    // Version 2 evidence binds the nonce twice: extraData and the runtime data's user-data.
    // A quote with the right nonce under runtime data that names another is refused.
    let ev = evidence("trustee/az-snp-vtpm/evidence-v2.json");
    assert!(ev.binds_user_data());
    let rd = HclReport::parse(&ev.hcl_report)
        .unwrap()
        .parse_runtime_data()
        .unwrap();
    assert!(rd.user_data.is_some());
    let e = verify_az_snp_vtpm(&ev, &snp_options(CHALLENGE)).unwrap_err();
    assert_eq!(rejected(e), "runtime_data_binding");
}

#[test]
fn snp_report_fields_are_exposed() {
    let ev = evidence("trustee/az-snp-vtpm/evidence-v1.json");
    let v = verify_az_snp_vtpm(&ev, &snp_options(CHALLENGE)).unwrap();
    let VerifiedHardware::Snp(snp) = &v.hardware else {
        panic!()
    };
    let hcl = HclReport::parse(&ev.hcl_report).unwrap();
    let runtime_hash = hcl.runtime_data_sha256().unwrap();
    assert_eq!(snp.report.report_data[..32], runtime_hash);
    assert_ne!(snp.report.measurement, [0u8; 48]);
    assert_eq!(
        snp.report.policy & (1 << 17),
        1 << 17,
        "reserved policy bit 17 is 1"
    );
    assert!(snp.report.reported_tcb.snp > 0);
}

#[test]
fn evidence_json_that_is_not_evidence_is_malformed() {
    for junk in [
        &b""[..],
        b"[]",
        b"{}",
        b"{\"version\":3}",
        b"{\"version\":1,\"tpm_quote\":{\"message\":\"zz\",\"signature\":\"\",\"pcrs\":[]},\"hcl_report\":\"\",\"td_quote\":\"\"}",
        b"{\"tpm_quote\":{\"message\":[256],\"signature\":[],\"pcrs\":[]},\"hcl_report\":[],\"td_quote\":[]}",
    ] {
        let e = AzVtpmEvidence::from_trustee_json(junk).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Malformed, "{e}");
    }
}

/// The guest rules of the SNP root, on trustee's real SNP report with one field changed (the
/// project has no SNP signer, so the changed report is checked after parsing, as
/// `verify_az_snp_vtpm` checks it once the signature verified): a report whose guest policy
/// allows debugging is refused unless the caller opts in, and one from a VMPL other than 0 is
/// refused whatever the options.
#[test]
fn snp_guest_policy_allowing_debug_is_refused_unless_allowed_and_vmpl_must_be_0() {
    let ev = evidence("trustee/az-snp-vtpm/evidence-v1.json");
    let hcl = HclReport::parse(&ev.hcl_report).unwrap();
    let real = hcl.hw_report().to_vec();
    let report = snp::SnpReport::parse(&real).unwrap();
    assert!(!report.debug_allowed());
    assert!(report.check_guest(false).is_ok());

    // policy: bytes 8..16, little endian; bit 19 allows debugging.
    let mut debug = real.clone();
    let policy = u64::from_le_bytes(debug[8..16].try_into().unwrap()) | snp::POLICY_DEBUG;
    debug[8..16].copy_from_slice(&policy.to_le_bytes());
    let report = snp::SnpReport::parse(&debug).unwrap();
    assert!(report.debug_allowed());
    assert_eq!(
        rejected(report.check_guest(false).unwrap_err()),
        "snp_debug"
    );
    assert!(report.check_guest(true).is_ok());

    // vmpl: bytes 0x30..0x34, little endian.
    let mut vmpl = real;
    vmpl[0x30..0x34].copy_from_slice(&1u32.to_le_bytes());
    let report = snp::SnpReport::parse(&vmpl).unwrap();
    for allow_debug in [false, true] {
        assert_eq!(
            rejected(report.check_guest(allow_debug).unwrap_err()),
            "snp_vmpl"
        );
    }
}

/// The report layout's version rules (AMD SEV-SNP firmware ABI, ATTESTATION_REPORT): versions
/// before 2 are refused, 2 is read, and from version 3 on the CPUID family, model and stepping
/// at 0x188..0x18B are reported (zero for version 2, where those bytes are reserved).
#[test]
fn snp_report_versions_before_2_are_refused_and_cpuid_is_read_from_version_3() {
    let ev = evidence("trustee/az-snp-vtpm/evidence-v1.json");
    let hcl = HclReport::parse(&ev.hcl_report).unwrap();
    let mut report = hcl.hw_report().to_vec();
    report[0x188..0x18B].copy_from_slice(&[0x19, 0x11, 0x01]);
    let with_version = |v: u32| {
        let mut r = report.clone();
        r[0..4].copy_from_slice(&v.to_le_bytes());
        snp::SnpReport::parse(&r)
    };
    for v in [0, 1] {
        assert!(
            matches!(with_version(v), Err(Error::Parse(_))),
            "version {v}"
        );
    }
    let v2 = with_version(2).unwrap();
    assert_eq!(
        (v2.cpuid_family, v2.cpuid_model, v2.cpuid_stepping),
        (0, 0, 0)
    );
    for v in [3, 5] {
        let r = with_version(v).unwrap();
        assert_eq!(
            (r.cpuid_family, r.cpuid_model, r.cpuid_stepping),
            (0x19, 0x11, 0x01),
            "version {v}"
        );
    }
}

/// The guest policy bits mr names are those of the SEV-SNP firmware ABI (guest policy
/// structure: SMT bit 16, MIGRATE_MA bit 18, DEBUG bit 19, SINGLE_SOCKET bit 20).
#[test]
fn snp_guest_policy_bits_are_the_abis() {
    assert_eq!(snp::POLICY_SMT, 0x1_0000);
    assert_eq!(snp::POLICY_MIGRATE_MA, 0x4_0000);
    assert_eq!(snp::POLICY_DEBUG, 0x8_0000);
    assert_eq!(snp::POLICY_SINGLE_SOCKET, 0x10_0000);
}

/// The TDREPORT inside azure-cvm-tooling's TDX HCL report carries REPORTDATA = SHA-256 of the
/// runtime data followed by 32 zero bytes (the binding the TD quote repeats); an SNP HCL report
/// has no TDREPORT. The report types print as their names.
#[test]
fn the_td_report_data_of_a_tdx_hcl_report_binds_its_runtime_data() {
    use sha2::{Digest as _, Sha256};
    let tdx = read("azure-cvm-tooling/hcl-report-tdx.bin");
    let hcl = HclReport::parse(&tdx).unwrap();
    let rd = hcl
        .td_report_data()
        .expect("a TDX HCL report has a TDREPORT");
    assert_eq!(rd[..32], Sha256::digest(hcl.runtime_data())[..]);
    assert_eq!(rd[32..], [0u8; 32]);
    let snp = read("azure-cvm-tooling/hcl-report-snp.bin");
    assert_eq!(HclReport::parse(&snp).unwrap().td_report_data(), None);
    assert_eq!(
        (HwReportType::Tdx.to_string(), HwReportType::Snp.to_string()),
        ("TDX".to_owned(), "SNP".to_owned())
    );
}

/// At most `MAX_PCR_VALUES` PCR values are read from evidence JSON: that many are accepted,
/// one more is refused before anything is decoded.
#[test]
fn evidence_with_more_pcr_values_than_the_bound_is_refused() {
    let text = read("trustee/az-tdx-vtpm/evidence-v1.json");
    let with_pcrs = |n: usize| {
        let mut v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let first = v["tpm_quote"]["pcrs"][0].clone();
        v["tpm_quote"]["pcrs"] = serde_json::Value::Array(vec![first; n]);
        AzVtpmEvidence::from_trustee_json(&serde_json::to_vec(&v).unwrap())
    };
    let ok = with_pcrs(mr_vtpm::evidence::MAX_PCR_VALUES).unwrap();
    assert_eq!(ok.tpm_quote.pcrs.len(), mr_vtpm::evidence::MAX_PCR_VALUES);
    let e = with_pcrs(mr_vtpm::evidence::MAX_PCR_VALUES + 1).unwrap_err();
    assert!(e.to_string().contains("more than"), "{e}");
}

/// A runtime-data key without a modulus or without an exponent is refused as such.
#[test]
fn a_runtime_key_without_n_or_e_is_refused() {
    let bytes = read("azure-cvm-tooling/hcl-report-tdx.bin");
    let hcl = HclReport::parse(&bytes).unwrap();
    let rd = hcl.parse_runtime_data().unwrap();
    let key = rd.key("HCLAkPub").unwrap().clone();
    let mut no_n = key.clone();
    no_n.n.clear();
    let mut no_e = key;
    no_e.e.clear();
    for k in [no_n, no_e] {
        let e = k.to_ak().unwrap_err();
        assert!(e.to_string().contains("without n or e"), "{e}");
    }
}
