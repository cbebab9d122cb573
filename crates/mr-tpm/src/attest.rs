//! TPMS_ATTEST: what a TPM signs in TPM2_Quote (TPM 2.0 Part 2, 10.12; docs/formats.md#tpm-quote).

#![deny(clippy::indexing_slicing)]

use mr_core::{HashAlg, MrId};

use crate::error::Error;
use crate::wire::{malformed, put_tpm2b, reader, Tpm2b};
use mr_core::wire::{ParseErrorKind, Reader};

/// `TPM_GENERATED_VALUE`: the first four bytes of every structure a TPM signs for attestation.
pub const TPM_GENERATED_VALUE: u32 = 0xFF54_4347;
/// `TPM_ST_ATTEST_QUOTE`: the attestation type of TPM2_Quote.
pub const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;

/// Largest TPM2B_NAME (`sizeof(TPMU_NAME)`: a 2-byte algorithm and a SHA-512 digest).
pub const MAX_NAME_SIZE: usize = 66;
/// Largest TPM2B_DATA (`sizeof(TPMT_HA)`).
pub const MAX_DATA_SIZE: usize = 66;
/// Largest TPM2B_DIGEST (a SHA-512 digest).
pub const MAX_DIGEST_SIZE: usize = 64;
/// Most banks in a TPML_PCR_SELECTION (`HASH_COUNT` bound; real TPMs have at most five).
pub const MAX_PCR_BANKS: usize = 16;
/// Largest `sizeofSelect` accepted (256 PCRs; PC-Client TPMs use 3).
pub const MAX_PCR_SELECT_SIZE: usize = 32;
/// Largest TPMS_ATTEST accepted (`sizeof(TPMS_ATTEST)` on common TPMs is well below this).
pub const MAX_ATTEST_SIZE: usize = 4096;

/// TPMS_CLOCK_INFO. `reset_count` and `restart_count` tell a verifier whether the TPM rebooted
/// (reset) or resumed (restart) between two quotes.
///
/// For keys outside the endorsement and platform hierarchies the TPM obfuscates `reset_count`,
/// `restart_count` and `firmwareVersion` with a per-key constant, so compare only quotes made
/// by the same attestation key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockInfo {
    /// Milliseconds the TPM has been powered since its last clear (not obfuscated).
    pub clock: u64,
    /// TPM2_Startup(CLEAR) count since the last clear: changes on every reboot.
    pub reset_count: u32,
    /// TPM2_Startup(STATE)/TPM2_Shutdown count since the last reset (resume from hibernate).
    pub restart_count: u32,
    /// True when `clock` has not gone backwards since it was last reported.
    pub safe: bool,
}

impl ClockInfo {
    /// True when the TPM was reset or restarted between `earlier` and this quote (a reboot or a
    /// resume: PCRs may have been reset in between). Both must come from the same AK.
    pub fn rebooted_since(&self, earlier: &ClockInfo) -> bool {
        self.reset_count != earlier.reset_count || self.restart_count != earlier.restart_count
    }
}

/// The PCRs selected in one bank (one TPMS_PCR_SELECTION).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrBankSelection {
    /// The bank.
    pub alg: HashAlg,
    /// The selection bitmap: PCR n is byte n/8, bit n%8 (LSB first).
    pub select: Vec<u8>,
}

impl PcrBankSelection {
    /// A selection of `pcrs` in bank `alg` (3 bytes of bitmap, more if a PCR needs it).
    pub fn new(alg: HashAlg, pcrs: &[u32]) -> PcrBankSelection {
        let top = pcrs.iter().copied().max().unwrap_or(0);
        let size = usize::try_from(top / 8 + 1)
            .unwrap_or(3)
            .clamp(3, MAX_PCR_SELECT_SIZE);
        let mut select = vec![0u8; size];
        for p in pcrs {
            if let Some(byte) = usize::try_from(p / 8).ok().and_then(|i| select.get_mut(i)) {
                *byte |= 1 << (p % 8);
            }
        }
        PcrBankSelection { alg, select }
    }

    /// Selected PCR indexes, ascending.
    pub fn pcrs(&self) -> impl Iterator<Item = u32> + '_ {
        self.select.iter().enumerate().flat_map(|(i, byte)| {
            (0..8u32)
                .filter(move |bit| byte & (1 << bit) != 0)
                .map(move |bit| (i as u32) * 8 + bit)
        })
    }
}

/// TPML_PCR_SELECTION: banks in list order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PcrSelection {
    /// The banks, in the order the TPM hashed them.
    pub banks: Vec<PcrBankSelection>,
}

