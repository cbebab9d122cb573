//! kexec carry-over (docs/formats.md#ima-kexec): several boots in one list, and the `kexec_load` /
//! `kexec_execute` critical-data records.
//!
//! kexec does not reset PCRs: the new kernel restores the old list without extending and
//! appends its own `boot_aggregate`, so a list holds one `boot_aggregate` per boot and replays,
//! whole, against the same registers ([`super::verify()`] does exactly that). Only the first
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
    /// A `kexec_load` / `kexec_execute` record whose buffer does not decode: what it would say
    /// about lost entries is unknown.
    MalformedRecord {
        /// The record's entry.
        entry: u64,
    },
}

impl KexecFinding {
    /// The last entry the finding rests on (a finding is kept only when the verified prefix
    /// reaches it).
    fn last_entry(&self) -> u64 {
        match self {
            KexecFinding::LoadWithoutExecute {
                next_boot_entry, ..
            } => *next_boot_entry,
            KexecFinding::CountMismatch { carried, .. } => *carried,
            KexecFinding::MalformedRecord { entry } => *entry,
        }
    }
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
            KexecFinding::MalformedRecord { entry } => write!(
                f,
                "possibly lost entries: the kexec record at entry {entry} does not decode"
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

/// The kexec analysis of one list, entry by entry, as the replay meets them (the replay feeds
/// it only entries of registers the verified values cover): the state [`analyse`] and the
/// replay's [`super::ImaReplayReport::kexec`] share. Memory is bounded by the report's caps.
#[derive(Clone, Debug, Default)]
pub(crate) struct KexecTracker {
    report: KexecReport,
    load: Option<KexecRecord>,
    execute: Option<KexecRecord>,
}

impl KexecTracker {
    fn push_finding(&mut self, f: KexecFinding) {
        if self.report.findings.len() < MAX_REPORTED_FINDINGS {
            self.report.findings.push(f);
        }
    }

    /// A `boot_aggregate` entry: a new boot.
    pub(crate) fn boot(&mut self, i: u64) {
        if self.report.boot_count > 0 {
            if let Some(x) = self.execute {
                let ok = u64::try_from(x.measurements_count)
                    .is_ok_and(|c| c == i || c.saturating_add(1) == i);
                if !ok {
                    self.push_finding(KexecFinding::CountMismatch {
                        execute_entry: x.entry,
                        recorded: x.measurements_count,
                        carried: i,
                    });
                }
            } else if let Some(l) = self.load {
                self.push_finding(KexecFinding::LoadWithoutExecute {
                    load_entry: l.entry,
                    next_boot_entry: i,
                });
            }
        }
        self.report.boot_count += 1;
        if self.report.boots.len() < MAX_REPORTED_KEXEC_RECORDS {
            self.report.boots.push(i);
        }
        self.load = None;
        self.execute = None;
    }

    /// A kexec record entry: decoded, or (`Err(entry)`) one whose buffer does not decode.
    pub(crate) fn record(&mut self, rec: Result<KexecRecord, u64>) {
        let rec = match rec {
            Ok(r) => r,
            Err(entry) => {
                self.push_finding(KexecFinding::MalformedRecord { entry });
                return;
            }
        };
        match rec.event {
            KexecEvent::Load => {
                self.load = Some(rec);
                self.execute = None;
            }
            KexecEvent::Execute => self.execute = Some(rec),
        }
        if self.report.records.len() < MAX_REPORTED_KEXEC_RECORDS {
            self.report.records.push(rec);
        }
    }

    /// The report over `entries` entries; with `within`, only what rests on entries before it
    /// (the verified prefix) is kept.
    pub(crate) fn finish(self, entries: u64, within: Option<u64>) -> KexecReport {
        let mut report = self.report;
        report.entries = entries;
        if let Some(k) = within {
            let capped = report.boots.len() == MAX_REPORTED_KEXEC_RECORDS;
            report.boots.retain(|b| *b < k);
            // Past the cap boots are only counted: the count then includes any after `k`.
            if !capped {
                report.boot_count = report.boots.len() as u64;
            }
            report.records.retain(|r| r.entry < k);
            report.findings.retain(|f| f.last_entry() < k);
        }
        report
    }
}

/// Walk a list and report its boots, kexec records and findings (see the module documentation).
/// A standalone analysis of a list nothing verified: a verifier reads
/// [`super::ImaReplayReport::kexec`], which the replay computes from verified entries only.
pub fn analyse<R: BufRead>(input: R, opts: &ImaReaderOptions) -> Result<KexecReport, Error> {
    let mut tracker = KexecTracker::default();
    let mut reader = ImaReader::new(input, opts.clone());
    let mut entries = 0u64;
    while let Some(e) = reader.next_entry()? {
        entries += 1;
        match super::replay::special_entry(e) {
            Some(super::replay::Special::BootAggregate) => tracker.boot(e.index()),
            Some(super::replay::Special::Kexec) => {
                if let Some(rec) = kexec_record(e)? {
                    tracker.record(Ok(rec));
                }
            }
            None => {}
        }
    }
    Ok(tracker.finish(entries, None))
}
