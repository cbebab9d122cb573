//! Event data of PC-Client records: which digests must equal the hash of their own data
//! ([`DataCheck`]), and the decoded forms of the common event types ([`EventData`]).
//!
//! Event data is untrusted: a replay proves only that the *digests* reach the quoted values. For
//! the event types whose digest the TCG PC Client Platform Firmware Profile (PFP) defines as the
//! hash of the event data itself, re-hashing the data proves the data too; for every other type
//! (images, handoff tables, tagged events, `EV_IPL` strings whose digest covers another buffer,
//! POST code blobs) the data is a description that no verifier can check.
//!
//! Checkable types and the bytes hashed (PFP "Event Types" and "Measuring UEFI variables";
//! EDK2 `Tcg2Dxe MeasureVariable` and `MeasureGptTable`; go-attestation `ParseSecurebootState`,
//! which checks separators, EFI actions, driver-config and authority variables the same way;
//! canonical/tcglog-parser `determineMeasuredBytes`, which adds the GPT event):
//!
//! | type | digest of |
//! |---|---|
//! | `EV_SEPARATOR`, `EV_ACTION`, `EV_EFI_ACTION`, `EV_OMIT_BOOT_DEVICE_EVENTS` | the event data |
//! | `EV_EFI_GPT_EVENT` | the event data (`UEFI_GPT_DATA`: the GPT header and the used entries) |
//! | `EV_EFI_VARIABLE_DRIVER_CONFIG`, `EV_EFI_VARIABLE_BOOT2` | the whole `UEFI_VARIABLE_DATA` (which must be well formed) |
//! | `EV_EFI_VARIABLE_AUTHORITY` | the whole `UEFI_VARIABLE_DATA` |
//! | `EV_EFI_VARIABLE_BOOT` | its `VariableData` (PFP, EDK2) or, as many firmwares do, the whole `UEFI_VARIABLE_DATA` |
//!
//! A third form is recognised but not accepted by a verifier: firmware that measures a Secure
//! Boot variable (`EV_EFI_VARIABLE_DRIVER_CONFIG`) by hashing only its `VariableData` leaves the
//! variable's name unbound ([`DataCheck::ValueOnly`]: refused under
//! [`DataCheckPolicy::Reject`], reported under [`DataCheckPolicy::Report`]).
//!
//! Two forms seen in real logs are accepted, each reported as what was hashed ([`Hashed`]):
//! * `EV_EFI_VARIABLE_BOOT` hashed over the whole structure instead of the value (the
//!   go-attestation `crypto_agile_eventlog`, tpm2-tss `binary_measurements_pc_client`, GTA logs);
//! * shim before commit 8a27a480 logged its `EV_EFI_VARIABLE_AUTHORITY` event with one stray
//!   byte that the digest does not cover (go-attestation issue 157, whose workaround is the same:
//!   hash all but the last byte).
//!
//! Not checkable (the digest covers something else or the PFP does not define it as the data's
//! hash): images (`EV_EFI_BOOT_SERVICES_*`, `EV_EFI_RUNTIME_SERVICES_DRIVER`, digest = PE
//! Authenticode hash), `EV_IPL` (GRUB logs `grub_cmd: ...` but hashes the command alone;
//! systemd-boot logs a UTF-16 description), `EV_EVENT_TAG` (the Linux EFI stub's initrd tag
//! hashes the initrd), `EV_POST_CODE`, handoff tables, H-CRTM, SPDM and platform blobs. In every
//! shared vector `EV_S_CRTM_VERSION` digests also equal the hash of their data (tcglog-parser
//! expects that too), but no verifier rejects on it and the PFP text was not read for it, so it
//! is left unchecked rather than risk rejecting a valid log; the same for
//! `EV_PLATFORM_CONFIG_FLAGS`, `EV_TABLE_OF_DEVICES` and `EV_NONHOST_INFO`.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::alg::{Digest, HashAlg};
use crate::error::{Error, ParseError, ParseErrorKind};

use super::event::{Event, EventType};
use super::perr;
use crate::wire::Reader;

