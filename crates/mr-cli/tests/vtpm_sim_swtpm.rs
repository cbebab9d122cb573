//! The vTPM root end to end on a simulated TD and a real swtpm (issue 17, "How it is shown"):
//! the simulated TD's quote binds, through REPORTDATA, an HCL-style runtime data JSON holding
//! the swtpm's RSA AK; the swtpm's quote of PCRs 0-23, into which a boot log (the
//! Windows-shaped log of mr-core's test data, SHA-256 digests) and then an IMA list (whose
//! boot_aggregate the swtpm's PCRs 0-9 give) were extended, then verifies with `--boot-log`
//! through `mr_attest::verify` and `mr verify --az-tdx-vtpm` to the same IMA report as under
//! the TPM root. Every binding broken once
//! (AK not the runtime data's, runtime data not REPORTDATA's, nonce, a quote byte, the TD quote's
//! signature, an IMA entry) is rejected naming it.
#![cfg(feature = "tpm-device")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{code, mr, stderr, stdout, write};

use mr_attest::{verify, Evidence, ImaList, RootKind, Step, VtpmEvidence, VtpmOptions};
use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::DigestMode;
use mr_core::log::tcg::{self, TcgReplayConfig};
use mr_core::{Digest, HashAlg, MeasurementRegister};
use mr_rtmr::quote::VerifyOptions;
use mr_rtmr::sim::quote::QuoteFormat;
use mr_rtmr::sim::SimTd;
use mr_testkit::td::{signer, AT, AT_RFC3339};
use mr_testkit::vtpm;
use mr_tpm::device::{AkHierarchy, AkKind, Tpm};
use mr_tpm::harness::Swtpm;
use mr_tpm::{PcrBankSelection, PcrSelection};
use mr_tpm::{PublicParams, TpmPublic};
use mr_vtpm::{AzVtpmEvidence, TdxOptions};

const NONCE: &[u8] = b"verifier nonce for the vTPM";
/// The IMA list's files, in order.
const FILES: [&str; 3] = ["/usr/bin/bash", "/usr/lib/libc.so.6", "/etc/passwd"];

/// The swtpm's part: its AK's modulus, the quote (TPMS_ATTEST, TPMT_SIGNATURE), the AK's
/// TPM2B_PUBLIC, the quoted values in selection order, and another AK's modulus.
struct VtpmQuote {
    aggregate: Digest,
    modulus: Vec<u8>,
    other_modulus: Vec<u8>,
    attest: Vec<u8>,
    signature: Vec<u8>,
    ak_public: Vec<u8>,
    pcrs: Vec<Vec<u8>>,
    pcr_lines: String,
}

fn rsa_modulus(tpm2b_public: &[u8]) -> Vec<u8> {
    match TpmPublic::parse_tpm2b(tpm2b_public).unwrap().params {
        PublicParams::Rsa { modulus, .. } => modulus,
        other => panic!("not an RSA AK: {other:?}"),
    }
}

/// The Windows-shaped boot log of `crates/mr-core/tests/data/windows-agile` (SHA-256 digests in
/// every extending record).
fn boot_log_path() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../mr-core/tests/data/windows-agile/windows_gcp_agile.bin"
    )
    .to_owned()
}

/// Extend the boot log's SHA-256 digests into the swtpm, as firmware and boot manager would,
/// and return the SHA-256 boot_aggregate the kernel takes from the TPM's PCRs 0-9 then.
fn boot(tpm: &Tpm) -> Digest {
    let log = std::fs::read(boot_log_path()).unwrap();
    let parsed = tcg::parse(&log, &TcgReplayConfig::pc_client().parse).unwrap();
    for e in parsed.events.iter().filter(|e| !e.is_no_action()) {
        if let Some(d) = e.digest(HashAlg::Sha256) {
            tpm.extend_pcr(e.index, d).unwrap();
        }
    }
    let mut concat = Vec::new();
    for i in 0..10 {
        concat.extend_from_slice(tpm.read_pcr(i, HashAlg::Sha256).unwrap().as_bytes());
    }
    HashAlg::Sha256.hash(&concat)
}

/// The IMA list (boot_aggregate `aggregate`, then `files`), binary, and what each entry
/// extends PCR 10's SHA-256 bank with.
fn ima_list(aggregate: &Digest, files: &[&str]) -> (ImaListBuilder, Vec<Digest>) {
    let mut list = ImaListBuilder::binary();
    let mut extends = vec![];
    let boot = list.boot_aggregate("ima-ng", aggregate);
    extends.push(boot.extend_value(HashAlg::Sha256, DigestMode::PerBank));
    for f in files {
        let e = list.ima_ng(10, &HashAlg::Sha256.hash(f.as_bytes()), f);
        extends.push(e.extend_value(HashAlg::Sha256, DigestMode::PerBank));
    }
    (list, extends)
}

