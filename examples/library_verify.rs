//! Verify the example evidence the repository ships, under both roots of trust, through mr's
//! public API alone (`mr::attest`), and print the two attestation results as JSON:
//! `{"tpm": {...}, "td": {...}}`, each with a boolean `verified`.
//!
//! ```sh
//! cargo run --example library_verify             # both verified, exit 0
//! cargo run --example library_verify -- --tamper  # one IMA entry edited: both rejected, exit 1
//! ```
//! The evidence is `examples/ima/binary_runtime_measurements` and `examples/evidence/`
//! (`examples/evidence/README.md` says how each file was made).

use std::path::Path;
use std::process::ExitCode;

use mr::attest::{
    verify, AttestationResult, Evidence, ImaList, Journal, TdQuoteEvidence, TpmQuoteEvidence,
};
use mr::core::RegisterValue;
use mr::rtmr::quote::VerifyOptions;

fn main() -> ExitCode {
    let tamper = std::env::args().skip(1).any(|a| a == "--tamper");
    match verify_examples(Path::new(env!("CARGO_MANIFEST_DIR")), tamper) {
        Ok((tpm, td)) => {
            let json = serde_json::json!({ "tpm": tpm, "td": td });
            println!("{json:#}");
            if tpm.verified && td.verified {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("library_verify: {e}");
            ExitCode::from(2)
        }
    }
}

// BEGIN README SNIPPET
/// Verify the IMA list of `repo/examples/ima` under the TPM quote and under the TD quote of
/// `repo/examples/evidence`; with `tamper`, one byte of a file path in one entry is edited first.
pub fn verify_examples(
    repo: &Path,
    tamper: bool,
) -> Result<(AttestationResult, AttestationResult), Box<dyn std::error::Error>> {
    let read = |p: &str| std::fs::read(repo.join(p));
    let hex_file = |p: &str| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        Ok(hex::decode(String::from_utf8(read(p)?)?.trim())?)
    };
    let mut list = read("examples/ima/binary_runtime_measurements")?;
    if tamper {
        edit_one_entry(&mut list).ok_or("no file path to edit in the list")?;
    }

    // TPM root: a quote over PCR 10, the AK, the nonce the verifier sent, the quoted value.
    let pcrs = String::from_utf8(read("examples/evidence/tpm/pcrs.txt")?)?
        .lines()
        .map(str::parse::<RegisterValue>)
        .collect::<Result<Vec<_>, _>>()?;
    let tpm_quote = TpmQuoteEvidence::new(
        read("examples/evidence/tpm/quote.attest")?,
        read("examples/evidence/tpm/quote.sig")?,
        read("examples/evidence/tpm/ak.pub")?,
    )
    .with_nonce(hex_file("examples/evidence/tpm/nonce.hex")?)
    .with_pcrs(pcrs);
    let tpm = verify(Evidence::tpm(tpm_quote).with_ima(ImaList::from_bytes(list.clone())))?;

    // TD root: a TD quote over RTMR 3, the journal of mr_ima over it, the (test) root CA, the
    // nonce, and the verification time (the library never reads the clock).
    let at: u64 = String::from_utf8(read("examples/evidence/td/at.txt")?)?
        .trim()
        .parse()?;
    let options = VerifyOptions::at_unix(at)
        .with_root_der(read("examples/evidence/td/root-ca.der")?)
        .with_nonce(hex_file("examples/evidence/td/nonce.hex")?);
    let td_quote = TdQuoteEvidence::new(read("examples/evidence/td/quote.bin")?, options)
        .with_journal(Journal::from_bytes(read(
            "examples/evidence/td/mr_ima.journal",
        )?));
    let td = verify(Evidence::td(td_quote).with_ima(ImaList::from_bytes(list)))?;
    Ok((tpm, td))
}
// END README SNIPPET

/// Edit one byte of a file path in an entry past the middle of the list (`/usr/bin/file-…`
/// becomes `/usr/bin/File-…`).
pub fn edit_one_entry(list: &mut [u8]) -> Option<()> {
    let needle = b"/usr/bin/file-";
    let from = list.len() / 2;
    let at = list
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)?
        + from
        + "/usr/bin/".len();
    *list.get_mut(at)? = b'F';
    Some(())
}
