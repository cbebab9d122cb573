//! A simulated TD: RTMRs behind the same file-system seam as real sysfs, TD reports, and TD quotes
//! signed under a test root generated at run time.
//!
//! [`SimTd`] is an in-memory [`Fs`] that answers like the Linux 6.16 kernel of a TD:
//!
//! - `sys/class/misc/tdx_guest/measurements/` (tsm-mr, docs/formats.md#tsm-mr): `rtmrN:sha384` reads 48 bytes;
//!   a write of exactly 48 bytes extends RTMR N with `SHA-384(RTMR || data)`, any other length
//!   fails with `EINVAL`; `mrtd:sha384`, `mrconfigid`, `mrowner`, `mrownerconfig` are read-only
//!   (`EACCES` on write);
//! - `sys/kernel/config/tsm/report/` (configfs-tsm, docs/formats.md#configfs-tsm): `mkdir <name>` creates an
//!   instance with `provider` (`tdx_guest` unless configured), `generation` (bumped by every
//!   successful write), `inblob` (write-only, at most 64 bytes, `EFBIG` beyond) and `outblob`
//!   (read-only; `EINVAL` unless the inblob is exactly 64 bytes; otherwise a quote over the
//!   current measurements and the inblob from the [`QuoteProvider`], cached until the next
//!   write). Without a quote provider, reading `outblob` fails with [`Error::NoQuoteProvider`].
//!
//! So [`TdxRtmr`](crate::rtmr::TdxRtmr) and [`TsmReportClient`] run unchanged against
//! [`SimTd::fs`]. [`SimTd::inject_concurrent_write`] makes another "process" write the inblob of
//! the next instance whose outblob is read, to exercise the generation check.
//!
//! `SimTd` is `Send + Sync` and cheap to clone (clones share one TD).
//!
//! ```
//! use std::sync::Arc;
//! use mr_core::{HashAlg, MeasurementRegister, MrId};
//! use mr_rtmr::quote::{self, VerifyOptions};
//! use mr_rtmr::rtmr::TdxRtmr;
//! use mr_rtmr::sim::{quote::TestQuoteSigner, SimTd};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let signer = Arc::new(TestQuoteSigner::new()?);
//! let td = SimTd::builder().quote_provider(signer.clone()).build();
//!
//! // The attester: extend RTMR3 through the tsm-mr files, then ask configfs-tsm for a quote.
//! let rtmr3 = TdxRtmr::new(td.fs(), 3)?;
//! rtmr3.extend(&HashAlg::Sha384.hash(b"an event"))?;
//! let report = td.report_client().get_report_for_nonce(b"verifier nonce")?;
//!
//! // The verifier: the quote chains to the test root and carries the nonce and RTMR3.
//! let options = VerifyOptions::at_unix(1_767_225_600)
//!     .with_root_der(signer.root_der())
//!     .with_nonce(b"verifier nonce".to_vec());
//! let verified = quote::verify(&report.outblob, &options)?;
//! let quoted = verified.registers().get(&MrId::Rtmr(3), HashAlg::Sha384);
//! assert_eq!(quoted, Some(&rtmr3.read()?));
//! # Ok(())
//! # }
//! ```

mod kernel;
pub mod quote;
pub mod td_report;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use mr_core::{HashAlg, MrId};

use crate::fs::Fs;
use crate::rtmr::{TdxSysfs, RTMR_COUNT, TDX_MR_SIZE};
use crate::tsm_report::{TsmReportClient, INBLOB_SIZE, TDX_PROVIDER};
use crate::Error;

/// The measurement registers and report data a simulated TD puts into a TD report / quote body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TdMeasurements {
    /// MRTD.
    pub mrtd: [u8; 48],
    /// MRCONFIGID.
    pub mrconfigid: [u8; 48],
    /// MROWNER.
    pub mrowner: [u8; 48],
    /// MROWNERCONFIG.
    pub mrownerconfig: [u8; 48],
    /// RTMR0..RTMR3.
    pub rtmr: [[u8; 48]; 4],
    /// REPORTDATA (the 64-byte inblob of a configfs-tsm report).
    pub report_data: [u8; 64],
}

