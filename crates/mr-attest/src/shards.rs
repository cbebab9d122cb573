//! The history of an IMA list under TPM quotes: a verified quote as the anchor of a resumed or
//! checkpointed replay ([`TpmQuoteEvidence::anchor`]), and a shard manifest on disk verified
//! shard by shard ([`verify_manifest_file`]; the chain rules are mr-core's
//! [`mr_core::log::ima::shards`]).
//!
//! A manifest's files are read relative to it ([`ManifestDir`]), each bounded in size; its TPM
//! quote anchors are verified with mr-tpm (signature, nonce, the quoted PCR values against the
//! quote's pcrDigest) and carry the quote's resetCount and restartCount, so that a shard of
//! another boot is refused. TD quote anchors are not supported yet.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use mr_core::log::ima::checkpoint::MAX_CHECKPOINT_LEN;
use mr_core::log::ima::shards::{
    verify_manifest, AnchorSpec, ShardManifest, ShardSource, ShardsReport, MAX_MANIFEST_LEN,
};
use mr_core::log::ima::{Anchor, Checkpoint, CheckpointKey, ImaOptions, Verification};
use mr_core::register::parse_register_lines;
use mr_core::{ErrorClass, ExpectedRegisters, MrId, RegisterValue, Verified, VerifiedRegisters};
use mr_tpm::MAX_KEY_FILE_SIZE;
use mr_tpm::{verify_quote_signature, AkPublic};

use crate::evidence::TpmQuoteEvidence;
use crate::BootAggregateCheck;

/// Largest TPM attestation or signature file read (the parsers bound the structures far below).
pub const MAX_TPM_QUOTE_FILE: u64 = 64 * 1024;

/// Largest file of register values read (`ID:ALG:HEX` lines).
pub const MAX_REGISTER_FILE: u64 = 1 << 20;

/// Why a TPM quote is not an anchor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// The attestation key is in no format mr knows, or is not the certificate its chain needs.
    #[error("AK: {0}")]
    Ak(#[source] mr_tpm::Error),
    /// The quote does not verify (signature, nonce, PCR digest, AK chain) or cannot be parsed.
    #[error(transparent)]
    Quote(mr_tpm::Error),
    /// No quoted PCR values were given: an anchor needs the values the quote vouches for.
    #[error("a TPM quote anchor needs the quoted PCR values")]
    NoPcrValues,
    /// The verified values cannot anchor a history (mr-core's check of root and provenance).
    #[error(transparent)]
    Anchor(mr_core::Error),
}

impl AnchorError {
    /// Rejected evidence (a quote that does not verify) or input that cannot be checked.
    pub fn class(&self) -> ErrorClass {
        match self {
            AnchorError::Quote(e) => e.class(),
            AnchorError::Anchor(e) => e.class(),
            AnchorError::Ak(_) | AnchorError::NoPcrValues => ErrorClass::Malformed,
        }
    }
}

impl TpmQuoteEvidence {
    /// Verify the quote (the AK chain when one is set, the signature, the nonce when one is
    /// set, the PCR values against pcrDigest) into the anchor of an IMA list history
    /// ([`mr_core::log::ima::resume`], checkpoints, shards): the verified PCR values with the
    /// quote's AK, resetCount and restartCount. The IMA PCRs and boot log of the evidence play
    /// no part.
    pub fn anchor(&self) -> Result<Anchor, AnchorError> {
        if let Some(chain) = &self.ak_chain {
            let leaf = mr_tpm::cert::certificate_der(&self.ak).map_err(AnchorError::Ak)?;
            mr_tpm::cert::verify_chain(&leaf, &chain.intermediates, &chain.roots, chain.at)
                .map_err(AnchorError::Quote)?;
        }
        let key = AkPublic::detect(&self.ak).map_err(AnchorError::Ak)?;
        let pcrs = self.pcrs.as_deref().ok_or(AnchorError::NoPcrValues)?;
        let signed =
            verify_quote_signature(&self.attest, &self.signature, &key, self.nonce.as_deref())
                .map_err(AnchorError::Quote)?;
        let verified = signed.verify_pcrs(pcrs).map_err(AnchorError::Quote)?;
        let clock = signed.clock_info();
        Anchor::tpm(verified, clock.reset_count, clock.restart_count).map_err(AnchorError::Anchor)
    }
}

