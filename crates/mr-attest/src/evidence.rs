//! Evidence per root of trust: what a verifier receives from an attester, as bytes or readers.
//!
//! - [`TpmQuoteEvidence`]: a TPM 2.0 quote (TPMS_ATTEST, TPMT_SIGNATURE), the attestation key,
//!   optionally the quoted PCR values and the PC-Client boot log.
//! - [`TdQuoteEvidence`]: an Intel TDX quote with its verification options (trust anchor, time,
//!   nonce, collateral, debug policy), and a journal of the virtual register `mr_ima` and/or the
//!   CCEL (the firmware's event log of RTMR 0-3).
//! - [`VtpmEvidence`]: a vTPM rooted in a confidential VM's hardware report (Azure on TDX or
//!   SEV-SNP): mr-vtpm's evidence and options, the IMA PCRs and the PC-Client boot log.
//! - [`ImaList`]: the IMA measurement list that goes with any of them, read once.
//!
//! [`Evidence`] puts a root and its IMA list together for [`crate::verify`](fn@crate::verify).

use std::io::BufRead;
use std::sync::Arc;

use mr_core::log::tcg::ccel::CcelTable;
use mr_core::log::tcg::TcgReplayConfig;
use mr_core::{ImaInput, MrId, RegisterValue};
use mr_policy::AppraisalPolicy;
use mr_rtmr::quote::VerifyOptions;

use crate::error::Error;

/// The PCR IMA extends by default (the kernel's `CONFIG_IMA_MEASURE_PCR_IDX`).
pub const DEFAULT_IMA_PCR: u32 = mr_core::log::ima::IMA_PCR;

/// An IMA measurement list (binary or ASCII, detected), read once by the verifier: a list
/// cannot be read twice (the second read of a pipe would see other bytes than the first), so
/// [`crate::verify`](fn@crate::verify) takes it by value. It is the library's [`mr_core::ImaInput`].
pub struct ImaList {
    input: ImaInput<'static>,
}

impl std::fmt::Debug for ImaList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImaList")
            .field("input", &self.input)
            .finish()
    }
}

impl ImaList {
    /// A list read from `input` (a pipe, stdin, securityfs), streamed: never held in memory.
    pub fn from_reader(input: impl BufRead + 'static) -> ImaList {
        ImaList {
            input: ImaInput::from_reader(input),
        }
    }

    /// A list already in memory.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> ImaList {
        ImaList {
            input: ImaInput::from_vec(bytes.into()),
        }
    }

    /// The input, for the one verification of the list.
    pub(crate) fn into_input(self) -> ImaInput<'static> {
        self.input
    }

    /// The list's reader, for the appraiser's copy of the bytes the replay consumes.
    pub(crate) fn into_reader(self) -> Box<dyn BufRead> {
        self.input.into_reader()
    }
}

impl From<ImaInput<'static>> for ImaList {
    /// A list opened by the library ([`ImaInput::open`]: a file, whose size lets the replay
    /// choose its threads).
    fn from(input: ImaInput<'static>) -> ImaList {
        ImaList { input }
    }
}

/// A TPM 2.0 quote and what goes with it.
#[derive(Clone, Debug)]
pub struct TpmQuoteEvidence {
    /// TPMS_ATTEST (or TPM2B_ATTEST) as the TPM returned it.
    pub attest: Vec<u8>,
    /// TPMT_SIGNATURE.
    pub signature: Vec<u8>,
    /// The attestation key, in any format [`mr_tpm::AkPublic::detect`] takes (TPM2B_PUBLIC,
    /// TPMT_PUBLIC, PEM or DER public key, X.509 certificate).
    pub ak: Vec<u8>,
    /// The nonce the quote must carry (`extraData`); `None` leaves it unchecked (the quote may
    /// be a replay: the result's `nonce` rule says so).
    pub nonce: Option<Vec<u8>>,
    /// The quoted PCR values, checked against the quote's PCR digest. Without them the IMA
    /// list's final values must be what the quote signed (the list may not run ahead of it).
    pub pcrs: Option<Vec<RegisterValue>>,
    /// The PCRs the IMA list extends (default `[10]`).
    pub ima_pcrs: Vec<u32>,
    /// The PC-Client event log of the same boot (`binary_bios_measurements`): replayed against
    /// the quoted PCRs below 16 other than the IMA PCRs, and bound to the IMA list by the
    /// list's first `boot_aggregate`.
    pub boot_log: Option<Vec<u8>>,
    /// When set, the AK must be an X.509 certificate that chains to one of these roots
    /// ([`AkChain`]); checked before the quote's signature.
    pub ak_chain: Option<Box<AkChain>>,
}

