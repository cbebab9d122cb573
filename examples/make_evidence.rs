//! Writes the example evidence under `examples/evidence/` that `examples/library_verify.rs`
//! verifies: a TPM quote over PCR 10 of `examples/ima/binary_runtime_measurements` (a real
//! swtpm) and a TD quote over RTMR 3 with the journal of `mr_ima` (the simulated TD, signed under
//! a test root CA).
//!
//! ```sh
//! cargo run --example make_evidence --features tpm-device
//! ```
//! swtpm and libtss2 must be installed (`scripts/demo.sh` installs them). Every run makes new
//! keys and signatures; `examples/evidence/README.md` says what each file is.

use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use mr::core::log::ima::{ImaReader, ImaReaderOptions};
use mr::core::{Digest, HashAlg, MeasurementRegister};
use mr::rtmr::rtmr::TdxRtmr;
use mr::rtmr::sim::quote::TestQuoteSigner;
use mr::rtmr::sim::SimTd;
use mr::tpm::device::{AkKind, Tpm};
use mr::tpm::harness::Swtpm;
use mr::tpm::{PcrBankSelection, PcrSelection};
use mr::virtual_registers::agent::ImaAgent;
use mr::virtual_registers::{VirtualRegister, MR_IMA};

/// The nonce of the TPM quote ("mr-example-tpm").
const TPM_NONCE: &[u8] = b"mr-example-tpm";
/// The nonce of the TD quote ("mr-example-td").
const TD_NONCE: &[u8] = b"mr-example-td";
/// The verification time of the TD quote: 2026-01-01T00:00:00Z, inside the test PKI's validity
/// (2020-2049).
const TD_AT_UNIX: u64 = 1_767_225_600;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make_evidence: {e}");
            ExitCode::from(2)
        }
    }
}

fn err(what: &str) -> impl Fn(&dyn std::fmt::Display) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn run() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let list = root.join("examples/ima/binary_runtime_measurements");
    let out = root.join("examples/evidence");
    tpm_evidence(&list, &out.join("tpm"))?;
    td_evidence(&list, &out.join("td"))
}

/// PCR 10 (SHA-256) of a fresh swtpm extended with every entry as IMA does, then quoted with a
/// fresh ECC P-256 AK.
fn tpm_evidence(list: &Path, out: &Path) -> Result<(), String> {
    let swtpm = Swtpm::start().map_err(|e| err("swtpm")(&e))?;
    let tpm = Tpm::open(&swtpm.tcti()).map_err(|e| err("swtpm")(&e))?;
    let pcr = tpm.pcr(10, HashAlg::Sha256);
    let file = std::fs::File::open(list).map_err(|e| err("IMA list")(&e))?;
    let mut reader = ImaReader::new(BufReader::new(file), ImaReaderOptions::default());
    while let Some(e) = reader.next_entry().map_err(|e| err("IMA list")(&e))? {
        let digest = if e.is_violation() {
            Digest::ones(HashAlg::Sha256)
        } else {
            e.template_digest(HashAlg::Sha256)
        };
        pcr.extend(&digest).map_err(|e| err("extend")(&e))?;
    }
    let ak = tpm.create_ak(AkKind::EccP256).map_err(|e| err("AK")(&e))?;
    let selection = PcrSelection {
        banks: vec![PcrBankSelection::new(HashAlg::Sha256, &[10])],
    };
    let q = tpm
        .quote(&ak, TPM_NONCE, &selection)
        .map_err(|e| err("quote")(&e))?;
    let value = pcr.read().map_err(|e| err("read PCR 10")(&e))?;
    write(&out.join("quote.attest"), &q.attest)?;
    write(&out.join("quote.sig"), &q.signature)?;
    write(&out.join("ak.pub"), &q.ak_public)?;
    write(
        &out.join("nonce.hex"),
        format!("{}\n", hex::encode(TPM_NONCE)).as_bytes(),
    )?;
    write(
        &out.join("pcrs.txt"),
        format!("pcr10:sha256:{}\n", value.to_hex()).as_bytes(),
    )
}

/// `mr_ima` journalled over RTMR 3 of a simulated TD by the guest agent, then a TD quote (v4)
/// through the TD's configfs-tsm report interface, signed under a test root CA.
fn td_evidence(list: &Path, out: &Path) -> Result<(), String> {
    let signer = Arc::new(TestQuoteSigner::new().map_err(|e| err("test signer")(&e))?);
    let td = SimTd::builder().quote_provider(signer.clone()).build();
    let rtmr3 = TdxRtmr::new(td.fs(), 3).map_err(|e| err("RTMR 3")(&e))?;
    let journal = out.join("mr_ima.journal");
    if journal.exists() {
        std::fs::remove_file(&journal).map_err(|e| err("old journal")(&e))?;
    }
    let register = VirtualRegister::open(MR_IMA, rtmr3, &journal).map_err(|e| err("mr_ima")(&e))?;
    let mut agent = ImaAgent::new(register);
    let file = std::fs::File::open(list).map_err(|e| err("IMA list")(&e))?;
    agent.sync(file).map_err(|e| err("agent")(&e))?;
    let report = td
        .report_client()
        .get_report_for_nonce(TD_NONCE)
        .map_err(|e| err("TD report")(&e))?;
    write(&out.join("quote.bin"), &report.outblob)?;
    write(&out.join("root-ca.der"), signer.root_der())?;
    write(
        &out.join("nonce.hex"),
        format!("{}\n", hex::encode(TD_NONCE)).as_bytes(),
    )?;
    write(&out.join("at.txt"), format!("{TD_AT_UNIX}\n").as_bytes())
}
