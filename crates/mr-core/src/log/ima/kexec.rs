//! kexec carry-over (docs/formats.md#ima-kexec): several boots in one list, and the `kexec_load` /
//! `kexec_execute` critical-data records.
//!
//! kexec does not reset PCRs: the new kernel restores the old list without extending and
//! appends its own `boot_aggregate`, so a list holds one `boot_aggregate` per boot and replays,
//! whole, against the same registers ([`super::replay()`] does exactly that). Only the first
//! `boot_aggregate` corresponds to the firmware log; later ones aggregate PCRs 0-9 as they were
//! at the kexec and are reported, not checked against a firmware log.
//!
//! Newer kernels (Steven Chen / Tushar Sugandhi series, v12 April 2025; mainline version
//! unconfirmed) log critical-data records in template `ima-buf`, event names `kexec_load` and
//! `kexec_execute`, whose buffer is ASCII
//! `kexec_segment_size=%lu;ima_binary_runtime_size=%lu;ima_runtime_measurements_count=%ld;`.
//! [`analyse`] decodes them and reports, as possibly lost entries:
//! * a `kexec_load` followed by the next boot's `boot_aggregate` without a `kexec_execute` in
//!   between (the list was copied at load time: entries measured after it may be lost);
//! * a `kexec_execute` whose `ima_runtime_measurements_count` disagrees with the entries carried
//!   over (the entries before the next `boot_aggregate`). Whether the count includes the
//!   execute record itself is not confirmed from a primary source, so both `carried` and
//!   `carried - 1` are accepted.
//!
//! These are reports (a verdict can still rest on the replay, which covers every entry that was
//! extended); [`KexecReport::possibly_lost_entries`] says whether any was found.

use std::io::BufRead;

use crate::error::{Error, ParseError, ParseErrorKind};

use super::reader::{ImaReader, ImaReaderOptions};
use super::template::FieldId;
use super::ImaEntry;

/// kexec records kept in a report (later ones are only counted).
pub const MAX_REPORTED_KEXEC_RECORDS: usize = 1024;

/// Findings kept in a report.
pub const MAX_REPORTED_FINDINGS: usize = 1024;

/// Longest kexec record buffer accepted (three decimal numbers and their names).
pub const MAX_KEXEC_BUFFER: usize = 256;

/// Which kexec record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KexecEvent {
    /// `kexec_load`: the segment for the list was reserved.
    Load,
    /// `kexec_execute`: the list was copied into the segment.
    Execute,
}

/// A decoded kexec critical-data record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KexecRecord {
    /// The entry (0-based).
    pub entry: u64,
    /// Load or execute.
    pub event: KexecEvent,
    /// `kexec_segment_size`.
    pub segment_size: u64,
    /// `ima_binary_runtime_size`.
    pub binary_runtime_size: u64,
    /// `ima_runtime_measurements_count`.
    pub measurements_count: i64,
}

/// Decode the buffer of a kexec record:
/// `kexec_segment_size=N;ima_binary_runtime_size=N;ima_runtime_measurements_count=N;`.
pub fn parse_kexec_buffer(buf: &[u8]) -> Result<(u64, u64, i64), ParseErrorKind> {
    if buf.len() > MAX_KEXEC_BUFFER {
        return Err(ParseErrorKind::LengthTooLarge {
            len: buf.len() as u64,
            max: MAX_KEXEC_BUFFER as u64,
        });
    }
    let text = std::str::from_utf8(buf).map_err(|_| ParseErrorKind::InvalidUtf8)?;
    let text = text.trim_end_matches('\0');
    let mut seg = None;
    let mut size = None;
    let mut count = None;
    for part in text.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| ParseErrorKind::Invalid(format!("kexec record item {part:?}")))?;
        let num = |v: &str| -> Result<u64, ParseErrorKind> {
            v.parse()
                .map_err(|_| ParseErrorKind::Invalid(format!("kexec record {k}={v:?}")))
        };
        match k {
            "kexec_segment_size" => seg = Some(num(v)?),
            "ima_binary_runtime_size" => size = Some(num(v)?),
            "ima_runtime_measurements_count" => {
                count = Some(
                    v.parse::<i64>()
                        .map_err(|_| ParseErrorKind::Invalid(format!("kexec record {k}={v:?}")))?,
                )
            }
            _ => {
                return Err(ParseErrorKind::Invalid(format!(
                    "unknown kexec record item {k:?}"
                )))
            }
        }
    }
    match (seg, size, count) {
        (Some(a), Some(b), Some(c)) => Ok((a, b, c)),
        _ => Err(ParseErrorKind::Invalid(
            "kexec record without all of kexec_segment_size, ima_binary_runtime_size, ima_runtime_measurements_count".into(),
        )),
    }
}