/// The operator's trust anchors for an AK certificate (GCE Shielded VM AK certificates, an
/// EK/AK CA): the certificate must chain to one of `roots` through `intermediates` (each a CA),
/// every certificate valid at `at` ([`mr_tpm::cert::verify_chain`]).
#[derive(Clone, Debug)]
pub struct AkChain {
    /// Root certificates (DER), trusted as given.
    pub roots: Vec<Vec<u8>>,
    /// Intermediate CA certificates (DER), any order.
    pub intermediates: Vec<Vec<u8>>,
    /// Verification time, seconds since the Unix epoch (the library never reads the clock).
    pub at: u64,
}

impl TpmQuoteEvidence {
    /// A quote, its signature and the AK; no nonce, no PCR values, IMA PCR 10, no boot log.
    pub fn new(
        attest: impl Into<Vec<u8>>,
        signature: impl Into<Vec<u8>>,
        ak: impl Into<Vec<u8>>,
    ) -> TpmQuoteEvidence {
        TpmQuoteEvidence {
            attest: attest.into(),
            signature: signature.into(),
            ak: ak.into(),
            nonce: None,
            pcrs: None,
            ima_pcrs: vec![DEFAULT_IMA_PCR],
            boot_log: None,
            ak_chain: None,
        }
    }

    /// Require the quote to carry `nonce`.
    pub fn with_nonce(mut self, nonce: impl Into<Vec<u8>>) -> TpmQuoteEvidence {
        self.nonce = Some(nonce.into());
        self
    }

    /// The quoted PCR values.
    pub fn with_pcrs(mut self, pcrs: Vec<RegisterValue>) -> TpmQuoteEvidence {
        self.pcrs = Some(pcrs);
        self
    }

    /// The PCRs the IMA list extends (an empty list keeps the default, PCR 10).
    pub fn with_ima_pcrs(mut self, pcrs: Vec<u32>) -> TpmQuoteEvidence {
        if !pcrs.is_empty() {
            self.ima_pcrs = pcrs;
        }
        self
    }

    /// Require the AK to be a certificate that chains to the operator's roots ([`AkChain`]).
    pub fn with_ak_chain(mut self, chain: AkChain) -> TpmQuoteEvidence {
        self.ak_chain = Some(Box::new(chain));
        self
    }

    /// The PC-Client boot log of the same boot.
    pub fn with_boot_log(mut self, log: impl Into<Vec<u8>>) -> TpmQuoteEvidence {
        self.boot_log = Some(log.into());
        self
    }
}

/// The journal of virtual registers (written by `mr agent ima`) over a backing register of the
/// TD quote: the verifier replays it to the quoted value of `backing` and derives `mr_ima`.
pub struct Journal {
    /// The journal's text, streamed.
    pub input: Box<dyn BufRead>,
    /// The register backing the journal (usually RTMR 3).
    pub backing: MrId,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("backing", &self.backing)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// A journal over RTMR 3 read from `input`.
    pub fn from_reader(input: impl BufRead + 'static) -> Journal {
        Journal {
            input: Box::new(input),
            backing: MrId::Rtmr(3),
        }
    }

    /// A journal over RTMR 3 already in memory.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Journal {
        Journal::from_reader(std::io::Cursor::new(bytes.into()))
    }

    /// The register backing the journal.
    pub fn with_backing(mut self, backing: MrId) -> Journal {
        self.backing = backing;
        self
    }
}

/// The TDX CCEL: the firmware's event log of RTMR 0-3 (`/sys/firmware/acpi/tables/data/CCEL`),
/// optionally with its ACPI table, which bounds the log area.
#[derive(Clone, Debug)]
pub struct Ccel {
    /// The CCEL log area.
    pub log: Vec<u8>,
    /// The parsed CCEL ACPI table, if given.
    pub table: Option<CcelTable>,
    /// How to replay it (default [`TcgReplayConfig::ccel`]).
    pub config: TcgReplayConfig,
    /// "Direct mode" (Intel's "IMA over RTMR" kernels): the register the IMA list extends with
    /// SHA-384 template digests, continuing from the CCEL's end values, when the evidence has
    /// an IMA list and no journal (default RTMR 2).
    pub ima_register: MrId,
}