/// Largest UEFI variable name accepted, in UTF-16 code units (names are a few dozen).
pub const MAX_VARIABLE_NAME_UNITS: u64 = 1024;

/// Which bytes of a checkable event its digests were found to hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hashed {
    /// The whole event data (what the PFP defines for the type).
    EventData,
    /// `EV_EFI_VARIABLE_BOOT`: only the `VariableData` of the `UEFI_VARIABLE_DATA` (PFP, EDK2).
    VariableValue,
    /// `EV_EFI_VARIABLE_AUTHORITY` from old shim: all but the last (stray) byte.
    AllButLastByte,
}

/// Bytes tolerated after an `EV_EFI_VARIABLE_AUTHORITY` structure when decoding (old shim
/// logs 6 there, see the module documentation).
const MAX_AUTHORITY_TRAILING: usize = 8;

/// Whether a record's digests equal the hash of its own data.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataCheck {
    /// The event type's digest is the hash of (part of) its data, and every recorded digest of
    /// a known bank equals it.
    Verified(Hashed),
    /// The event type's digest must be the hash of its data, and this bank's is not.
    Mismatch {
        /// The bank.
        alg: HashAlg,
        /// The digest recorded in the log.
        recorded: Digest,
        /// The hash of the data.
        computed: Digest,
    },
    /// An `EV_EFI_VARIABLE_DRIVER_CONFIG` event (a Secure Boot variable) whose digests hash
    /// only its `VariableData`, as some firmware measures them, not the whole
    /// `UEFI_VARIABLE_DATA` the PFP requires: the value is bound to the digests, the
    /// variable's name and GUID are not (the data could name another variable). A failure like
    /// [`DataCheck::Mismatch`]; [`DataCheckPolicy::Report`] (the replay-only mode) replays the
    /// log and reports it as this form.
    ValueOnly {
        /// The bank.
        alg: HashAlg,
        /// The digest recorded in the log (the hash of `VariableData`).
        recorded: Digest,
        /// The hash of the whole `UEFI_VARIABLE_DATA`, which the PFP requires.
        computed: Digest,
    },
    /// The data of a checkable type does not have its required structure (e.g. a
    /// `UEFI_VARIABLE_DATA` whose lengths disagree with the event size), so it cannot be
    /// checked; a verifier treats this as a mismatch.
    Malformed(ParseError),
    /// The digest of this event type is not the hash of its data (or the type is not
    /// extended): nothing to check.
    NotCheckable,
}

impl DataCheck {
    /// True for [`DataCheck::Mismatch`], [`DataCheck::ValueOnly`] and [`DataCheck::Malformed`].
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            DataCheck::Mismatch { .. } | DataCheck::ValueOnly { .. } | DataCheck::Malformed(_)
        )
    }
}

/// What a replay does with a record whose checkable data disagrees with its digest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataCheckPolicy {
    /// Reject the log: the first such record fails the replay (as an entry-digest mismatch),
    /// even when the register values match.
    #[default]
    Reject,
    /// Only report the records ([`super::TcgReplayReport::data_checks`]); for tools that
    /// inspect logs, never for a verifier.
    Report,
}

/// The event types whose digest is the hash of (a part of) their data.
pub fn is_checkable(t: EventType) -> bool {
    matches!(
        t,
        EventType::EV_SEPARATOR
            | EventType::EV_ACTION
            | EventType::EV_EFI_ACTION
            | EventType::EV_OMIT_BOOT_DEVICE_EVENTS
            | EventType::EV_EFI_GPT_EVENT
            | EventType::EV_EFI_VARIABLE_DRIVER_CONFIG
            | EventType::EV_EFI_VARIABLE_BOOT
            | EventType::EV_EFI_VARIABLE_BOOT2
            | EventType::EV_EFI_VARIABLE_AUTHORITY
    )
}

