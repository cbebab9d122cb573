//! Conversion of IMA measurement lists and PC-Client / CCEL logs to CEL records.

use std::io::{BufRead, Read};

use crate::alg::{Digest, HashAlg};
use crate::error::{Error, ParseErrorKind};
use crate::log::ima::{ImaReader, ImaReaderOptions};
use crate::log::tcg::{self, perr, LogEnd, ParseOptions, RegisterSpace, TcgLog, Trailing};
use crate::wire::Prefixed;

use super::{cel_err, detect, read_records, CelIndex, CelRecord, Content, Encoding};

/// Banks an IMA list is converted with when none are given.
pub const DEFAULT_IMA_BANKS: [HashAlg; 2] = [HashAlg::Sha1, HashAlg::Sha256];

/// Convert an IMA list (binary or ASCII, as [`ImaReader`] reads it) to `ima_template` records,
/// numbered from 0, one digest per bank of `banks` (empty: [`DEFAULT_IMA_BANKS`]): the
/// template digest in that bank's hash, or all zeros for a violation (as in the list).
///
/// Every entry's recorded template digest is checked against its data first: a tampered entry
/// is [`Error::EntryDigest`], never laundered into a consistent CEL record. The whole list in
/// memory; [`visit_ima`] streams it.
pub fn from_ima<R: BufRead>(
    input: R,
    opts: ImaReaderOptions,
    banks: &[HashAlg],
) -> Result<Vec<CelRecord>, Error> {
    let mut records = Vec::new();
    visit_ima(input, opts, banks, |r| {
        records.push(r);
        Ok(())
    })?;
    Ok(records)
}

/// [`from_ima`] one entry at a time: `visit` gets each record as its entry is read (memory is
/// one entry). Returns the number of records.
pub fn visit_ima<R: BufRead>(
    input: R,
    opts: ImaReaderOptions,
    banks: &[HashAlg],
    mut visit: impl FnMut(CelRecord) -> Result<(), Error>,
) -> Result<u64, Error> {
    let banks: Vec<HashAlg> = if banks.is_empty() {
        DEFAULT_IMA_BANKS.to_vec()
    } else {
        let mut b = banks.to_vec();
        b.dedup();
        b
    };
    let mut reader = ImaReader::new(input, opts);
    let mut records = 0;
    while let Some(e) = reader.next_entry()? {
        e.verify_header().map_err(Error::EntryDigest)?;
        let digests = banks
            .iter()
            .map(|b| {
                if e.is_violation() {
                    Digest::zero(*b)
                } else {
                    e.template_digest(*b)
                }
            })
            .collect();
        visit(CelRecord {
            recnum: e.index(),
            index: CelIndex::Pcr(e.pcr()),
            digests,
            content: Content::ImaTemplate {
                template_name: e.template_name().to_owned(),
                template_data: e.template_data().to_vec(),
            },
        })?;
        records += 1;
    }
    Ok(records)
}

/// Convert a parsed PC-Client log (`space` = [`RegisterSpace::Pcr`]) or CCEL
/// ([`RegisterSpace::CcMr`]: indexes become CC MR indexes) to `pcclient_std` records, record
/// numbers kept, every record included (EV_NO_ACTION records too: they carry the Spec ID and
/// StartupLocality events). A PC-Client digest is not in general the hash of anything in the
/// log, so digests cannot be computed for other banks: `banks` (empty: all of the log's)
/// selects among the log's banks, and a bank the log lacks is an error. A record carries the
/// digests its event had: in a log whose records give a subset of the Spec ID banks
/// ([`tcg::DigestCount::SubsetOfSpecId`], Windows) a record may have fewer than the log's banks,
/// and a record that extends (not `EV_NO_ACTION`) with none of `banks` is an error (its CEL
/// record would carry no digest).
pub fn from_tcg(
    log: &TcgLog<'_>,
    space: RegisterSpace,
    banks: &[HashAlg],
) -> Result<Vec<CelRecord>, Error> {
    let log_banks = log.banks();
    if let Some(missing) = banks.iter().find(|b| !log_banks.contains(b)) {
        return Err(perr(
            "tcg log",
            "spec id event",
            0,
            Some(0),
            ParseErrorKind::Invalid(format!(
                "the log has no {missing} bank, so its digests cannot be given in it"
            )),
        ));
    }
    log.events
        .iter()
        .map(|e| {
            let digests: Vec<Digest> = e
                .digests
                .iter()
                .filter(|d| banks.is_empty() || banks.contains(&d.alg()))
                .copied()
                .collect();
            if digests.is_empty() && !e.is_no_action() {
                let has: Vec<&str> = e.digests.iter().map(|d| d.alg().name()).collect();
                return Err(perr(
                    "tcg log",
                    "event digests",
                    e.offset,
                    Some(e.record),
                    ParseErrorKind::Invalid(format!(
                        "record {} carries a digest of {} only, none of the banks asked for",
                        e.record,
                        if has.is_empty() {
                            "no bank".to_owned()
                        } else {
                            has.join(", ")
                        }
                    )),
                ));
            }
            Ok(CelRecord {
                recnum: e.record,
                index: match space {
                    RegisterSpace::CcMr => CelIndex::CcMr(e.index),
                    _ => CelIndex::Pcr(e.index),
                },
                digests,
                content: Content::PcClient {
                    event_type: e.event_type.0,
                    event_data: e.data.to_vec(),
                },
            })
        })
        .collect()
}