/// Boot the swtpm ([`boot`]), extend the IMA list into its PCR 10 and quote PCRs 0-23
/// (SHA-256, as the Azure vTPM's quote does) with an RSA AK.
fn swtpm_quote(tpm: &Tpm) -> VtpmQuote {
    let aggregate = boot(tpm);
    let (_, extends) = ima_list(&aggregate, &FILES);
    let pcr10 = tpm.pcr(10, HashAlg::Sha256);
    for d in &extends {
        pcr10.extend(d).unwrap();
    }
    let all: Vec<u32> = (0..24).collect();
    let selection = PcrSelection {
        banks: vec![PcrBankSelection::new(HashAlg::Sha256, &all)],
    };
    let ak = tpm.create_ak(AkKind::Rsa2048).unwrap();
    // A primary key of another hierarchy: the same kind in the same hierarchy is the same key.
    let other = tpm
        .create_ak_in(AkKind::Rsa2048, AkHierarchy::Owner)
        .unwrap();
    let q = tpm.quote(&ak, NONCE, &selection).unwrap();
    let mut pcrs = Vec::new();
    let mut pcr_lines = String::new();
    for (index, alg) in selection.pcrs() {
        let v = tpm.read_pcr(index, alg).unwrap();
        pcr_lines.push_str(&format!("{index}:{alg}:{v}\n"));
        pcrs.push(v.as_bytes().to_vec());
    }
    let modulus = rsa_modulus(ak.public_tpm2b());
    let other_modulus = rsa_modulus(other.public_tpm2b());
    assert_ne!(modulus, other_modulus);
    VtpmQuote {
        aggregate,
        modulus,
        other_modulus,
        attest: q.attest,
        signature: q.signature,
        ak_public: q.ak_public,
        pcrs,
        pcr_lines,
    }
}

/// trustee-style evidence: the HCL report holds `hcl_runtime` and the simulated TD's TDREPORT;
/// the TD quote (v4, the shared test signer) carries REPORTDATA binding `bound_runtime`.
fn evidence(q: &VtpmQuote, hcl_runtime: &[u8], bound_runtime: &[u8], attest: &[u8]) -> Vec<u8> {
    let td = SimTd::new();
    let report_data = vtpm::report_data(bound_runtime);
    let hcl = vtpm::hcl_report_tdx(&td.td_report(report_data), hcl_runtime);
    let td_quote = signer()
        .quote_as(&td.measurements(report_data), QuoteFormat::V4Td10)
        .unwrap();
    vtpm::trustee_tdx_evidence(
        &hcl,
        &td_quote,
        attest,
        &vtpm::raw_rsassa_signature(&q.signature),
        &q.pcrs,
    )
}

/// `mr_attest::verify` of `json` with the test signer's root and `nonce`, the IMA list and the
/// boot log.
fn verify_lib(json: &[u8], nonce: &[u8], list: &[u8]) -> mr_attest::AttestationResult {
    let boot_log = std::fs::read(boot_log_path()).unwrap();
    let ev = AzVtpmEvidence::from_trustee_json(json).unwrap();
    let options = TdxOptions {
        quote: VerifyOptions::at_unix(AT).with_root_der(signer().root_der().to_vec()),
        nonce: Some(nonce.to_vec()),
    };
    let ev = VtpmEvidence::new(ev, VtpmOptions::AzTdx(Box::new(options))).with_boot_log(boot_log);
    verify(Evidence::vtpm(ev).with_ima(ImaList::from_bytes(list.to_vec()))).unwrap()
}

