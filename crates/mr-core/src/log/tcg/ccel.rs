//! The CC Event Log (CCEL): the ACPI table that locates it, and replay of its log area into
//! TDX RTMRs.
//!
//! ACPI 6.5 "CC Event Log ACPI Table" (SPECS §10), 56 bytes, little-endian:
//! the 36-byte ACPI header (signature `"CCEL"` @0, length @4, revision @8, checksum @9, OEM ID @10,
//! OEM table ID @16, OEM revision @24, creator ID @28, creator revision @32), CC type @36
//! (1 SEV, 2 TDX), CC subtype @37, reserved u16 @38, LAML (log area minimum length) u64 @40,
//! LASA (log area start address) u64 @48. Linux exposes the table at
//! `/sys/firmware/acpi/tables/CCEL` and the log area at `/sys/firmware/acpi/tables/data/CCEL`.
//!
//! The log area is a crypto-agile TCG log ([`super`]) whose `pcrIndex` is a CC measurement
//! register index: 0 = MRTD (never extended), n = 1..=4 ↦ RTMR n-1 ([`MrId::from_cc_mr_index`]).
//! Digests are SHA-384. The area after the last record is 0xFF padding.
//!
//! [`MrId::from_cc_mr_index`]: crate::register::MrId::from_cc_mr_index

use std::fmt;

use crate::error::{Error, ParseErrorKind};
use crate::trust::Reference;

use super::reader::Reader;
use super::{perr, replay_as, short, TcgReplayConfig, TcgReplayReport};

/// Size of the CCEL ACPI table.
pub const CCEL_TABLE_SIZE: usize = 56;

/// The table's ACPI signature.
pub const CCEL_SIGNATURE: &[u8; 4] = b"CCEL";

/// Largest log area accepted (LAML), 64 MiB: firmware reserves 64-256 KiB in practice.
pub const MAX_CCEL_LOG_AREA: u64 = 64 << 20;

const FORMAT: &str = "ccel";

/// A confidential-computing technology (`CC type` field).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CcType(pub u8);

impl CcType {
    /// 0: reserved.
    pub const RESERVED: CcType = CcType(0);
    /// 1: AMD SEV.
    pub const SEV: CcType = CcType(1);
    /// 2: Intel TDX.
    pub const TDX: CcType = CcType(2);

    /// The name of a known type.
    pub fn name(self) -> Option<&'static str> {
        match self.0 {
            0 => Some("reserved"),
            1 => Some("SEV"),
            2 => Some("TDX"),
            _ => None,
        }
    }
}

impl fmt::Debug for CcType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "CcType({})", self.0),
        }
    }
}

impl fmt::Display for CcType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The CCEL ACPI table, parsed and validated (signature, length, checksum, CC type, LAML).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CcelTable {
    /// ACPI `Length` (56).
    pub length: u32,
    /// ACPI `Revision`.
    pub revision: u8,
    /// OEM ID.
    pub oem_id: [u8; 6],
    /// OEM table ID.
    pub oem_table_id: [u8; 8],
    /// OEM revision.
    pub oem_revision: u32,
    /// Creator ID.
    pub creator_id: [u8; 4],
    /// Creator revision.
    pub creator_revision: u32,
    /// The CC technology.
    pub cc_type: CcType,
    /// The CC subtype.
    pub cc_subtype: u8,
    /// LAML: length of the log area in bytes.
    pub log_area_min_len: u64,
    /// LASA: guest-physical start address of the log area.
    pub log_area_start: u64,
}