/// A file of evidence that cannot be read or used, named by its path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file cannot be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading the file failed.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than its bound.
    #[error("{} is larger than {max} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The bound.
        max: u64,
    },
    /// A text file that is not UTF-8.
    #[error("{} is not UTF-8", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// A file of register values with a line that does not parse.
    #[error("{} {source}", path.display())]
    Values {
        /// The file.
        path: PathBuf,
        /// mr-core's error, naming the line.
        source: mr_core::Error,
    },
    /// A file of quoted PCR values that names another register.
    #[error("{}: {id} is not a PCR", path.display())]
    NotAPcr {
        /// The file.
        path: PathBuf,
        /// The register.
        id: MrId,
    },
    /// The attestation key file is in no format mr knows.
    #[error("{}: {source}", path.display())]
    Ak {
        /// The file.
        path: PathBuf,
        /// mr-tpm's error.
        source: mr_tpm::Error,
    },
    /// A nonce that is not hex.
    #[error("nonce {0:?} is not hex")]
    Nonce(String),
    /// A quote anchor of a manifest that does not verify, or whose files cannot be used.
    #[error("quote {attest}: {source}")]
    Quote {
        /// The manifest's name of the quote (its TPMS_ATTEST file).
        attest: String,
        /// Why.
        source: Box<FileError>,
    },
    /// A TD quote anchor (not supported in shard manifests yet).
    #[error("{quote}: TD quote anchors in shard manifests are not supported yet (use TPM quotes or a checkpoint)")]
    TdQuoteAnchor {
        /// The quote file.
        quote: String,
    },
    /// An anchor that is not a quote where mr-core asked for a quote.
    #[error("not a quote anchor")]
    NotAQuote,
    /// The anchor of a quote.
    #[error(transparent)]
    Anchor(AnchorError),
    /// A checkpoint file that does not open with the verifier's key, or is malformed.
    #[error("{}: {source}", path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// mr-core's error ([`Checkpoint::open`]).
        source: mr_core::Error,
    },
    /// Writing a file failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A boot log given for a replay resumed after a checkpoint: the list's first
    /// `boot_aggregate`, which the boot log binds, was verified before the checkpoint
    /// ([`check_resumed_boot_aggregate`]).
    #[error("the boot log checks the first boot_aggregate: use it when the checkpoint is made")]
    BootLogAfterCheckpoint {
        /// The first entry the replay verified (not 0).
        first_entry: u64,
    },
    /// mr-core refused the manifest, a checkpoint or a shard (see its error).
    #[error(transparent)]
    Core(mr_core::Error),
}

impl FileError {
    /// Rejected evidence, or input that cannot be checked (a device class from mr-core counts
    /// as the latter).
    pub fn class(&self) -> ErrorClass {
        match self {
            FileError::Quote { source, .. } => source.class(),
            FileError::Anchor(e) => e.class(),
            FileError::Core(e) | FileError::Checkpoint { source: e, .. } => match e.class() {
                ErrorClass::Rejected => ErrorClass::Rejected,
                ErrorClass::Malformed | ErrorClass::Device => ErrorClass::Malformed,
            },
            _ => ErrorClass::Malformed,
        }
    }
}

/// The sealed checkpoint `bytes`, read from the file `path`, opened with the verifier's `key`
/// ([`Checkpoint::open`]: the seal must verify); an error names the file. Bound the read with
/// [`MAX_CHECKPOINT_LEN`].
pub fn open_checkpoint(
    bytes: &[u8],
    path: &Path,
    key: &CheckpointKey,
) -> Result<Checkpoint, FileError> {
    Checkpoint::open(bytes, key).map_err(|source| FileError::Checkpoint {
        path: path.to_owned(),
        source,
    })
}