impl Ccel {
    /// A CCEL log area, without its ACPI table, replayed with [`TcgReplayConfig::ccel`].
    pub fn new(log: impl Into<Vec<u8>>) -> Ccel {
        Ccel {
            log: log.into(),
            table: None,
            config: TcgReplayConfig::ccel(),
            ima_register: MrId::Rtmr(2),
        }
    }

    /// The CCEL ACPI table (its LAML bounds the log area).
    pub fn with_table(mut self, table: CcelTable) -> Ccel {
        self.table = Some(table);
        self
    }

    /// Replay options (banks, Exit Boot Services workaround, data check).
    pub fn with_config(mut self, config: TcgReplayConfig) -> Ccel {
        self.config = config;
        self
    }

    /// The register the IMA list extends in direct mode.
    pub fn with_ima_register(mut self, register: MrId) -> Ccel {
        self.ima_register = register;
        self
    }
}

/// An Intel TDX quote and what goes with it.
#[derive(Debug)]
pub struct TdQuoteEvidence {
    /// The quote (v4 or v5), binary.
    pub quote: Vec<u8>,
    /// Trust anchor (default: the Intel SGX Root CA), verification time, nonce (REPORTDATA),
    /// collateral and whether a debug TD is accepted.
    pub options: VerifyOptions,
    /// The journal of `mr_ima` over a quoted RTMR, if the IMA list went through `mr agent ima`.
    pub journal: Option<Journal>,
    /// The CCEL, if the firmware's RTMRs are to be checked (or for direct mode).
    pub ccel: Option<Ccel>,
}

impl TdQuoteEvidence {
    /// A quote verified with `options`; no journal, no CCEL.
    pub fn new(quote: impl Into<Vec<u8>>, options: VerifyOptions) -> TdQuoteEvidence {
        TdQuoteEvidence {
            quote: quote.into(),
            options,
            journal: None,
            ccel: None,
        }
    }

    /// The quote in a file's bytes `data`, verified with `options`: hex text (only hex digits
    /// and whitespace, an optional `0x`) is decoded, anything else is taken as the binary quote.
    pub fn from_file_bytes(
        data: Vec<u8>,
        options: VerifyOptions,
    ) -> Result<TdQuoteEvidence, Error> {
        let text: Vec<u8> = data
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let text = text
            .strip_prefix(b"0x")
            .or_else(|| text.strip_prefix(b"0X"))
            .unwrap_or(&text);
        let quote = if !text.is_empty() && text.iter().all(u8::is_ascii_hexdigit) {
            hex::decode(text).map_err(Error::QuoteHex)?
        } else {
            data
        };
        Ok(TdQuoteEvidence::new(quote, options))
    }

    /// The journal of `mr_ima`.
    pub fn with_journal(mut self, journal: Journal) -> TdQuoteEvidence {
        self.journal = Some(journal);
        self
    }

    /// The CCEL.
    pub fn with_ccel(mut self, ccel: Ccel) -> TdQuoteEvidence {
        self.ccel = Some(ccel);
        self
    }
}

/// How the hardware report behind a vTPM is verified.
#[derive(Clone, Debug)]
pub enum VtpmOptions {
    /// Azure on TDX: a TD quote.
    AzTdx(Box<mr_vtpm::TdxOptions>),
    /// Azure on SEV-SNP: an SNP report.
    AzSnp(mr_vtpm::SnpOptions),
}

/// A vTPM whose AK a confidential VM's hardware report vouches for (Azure on TDX or SEV-SNP):
/// the hardware report, the runtime data, the AK and the vTPM's quote with its PCR values
/// ([`mr_vtpm`]), then the same boot log and IMA steps as under a TPM.
#[derive(Clone, Debug)]
pub struct VtpmEvidence {
    /// The evidence (HCL report, vTPM quote and PCR values, TD quote or VCEK).
    pub evidence: mr_vtpm::AzVtpmEvidence,
    /// Trust anchors, time, nonce, debug policy.
    pub options: VtpmOptions,
    /// The PCRs the IMA list extends (default `[10]`).
    pub ima_pcrs: Vec<u32>,
    /// The PC-Client event log of the same boot.
    pub boot_log: Option<Vec<u8>>,
}