/// What a log converted to CEL is ([`convert`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// An IMA measurement list (binary or ASCII).
    Ima,
    /// A TCG PC-Client event log (indexes are PCRs).
    Tcg,
    /// A CCEL log area (indexes are CC MR indexes; padding allowed).
    Ccel,
    /// A CEL in one of its encodings.
    Cel(Encoding),
}

/// Bytes to read ahead to detect a CEL encoding ([`detect`] needs the first two TLV heads, or
/// the first non-blank byte of JSON).
pub const DETECT_LEN: usize = 4096;

/// Convert `input`, of format `from` (`None`: detected — a CEL by [`detect`] from its first
/// bytes; else a TCG log, a CCEL when padded or when its only bank is SHA-384 (TDVF), else
/// PC-Client; else an IMA list), to CEL records, calling `visit` with each as it is made, and
/// return the format. An IMA list ([`visit_ima`]) and a CEL ([`read_records`]) stream (memory is
/// one record); a TCG log or CCEL is read whole (at most `max_len` bytes, else
/// [`ParseErrorKind::LengthTooLarge`]) and parsed. `banks`: see [`visit_ima`] and [`from_tcg`];
/// a CEL's digests are kept as they are, and `banks` with CEL input is an error.
pub fn convert<R: BufRead>(
    input: R,
    from: Option<Source>,
    banks: &[HashAlg],
    max_len: u64,
    mut visit: impl FnMut(CelRecord) -> Result<(), Error>,
) -> Result<Source, Error> {
    let mut input = Prefixed::new(input);
    let from = match from {
        Some(f) => f,
        None => match detect(input.peek(DETECT_LEN)?) {
            Some(enc) => Source::Cel(enc),
            None => {
                // Not a CEL: a TCG log if it parses as one, else an IMA list.
                let bytes = read_whole(&mut input, max_len)?;
                let padded = pc_client_parse().with_trailing(Trailing::AllowPadding);
                let from = match tcg::parse(&bytes, &padded) {
                    Ok(log)
                        if matches!(log.end, LogEnd::Padding { .. })
                            || log.banks() == [HashAlg::Sha384] =>
                    {
                        Source::Ccel
                    }
                    Ok(_) => Source::Tcg,
                    Err(_) => Source::Ima,
                };
                match from {
                    Source::Ima => {
                        visit_ima(&bytes[..], ImaReaderOptions::default(), banks, &mut visit)?;
                    }
                    _ => convert_tcg(&bytes, from, banks, &mut visit)?,
                }
                return Ok(from);
            }
        },
    };
    match from {
        Source::Ima => {
            visit_ima(input, ImaReaderOptions::default(), banks, &mut visit)?;
        }
        Source::Tcg | Source::Ccel => {
            let bytes = read_whole(&mut input, max_len)?;
            convert_tcg(&bytes, from, banks, &mut visit)?;
        }
        Source::Cel(enc) if !banks.is_empty() => {
            return Err(cel_err(
                enc,
                "banks",
                0,
                0,
                ParseErrorKind::Invalid(
                    "banks apply to IMA and TCG input; CEL digests are kept as they are".into(),
                ),
            ));
        }
        Source::Cel(enc) => {
            read_records(input, enc, &mut visit)?;
        }
    }
    Ok(from)
}

fn convert_tcg(
    bytes: &[u8],
    from: Source,
    banks: &[HashAlg],
    mut visit: impl FnMut(CelRecord) -> Result<(), Error>,
) -> Result<(), Error> {
    let (opts, space) = if from == Source::Ccel {
        (ParseOptions::ccel(), RegisterSpace::CcMr)
    } else {
        (pc_client_parse(), RegisterSpace::Pcr)
    };
    let log = tcg::parse(bytes, &opts)?;
    from_tcg(&log, space, banks)?
        .into_iter()
        .try_for_each(&mut visit)
}

/// How a PC-Client log is parsed for conversion: strictly, except that a record may carry
/// digests for a subset of the Spec ID banks (Windows logs), as the verifier's replay reads it
/// ([`tcg::TcgReplayConfig::pc_client`]).
fn pc_client_parse() -> ParseOptions {
    tcg::TcgReplayConfig::pc_client().parse
}

/// All of `input`, at most `max_len` bytes.
fn read_whole(input: &mut impl BufRead, max_len: u64) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    input
        .take(max_len.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_len {
        return Err(perr(
            "log",
            "input",
            max_len,
            None,
            ParseErrorKind::LengthTooLarge {
                len: bytes.len() as u64,
                max: max_len,
            },
        ));
    }
    Ok(bytes)
}