/// Write `checkpoint` sealed with the verifier's `key` ([`Checkpoint::seal`]) to the file
/// `path`, through a temporary file beside it renamed over `path`: a reader never sees a
/// checkpoint half written.
pub fn save_checkpoint(
    checkpoint: &Checkpoint,
    path: &Path,
    key: &CheckpointKey,
) -> Result<(), FileError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, checkpoint.seal(key))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| FileError::Write {
            path: path.to_owned(),
            source,
        })
}

/// [`crate::check_boot_aggregate`] of a history replay ([`mr_core::log::ima::resume`]): the
/// list's first `boot_aggregate` is in the replay only when it starts at entry 0 (from boot);
/// a replay resumed after a checkpoint is refused with
/// [`FileError::BootLogAfterCheckpoint`] (check the boot log when the first checkpoint is made).
pub fn check_resumed_boot_aggregate(
    boot_log: &[u8],
    verification: &Verification,
) -> Result<BootAggregateCheck, FileError> {
    if verification.first_entry != 0 {
        return Err(FileError::BootLogAfterCheckpoint {
            first_entry: verification.first_entry,
        });
    }
    crate::check_boot_aggregate(boot_log, &verification.report).map_err(FileError::Core)
}

/// The whole file `path`, refused when larger than `max` bytes.
pub fn read_file(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let file = std::fs::File::open(path).map_err(|source| FileError::Open {
        path: path.to_owned(),
        source,
    })?;
    read_bounded(file, path, max)
}

/// All of `reader` (named `path` in errors: a file, or `-` for standard input), refused when
/// longer than `max` bytes; never reads more than `max + 1` bytes.
pub fn read_bounded(reader: impl Read, path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let mut buf = Vec::new();
    reader
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|source| FileError::Read {
            path: path.to_owned(),
            source,
        })?;
    if buf.len() as u64 > max {
        return Err(FileError::TooLarge {
            path: path.to_owned(),
            max,
        });
    }
    Ok(buf)
}

/// The register values of a file's bytes `text` (`ID:ALG:HEX` lines,
/// [`parse_register_lines`]); `path` names it in errors.
pub fn register_values(text: &[u8], path: &Path) -> Result<Vec<RegisterValue>, FileError> {
    let text = std::str::from_utf8(text).map_err(|_| FileError::NotUtf8 {
        path: path.to_owned(),
    })?;
    parse_register_lines(text).map_err(|source| FileError::Values {
        path: path.to_owned(),
        source,
    })
}

/// The quoted PCR values of a file's bytes `text` ([`register_values`]): every value a PCR, no
/// register and bank given twice with different values; in register order.
pub fn pcr_values(text: &[u8], path: &Path) -> Result<Vec<RegisterValue>, FileError> {
    let values =
        ExpectedRegisters::from_values(register_values(text, path)?).map_err(FileError::Core)?;
    let mut out = Vec::new();
    for (id, value) in values.iter() {
        if !matches!(id, MrId::Pcr(_)) {
            return Err(FileError::NotAPcr {
                path: path.to_owned(),
                id: id.clone(),
            });
        }
        out.push(RegisterValue {
            id: id.clone(),
            value: *value,
        });
    }
    Ok(out)
}

/// A manifest's files, read relative to its folder; its TPM quote anchors verified
/// ([`TpmQuoteEvidence::anchor`]). The first failure is kept with its path and class
/// ([`ManifestDir::take_failure`]): mr-core sees only that a file failed.
pub struct ManifestDir {
    base: PathBuf,
    failure: Option<FileError>,
}

impl ManifestDir {
    /// The files of the manifest in folder `base`.
    pub fn new(base: impl Into<PathBuf>) -> ManifestDir {
        ManifestDir {
            base: base.into(),
            failure: None,
        }
    }

