//! TD attributes (TDATTRIBUTES of the TD report), decoded for verdicts and the DEBUG rule.
//!
//! Bit positions from Intel's TDX module ABI specification (TDATTRIBUTES), as the Linux kernel
//! names them (`arch/x86/include/asm/shared/tdx.h`, `TDX_ATTR_*`).

use std::fmt;

/// Names of the TD attribute bits defined today, by bit position.
const NAMED_BITS: [(u32, &str); 12] = [
    (0, "DEBUG"),
    (4, "HGS_PLUS_PROF"),
    (5, "PERF_PROF"),
    (6, "PMT_PROF"),
    (16, "ICSSD"),
    (27, "LASS"),
    (28, "SEPT_VE_DISABLE"),
    (29, "MIGRATABLE"),
    (30, "PKS"),
    (31, "KL"),
    (62, "TPA"),
    (63, "PERFMON"),
];

/// The 64-bit TD attributes of a TD report (little-endian in the quote). Bit 0, DEBUG, means
/// the host can read and write the TD's memory and registers: nothing the TD measured or
/// reported can be relied on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdAttributes([u8; 8]);

impl TdAttributes {
    /// The attributes as stored in the quote.
    pub fn from_bytes(bytes: [u8; 8]) -> TdAttributes {
        TdAttributes(bytes)
    }

    /// The bytes as stored in the quote.
    pub fn bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// The attributes as a number (bit 0 = DEBUG).
    pub fn bits(&self) -> u64 {
        u64::from_le_bytes(self.0)
    }

    /// DEBUG (bit 0): a debug TD.
    pub fn is_debug(&self) -> bool {
        self.bits() & 1 != 0
    }

    /// The names of the bits that are set, lowest first; a set bit without a name is `BIT<n>`.
    pub fn names(&self) -> Vec<String> {
        let bits = self.bits();
        (0..64u32)
            .filter(|i| bits >> i & 1 != 0)
            .map(|i| match NAMED_BITS.iter().find(|(b, _)| *b == i) {
                Some((_, name)) => (*name).to_owned(),
                None => format!("BIT{i}"),
            })
            .collect()
    }
}

impl fmt::Display for TdAttributes {
    /// Hex of the quote's bytes, then the names of the set bits: `0000001000000000
    /// (SEPT_VE_DISABLE)`, `0000000000000000 (none)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.names();
        let names = if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        };
        write!(f, "{} ({names})", super::hex(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(bits: u64) -> TdAttributes {
        TdAttributes::from_bytes(bits.to_le_bytes())
    }

    #[test]
    fn a_real_quote_s_attributes_decode_to_sept_ve_disable() {
        // dcap-qvl's sample TD quote: td_attributes 0000001000000000 (bit 28).
        let a = TdAttributes::from_bytes([0, 0, 0, 0x10, 0, 0, 0, 0]);
        assert_eq!(a.bits(), 1 << 28);
        assert!(!a.is_debug());
        assert_eq!(a.names(), ["SEPT_VE_DISABLE"]);
        assert_eq!(a.to_string(), "0000001000000000 (SEPT_VE_DISABLE)");
        assert_eq!(a.bytes(), &[0, 0, 0, 0x10, 0, 0, 0, 0]);
    }

    #[test]
    fn every_named_bit_decodes_to_its_name_and_only_bit_0_is_debug() {
        for (bit, name) in NAMED_BITS {
            let a = attrs(1 << bit);
            assert_eq!(a.names(), [name], "bit {bit}");
            assert_eq!(a.is_debug(), bit == 0, "bit {bit}");
        }
        assert_eq!(attrs(0).to_string(), "0000000000000000 (none)");
        assert!(attrs(0).names().is_empty());
    }

    #[test]
    fn unnamed_bits_are_named_by_position_in_order() {
        let a = attrs(1 | 1 << 1 | 1 << 28 | 1 << 63);
        assert_eq!(a.names(), ["DEBUG", "BIT1", "SEPT_VE_DISABLE", "PERFMON"]);
        assert!(a.is_debug());
        assert_eq!(
            a.to_string(),
            "0300001000000080 (DEBUG, BIT1, SEPT_VE_DISABLE, PERFMON)"
        );
        assert_eq!(attrs(u64::MAX).names().len(), 64);
    }
}
