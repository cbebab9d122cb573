//! Real TD quotes from dcap-qvl (shared vectors, see `$MR_SHARED/vectors/tdx/dcap-qvl/`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use mr_core::{ErrorClass, HashAlg, MrId, Provenance};
use mr_rtmr::quote::{self, Collateral, QuoteError, VerifyOptions};
use mr_testkit::td::quote_error;

/// now = min(nextUpdate) - 1 of tdx_quote_collateral.json (EXPECTED.json).
const TDX_QUOTE_NOW: u64 = 1_752_919_234;
/// Same rule for tdx_quote_outdated_collateral.json.
const TDX_OUTDATED_NOW: u64 = 1_774_003_274;

fn dir() -> Option<PathBuf> {
    mr_testkit::shared("vectors/tdx/dcap-qvl")
}

fn read(name: &str) -> Option<Vec<u8>> {
    let d = dir()?;
    Some(std::fs::read(d.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")))
}

fn read_hex(name: &str) -> Option<Vec<u8>> {
    let text = String::from_utf8(read(name)?).unwrap();
    let text = text.trim();
    Some(hex::decode(text.strip_prefix("0x").unwrap_or(text)).unwrap())
}

#[test]
fn dcap_qvl_v4_quote_with_collateral_is_up_to_date() {
    let Some(q) = read("tdx_quote") else { return };
    let c = Collateral::from_json(&read("tdx_quote_collateral.json").unwrap()).unwrap();
    let v = quote::verify(
        &q,
        &VerifyOptions::at_unix(TDX_QUOTE_NOW).with_collateral(c),
    )
    .unwrap();
    let tcb = v.tcb_status().expect("tcb status with collateral");
    assert_eq!(tcb.status, "UpToDate");
    assert!(tcb.advisory_ids.is_empty());
    assert!(tcb.is_up_to_date());
    let parsed = quote::parse(&q).unwrap();
    assert_eq!(v.version(), 4);
    let regs = v.registers();
    assert_eq!(regs.len(), 5);
    assert_eq!(
        regs.get(&MrId::Mrtd, HashAlg::Sha384).unwrap().as_bytes(),
        parsed.mr_td()
    );
    for i in 0..4u8 {
        assert_eq!(
            regs.get(&MrId::Rtmr(i), HashAlg::Sha384)
                .unwrap()
                .as_bytes(),
            &parsed.rtmrs()[usize::from(i)]
        );
    }
    match regs.provenance() {
        Provenance::TdQuote { root } => assert!(root.contains("Intel SGX Root CA"), "{root}"),
        p => panic!("provenance {p:?}"),
    }
    assert_eq!(v.report_data(), parsed.report_data());
}

#[test]
fn dcap_qvl_v4_quote_verifies_without_collateral_while_certs_are_valid() {
    let Some(q) = read("tdx_quote") else { return };
    let v = quote::verify(&q, &VerifyOptions::at_unix(TDX_QUOTE_NOW)).unwrap();
    assert!(v.tcb_status().is_none());
    // This sample carries 70 zero bytes after its signature data (5006 bytes in all).
    assert_eq!(v.trailing_bytes(), 70);
    assert!(quote::parse(&q)
        .unwrap()
        .trailing_bytes()
        .iter()
        .all(|b| *b == 0));
    // The explicit Intel root (shared vector) gives the same result as the built-in one.
    let root = read("TrustedRootCA.der").unwrap();
    assert_eq!(root, quote::INTEL_SGX_ROOT_CA_DER);
    let v2 = quote::verify(
        &q,
        &VerifyOptions::at_unix(TDX_QUOTE_NOW).with_root_der(root),
    )
    .unwrap();
    assert_eq!(v.registers(), v2.registers());
}

#[test]
fn dcap_qvl_v4_quote_is_rejected_outside_the_pck_validity() {
    let Some(q) = read("tdx_quote") else { return };
    // 2000-01-01: before every certificate of the chain.
    let e = quote_error(quote::verify(&q, &VerifyOptions::at_unix(946_684_800)).unwrap_err());
    assert!(matches!(e, QuoteError::CertificateNotValidAt { .. }), "{e}");
    assert_eq!(e.class(), ErrorClass::Rejected);
    // 2100-01-01: after every certificate.
    let e = quote_error(quote::verify(&q, &VerifyOptions::at_unix(4_102_444_800)).unwrap_err());
    assert!(matches!(e, QuoteError::CertificateNotValidAt { .. }), "{e}");
}

#[test]
fn dcap_qvl_collateral_out_of_date_window_is_rejected() {
    let Some(q) = read("tdx_quote") else { return };
    let c = Collateral::from_json(&read("tdx_quote_collateral.json").unwrap()).unwrap();
    // A year after the collateral's nextUpdate: dcap-qvl must refuse it.
    let e = quote_error(
        quote::verify(
            &q,
            &VerifyOptions::at_unix(TDX_QUOTE_NOW + 365 * 86_400).with_collateral(c),
        )
        .unwrap_err(),
    );
    assert!(matches!(e, QuoteError::Collateral(_)), "{e}");
}

/// Offsets in the v4 quote: RTMR0 @376, quote signature @636, QE report @636+134.
#[test]
fn flipped_rtmr_signature_or_qe_report_bytes_are_rejected() {
    let Some(q) = read("tdx_quote") else { return };
    let opts = VerifyOptions::at_unix(TDX_QUOTE_NOW);
    let parsed = quote::parse(&q).unwrap();
    assert_eq!(parsed.signed_bytes().len(), 632);
    let qe_report_at = 636 + 64 + 64 + 6;
    let cases: Vec<(usize, &str)> = vec![
        (376, "rtmr0 first byte"),
        (376 + 47, "rtmr0 last byte"),
        (424 + 10, "rtmr1"),
        (472 + 20, "rtmr2"),
        (520 + 47, "rtmr3"),
        (184, "mrtd"),
        (568, "report data"),
        (636, "quote signature r"),
        (636 + 63, "quote signature s"),
        (636 + 64, "attestation key"),
        (qe_report_at, "qe report cpu svn"),
        (qe_report_at + 320, "qe report data"),
        (qe_report_at + 383, "qe report last byte"),
        (qe_report_at + 384, "qe report signature"),
    ];
    for (offset, what) in cases {
        let mut bad = q.clone();
        bad[offset] ^= 0x01;
        let e = quote_error(quote::verify(&bad, &opts).unwrap_err());
        assert_eq!(e.class(), ErrorClass::Rejected, "{what}: {e}");
    }
    // The same with full collateral.
    let c = Collateral::from_json(&read("tdx_quote_collateral.json").unwrap()).unwrap();
    let opts = VerifyOptions::at_unix(TDX_QUOTE_NOW).with_collateral(c);
    for offset in [376, 636, qe_report_at + 100] {
        let mut bad = q.clone();
        bad[offset] ^= 0x80;
        assert!(quote::verify(&bad, &opts).is_err(), "offset {offset}");
    }
}

#[test]
fn a_second_root_rejects_the_intel_chain() {
    let Some(q) = read("tdx_quote") else { return };
    let signer = mr_rtmr::sim::quote::TestQuoteSigner::new().unwrap();
    let e = quote_error(
        quote::verify(
            &q,
            &VerifyOptions::at_unix(TDX_QUOTE_NOW).with_root_der(signer.root_der()),
        )
        .unwrap_err(),
    );
    assert!(matches!(e, QuoteError::ChainUntrusted(_)), "{e}");
    // With collateral (dcap-qvl checks the chains), the second root is refused as well.
    let c = Collateral::from_json(&read("tdx_quote_collateral.json").unwrap()).unwrap();
    let opts = VerifyOptions::at_unix(TDX_QUOTE_NOW)
        .with_root_der(signer.root_der())
        .with_collateral(c);
    let e = quote_error(quote::verify(&q, &opts).unwrap_err());
    assert!(matches!(e, QuoteError::Collateral(_)), "{e}");
    assert_eq!(e.class(), ErrorClass::Rejected);
}

#[test]
fn nonce_is_checked_with_collateral_too() {
    let Some(q) = read("tdx_quote") else { return };
    let rd = *quote::parse(&q).unwrap().report_data();
    let c = Collateral::from_json(&read("tdx_quote_collateral.json").unwrap()).unwrap();
    let opts = VerifyOptions::at_unix(TDX_QUOTE_NOW).with_collateral(c);
    quote::verify(&q, &opts.clone().with_nonce(rd.to_vec())).unwrap();
    let e = quote_error(quote::verify(&q, &opts.with_nonce(b"other".to_vec())).unwrap_err());
    assert!(matches!(e, QuoteError::NonceMismatch { .. }), "{e}");
}

#[test]
fn v5_td15_quote_parses_and_verifies_its_signature_chain() {
    let Some(q) = read("tdx_quote_outdated") else {
        return;
    };
    let p = quote::parse(&q).unwrap();
    assert_eq!(p.version(), 5);
    assert_eq!(p.body_type(), 3);
    assert!(p.tee_tcb_svn2().is_some());
    assert_eq!(p.signed_bytes().len(), 48 + 6 + 648);
    assert!(p.trailing_bytes().is_empty());
    let v = quote::verify(&q, &VerifyOptions::at_unix(TDX_OUTDATED_NOW)).unwrap();
    assert_eq!(v.body_type(), 3);
    assert_eq!(
        v.registers()
            .get(&MrId::Rtmr(3), HashAlg::Sha384)
            .unwrap()
            .as_bytes(),
        &p.rtmrs()[3]
    );
    // The v5 body descriptor is signed: changing the body type breaks the signature or the parse.
    let mut bad = q.clone();
    bad[48] = 2;
    assert!(quote::verify(&bad, &VerifyOptions::at_unix(TDX_OUTDATED_NOW)).is_err());
}

#[test]
fn v5_td15_quote_with_collateral_gives_a_tcb_status() {
    let Some(q) = read("tdx_quote_outdated") else {
        return;
    };
    let c = Collateral::from_json(&read("tdx_quote_outdated_collateral.json").unwrap()).unwrap();
    match quote::verify(
        &q,
        &VerifyOptions::at_unix(TDX_OUTDATED_NOW).with_collateral(c),
    ) {
        Ok(v) => {
            let t = v.tcb_status().unwrap();
            eprintln!("tdx_quote_outdated: {} {:?}", t.status, t.advisory_ids);
            assert!(!t.status.is_empty());
        }
        Err(e) => {
            // dcap-qvl may refuse an outdated TCB outright; it must then be a rejection.
            let e = quote_error(e);
            eprintln!("tdx_quote_outdated rejected: {e}");
            assert_eq!(e.class(), ErrorClass::Rejected);
        }
    }
}

#[test]
fn hex_quotes_parse() {
    for name in ["tdx-quote.hex", "quote-from-tappd.hex"] {
        let Some(q) = read_hex(name) else { return };
        let p = quote::parse(&q).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.version(), 4, "{name}");
        assert_eq!(p.body_type(), 2, "{name}");
        eprintln!("{name}: {} trailing bytes", p.trailing_bytes().len());
    }
}

#[test]
fn sgx_quote_is_refused_as_not_a_td_quote() {
    let Some(q) = read("sgx_quote") else { return };
    let e = quote_error(quote::parse(&q).unwrap_err());
    assert!(
        matches!(e, QuoteError::UnsupportedVersion(3) | QuoteError::NotTdx(_)),
        "{e}"
    );
    assert_eq!(e.class(), ErrorClass::Malformed);
}

#[test]
fn trailing_bytes_are_tolerated_and_reported() {
    let Some(mut q) = read("tdx_quote") else {
        return;
    };
    let before = quote::parse(&q).unwrap().trailing_bytes().len();
    q.extend_from_slice(b"unsigned trailing text");
    let p = quote::parse(&q).unwrap();
    assert_eq!(p.trailing_bytes().len(), before + 22);
    let v = quote::verify(&q, &VerifyOptions::at_unix(TDX_QUOTE_NOW)).unwrap();
    assert_eq!(v.trailing_bytes(), before + 22);
    let c = Collateral::from_json(&read("tdx_quote_collateral.json").unwrap()).unwrap();
    let v = quote::verify(
        &q,
        &VerifyOptions::at_unix(TDX_QUOTE_NOW).with_collateral(c),
    )
    .unwrap();
    assert_eq!(v.tcb_status().unwrap().status, "UpToDate");
}

/// `json` with one byte of the string field `field` changed (`from` → `to`, once).
fn collateral_with(json: &[u8], field: &str, from: &str, to: &str) -> Collateral {
    let mut v: serde_json::Value = serde_json::from_slice(json).unwrap();
    let s = v[field].as_str().unwrap();
    assert_eq!(s.matches(from).count(), 1, "{field} has one {from:?}");
    assert_eq!(from.len(), to.len());
    v[field] = serde_json::Value::String(s.replacen(from, to, 1));
    Collateral::from_json(&serde_json::to_vec(&v).unwrap()).unwrap()
}

#[test]
fn verified_collateral_signatures_are_cached_and_a_one_byte_change_is_verified_again_and_rejected()
{
    let Some(q) = read("tdx_quote") else { return };
    let json = read("tdx_quote_collateral.json").unwrap();
    let opts = |c| VerifyOptions::at_unix(TDX_QUOTE_NOW).with_collateral(c);
    let c = Collateral::from_json(&json).unwrap();
    quote::verify(&q, &opts(c.clone())).unwrap();
    // Warm: the platform's signatures (PCK chain, TCB info and QE identity with their issuer
    // chains, the two CRLs) come from the cache. Other tests share the process-wide counters,
    // which only grow.
    let before = quote::signature_cache_stats();
    quote::verify(&q, &opts(c)).unwrap();
    let after = quote::signature_cache_stats();
    assert!(after.hits >= before.hits + 6, "{before:?} -> {after:?}");
    assert!(after.entries > 0);

    // One byte of the signed TCB info or QE identity changed: not in the cache, verified again,
    // and refused.
    for (field, from, to) in [
        (
            "tcb_info",
            "\"issueDate\":\"2025-06-19T10:16:03Z\"",
            "\"issueDate\":\"2025-06-19T10:16:04Z\"",
        ),
        (
            "qe_identity",
            "\"issueDate\":\"2025-06-19T10:32:27Z\"",
            "\"issueDate\":\"2025-06-19T10:32:28Z\"",
        ),
    ] {
        let changed = collateral_with(&json, field, from, to);
        let before = quote::signature_cache_stats();
        let err = quote::verify(&q, &opts(changed)).unwrap_err();
        let after = quote::signature_cache_stats();
        let why = err.to_string();
        assert!(
            matches!(quote_error(err), QuoteError::Collateral(_)),
            "{field}: {why}"
        );
        assert!(after.misses > before.misses, "{field}: verified again");
    }
    // A one-byte change in a CRL's signed part is refused too.
    let crl = json_field(&json, "root_ca_crl");
    let mut bytes = hex::decode(&crl).unwrap();
    let i = bytes.len() / 3;
    bytes[i] ^= 0x01;
    let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    v["root_ca_crl"] = serde_json::Value::String(hex::encode(bytes));
    let changed = Collateral::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(quote::verify(&q, &opts(changed)).is_err());
    // The original still verifies (the cache held nothing wrong).
    let c = Collateral::from_json(&json).unwrap();
    assert_eq!(
        quote::verify(&q, &opts(c))
            .unwrap()
            .tcb_status()
            .unwrap()
            .status,
        "UpToDate"
    );
}

fn json_field(json: &[u8], field: &str) -> String {
    let v: serde_json::Value = serde_json::from_slice(json).unwrap();
    v[field].as_str().unwrap().to_owned()
}

#[test]
fn collateral_issue_dates_are_those_of_the_signed_tcb_info_and_qe_identity() {
    let Some(json) = read("tdx_quote_collateral.json") else {
        return;
    };
    let mut fields: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let issue_date = |part: &str| {
        let body: serde_json::Value = serde_json::from_str(fields[part].as_str().unwrap()).unwrap();
        body["issueDate"].as_str().unwrap().to_owned()
    };
    let (tcb_date, qe_date) = (issue_date("tcb_info"), issue_date("qe_identity"));
    assert_ne!(
        tcb_date, qe_date,
        "the vector's two dates tell the parts apart"
    );
    let c = Collateral::from_json(&json).unwrap();
    assert_eq!(
        c.issue_dates(),
        vec![("tcb_info", tcb_date.clone()), ("qe_identity", qe_date)]
    );
    // The TCB info inside PCS's {"tcbInfo": …} wrapper; a QE identity without issueDate is
    // left out (not reported with an empty or made-up date).
    let body = fields["tcb_info"].as_str().unwrap().to_owned();
    fields["tcb_info"] = format!("{{\"tcbInfo\":{body}}}").into();
    let mut qe: serde_json::Value =
        serde_json::from_str(fields["qe_identity"].as_str().unwrap()).unwrap();
    qe.as_object_mut().unwrap().remove("issueDate");
    fields["qe_identity"] = qe.to_string().into();
    let c = Collateral::from_json(fields.to_string().as_bytes()).unwrap();
    assert_eq!(c.issue_dates(), vec![("tcb_info", tcb_date)]);
}
