//! `AttestationResult::verdict_json` (the flat object `mr verify --json` prints) and
//! `rejection_json`, on the evidence the repository ships (`examples/evidence`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use mr_attest::{
    verify, AttestationResult, Evidence, ImaList, Journal, TdQuoteEvidence, TpmQuoteEvidence,
};
use mr_core::RegisterValue;
use mr_rtmr::quote::VerifyOptions;

fn read(p: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(p);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn hex_file(p: &str) -> Vec<u8> {
    hex::decode(String::from_utf8(read(p)).unwrap().trim()).unwrap()
}

fn list(tampered: bool) -> ImaList {
    let mut l = read("examples/ima/binary_runtime_measurements");
    if tampered {
        let needle = b"/usr/bin/file-";
        let from = l.len() / 2;
        let at = l[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
            + from
            + 9;
        l[at] = b'F';
    }
    ImaList::from_bytes(l)
}

fn tpm(tampered: bool) -> AttestationResult {
    let pcrs: Vec<RegisterValue> = String::from_utf8(read("examples/evidence/tpm/pcrs.txt"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let q = TpmQuoteEvidence::new(
        read("examples/evidence/tpm/quote.attest"),
        read("examples/evidence/tpm/quote.sig"),
        read("examples/evidence/tpm/ak.pub"),
    )
    .with_nonce(hex_file("examples/evidence/tpm/nonce.hex"))
    .with_pcrs(pcrs);
    verify(Evidence::tpm(q).with_ima(list(tampered))).unwrap()
}

fn td(tampered: bool) -> AttestationResult {
    let at: u64 = String::from_utf8(read("examples/evidence/td/at.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let options = VerifyOptions::at_unix(at)
        .with_root_der(read("examples/evidence/td/root-ca.der"))
        .with_nonce(hex_file("examples/evidence/td/nonce.hex"));
    let q = TdQuoteEvidence::new(read("examples/evidence/td/quote.bin"), options).with_journal(
        Journal::from_bytes(read("examples/evidence/td/mr_ima.journal")),
    );
    verify(Evidence::td(q).with_ima(list(tampered))).unwrap()
}

#[test]
fn a_verified_result_is_one_flat_object_with_the_quote_details() {
    let t = tpm(false).verdict_json();
    assert_eq!(t["verified"], true);
    assert_eq!(t["root"], "tpm");
    assert_eq!(t["pcrs_checked"], true);
    assert_eq!(t["nonce_checked"], true);
    assert_eq!(t["registers"][0]["id"], "pcr10");
    assert_eq!(t["ima"]["entries"], 600);
    assert!(t["ak"].is_string() && t["pcr_digest"].is_string(), "{t}");
    assert!(t.get("journal").is_none(), "{t}");

    let d = td(false).verdict_json();
    assert_eq!(d["verified"], true);
    assert_eq!(d["root"], "td");
    assert_eq!(d["nonce_checked"], true);
    assert_eq!(d["debug_td"], false);
    assert_eq!(d["journal"]["backing"], "rtmr3");
    assert_eq!(d["journal"]["records"], 600);
    assert_eq!(d["registers"][1]["id"], "mr_ima");
    assert!(
        d["provenance"]
            .as_str()
            .unwrap()
            .starts_with("derived from TD quote"),
        "{d}"
    );
}

#[test]
fn a_rejected_result_is_its_rejection_naming_the_entry() {
    for r in [tpm(true), td(true)] {
        let j = r.verdict_json();
        assert_eq!(j, r.rejection_json());
        assert_eq!(j["verified"], false);
        assert_eq!(j["reason"], "ima_replay");
        assert_eq!(j["bad_entry"]["entry"], 303, "{j}");
        assert!(j["message"].as_str().unwrap().contains("entry 303"), "{j}");
        // No quote details or registers in a rejection.
        assert!(
            j.get("registers").is_none() && j.get("root").is_none(),
            "{j}"
        );
    }
}
