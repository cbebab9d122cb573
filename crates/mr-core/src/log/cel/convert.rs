//! Conversion of IMA measurement lists and PC-Client / CCEL logs to CEL records.

use std::io::BufRead;

use crate::alg::{Digest, HashAlg};
use crate::error::{Error, ParseErrorKind};
use crate::log::ima::{ImaReader, ImaReaderOptions};
use crate::log::tcg::{perr, RegisterSpace, TcgLog};

use super::{CelIndex, CelRecord, Content};

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
/// selects among the log's banks, and a bank the log lacks is an error.
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
    Ok(log
        .events
        .iter()
        .map(|e| CelRecord {
            recnum: e.record,
            index: match space {
                RegisterSpace::CcMr => CelIndex::CcMr(e.index),
                _ => CelIndex::Pcr(e.index),
            },
            digests: e
                .digests
                .iter()
                .filter(|d| banks.is_empty() || banks.contains(&d.alg()))
                .copied()
                .collect(),
            content: Content::PcClient {
                event_type: e.event_type.0,
                event_data: e.data.to_vec(),
            },
        })
        .collect())
}