impl PcrSelection {
    /// Every selected (register, bank), in the order their values enter pcrDigest: banks in list
    /// order, PCRs ascending within a bank.
    pub fn registers(&self) -> impl Iterator<Item = (MrId, HashAlg)> + '_ {
        self.banks
            .iter()
            .flat_map(|b| b.pcrs().map(move |p| (MrId::Pcr(p), b.alg)))
    }

    /// Every selected (PCR index, bank), in pcrDigest order.
    pub fn pcrs(&self) -> impl Iterator<Item = (u32, HashAlg)> + '_ {
        self.banks
            .iter()
            .flat_map(|b| b.pcrs().map(move |p| (p, b.alg)))
    }

    /// Number of selected (register, bank) pairs.
    pub fn len(&self) -> usize {
        self.registers().count()
    }

    /// True when no PCR is selected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<PcrSelection, Error> {
        let at = r.offset();
        let count = r.u32_be("TPML_PCR_SELECTION count")?;
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count > MAX_PCR_BANKS {
            return Err(malformed(
                "TPML_PCR_SELECTION count",
                at,
                ParseErrorKind::LengthTooLarge {
                    len: count as u64,
                    max: MAX_PCR_BANKS as u64,
                },
            ));
        }
        let mut banks = Vec::with_capacity(count);
        for _ in 0..count {
            let id = r.u16_be("TPMS_PCR_SELECTION hash")?;
            let size_at = r.offset();
            let size = usize::from(r.u8("TPMS_PCR_SELECTION sizeofSelect")?);
            if size > MAX_PCR_SELECT_SIZE {
                return Err(malformed(
                    "TPMS_PCR_SELECTION sizeofSelect",
                    size_at,
                    ParseErrorKind::LengthTooLarge {
                        len: size as u64,
                        max: MAX_PCR_SELECT_SIZE as u64,
                    },
                ));
            }
            let select = r.take(size, "TPMS_PCR_SELECTION pcrSelect")?.to_vec();
            let Some(alg) = HashAlg::from_tcg_id(id) else {
                return Err(Error::UnsupportedAlgorithm {
                    what: "PCR bank",
                    id,
                });
            };
            banks.push(PcrBankSelection { alg, select });
        }
        Ok(PcrSelection { banks })
    }

    pub(crate) fn marshal(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.banks.len() as u32).to_be_bytes());
        for b in &self.banks {
            out.extend_from_slice(&b.alg.tcg_id().to_be_bytes());
            out.push(b.select.len() as u8);
            out.extend_from_slice(&b.select);
        }
    }
}

/// TPMS_QUOTE_INFO: the PCR selection and the digest of the selected values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteInfo {
    /// The quoted PCRs.
    pub pcr_select: PcrSelection,
    /// `H_scheme(selected values in selection order)`.
    pub pcr_digest: Vec<u8>,
}

/// The type-specific part of TPMS_ATTEST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attested {
    /// TPM_ST_ATTEST_QUOTE.
    Quote(QuoteInfo),
    /// Any other attestation type (certify, time, audit...): kept as raw bytes.
    Other {
        /// The TPM_ST_ATTEST_* value.
        attest_type: u16,
        /// The bytes of the TPMU_ATTEST member.
        bytes: Vec<u8>,
    },
}

/// A parsed TPMS_ATTEST. Parsing checks structure only; magic, type, signature and nonce are
/// checked by [`crate::verify_quote`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attest {
    /// Should be [`TPM_GENERATED_VALUE`].
    pub magic: u32,
    /// Qualified Name of the signing key (TPM2B_NAME contents).
    pub qualified_signer: Vec<u8>,
    /// The caller's nonce (TPM2B_DATA contents).
    pub extra_data: Vec<u8>,
    /// Clock, reset and restart counters.
    pub clock_info: ClockInfo,
    /// TPM firmware version (obfuscated for keys outside the endorsement/platform hierarchies).
    pub firmware_version: u64,
    /// The quote info, or another type's raw bytes.
    pub attested: Attested,
}

