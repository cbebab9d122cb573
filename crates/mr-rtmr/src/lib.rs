//! mr-rtmr: Intel TDX measurement registers and TD quotes.
//!
//! - [`rtmr`]: `TdxRtmr`, the `MeasurementRegister` trait over the Linux 6.16 tsm-mr sysfs ABI,
//!   plus the read-only MRTD / MRCONFIGID / MROWNER / MROWNERCONFIG;
//! - [`tsm_report`]: a configfs-tsm report client (Linux 6.7 ABI);
//! - [`fs`]: the small file-system seam both go through, so that tests and the simulated TD
//!   drive the same code as a real TD;
//! - [`quote`]: TD quotes v4/v5: parse, verify (signature, QE report, PCK chain, collateral);
//! - `sim` (feature `sim`, not default): a simulated TD (RTMRs, reports, quotes signed under a
//!   test root), for test suites and demos.
//!
//! Feature `device`: constructors bound to this machine's paths (`RealFs::system`,
//! `TdxSysfs::system`, `TdxRtmr::system`, `TsmReportClient::system`, all rooted at `/`). Without
//! it everything else builds and runs: the same code takes any [`fs::Fs`] (e.g.
//! `RealFs::new(root)` or, with feature `sim`, `sim::SimTd::fs`). No unsafe code and no ioctls: only sysfs and
//! configfs files.
//!
//! What this crate trusts: the configured root CA (default: Intel SGX Root CA) and the
//! verification time the caller supplies. Nothing in a quote is trusted before it verifies.

#![forbid(unsafe_code)]

pub mod error;
pub mod fs;
pub mod quote;
pub mod rtmr;
#[cfg(feature = "sim")]
pub mod sim;
pub mod tsm_report;

pub use error::Error;
pub use quote::{Collateral, TcbStatus, TdAttributes, VerifiedQuote, VerifyOptions};