impl TdMeasurements {
    /// The value of TDX register `id`, if it is one (MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG,
    /// RTMR0..3).
    pub fn register(&self, id: &MrId) -> Option<[u8; 48]> {
        match id {
            MrId::Mrtd => Some(self.mrtd),
            MrId::MrConfigId => Some(self.mrconfigid),
            MrId::MrOwner => Some(self.mrowner),
            MrId::MrOwnerConfig => Some(self.mrownerconfig),
            MrId::Rtmr(n) => self.rtmr.get(usize::from(*n)).copied(),
            _ => None,
        }
    }
}

/// Produces a TD quote for given measurements (implemented by [`quote::TestQuoteSigner`]).
pub trait QuoteProvider: Send + Sync {
    /// A complete DCAP quote whose body carries `m`.
    fn quote(&self, m: &TdMeasurements) -> Result<Vec<u8>, crate::Error>;
}

/// The inblob another "process" writes when [`SimTd::inject_concurrent_write`] is armed.
pub const INTRUDER_INBLOB: [u8; INBLOB_SIZE] = [0xEE; INBLOB_SIZE];

/// One configfs-tsm report instance.
#[derive(Debug, Default)]
struct ReportInstance {
    /// Bumped by every successful write.
    generation: u64,
    inblob: Vec<u8>,
    /// The outblob generated at `.0` = generation (the kernel caches it until the next write).
    cached: Option<(u64, Vec<u8>)>,
}

#[derive(Debug)]
struct State {
    mrtd: [u8; TDX_MR_SIZE],
    mrconfigid: [u8; TDX_MR_SIZE],
    mrowner: [u8; TDX_MR_SIZE],
    mrownerconfig: [u8; TDX_MR_SIZE],
    rtmr: [[u8; TDX_MR_SIZE]; RTMR_COUNT as usize],
    reports: BTreeMap<String, ReportInstance>,
    /// How many outblob reads get another writer's inblob write just before them.
    pending_intruder_writes: u32,
}

impl State {
    fn measurements(&self, report_data: [u8; INBLOB_SIZE]) -> TdMeasurements {
        TdMeasurements {
            mrtd: self.mrtd,
            mrconfigid: self.mrconfigid,
            mrowner: self.mrowner,
            mrownerconfig: self.mrownerconfig,
            rtmr: self.rtmr,
            report_data,
        }
    }
}

struct Inner {
    state: Mutex<State>,
    tsm_provider: String,
    quote_provider: Option<Arc<dyn QuoteProvider>>,
}

