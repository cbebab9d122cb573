//! The Spec ID event (`TCG_EfiSpecIDEvent`, "Spec ID Event03") that opens a crypto-agile log and
//! gives the algorithm / digest-size table every later record is read with.
//!
//! Layout: TCG PC Client Platform Firmware Profile, "TCG_EfiSpecIdEvent" (docs/formats.md#pc-client-log); all
//! integers little-endian.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::alg::{HashAlg, MAX_DIGEST_SIZE};
use crate::error::{Error, ParseErrorKind};

use super::{perr, UnknownAlgorithms, MAX_ALGORITHMS};
use crate::wire::Reader;

/// Signature of the crypto-agile Spec ID event (16 bytes, NUL-terminated).
pub const SPEC_ID_SIGNATURE: &[u8; 16] = b"Spec ID Event03\0";

/// One entry of the Spec ID event's algorithm table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlgorithmSize {
    /// The `TPM_ALG_ID`.
    pub alg_id: u16,
    /// The digest size the log uses for it.
    pub digest_size: u16,
    /// The algorithm, when mr supports it (`None` only with [`UnknownAlgorithms::Skip`]).
    pub alg: Option<HashAlg>,
}

/// The Spec ID event of a crypto-agile log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecIdEvent<'a> {
    /// `platformClass` (0 client, 1 server).
    pub platform_class: u32,
    /// `specVersionMinor`.
    pub spec_version_minor: u8,
    /// `specVersionMajor` (2 for TPM 2.0 logs).
    pub spec_version_major: u8,
    /// `specErrata`.
    pub spec_errata: u8,
    /// `uintnSize` (1 = 32-bit UINTN, 2 = 64-bit).
    pub uintn_size: u8,
    /// The algorithm table, in log order (at most [`MAX_ALGORITHMS`] entries).
    pub algorithms: Vec<AlgorithmSize>,
    /// `vendorInfo`.
    pub vendor_info: &'a [u8],
}

impl SpecIdEvent<'_> {
    /// The banks of the log that mr can replay, in table order.
    pub fn banks(&self) -> Vec<HashAlg> {
        self.algorithms.iter().filter_map(|a| a.alg).collect()
    }

    /// The table entry for `alg_id`.
    pub fn entry(&self, alg_id: u16) -> Option<&AlgorithmSize> {
        self.algorithms.iter().find(|a| a.alg_id == alg_id)
    }

    /// Parse the event data of the first record (the whole of `r`, which must be used up).
    pub(crate) fn parse<'a>(
        r: &mut Reader<'a>,
        unknown: UnknownAlgorithms,
    ) -> Result<SpecIdEvent<'a>, Error> {
        const S: &str = "spec id event";
        let format = r.format();
        let at = r.offset();
        let e = |offset, kind| perr(format, S, offset, Some(0), kind);
        let signature: [u8; 16] = r.array(S)?;
        if &signature != SPEC_ID_SIGNATURE {
            return Err(e(
                at,
                ParseErrorKind::Invalid("signature is not \"Spec ID Event03\"".into()),
            ));
        }
        let platform_class = r.u32_le(S)?;
        let [spec_version_minor, spec_version_major, spec_errata, uintn_size] = r.array::<4>(S)?;
        let at = r.offset();
        let count = r.u32_le(S)?;
        if count == 0 {
            return Err(e(
                at,
                ParseErrorKind::Invalid("numberOfAlgorithms is 0".into()),
            ));
        }
        if count > MAX_ALGORITHMS {
            return Err(e(
                at,
                ParseErrorKind::LengthTooLarge {
                    len: u64::from(count),
                    max: u64::from(MAX_ALGORITHMS),
                },
            ));
        }
        // Bounded by MAX_ALGORITHMS, and each entry must be present in the input.
        let mut algorithms: Vec<AlgorithmSize> = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let at = r.offset();
            let alg_id = r.u16_le(S)?;
            let digest_size = r.u16_le(S)?;
            if algorithms.iter().any(|a| a.alg_id == alg_id) {
                return Err(e(
                    at,
                    ParseErrorKind::Invalid(format!("algorithm {alg_id:#06x} listed twice")),
                ));
            }
            let alg = match HashAlg::from_tcg_id(alg_id) {
                Some(alg) => {
                    if usize::from(digest_size) != alg.size() {
                        return Err(e(
                            at.saturating_add(2),
                            ParseErrorKind::Invalid(format!(
                                "digest size {digest_size} for {alg}, which has {} bytes",
                                alg.size()
                            )),
                        ));
                    }
                    Some(alg)
                }
                None => {
                    if unknown == UnknownAlgorithms::Reject {
                        return Err(e(
                            at,
                            ParseErrorKind::UnknownAlgorithm(format!("{alg_id:#06x}")),
                        ));
                    }
                    if digest_size == 0 || usize::from(digest_size) > MAX_DIGEST_SIZE {
                        return Err(e(
                            at.saturating_add(2),
                            ParseErrorKind::LengthTooLarge {
                                len: u64::from(digest_size),
                                max: MAX_DIGEST_SIZE as u64,
                            },
                        ));
                    }
                    None
                }
            };
            algorithms.push(AlgorithmSize {
                alg_id,
                digest_size,
                alg,
            });
        }
        let vendor_size = r.u8(S)?;
        let vendor_info = r.take(usize::from(vendor_size), S)?;
        if !r.is_empty() {
            return Err(e(
                r.offset(),
                ParseErrorKind::Invalid(format!("{} bytes after vendorInfo", r.remaining())),
            ));
        }
        Ok(SpecIdEvent {
            platform_class,
            spec_version_minor,
            spec_version_major,
            spec_errata,
            uintn_size,
            algorithms,
            vendor_info,
        })
    }
}
