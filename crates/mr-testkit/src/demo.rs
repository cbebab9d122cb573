//! The demonstration scenario of `mr demo` (feature `swtpm`): one generated IMA list measured
//! under two roots of trust, and the evidence each root produces.
//!
//! 1. The list (mr-core's sample generator, [`sample_list`]) goes, as the kernel would extend
//!    it, into PCR 10 of a real swtpm, and through mr-virtual's guest agent into the virtual
//!    register `mr_ima`, journalled over RTMR3 of a simulated TD.
//! 2. A TPM quote (a fresh ECC AK, a random nonce) and a TD quote (configfs-tsm of the simulated
//!    TD, signed under the test root, a random nonce) are taken ([`DemoEvidence::gather`]).
//! 3. [`crate::example::tamper_file_path`] edits one byte of a file path in one entry, for the
//!    rejection half.
//!
//! Unlike the rest of this crate, these functions return errors ([`DemoError`]) instead of
//! panicking: `mr demo` runs them.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mr_core::log::ima::sample::write_sample_list;
use mr_core::log::ima::{ImaReader, ImaReaderOptions, ListKind};
use mr_core::{Digest, HashAlg, MeasurementRegister, MrId, RegisterValue};
use mr_rtmr::rtmr::TdxRtmr;
use mr_rtmr::sim::quote::TestQuoteSigner;
use mr_rtmr::sim::SimTd;
use mr_tpm::device::{AkKind, Tpm, TpmPcr};
use mr_tpm::harness::Swtpm;
use mr_tpm::{PcrBankSelection, PcrSelection};
use mr_virtual::agent::ImaAgent;
use mr_virtual::{VirtualRegister, MR_IMA};

/// Seed of the generated list (the list is the same on every run; the nonces are random).
const LIST_SEED: u64 = 0x006d_722d_6465_6d6f;

/// A step of the scenario that failed: which, and why.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {message}")]
pub struct DemoError {
    /// The step (e.g. `swtpm`, `TPM quote`).
    pub step: &'static str,
    /// Why it failed.
    pub message: String,
}

fn failed(step: &'static str) -> impl Fn(&dyn std::fmt::Display) -> DemoError {
    move |e| DemoError {
        step,
        message: e.to_string(),
    }
}

/// A binary IMA list of `entries` sample entries (SHA-256 template hashes), the same on every
/// run.
pub fn sample_list(entries: u64) -> Result<Vec<u8>, DemoError> {
    let mut list = Vec::new();
    write_sample_list(
        &mut list,
        ListKind::Binary,
        entries,
        &[HashAlg::Sha256],
        LIST_SEED,
    )
    .map_err(|e| failed("IMA list")(&e))?;
    Ok(list)
}

/// The evidence each root produced for one list.
#[derive(Clone, Debug)]
pub struct DemoEvidence {
    /// The TPM quote's TPMS_ATTEST.
    pub tpm_attest: Vec<u8>,
    /// The TPM quote's TPMT_SIGNATURE.
    pub tpm_sig: Vec<u8>,
    /// The AK's TPMT_PUBLIC.
    pub tpm_ak: Vec<u8>,
    /// The TPM quote's nonce (extraData).
    pub tpm_nonce: Vec<u8>,
    /// PCR 10 in every bank quoted, read back from the swtpm.
    pub tpm_pcrs: Vec<RegisterValue>,
    /// The PCR 10 banks extended and quoted: SHA-256, and SHA-384 (mr_ima's bank, so that
    /// PCR 10 and mr_ima end equal) when the swtpm has it allocated.
    pub pcr_banks: Vec<HashAlg>,
    /// The TD quote.
    pub td_quote: Vec<u8>,
    /// The TD quote's nonce (REPORTDATA).
    pub td_nonce: Vec<u8>,
    /// The test root certificate (DER) the TD quote chains to.
    pub td_root: Vec<u8>,
    /// The journal of `mr_ima` over RTMR3.
    pub journal: PathBuf,
}

fn random_nonce() -> Result<Vec<u8>, DemoError> {
    let mut n = vec![0u8; 32];
    getrandom::getrandom(&mut n).map_err(|e| failed("nonce")(&e))?;
    Ok(n)
}

