//! Measurement-log formats. Each parser is pure (no device I/O), streams its entries and bounds
//! every length it reads from the input.

pub mod cel;
pub mod ima;
pub mod tcg;