impl CcelTable {
    /// Parse and validate the 56-byte table.
    pub fn parse(bytes: &[u8]) -> Result<CcelTable, Error> {
        let e = |offset: u64, kind| perr(FORMAT, "ccel acpi table", offset, None, kind);
        if bytes.is_empty() {
            return Err(e(0, ParseErrorKind::Empty));
        }
        let mut r = Reader::new(bytes);
        fn field<'a>(r: &mut Reader<'a>, n: usize) -> Result<&'a [u8], Error> {
            let at = r.offset();
            r.take(n)
                .map_err(|s| perr(FORMAT, "ccel acpi table", at, None, short(s)))
        }
        let sig = field(&mut r, 4)?;
        if sig != CCEL_SIGNATURE {
            return Err(e(
                0,
                ParseErrorKind::Invalid(format!("signature {sig:02x?} is not \"CCEL\"")),
            ));
        }
        let le32 = |b: &[u8]| b.try_into().map(u32::from_le_bytes).unwrap_or_default();
        let length = le32(field(&mut r, 4)?);
        if length as usize != CCEL_TABLE_SIZE {
            return Err(e(
                4,
                ParseErrorKind::Invalid(format!(
                    "table length {length}, expected {CCEL_TABLE_SIZE}"
                )),
            ));
        }
        if bytes.len() != CCEL_TABLE_SIZE {
            return Err(e(
                bytes.len().min(CCEL_TABLE_SIZE) as u64,
                ParseErrorKind::Invalid(format!(
                    "{} bytes given for a {CCEL_TABLE_SIZE}-byte table",
                    bytes.len()
                )),
            ));
        }
        let sum = bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        if sum != 0 {
            return Err(e(
                9,
                ParseErrorKind::Invalid(format!("ACPI checksum fails (sum {sum:#04x})")),
            ));
        }
        let revision = field(&mut r, 1)?.first().copied().unwrap_or_default();
        let _checksum = field(&mut r, 1)?;
        let mut oem_id = [0u8; 6];
        oem_id.copy_from_slice(field(&mut r, 6)?);
        let mut oem_table_id = [0u8; 8];
        oem_table_id.copy_from_slice(field(&mut r, 8)?);
        let oem_revision = le32(field(&mut r, 4)?);
        let mut creator_id = [0u8; 4];
        creator_id.copy_from_slice(field(&mut r, 4)?);
        let creator_revision = le32(field(&mut r, 4)?);
        let cc_type = CcType(field(&mut r, 1)?.first().copied().unwrap_or_default());
        if cc_type == CcType::RESERVED {
            return Err(e(
                36,
                ParseErrorKind::Invalid("CC type 0 (reserved)".into()),
            ));
        }
        let cc_subtype = field(&mut r, 1)?.first().copied().unwrap_or_default();
        let _reserved = field(&mut r, 2)?;
        let log_area_min_len = r.u64().map_err(|s| e(40, short(s)))?;
        if log_area_min_len == 0 || log_area_min_len > MAX_CCEL_LOG_AREA {
            return Err(e(
                40,
                ParseErrorKind::LengthTooLarge {
                    len: log_area_min_len,
                    max: MAX_CCEL_LOG_AREA,
                },
            ));
        }
        let log_area_start = r.u64().map_err(|s| e(48, short(s)))?;
        Ok(CcelTable {
            length,
            revision,
            oem_id,
            oem_table_id,
            oem_revision,
            creator_id,
            creator_revision,
            cc_type,
            cc_subtype,
            log_area_min_len,
            log_area_start,
        })
    }

    /// The log area within `area` (a copy of the memory at LASA): its first LAML bytes, or all
    /// of it when the copy is shorter.
    pub fn log_area<'a>(&self, area: &'a [u8]) -> &'a [u8] {
        let n = usize::try_from(self.log_area_min_len).unwrap_or(usize::MAX);
        area.get(..n).unwrap_or(area)
    }
}

/// Replay a CCEL log area into RTMRs (SHA-384), against the values of `reference` (see
/// [`crate::trust`]).
///
/// With `table`, the table must describe a TDX log, and the log is bounded by its LAML. `cfg`
/// is normally [`TcgReplayConfig::ccel`] (padding allowed, CC MR indexes).
pub fn replay<R: Reference>(
    log_area: &[u8],
    table: Option<&CcelTable>,
    cfg: &TcgReplayConfig,
    reference: &R,
) -> Result<R::Outcome<TcgReplayReport>, Error> {
    let log = match table {
        Some(t) => {
            if t.cc_type != CcType::TDX {
                return Err(perr(
                    FORMAT,
                    "ccel acpi table",
                    36,
                    None,
                    ParseErrorKind::Invalid(format!("CC type {} is not TDX", t.cc_type)),
                ));
            }
            t.log_area(log_area)
        }
        None => log_area,
    };
    replay_as(log, cfg, reference.expected(), FORMAT).map(|r| reference.outcome(r))
}
