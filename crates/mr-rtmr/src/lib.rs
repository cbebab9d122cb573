//! mr-rtmr: TDX RTMRs as measurement registers, configfs-tsm reports, TD quote verification, simulated TD.
#![forbid(unsafe_code)]
