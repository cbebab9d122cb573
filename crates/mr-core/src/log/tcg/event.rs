//! TCG PC-Client event types and parsed event records.
//!
//! Event types: TCG PC Client Platform Firmware Profile (PFP) specification, "Event Types"
//! table (docs/formats.md#pc-client-log); the values are the ones in EDK2 `UefiTcgPlatform.h`.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::fmt;

use crate::alg::{Digest, HashAlg};

/// A TCG event type (`UINT32 eventType`). Unknown values are kept, never refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(pub u32);

macro_rules! event_types {
    ($($(#[$doc:meta])* $name:ident = $value:expr,)*) => {
        impl EventType {
            $($(#[$doc])* pub const $name: EventType = EventType($value);)*

            /// The PFP name of a known event type (`EV_SEPARATOR`), `None` for other values.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// The event type a PFP name names, in any case (`EV_SEPARATOR`, `ev_no_action`).
            pub fn from_name(name: &str) -> Option<EventType> {
                $(if name.eq_ignore_ascii_case(stringify!($name)) {
                    return Some(EventType($value));
                })*
                None
            }
        }
    };
}

event_types! {
    /// `EV_PREBOOT_CERT` (deprecated).
    EV_PREBOOT_CERT = 0x0000_0000,
    /// `EV_POST_CODE`: POST code, BIOS image.
    EV_POST_CODE = 0x0000_0001,
    /// `EV_UNUSED`.
    EV_UNUSED = 0x0000_0002,
    /// `EV_NO_ACTION`: informational, never extended (Spec ID header, StartupLocality, …).
    EV_NO_ACTION = 0x0000_0003,
    /// `EV_SEPARATOR`: end of pre-OS measurements into a PCR.
    EV_SEPARATOR = 0x0000_0004,
    /// `EV_ACTION`: an action string.
    EV_ACTION = 0x0000_0005,
    /// `EV_EVENT_TAG`: a tagged event (Linux EFI stub initrd / load options).
    EV_EVENT_TAG = 0x0000_0006,
    /// `EV_S_CRTM_CONTENTS`.
    EV_S_CRTM_CONTENTS = 0x0000_0007,
    /// `EV_S_CRTM_VERSION`.
    EV_S_CRTM_VERSION = 0x0000_0008,
    /// `EV_CPU_MICROCODE`.
    EV_CPU_MICROCODE = 0x0000_0009,
    /// `EV_PLATFORM_CONFIG_FLAGS`.
    EV_PLATFORM_CONFIG_FLAGS = 0x0000_000A,
    /// `EV_TABLE_OF_DEVICES`.
    EV_TABLE_OF_DEVICES = 0x0000_000B,
    /// `EV_COMPACT_HASH`.
    EV_COMPACT_HASH = 0x0000_000C,
    /// `EV_IPL`: initial program loader code or data.
    EV_IPL = 0x0000_000D,
    /// `EV_IPL_PARTITION_DATA`.
    EV_IPL_PARTITION_DATA = 0x0000_000E,
    /// `EV_NONHOST_CODE`.
    EV_NONHOST_CODE = 0x0000_000F,
    /// `EV_NONHOST_CONFIG`.
    EV_NONHOST_CONFIG = 0x0000_0010,
    /// `EV_NONHOST_INFO`.
    EV_NONHOST_INFO = 0x0000_0011,
    /// `EV_OMIT_BOOT_DEVICE_EVENTS`.
    EV_OMIT_BOOT_DEVICE_EVENTS = 0x0000_0012,
    /// `EV_EFI_EVENT_BASE`.
    EV_EFI_EVENT_BASE = 0x8000_0000,
    /// `EV_EFI_VARIABLE_DRIVER_CONFIG`: a UEFI variable (SecureBoot, PK, KEK, db, dbx).
    EV_EFI_VARIABLE_DRIVER_CONFIG = 0x8000_0001,
    /// `EV_EFI_VARIABLE_BOOT`: a boot variable (BootOrder, Boot####).
    EV_EFI_VARIABLE_BOOT = 0x8000_0002,
    /// `EV_EFI_BOOT_SERVICES_APPLICATION`: a loaded UEFI application.
    EV_EFI_BOOT_SERVICES_APPLICATION = 0x8000_0003,
    /// `EV_EFI_BOOT_SERVICES_DRIVER`.
    EV_EFI_BOOT_SERVICES_DRIVER = 0x8000_0004,
    /// `EV_EFI_RUNTIME_SERVICES_DRIVER`.
    EV_EFI_RUNTIME_SERVICES_DRIVER = 0x8000_0005,
    /// `EV_EFI_GPT_EVENT`: the GPT header and entries.
    EV_EFI_GPT_EVENT = 0x8000_0006,
    /// `EV_EFI_ACTION`: an action string ("Exit Boot Services Invocation", …).
    EV_EFI_ACTION = 0x8000_0007,
    /// `EV_EFI_PLATFORM_FIRMWARE_BLOB`.
    EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x8000_0008,
    /// `EV_EFI_HANDOFF_TABLES`.
    EV_EFI_HANDOFF_TABLES = 0x8000_0009,
    /// `EV_EFI_PLATFORM_FIRMWARE_BLOB2`.
    EV_EFI_PLATFORM_FIRMWARE_BLOB2 = 0x8000_000A,
    /// `EV_EFI_HANDOFF_TABLES2`.
    EV_EFI_HANDOFF_TABLES2 = 0x8000_000B,
    /// `EV_EFI_VARIABLE_BOOT2`.
    EV_EFI_VARIABLE_BOOT2 = 0x8000_000C,
    /// `EV_EFI_GPT_EVENT2`.
    EV_EFI_GPT_EVENT2 = 0x8000_000D,
    /// `EV_EFI_HCRTM_EVENT`: the H-CRTM measurement (data `"HCRTM"`); PCR 0 was started at
    /// locality 4 by `_TPM_Hash_Start`.
    EV_EFI_HCRTM_EVENT = 0x8000_0010,
    /// `EV_EFI_VARIABLE_AUTHORITY`: the db entry that authorised an image.
    EV_EFI_VARIABLE_AUTHORITY = 0x8000_00E0,
    /// `EV_EFI_SPDM_FIRMWARE_BLOB`.
    EV_EFI_SPDM_FIRMWARE_BLOB = 0x8000_00E1,
    /// `EV_EFI_SPDM_FIRMWARE_CONFIG`.
    EV_EFI_SPDM_FIRMWARE_CONFIG = 0x8000_00E2,
    /// `EV_EFI_SPDM_DEVICE_POLICY` (EDK2).
    EV_EFI_SPDM_DEVICE_POLICY = 0x8000_00E3,
    /// `EV_EFI_SPDM_DEVICE_AUTHORITY` (EDK2).
    EV_EFI_SPDM_DEVICE_AUTHORITY = 0x8000_00E4,
}

impl fmt::Debug for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "EventType({:#010x})", self.0),
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{:#010x}", self.0),
        }
    }
}

/// Signature of the `StartupLocality` EV_NO_ACTION event (PFP `TCG_EfiStartupLocalityEvent`).
pub const STARTUP_LOCALITY_SIGNATURE: &[u8; 16] = b"StartupLocality\0";

/// One record of a TCG log, borrowed from the caller's buffer. **Unverified**: nothing in it is
/// trustworthy until a replay of the whole log reached verified register values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// Record number in the log (0 = the first record, the Spec ID header in crypto-agile logs).
    pub record: u64,
    /// Absolute byte offset of the record in the input.
    pub offset: u64,
    /// The `pcrIndex` field: a PCR number (PC-Client) or a CC measurement-register index (CCEL).
    pub index: u32,
    /// The event type.
    pub event_type: EventType,
    /// The recorded digests, one per bank, in log order (only banks mr knows; see
    /// [`super::ParseOptions::unknown_algorithms`]).
    pub digests: Vec<Digest>,
    /// The event data.
    pub data: &'a [u8],
    /// Absolute byte offset of the event data in the input.
    pub data_offset: u64,
}