/// What IMA does in a kernel with a TPM: extend PCR 10, per bank, with each entry's template
/// digest in that bank (a violation extends all-0xFF).
fn extend_like_the_kernel(list: &Path, pcrs: &[TpmPcr]) -> Result<u64, DemoError> {
    let file = std::fs::File::open(list).map_err(|e| failed("IMA list")(&e))?;
    let mut reader = ImaReader::new(BufReader::new(file), ImaReaderOptions::default());
    let mut n = 0u64;
    while let Some(e) = reader.next_entry().map_err(|e| failed("IMA list")(&e))? {
        for pcr in pcrs {
            let value = if e.is_violation() {
                Digest::ones(pcr.alg())
            } else {
                e.template_digest(pcr.alg())
            };
            pcr.extend(&value).map_err(|e| failed("PCR 10")(&e))?;
        }
        n += 1;
    }
    Ok(n)
}

impl DemoEvidence {
    /// Measure the list at `list` under both roots and quote them; the journal is written in
    /// `dir`. Needs the `swtpm` binary on the PATH.
    pub fn gather(dir: &Path, list: &Path) -> Result<DemoEvidence, DemoError> {
        // The TD: RTMR3 through the tsm-mr seam of a simulated TD; mr_ima journalled over it.
        let signer = Arc::new(TestQuoteSigner::new().map_err(|e| failed("test quote signer")(&e))?);
        let td = SimTd::builder().quote_provider(signer.clone()).build();
        let rtmr3 = TdxRtmr::new(td.fs(), 3).map_err(|e| failed("RTMR3")(&e))?;
        let journal = dir.join("mr_ima.journal");
        let register = VirtualRegister::open(MR_IMA, rtmr3, &journal)
            .map_err(|e| failed("open mr_ima")(&e))?;
        let mut agent = ImaAgent::new(register);
        let file = std::fs::File::open(list).map_err(|e| failed("IMA list")(&e))?;
        agent
            .sync(BufReader::new(file))
            .map_err(|e| failed("agent")(&e))?;
        let td_nonce = random_nonce()?;
        let report = td
            .report_client()
            .get_report_for_nonce(&td_nonce)
            .map_err(|e| failed("TD quote")(&e))?;

        // The TPM: PCR 10 of a fresh swtpm, extended entry by entry as IMA does.
        let swtpm = Swtpm::start().map_err(|e| {
            failed("swtpm (scripts/demo.sh installs it; or apt-get install swtpm)")(&e)
        })?;
        let tpm = Tpm::open(&swtpm.tcti()).map_err(|e| failed("swtpm")(&e))?;
        let mut pcr_banks = vec![HashAlg::Sha256];
        if tpm.read_pcr(10, HashAlg::Sha384).is_ok() {
            pcr_banks.push(HashAlg::Sha384);
        }
        let pcrs: Vec<TpmPcr> = pcr_banks.iter().map(|b| tpm.pcr(10, *b)).collect();
        extend_like_the_kernel(list, &pcrs)?;
        let ak = tpm
            .create_ak(AkKind::EccP256)
            .map_err(|e| failed("AK")(&e))?;
        let tpm_nonce = random_nonce()?;
        let selection = PcrSelection {
            banks: pcr_banks
                .iter()
                .map(|b| PcrBankSelection::new(*b, &[10]))
                .collect(),
        };
        let q = tpm
            .quote(&ak, &tpm_nonce, &selection)
            .map_err(|e| failed("TPM quote")(&e))?;
        let tpm_pcrs = pcrs
            .iter()
            .map(|p| {
                Ok(RegisterValue {
                    id: MrId::Pcr(10),
                    value: p.read().map_err(|e| failed("PCR 10")(&e))?,
                })
            })
            .collect::<Result<Vec<_>, DemoError>>()?;
        Ok(DemoEvidence {
            tpm_attest: q.attest,
            tpm_sig: q.signature,
            tpm_ak: q.ak_public,
            tpm_nonce,
            tpm_pcrs,
            pcr_banks,
            td_quote: report.outblob,
            td_nonce,
            td_root: signer.root_der().to_vec(),
            journal,
        })
    }
}
