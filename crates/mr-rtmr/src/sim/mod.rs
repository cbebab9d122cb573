//! A simulated TD: RTMRs behind the same file-system seam as real sysfs, TD reports, and TD quotes
//! signed under a test root generated at run time.

pub mod quote;

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

/// Produces a TD quote for given measurements (implemented by [`quote::TestQuoteSigner`]).
pub trait QuoteProvider: Send + Sync {
    /// A complete DCAP quote whose body carries `m`.
    fn quote(&self, m: &TdMeasurements) -> Result<Vec<u8>, crate::Error>;
}