impl Attest {
    /// Parse a TPMS_ATTEST (exactly: trailing bytes are an error). For a TPM2B_ATTEST use
    /// [`tpms_attest_bytes`] first.
    pub fn parse(bytes: &[u8]) -> Result<Attest, Error> {
        if bytes.len() > MAX_ATTEST_SIZE {
            return Err(malformed(
                "TPMS_ATTEST",
                0,
                ParseErrorKind::LengthTooLarge {
                    len: bytes.len() as u64,
                    max: MAX_ATTEST_SIZE as u64,
                },
            ));
        }
        let mut r = reader(bytes);
        let magic = r.u32_be("TPMS_ATTEST magic")?;
        let attest_type = r.u16_be("TPMS_ATTEST type")?;
        let qualified_signer = r
            .tpm2b("TPM2B_NAME qualifiedSigner", MAX_NAME_SIZE)?
            .to_vec();
        let extra_data = r.tpm2b("TPM2B_DATA extraData", MAX_DATA_SIZE)?.to_vec();
        let clock = r.u64_be("TPMS_CLOCK_INFO clock")?;
        let reset_count = r.u32_be("TPMS_CLOCK_INFO resetCount")?;
        let restart_count = r.u32_be("TPMS_CLOCK_INFO restartCount")?;
        let safe_at = r.offset();
        let safe = match r.u8("TPMS_CLOCK_INFO safe")? {
            0 => false,
            1 => true,
            _ => {
                return Err(malformed(
                    "TPMS_CLOCK_INFO safe",
                    safe_at,
                    ParseErrorKind::Invalid("TPMI_YES_NO is neither 0 nor 1".into()),
                ))
            }
        };
        let firmware_version = r.u64_be("TPMS_ATTEST firmwareVersion")?;
        let attested = if attest_type == TPM_ST_ATTEST_QUOTE {
            let pcr_select = PcrSelection::parse(&mut r)?;
            let pcr_digest = r.tpm2b("TPM2B_DIGEST pcrDigest", MAX_DIGEST_SIZE)?.to_vec();
            r.finish("TPMS_QUOTE_INFO")?;
            Attested::Quote(QuoteInfo {
                pcr_select,
                pcr_digest,
            })
        } else {
            let rest = r.remaining();
            Attested::Other {
                attest_type,
                bytes: r.take(rest, "TPMU_ATTEST")?.to_vec(),
            }
        };
        Ok(Attest {
            magic,
            qualified_signer,
            extra_data,
            clock_info: ClockInfo {
                clock,
                reset_count,
                restart_count,
                safe,
            },
            firmware_version,
            attested,
        })
    }

    /// The TPM_ST_ATTEST_* type.
    pub fn attest_type(&self) -> u16 {
        match &self.attested {
            Attested::Quote(_) => TPM_ST_ATTEST_QUOTE,
            Attested::Other { attest_type, .. } => *attest_type,
        }
    }

    /// The quote info, when this is a quote.
    pub fn quote_info(&self) -> Option<&QuoteInfo> {
        match &self.attested {
            Attested::Quote(q) => Some(q),
            Attested::Other { .. } => None,
        }
    }

    /// Marshal back to TPMS_ATTEST bytes (byte-exact for anything [`Attest::parse`] accepted).
    pub fn marshal(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&self.magic.to_be_bytes());
        out.extend_from_slice(&self.attest_type().to_be_bytes());
        put_tpm2b(&mut out, &self.qualified_signer);
        put_tpm2b(&mut out, &self.extra_data);
        out.extend_from_slice(&self.clock_info.clock.to_be_bytes());
        out.extend_from_slice(&self.clock_info.reset_count.to_be_bytes());
        out.extend_from_slice(&self.clock_info.restart_count.to_be_bytes());
        out.push(u8::from(self.clock_info.safe));
        out.extend_from_slice(&self.firmware_version.to_be_bytes());
        match &self.attested {
            Attested::Quote(q) => {
                q.pcr_select.marshal(&mut out);
                put_tpm2b(&mut out, &q.pcr_digest);
            }
            Attested::Other { bytes, .. } => out.extend_from_slice(bytes),
        }
        out
    }
}

/// The TPMS_ATTEST inside `input`: `input` itself, or its contents when `input` is a
/// TPM2B_ATTEST (`u16 size || TPMS_ATTEST`, as some tools save it).
pub fn tpms_attest_bytes(input: &[u8]) -> &[u8] {
    let magic = TPM_GENERATED_VALUE.to_be_bytes();
    if input.starts_with(&magic) {
        return input;
    }
    match input.split_first_chunk::<2>() {
        Some((size, rest))
            if usize::from(u16::from_be_bytes(*size)) == rest.len() && rest.starts_with(&magic) =>
        {
            rest
        }
        _ => input,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn selection_bitmap_is_lsb_first() {
        let s = PcrBankSelection::new(HashAlg::Sha256, &[0, 7, 10, 23]);
        assert_eq!(s.select, vec![0x81, 0x04, 0x80]);
        assert_eq!(s.pcrs().collect::<Vec<_>>(), vec![0, 7, 10, 23]);
    }

    #[test]
    fn strips_a_tpm2b_attest_wrapper() {
        let tpms = [0xff, 0x54, 0x43, 0x47, 0x80, 0x18];
        let mut tpm2b = vec![0, 6];
        tpm2b.extend_from_slice(&tpms);
        assert_eq!(tpms_attest_bytes(&tpm2b), &tpms);
        assert_eq!(tpms_attest_bytes(&tpms), &tpms);
    }
}