#[test]
fn simulated_td_vouches_for_a_swtpm_ak_and_the_ima_list_verifies_as_under_the_tpm_root() {
    let swtpm = Swtpm::start().expect("swtpm (scripts/install-deps.sh installs it)");
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let q = swtpm_quote(&tpm);
    let dir = tempfile::tempdir().unwrap();
    let runtime = vtpm::runtime_data(&q.modulus, &[0; 64]);
    let good = evidence(&q, &runtime, &runtime, &q.attest);
    let (list, _) = ima_list(&q.aggregate, &FILES);
    let list = list.as_bytes().to_vec();

    // The library: the vTPM root verifies, names the chain, and the list replays to PCR 10.
    let r = verify_lib(&good, NONCE, &list);
    assert!(r.verified, "{:?}", r.failure);
    assert_eq!(r.root, RootKind::Vtpm);
    assert!(
        r.chain[0].starts_with("TD quote chained to"),
        "{:?}",
        r.chain
    );
    assert!(r
        .chain
        .iter()
        .any(|c| c.starts_with("runtime data HCLAkPub → AK")));
    let replayed = r.boot_log.as_ref().unwrap();
    assert!(!replayed.against.is_empty(), "the boot log was checked");
    assert!(
        r.rules
            .iter()
            .any(|o| o.name == "boot_aggregate" && o.status == mr_attest::RuleStatus::Pass),
        "{:?}",
        r.rules
    );
    let ima = r.ima.as_ref().unwrap();
    assert_eq!(ima.replay.entries, 4);
    assert_eq!(ima.against, ["pcr10:sha256"]);

    // The CLI, vTPM root and TPM root on the same swtpm quote: the same IMA report and PCRs.
    let nonce_hex = hex::encode(NONCE);
    let boot_log = boot_log_path();
    let ev_path = write(dir.path(), "evidence.json", &good);
    let root = write(dir.path(), "root.der", signer().root_der());
    let list_path = write(dir.path(), "ima.bin", &list);
    let vtpm_args = [
        "verify",
        "--ima",
        &list_path,
        "--az-tdx-vtpm",
        &ev_path,
        "--root",
        &root,
        "--at",
        AT_RFC3339,
        "--nonce",
        &nonce_hex,
        "--boot-log",
        &boot_log,
    ];
    let o = mr(&[&vtpm_args[..], &["--json"]].concat());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let vtpm_json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(vtpm_json["root"], "vtpm");
    let o = mr(&[
        "verify",
        "--ima",
        &list_path,
        "--tpm-attest",
        &write(dir.path(), "q.attest", &q.attest),
        "--tpm-sig",
        &write(dir.path(), "q.sig", &q.signature),
        "--ak",
        &write(dir.path(), "q.pub", &q.ak_public),
        "--pcrs",
        &write(dir.path(), "q.pcrs", q.pcr_lines.as_bytes()),
        "--nonce",
        &nonce_hex,
        "--boot-log",
        &boot_log,
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let tpm_json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(tpm_json["root"], "tpm");
    assert_eq!(vtpm_json["ima"], tpm_json["ima"]);
    assert_eq!(vtpm_json["registers"], tpm_json["registers"]);
    assert_eq!(vtpm_json["ima"]["covered"], 4);
    let o = mr(&vtpm_args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("verified: the IMA list replays to the vTPM's quoted PCR values"),
        "{}",
        stdout(&o)
    );

    // Each binding broken once.
    let other_ak = vtpm::runtime_data(&q.other_modulus, &[0; 64]);
    let other_user = vtpm::runtime_data(&q.modulus, &[1; 64]);
    let mut attest = q.attest.clone();
    let n = attest.len();
    attest[n - 10] ^= 1; // inside the pcrDigest (the last 32 bytes)
    let mut bad_td_sig: serde_json::Value = serde_json::from_slice(&good).unwrap();
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut td = b64
            .decode(bad_td_sig["td_quote"].as_str().unwrap())
            .unwrap();
        td[636] ^= 1; // the quote signature's first byte (v4: 48 + 584 + 4)
        bad_td_sig["td_quote"] = b64.encode(td).into();
    }
    let bad_td_sig = serde_json::to_vec(&bad_td_sig).unwrap();
    let (tampered_list, _) = ima_list(
        &q.aggregate,
        &["/usr/bin/bash", "/usr/lib/libc.so.7", "/etc/passwd"],
    );
    let tampered_list = tampered_list.as_bytes().to_vec();
    // (what, evidence, nonce, list, expected reason)
    type Case<'a> = (&'a str, Vec<u8>, &'a [u8], &'a [u8], &'a str);
    let cases: [Case<'_>; 6] = [
        (
            "AK not the runtime data's",
            evidence(&q, &other_ak, &other_ak, &q.attest),
            NONCE,
            &list,
            "vtpm_quote_signature",
        ),
        (
            "runtime data not REPORTDATA's",
            evidence(&q, &other_user, &runtime, &q.attest),
            NONCE,
            &list,
            "runtime_data_binding",
        ),
        (
            "nonce",
            good.clone(),
            b"another nonce",
            &list,
            "wrong_nonce",
        ),
        (
            "vTPM quote byte",
            evidence(&q, &runtime, &runtime, &attest),
            NONCE,
            &list,
            "vtpm_quote_signature",
        ),
        ("TD quote signature", bad_td_sig, NONCE, &list, "td_quote"),
        (
            "IMA entry",
            good.clone(),
            NONCE,
            &tampered_list,
            "ima_replay",
        ),
    ];
    for (what, json, nonce, list, reason) in cases {
        let r = verify_lib(&json, nonce, list);
        assert!(!r.verified, "{what}: verified");
        let f = r.failure.unwrap();
        assert_eq!(f.reason, reason, "{what}: {}", f.message);
        let step = if reason == "ima_replay" {
            Step::Ima
        } else {
            Step::Root
        };
        assert_eq!(f.step, step, "{what}: {}", f.message);

        let o = mr(&[
            "verify",
            "--ima",
            &write(dir.path(), "case.ima", list),
            "--az-tdx-vtpm",
            &write(dir.path(), "case.json", &json),
            "--root",
            &root,
            "--at",
            AT_RFC3339,
            "--nonce",
            &hex::encode(nonce),
            "--boot-log",
            &boot_log,
            "--json",
        ]);
        assert_eq!(code(&o), 1, "{what}: {}", stderr(&o));
        let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(j["reason"], reason, "{what}: {j}");
    }
}