impl VtpmEvidence {
    /// Evidence verified with `options`; IMA PCR 10, no boot log.
    pub fn new(evidence: mr_vtpm::AzVtpmEvidence, options: VtpmOptions) -> VtpmEvidence {
        VtpmEvidence {
            evidence,
            options,
            ima_pcrs: vec![DEFAULT_IMA_PCR],
            boot_log: None,
        }
    }

    /// The PCRs the IMA list extends (an empty list keeps the default, PCR 10).
    pub fn with_ima_pcrs(mut self, pcrs: Vec<u32>) -> VtpmEvidence {
        if !pcrs.is_empty() {
            self.ima_pcrs = pcrs;
        }
        self
    }

    /// The PC-Client boot log of the same boot.
    pub fn with_boot_log(mut self, log: impl Into<Vec<u8>>) -> VtpmEvidence {
        self.boot_log = Some(log.into());
        self
    }
}

/// The root of trust that vouches for the registers.
#[derive(Debug)]
pub enum RootEvidence {
    /// A TPM quote.
    Tpm(TpmQuoteEvidence),
    /// A TD quote.
    Td(Box<TdQuoteEvidence>),
    /// A vTPM quote whose AK a hardware report vouches for.
    Vtpm(Box<VtpmEvidence>),
}

/// Everything [`crate::verify`](fn@crate::verify) checks: a root of trust and the IMA list that goes with it, and
/// the appraisal policy to apply when they verify.
#[derive(Debug)]
pub struct Evidence {
    /// The root of trust and its logs.
    pub root: RootEvidence,
    /// The IMA measurement list, if any.
    pub ima: Option<ImaList>,
    /// The appraisal policy (platform rules, IMA runtime policy, deny list), shared: a verifier
    /// loads it once for many verifications.
    pub policy: Option<Arc<AppraisalPolicy>>,
}

impl Evidence {
    /// Evidence under a TPM root.
    pub fn tpm(quote: TpmQuoteEvidence) -> Evidence {
        Evidence {
            root: RootEvidence::Tpm(quote),
            ima: None,
            policy: None,
        }
    }

    /// Evidence under a TD root.
    pub fn td(quote: TdQuoteEvidence) -> Evidence {
        Evidence {
            root: RootEvidence::Td(Box::new(quote)),
            ima: None,
            policy: None,
        }
    }

    /// Evidence under a vTPM root (a TPM rooted in a confidential VM's hardware report).
    pub fn vtpm(quote: VtpmEvidence) -> Evidence {
        Evidence {
            root: RootEvidence::Vtpm(Box::new(quote)),
            ima: None,
            policy: None,
        }
    }

    /// The IMA list that goes with the root.
    pub fn with_ima(mut self, list: ImaList) -> Evidence {
        self.ima = Some(list);
        self
    }

    /// Appraise the evidence with `policy` once it verified.
    pub fn with_policy(mut self, policy: impl Into<Arc<AppraisalPolicy>>) -> Evidence {
        self.policy = Some(policy.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote_of(data: &[u8]) -> Option<Vec<u8>> {
        let options = VerifyOptions::new(std::time::UNIX_EPOCH);
        TdQuoteEvidence::from_file_bytes(data.to_vec(), options)
            .ok()
            .map(|e| e.quote)
    }

    #[test]
    fn hex_quote_text_is_detected_and_binary_is_kept() {
        assert_eq!(quote_of(b"0x0400\n0200"), Some(vec![4, 0, 2, 0]));
        assert_eq!(quote_of(b" 0X04 00 "), Some(vec![4, 0]));
        assert_eq!(quote_of(&[4, 0, 2, 0]), Some(vec![4, 0, 2, 0]));
        assert_eq!(quote_of(b""), Some(Vec::new()));
        // Hex digits only, but an odd number of them: an error, not a binary quote.
        assert_eq!(quote_of(b"040"), None);
    }
}