/// A decoded `UEFI_VARIABLE_DATA` (PFP): GUID, name, value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UefiVariable<'a> {
    /// `VariableName`: the vendor GUID, as stored (mixed-endian EFI_GUID bytes).
    pub guid: [u8; 16],
    /// `UnicodeName`, decoded from UTF-16LE (unpaired surrogates become U+FFFD).
    pub name: String,
    /// `VariableData`.
    pub data: &'a [u8],
    /// Bytes after the structure (0 except in old shim's authority events, see the module doc).
    pub trailing: usize,
}

impl UefiVariable<'_> {
    /// The GUID in its canonical text form (`8be4df61-93ca-11d2-aa0d-00e098032b8c`).
    pub fn guid_string(&self) -> String {
        let g = &self.guid;
        format!(
            "{:08x}-{:04x}-{:04x}-{}-{}",
            u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
            u16::from_le_bytes([g[4], g[5]]),
            u16::from_le_bytes([g[6], g[7]]),
            hex::encode(&g[8..10]),
            hex::encode(&g[10..16])
        )
    }
}

/// A decoded `UEFI_IMAGE_LOAD_EVENT` (`EV_EFI_BOOT_SERVICES_APPLICATION`, `..._DRIVER`,
/// `EV_EFI_RUNTIME_SERVICES_DRIVER`). The device path is kept as bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageLoad<'a> {
    /// `ImageLocationInMemory`.
    pub location: u64,
    /// `ImageLengthInMemory`.
    pub length: u64,
    /// `ImageLinkTimeAddress`.
    pub link_time_address: u64,
    /// `DevicePath` (an `EFI_DEVICE_PATH_PROTOCOL` list), undecoded.
    pub device_path: &'a [u8],
    /// Bytes after the device path (some firmwares log a zero `LengthOfDevicePath` followed by
    /// a few bytes; kept, not interpreted).
    pub trailing: &'a [u8],
}

/// The decoded event data of the common event types; other types are [`EventData::Raw`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventData<'a> {
    /// `EV_SEPARATOR`: 0 (normal) or 0xFFFFFFFF (error), little-endian u32.
    Separator(u32),
    /// `EV_ACTION` / `EV_EFI_ACTION`: an ASCII string (bytes as logged).
    Action(&'a [u8]),
    /// `EV_EFI_VARIABLE_*`.
    Variable(UefiVariable<'a>),
    /// `EV_IPL`: a description (boot loader command line, file name), bytes as logged.
    Ipl(&'a [u8]),
    /// `EV_EVENT_TAG`: `TCG_PCClientTaggedEvent`.
    Tagged {
        /// `taggedEventID` (Linux EFI stub: 0x8F3B22EC initrd, 0x8F3B22ED load options).
        id: u32,
        /// `taggedEventData`.
        data: &'a [u8],
    },
    /// `EV_EFI_BOOT_SERVICES_APPLICATION` / `_DRIVER`, `EV_EFI_RUNTIME_SERVICES_DRIVER`.
    ImageLoad(ImageLoad<'a>),
    /// Any other type: the data as logged.
    Raw(&'a [u8]),
}

fn bad(e: &Event<'_>, at: u64, kind: ParseErrorKind) -> Error {
    perr(FORMAT, "event data", at, Some(e.record), kind)
}

const FORMAT: &str = "tcg log";

/// A reader over the event data of `e` (absolute offsets, the record named in errors).
fn data_reader<'a>(e: &Event<'a>) -> Reader<'a> {
    let mut r = Reader::at(FORMAT, e.data, e.data_offset);
    r.set_entry(Some(e.record));
    r
}

/// Decode a `UEFI_VARIABLE_DATA`, allowing `max_trailing` bytes after it.
fn decode_variable<'a>(
    e: &Event<'a>,
    data_offset: u64,
    max_trailing: usize,
) -> Result<UefiVariable<'a>, Error> {
    const S: &str = "event data";
    let mut r = data_reader(e);
    let guid: [u8; 16] = r.array(S)?;
    let name_units = r.u64_le(S)?;
    let data_len = r.u64_le(S)?;
    if name_units > MAX_VARIABLE_NAME_UNITS {
        return Err(bad(
            e,
            data_offset.saturating_add(16),
            ParseErrorKind::LengthTooLarge {
                len: name_units,
                max: MAX_VARIABLE_NAME_UNITS,
            },
        ));
    }
    let remaining = r.remaining() as u64;
    if data_len > remaining {
        return Err(bad(
            e,
            data_offset.saturating_add(24),
            ParseErrorKind::LengthTooLarge {
                len: data_len,
                max: remaining,
            },
        ));
    }
    // name_units <= MAX_VARIABLE_NAME_UNITS, so the product cannot overflow.
    let name_bytes = r.bytes(name_units.saturating_mul(2), u64::MAX, S)?;
    let value = r.bytes(data_len, remaining, S)?;
    let trailing = r.remaining();
    if trailing > max_trailing {
        return Err(bad(
            e,
            r.offset(),
            ParseErrorKind::Invalid(format!("{trailing} bytes after UEFI_VARIABLE_DATA")),
        ));
    }
    let units = name_bytes
        .chunks_exact(2)
        .map(|c| c.first_chunk().map_or(0, |b| u16::from_le_bytes(*b)));
    let name: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    Ok(UefiVariable {
        guid,
        name,
        data: value,
        trailing,
    })
}

