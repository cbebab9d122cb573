//! Hostile input against mr-vtpm's parsers: the HCL report (and its runtime data JSON and AK),
//! the SNP report and trustee's evidence JSON, as random bytes and as real inputs with byte-level
//! edits (`mr_test_alloc::apply_edits`, the fuzz targets' mutations), and whole-evidence
//! verification of edited real evidence.
//!
//! For every input: no panic; every error is of class Malformed or Rejected; no single
//! allocation is larger than `max(64 KiB, K × input length)`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::ErrorClass;
use mr_test_alloc::{apply_edits, measure, Edit};
use mr_vtpm::hcl::HclReport;
use mr_vtpm::snp::SIGNED_LEN;
use mr_vtpm::{AzVtpmEvidence, SnpOptions, SnpReport};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: mr_test_alloc::CountingAlloc = mr_test_alloc::CountingAlloc;

/// JSON and keys: a small multiple of the input.
const K: usize = 8;
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn typed(e: &mr_vtpm::Error, what: &str) {
    assert!(
        matches!(e.class(), ErrorClass::Malformed | ErrorClass::Rejected),
        "{what}: {e}"
    );
}

fn parsers(data: &[u8]) {
    let (r, stats) = measure(|| {
        let hcl = HclReport::parse(data)?;
        let _ = hcl.runtime_data_sha256();
        let _ = SnpReport::parse(hcl.hw_report());
        hcl.parse_runtime_data()?.ak()
    });
    stats.assert_within(K, data.len(), "HCL report");
    if let Err(e) = r {
        typed(&e, "HCL report");
    }
    let (r, stats) = measure(|| SnpReport::parse(data));
    stats.assert_within(K, data.len(), "SNP report");
    if let Err(e) = r {
        typed(&e, "SNP report");
    }
    let (r, stats) = measure(|| AzVtpmEvidence::from_trustee_json(data));
    stats.assert_within(K, data.len(), "evidence JSON");
    if let Err(e) = r {
        typed(&e, "evidence JSON");
    }
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..5)
}

fn snp_evidence() -> AzVtpmEvidence {
    let json = std::fs::read(format!("{DATA}/trustee/az-snp-vtpm/evidence-v1.json")).unwrap();
    AzVtpmEvidence::from_trustee_json(&json).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_give_typed_errors_and_bounded_allocations(
        data in prop::collection::vec(any::<u8>(), 0..2048)
    ) {
        parsers(&data);
    }

    #[test]
    fn edited_hcl_reports_give_typed_errors_and_bounded_allocations(
        which in 0u8..2, e in edits()
    ) {
        let file = if which == 0 { "hcl-report-tdx.bin" } else { "hcl-report-snp.bin" };
        let base = std::fs::read(format!("{DATA}/azure-cvm-tooling/{file}")).unwrap();
        parsers(&apply_edits(&base, &e));
    }

    #[test]
    fn edited_snp_evidence_never_verifies_unless_unchanged(e in edits()) {
        // Edits to the HCL report: the verifier accepts only when the bytes it relies on (the
        // signed SNP report, the runtime data) are unchanged — an edit in the padding, the
        // unsigned header fields or the reserved bytes after the signature — and otherwise
        // gives a typed error.
        let base = snp_evidence();
        let mut ev = base.clone();
        ev.hcl_report = apply_edits(&base.hcl_report, &e);
        let bundle = mr_vtpm::snp::read_bundle(
            &std::fs::read(format!("{DATA}/trustee/amd/milan_ask_ark_asvk.pem")).unwrap(),
        )
        .unwrap();
        let mut o = SnpOptions::new(
            bundle,
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_748_736_000),
        );
        o.nonce = Some(b"challenge".to_vec());
        match mr_vtpm::verify_az_snp_vtpm(&ev, &o) {
            Ok(_) => {
                let a = HclReport::parse(&base.hcl_report).unwrap();
                let b = HclReport::parse(&ev.hcl_report).unwrap();
                // The signed part of the SNP report (the reserved bytes after the signature
                // are covered by nothing and mean nothing).
                prop_assert_eq!(&a.hw_report()[..SIGNED_LEN], &b.hw_report()[..SIGNED_LEN]);
                prop_assert_eq!(a.runtime_data(), b.runtime_data());
            }
            Err(err) => typed(&err, "verify_az_snp_vtpm"),
        }
    }
}
