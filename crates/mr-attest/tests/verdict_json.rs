//! `AttestationResult::verdict_json` (the flat object `mr verify --json` prints), `verdict_lines`
//! (the text `mr verify` prints) and `rejection_json`, on the evidence the repository ships
//! (`examples/evidence`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_attest::{
    verify, AttestationResult, Evidence, ImaList, Journal, TdQuoteEvidence, TpmQuoteEvidence,
};
use mr_testkit::example::{self, hex_file, read};

fn list(tampered: bool) -> ImaList {
    ImaList::from_bytes(if tampered {
        example::tampered_list()
    } else {
        example::list()
    })
}

fn tpm(tampered: bool) -> AttestationResult {
    let q = TpmQuoteEvidence::new(
        read("examples/evidence/tpm/quote.attest"),
        read("examples/evidence/tpm/quote.sig"),
        read("examples/evidence/tpm/ak.pub"),
    )
    .with_nonce(hex_file("examples/evidence/tpm/nonce.hex"))
    .with_pcrs(example::pcrs());
    verify(Evidence::tpm(q).with_ima(list(tampered))).unwrap()
}

fn td(tampered: bool) -> AttestationResult {
    let q = TdQuoteEvidence::new(
        read("examples/evidence/td/quote.bin"),
        example::td_options(),
    )
    .with_journal(Journal::from_bytes(read(
        "examples/evidence/td/mr_ima.journal",
    )));
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

#[test]
fn the_verdict_text_names_the_quote_the_registers_and_the_ima_replay() {
    let t = tpm(false);
    let lines = t.verdict_lines();
    assert!(
        lines[0].starts_with("quote: signature verified (hash sha256) by AK "),
        "{lines:?}"
    );
    assert!(
        lines[1].ends_with("(matches the expected nonce)"),
        "{lines:?}"
    );
    let registers: Vec<String> = t.register_values().iter().map(|v| v.to_string()).collect();
    let at = lines
        .iter()
        .position(|l| l == "verified registers:")
        .unwrap();
    assert_eq!(lines[at + 1..at + 1 + registers.len()], registers[..]);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ima: 600 entries, 600 covered by pcr10:sha256")),
        "{lines:?}"
    );
    assert_eq!(
        lines.last().unwrap(),
        "verified: the IMA list replays to the quoted PCR values"
    );
    // An IMA verdict under a TPM root has no CCEL to show.
    assert!(t.boot_log_view().is_none());

    let d = td(false).verdict_lines();
    assert!(d[0].starts_with("quote: TD quote v"), "{d:?}");
    assert!(
        d.iter()
            .any(|l| l.starts_with("journal: 600 records, 600 covered by rtmr3")),
        "{d:?}"
    );
    assert_eq!(
        d.last().unwrap(),
        "verified: the IMA list replays to the mr_ima value derived from the TD quote's RTMR values"
    );
}