/// A simulated TD: measurement registers and configfs-tsm reports behind an in-memory [`Fs`].
#[derive(Clone)]
pub struct SimTd {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimTd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTd")
            .field("tsm_provider", &self.inner.tsm_provider)
            .field("has_quote_provider", &self.inner.quote_provider.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for SimTd {
    fn default() -> Self {
        SimTd::new()
    }
}

/// The MRTD a [`SimTd`] has unless configured: SHA-384 of `mr-rtmr simulated TD`.
pub fn default_mrtd() -> [u8; TDX_MR_SIZE] {
    let mut mrtd = [0; TDX_MR_SIZE];
    mrtd.copy_from_slice(HashAlg::Sha384.hash(b"mr-rtmr simulated TD").as_bytes());
    mrtd
}

impl SimTd {
    /// A TD with the default MRTD ([`default_mrtd`]), zero MRCONFIGID / MROWNER / MROWNERCONFIG,
    /// zero RTMRs, provider `tdx_guest` and no quote provider.
    pub fn new() -> SimTd {
        SimTd::builder().build()
    }

    /// A builder to configure the static registers, start values and quote provider.
    pub fn builder() -> SimTdBuilder {
        SimTdBuilder::default()
    }

    /// The TD's file system, laid out like `/` of a real TD (see the module docs).
    pub fn fs(&self) -> Arc<dyn Fs> {
        Arc::new(self.clone())
    }

    /// The tsm-mr measurement directory of this TD.
    pub fn sysfs(&self) -> TdxSysfs {
        TdxSysfs::new(self.fs())
    }

    /// A configfs-tsm report client for this TD (expecting provider `tdx_guest`).
    pub fn report_client(&self) -> TsmReportClient {
        TsmReportClient::new(self.fs())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a thread panicked while holding it; every update leaves the
        // state whole, so it is still meaningful.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current value of RTMR `index` (0..=3).
    pub fn rtmr(&self, index: u8) -> Result<[u8; TDX_MR_SIZE], Error> {
        self.lock()
            .rtmr
            .get(usize::from(index))
            .copied()
            .ok_or(Error::RtmrIndex(u32::from(index)))
    }

    /// The current measurements with `report_data`: what a TD report or quote taken now carries.
    pub fn measurements(&self, report_data: [u8; INBLOB_SIZE]) -> TdMeasurements {
        self.lock().measurements(report_data)
    }

    /// A TDREPORT_STRUCT of the current measurements (see [`td_report::encode`]).
    pub fn td_report(&self, report_data: [u8; INBLOB_SIZE]) -> [u8; td_report::TD_REPORT_SIZE] {
        td_report::encode(&self.measurements(report_data))
    }

    /// The names of the configfs-tsm report instances that exist now.
    pub fn report_instances(&self) -> Vec<String> {
        self.lock().reports.keys().cloned().collect()
    }

    /// Arms one concurrent writer: just before the next `outblob` read of any report instance,
    /// another "process" writes [`INTRUDER_INBLOB`] to that instance's inblob (bumping its
    /// generation), as a racing user of the same instance would. Calls accumulate.
    pub fn inject_concurrent_write(&self) {
        let mut state = self.lock();
        state.pending_intruder_writes = state.pending_intruder_writes.saturating_add(1);
    }
}

/// Configures a [`SimTd`].
#[derive(Clone)]
pub struct SimTdBuilder {
    mrtd: [u8; TDX_MR_SIZE],
    mrconfigid: [u8; TDX_MR_SIZE],
    mrowner: [u8; TDX_MR_SIZE],
    mrownerconfig: [u8; TDX_MR_SIZE],
    rtmr: [[u8; TDX_MR_SIZE]; RTMR_COUNT as usize],
    tsm_provider: String,
    quote_provider: Option<Arc<dyn QuoteProvider>>,
}

impl Default for SimTdBuilder {
    fn default() -> Self {
        SimTdBuilder {
            mrtd: default_mrtd(),
            mrconfigid: [0; TDX_MR_SIZE],
            mrowner: [0; TDX_MR_SIZE],
            mrownerconfig: [0; TDX_MR_SIZE],
            rtmr: [[0; TDX_MR_SIZE]; RTMR_COUNT as usize],
            tsm_provider: TDX_PROVIDER.to_owned(),
            quote_provider: None,
        }
    }
}

impl std::fmt::Debug for SimTdBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTdBuilder")
            .field("tsm_provider", &self.tsm_provider)
            .field("has_quote_provider", &self.quote_provider.is_some())
            .finish_non_exhaustive()
    }
}

impl SimTdBuilder {
    /// Sets MRTD.
    pub fn mrtd(mut self, value: [u8; TDX_MR_SIZE]) -> Self {
        self.mrtd = value;
        self
    }

    /// Sets MRCONFIGID.
    pub fn mrconfigid(mut self, value: [u8; TDX_MR_SIZE]) -> Self {
        self.mrconfigid = value;
        self
    }

    /// Sets MROWNER.
    pub fn mrowner(mut self, value: [u8; TDX_MR_SIZE]) -> Self {
        self.mrowner = value;
        self
    }

    /// Sets MROWNERCONFIG.
    pub fn mrownerconfig(mut self, value: [u8; TDX_MR_SIZE]) -> Self {
        self.mrownerconfig = value;
        self
    }

    /// Sets the start values of RTMR0..RTMR3 (e.g. what firmware and boot loader measured).
    pub fn rtmrs(mut self, values: [[u8; TDX_MR_SIZE]; RTMR_COUNT as usize]) -> Self {
        self.rtmr = values;
        self
    }

    /// Sets the name report instances show in `provider` (default `tdx_guest`).
    pub fn tsm_provider(mut self, name: impl Into<String>) -> Self {
        self.tsm_provider = name.into();
        self
    }

    /// Sets what produces the quote an `outblob` read returns (e.g.
    /// [`quote::TestQuoteSigner`]).
    pub fn quote_provider(mut self, provider: Arc<dyn QuoteProvider>) -> Self {
        self.quote_provider = Some(provider);
        self
    }

    /// The TD.
    pub fn build(self) -> SimTd {
        SimTd {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    mrtd: self.mrtd,
                    mrconfigid: self.mrconfigid,
                    mrowner: self.mrowner,
                    mrownerconfig: self.mrownerconfig,
                    rtmr: self.rtmr,
                    reports: BTreeMap::new(),
                    pending_intruder_writes: 0,
                }),
                tsm_provider: self.tsm_provider,
                quote_provider: self.quote_provider,
            }),
        }
    }
}