impl Event<'_> {
    /// The recorded digest for bank `alg`, if the record has one.
    pub fn digest(&self, alg: HashAlg) -> Option<&Digest> {
        self.digests.iter().find(|d| d.alg() == alg)
    }

    /// True for records that are never extended (`EV_NO_ACTION`).
    pub fn is_no_action(&self) -> bool {
        self.event_type == EventType::EV_NO_ACTION
    }

    /// The locality of a `StartupLocality` event (EV_NO_ACTION on PCR 0 whose data is
    /// `"StartupLocality\0"` followed by one locality byte), `None` for any other record.
    pub fn startup_locality(&self) -> Option<u8> {
        if !self.is_no_action() || self.index != 0 {
            return None;
        }
        match self.data.split_first_chunk::<16>() {
            Some((sig, [locality])) if sig == STARTUP_LOCALITY_SIGNATURE => Some(*locality),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    #[test]
    fn event_types_print_names_or_hex() {
        assert_eq!(EventType::EV_SEPARATOR.to_string(), "EV_SEPARATOR");
        assert_eq!(EventType(0x8000_00E0), EventType::EV_EFI_VARIABLE_AUTHORITY);
        assert_eq!(EventType(0x1234).to_string(), "0x00001234");
        assert_eq!(format!("{:?}", EventType(0x1234)), "EventType(0x00001234)");
        assert_eq!(EventType(0x1234).name(), None);
        assert_eq!(
            EventType::from_name("ev_no_action"),
            Some(EventType::EV_NO_ACTION)
        );
        assert_eq!(
            EventType::from_name("EV_EFI_ACTION"),
            Some(EventType::EV_EFI_ACTION)
        );
        assert_eq!(EventType::from_name("ev_bogus"), None);
    }

    #[test]
    fn recognises_startup_locality_only_in_its_exact_form() {
        let mut data = STARTUP_LOCALITY_SIGNATURE.to_vec();
        data.push(3);
        let mut e = Event {
            record: 1,
            offset: 0,
            index: 0,
            event_type: EventType::EV_NO_ACTION,
            digests: Vec::new(),
            data: &data,
            data_offset: 0,
        };
        assert_eq!(e.startup_locality(), Some(3));
        e.index = 1;
        assert_eq!(e.startup_locality(), None);
        e.index = 0;
        e.event_type = EventType::EV_ACTION;
        assert_eq!(e.startup_locality(), None);
        e.event_type = EventType::EV_NO_ACTION;
        e.data = &data[..16];
        assert_eq!(e.startup_locality(), None);
    }
}
