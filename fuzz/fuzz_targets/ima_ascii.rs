#![no_main]
//! IMA ASCII measurement lists: reader (kind forced to ASCII), every entry accessor, replay.

use libfuzzer_sys::fuzz_target;

#[path = "ima_common.rs"]
mod ima_common;

fuzz_target!(|data: &[u8]| {
    ima_common::run(data, mr_core::log::ima::ListKind::Ascii);
});