    /// The first failure of a file or quote, if one happened.
    pub fn take_failure(&mut self) -> Option<FileError> {
        self.failure.take()
    }

    fn fail(&mut self, f: FileError) -> mr_core::Error {
        let e = mr_core::Error::Io(std::io::Error::other(f.to_string()));
        self.failure.get_or_insert(f);
        e
    }

    fn tpm_anchor(
        &self,
        attest: &str,
        sig: &str,
        ak: &str,
        nonce: &str,
        pcrs: &str,
    ) -> Result<Anchor, FileError> {
        let nonce_hex = nonce.strip_prefix("0x").unwrap_or(nonce);
        let nonce = hex::decode(nonce_hex).map_err(|_| FileError::Nonce(nonce.to_owned()))?;
        let ak_path = self.base.join(ak);
        let pcrs_path = self.base.join(pcrs);
        let quote = TpmQuoteEvidence::new(
            read_file(&self.base.join(attest), MAX_TPM_QUOTE_FILE)?,
            read_file(&self.base.join(sig), MAX_TPM_QUOTE_FILE)?,
            read_file(&ak_path, MAX_KEY_FILE_SIZE as u64)?,
        )
        .with_nonce(nonce)
        .with_pcrs(pcr_values(
            &read_file(&pcrs_path, MAX_REGISTER_FILE)?,
            &pcrs_path,
        )?);
        quote.anchor().map_err(|e| match e {
            AnchorError::Ak(source) => FileError::Ak {
                path: ak_path,
                source,
            },
            e => FileError::Anchor(e),
        })
    }
}

impl ShardSource for ManifestDir {
    type Values = VerifiedRegisters;

    fn read(&mut self, path: &str) -> Result<Vec<u8>, mr_core::Error> {
        read_file(&self.base.join(path), MAX_CHECKPOINT_LEN as u64).map_err(|f| self.fail(f))
    }

    fn open_list(&mut self, path: &str) -> Result<Box<dyn BufRead + '_>, mr_core::Error> {
        let path = self.base.join(path);
        match std::fs::File::open(&path) {
            Ok(f) => Ok(Box::new(BufReader::with_capacity(1 << 16, f))),
            Err(source) => Err(self.fail(FileError::Open { path, source })),
        }
    }

    fn quote(&mut self, spec: &AnchorSpec) -> Result<Anchor, mr_core::Error> {
        match spec {
            AnchorSpec::TpmQuote {
                attest,
                sig,
                ak,
                nonce,
                pcrs,
            } => self.tpm_anchor(attest, sig, ak, nonce, pcrs).map_err(|e| {
                let f = FileError::Quote {
                    attest: attest.clone(),
                    source: Box::new(e),
                };
                self.fail(f)
            }),
            AnchorSpec::TdQuote { quote, .. } => Err(self.fail(FileError::TdQuoteAnchor {
                quote: quote.clone(),
            })),
            _ => Err(self.fail(FileError::NotAQuote)),
        }
    }
}

/// Verify the shard manifest in file `manifest` (mr-core's chain rules; files relative to it,
/// TPM quote anchors verified). A checkpoint the manifest begins at is opened with `key`. The
/// report is vouched for by the last shard's end quote.
pub fn verify_manifest_file(
    manifest: &Path,
    options: &ImaOptions,
    key: Option<&CheckpointKey>,
) -> Result<Verified<ShardsReport>, FileError> {
    let text = read_file(manifest, MAX_MANIFEST_LEN as u64)?;
    let parsed = ShardManifest::from_json(&text).map_err(FileError::Core)?;
    drop(text);
    let mut dir = ManifestDir::new(manifest.parent().map(Path::to_path_buf).unwrap_or_default());
    verify_manifest(&parsed, &mut dir, options, key)
        .map_err(|e| dir.take_failure().unwrap_or(FileError::Core(e)))
}