/// Size of a UINTN in bytes for a Spec ID `uintnSize` (1 = 32-bit, 2 = 64-bit; legacy logs and
/// other values: 64-bit).
pub(crate) fn uintn_bytes(uintn_size: Option<u8>) -> usize {
    match uintn_size {
        Some(1) => 4,
        _ => 8,
    }
}

impl<'a> Event<'a> {
    /// Decode the event data of the common types (see [`EventData`]). `uintn_size` is the Spec
    /// ID event's `uintnSize` (`None` for legacy logs: 64-bit). Errors name the record and the
    /// byte offset. The result is untrusted unless [`Event::data_check`] is
    /// [`DataCheck::Verified`] and the log replayed to verified values.
    pub fn decode(&self, uintn_size: Option<u8>) -> Result<EventData<'a>, Error> {
        let at = self.data_offset;
        Ok(match self.event_type {
            EventType::EV_SEPARATOR => match self.data.first_chunk::<4>() {
                Some(b) if self.data.len() == 4 => EventData::Separator(u32::from_le_bytes(*b)),
                _ => {
                    return Err(bad(
                        self,
                        at,
                        ParseErrorKind::Invalid(format!(
                            "separator data is {} bytes (must be 4)",
                            self.data.len()
                        )),
                    ))
                }
            },
            EventType::EV_ACTION | EventType::EV_EFI_ACTION => EventData::Action(self.data),
            EventType::EV_EFI_VARIABLE_DRIVER_CONFIG
            | EventType::EV_EFI_VARIABLE_BOOT
            | EventType::EV_EFI_VARIABLE_BOOT2 => {
                EventData::Variable(decode_variable(self, at, 0)?)
            }
            EventType::EV_EFI_VARIABLE_AUTHORITY => {
                EventData::Variable(decode_variable(self, at, MAX_AUTHORITY_TRAILING)?)
            }
            EventType::EV_IPL => EventData::Ipl(self.data),
            EventType::EV_EVENT_TAG => {
                const S: &str = "event data";
                let mut r = data_reader(self);
                let id = r.u32_le(S)?;
                let len = r.u32_le(S)?;
                let data = r.bytes(u64::from(len), u64::from(u32::MAX), S)?;
                if !r.is_empty() {
                    return Err(bad(
                        self,
                        r.offset(),
                        ParseErrorKind::Invalid(format!(
                            "{} bytes after the tagged event data",
                            r.remaining()
                        )),
                    ));
                }
                EventData::Tagged { id, data }
            }
            EventType::EV_EFI_BOOT_SERVICES_APPLICATION
            | EventType::EV_EFI_BOOT_SERVICES_DRIVER
            | EventType::EV_EFI_RUNTIME_SERVICES_DRIVER => {
                let n = uintn_bytes(uintn_size);
                const S: &str = "event data";
                let mut r = data_reader(self);
                let uintn = |r: &mut Reader<'a>| -> Result<u64, Error> {
                    Ok(if n == 4 {
                        u64::from(r.u32_le(S)?)
                    } else {
                        r.u64_le(S)?
                    })
                };
                let location = r.u64_le(S)?;
                let length = uintn(&mut r)?;
                let link_time_address = uintn(&mut r)?;
                let dp_len = uintn(&mut r)?;
                if dp_len > r.remaining() as u64 {
                    return Err(bad(
                        self,
                        r.offset(),
                        ParseErrorKind::LengthTooLarge {
                            len: dp_len,
                            max: r.remaining() as u64,
                        },
                    ));
                }
                let device_path = r.bytes(dp_len, u64::MAX, S)?;
                EventData::ImageLoad(ImageLoad {
                    location,
                    length,
                    link_time_address,
                    device_path,
                    trailing: r.rest(),
                })
            }
            _ => EventData::Raw(self.data),
        })
    }

    /// Check the record's digests against its data (see the module documentation for which
    /// event types are checkable and which bytes they hash).
    pub fn data_check(&self) -> DataCheck {
        if !is_checkable(self.event_type) || self.digests.is_empty() {
            return DataCheck::NotCheckable;
        }
        let at = self.data_offset;
        let mut candidates: [Option<(&[u8], Hashed)>; 2] =
            [Some((self.data, Hashed::EventData)), None];
        // The value of a Secure Boot variable, when its digests turn out to hash only that.
        let mut value_only: Option<&[u8]> = None;
        match self.event_type {
            EventType::EV_EFI_VARIABLE_BOOT => match decode_variable(self, at, 0) {
                Ok(v) => candidates = [Some((v.data, Hashed::VariableValue)), candidates[0]],
                Err(e) => return DataCheck::Malformed(parse_error(e)),
            },
            EventType::EV_EFI_VARIABLE_AUTHORITY => {
                candidates[1] = self
                    .data
                    .split_last()
                    .map(|(_, rest)| (rest, Hashed::AllButLastByte));
            }
            EventType::EV_EFI_VARIABLE_DRIVER_CONFIG | EventType::EV_EFI_VARIABLE_BOOT2 => {
                match decode_variable(self, at, 0) {
                    Ok(v) if self.event_type == EventType::EV_EFI_VARIABLE_DRIVER_CONFIG => {
                        value_only = Some(v.data);
                    }
                    Ok(_) => {}
                    Err(e) => return DataCheck::Malformed(parse_error(e)),
                }
            }
            _ => {}
        }
        let mut first_mismatch = None;
        for (bytes, how) in candidates.into_iter().flatten() {
            match check_digests(&self.digests, bytes) {
                None => return DataCheck::Verified(how),
                Some(m) => {
                    first_mismatch.get_or_insert(m);
                }
            }
        }
        if let (Some(value), Some((alg, recorded, computed))) = (value_only, first_mismatch) {
            if check_digests(&self.digests, value).is_none() {
                return DataCheck::ValueOnly {
                    alg,
                    recorded,
                    computed,
                };
            }
        }
        match first_mismatch {
            Some((alg, recorded, computed)) => DataCheck::Mismatch {
                alg,
                recorded,
                computed,
            },
            // A record without a digest of a known bank: nothing was compared.
            None => DataCheck::NotCheckable,
        }
    }
}

/// The parse error inside `e` (decoding only raises parse errors).
fn parse_error(e: Error) -> ParseError {
    match e {
        Error::Parse(p) => p,
        other => ParseError {
            format: "tcg log",
            structure: "event data",
            offset: 0,
            entry: None,
            kind: ParseErrorKind::Invalid(other.to_string()),
        },
    }
}

/// `None` when every digest is the hash of `bytes`, else the first that is not.
fn check_digests(digests: &[Digest], bytes: &[u8]) -> Option<(HashAlg, Digest, Digest)> {
    digests.iter().find_map(|d| {
        let computed = d.alg().hash(bytes);
        (computed != *d).then_some((d.alg(), *d, computed))
    })
}
