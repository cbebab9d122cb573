//! TDX RTMRs over the tsm-mr sysfs ABI (Linux 6.16, SPECS §9.2).