/// The kexec record of `e`, if it is one (`Ok(None)` for other entries).
pub fn kexec_record(e: &ImaEntry) -> Result<Option<KexecRecord>, Error> {
    let event = match e.event_name() {
        Some("kexec_load") => KexecEvent::Load,
        Some("kexec_execute") => KexecEvent::Execute,
        _ => return Ok(None),
    };
    let Some(buf) = e.field(FieldId::Buf) else {
        return Ok(None);
    };
    let (segment_size, binary_runtime_size, measurements_count) = parse_kexec_buffer(buf.data)
        .map_err(|kind| {
            Error::Parse(ParseError {
                format: "ima kexec record log",
                structure: "buf",
                offset: e.offset(),
                entry: Some(e.index()),
                kind,
            })
        })?;
    Ok(Some(KexecRecord {
        entry: e.index(),
        event,
        segment_size,
        binary_runtime_size,
        measurements_count,
    }))
}

/// Something that suggests entries were lost across a kexec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KexecFinding {
    /// A `kexec_load` without `kexec_execute` before the next boot.
    LoadWithoutExecute {
        /// The `kexec_load` entry.
        load_entry: u64,
        /// The next boot's `boot_aggregate` entry.
        next_boot_entry: u64,
    },
    /// The execute record's count disagrees with the entries carried over.
    CountMismatch {
        /// The `kexec_execute` entry.
        execute_entry: u64,
        /// Its `ima_runtime_measurements_count`.
        recorded: i64,
        /// Entries before the next boot's `boot_aggregate`.
        carried: u64,
    },
}

impl std::fmt::Display for KexecFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KexecFinding::LoadWithoutExecute {
                load_entry,
                next_boot_entry,
            } => write!(
                f,
                "possibly lost entries: kexec_load (entry {load_entry}) without kexec_execute before the next boot (boot_aggregate at entry {next_boot_entry})"
            ),
            KexecFinding::CountMismatch {
                execute_entry,
                recorded,
                carried,
            } => write!(
                f,
                "possibly lost entries: kexec_execute (entry {execute_entry}) counted {recorded} entries, {carried} were carried over"
            ),
        }
    }
}

/// What [`analyse`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KexecReport {
    /// Entries of the list.
    pub entries: u64,
    /// Entry numbers of the `boot_aggregate`s (the first is the firmware boot), at most
    /// [`MAX_REPORTED_KEXEC_RECORDS`].
    pub boots: Vec<u64>,
    /// All boots.
    pub boot_count: u64,
    /// Decoded records, at most [`MAX_REPORTED_KEXEC_RECORDS`].
    pub records: Vec<KexecRecord>,
    /// Findings, at most [`MAX_REPORTED_FINDINGS`].
    pub findings: Vec<KexecFinding>,
}

impl KexecReport {
    /// True when any finding suggests entries were lost.
    pub fn possibly_lost_entries(&self) -> bool {
        !self.findings.is_empty()
    }
}

/// Walk a list and report its boots, kexec records and findings (see the module documentation).
pub fn analyse<R: BufRead>(input: R, opts: &ImaReaderOptions) -> Result<KexecReport, Error> {
    let mut report = KexecReport::default();
    let mut reader = ImaReader::new(input, opts.clone());
    let mut load: Option<KexecRecord> = None;
    let mut execute: Option<KexecRecord> = None;
    let push_finding = |report: &mut KexecReport, f: KexecFinding| {
        if report.findings.len() < MAX_REPORTED_FINDINGS {
            report.findings.push(f);
        }
    };
    while let Some(e) = reader.next_entry()? {
        report.entries += 1;
        if e.boot_aggregate().is_some() {
            let i = e.index();
            if report.boot_count > 0 {
                if let Some(x) = execute {
                    let ok = u64::try_from(x.measurements_count)
                        .is_ok_and(|c| c == i || c.saturating_add(1) == i);
                    if !ok {
                        push_finding(
                            &mut report,
                            KexecFinding::CountMismatch {
                                execute_entry: x.entry,
                                recorded: x.measurements_count,
                                carried: i,
                            },
                        );
                    }
                } else if let Some(l) = load {
                    push_finding(
                        &mut report,
                        KexecFinding::LoadWithoutExecute {
                            load_entry: l.entry,
                            next_boot_entry: i,
                        },
                    );
                }
            }
            report.boot_count += 1;
            if report.boots.len() < MAX_REPORTED_KEXEC_RECORDS {
                report.boots.push(i);
            }
            load = None;
            execute = None;
            continue;
        }
        if let Some(rec) = kexec_record(e)? {
            match rec.event {
                KexecEvent::Load => {
                    load = Some(rec);
                    execute = None;
                }
                KexecEvent::Execute => execute = Some(rec),
            }
            if report.records.len() < MAX_REPORTED_KEXEC_RECORDS {
                report.records.push(rec);
            }
        }
    }
    Ok(report)
}
