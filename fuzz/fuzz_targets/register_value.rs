#![no_main]
//! `ID:ALG:HEX` register values and register ids from arbitrary UTF-8; whatever parses must
//! print back to something that parses to the same value.

use libfuzzer_sys::fuzz_target;
use mr_core::{MrId, RegisterValue};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = text.parse::<MrId>() {
        let printed = id.to_string();
        assert_eq!(
            printed.parse::<MrId>().ok(),
            Some(id.clone()),
            "MrId round trip: {text:?}"
        );
        let _ = id.cc_mr_index();
        for alg in mr_core::HashAlg::ALL {
            let _ = id.reset_value(alg);
        }
    }
    if let Ok(value) = text.parse::<RegisterValue>() {
        let printed = value.to_string();
        assert_eq!(
            printed.parse::<RegisterValue>().ok(),
            Some(value.clone()),
            "RegisterValue round trip: {text:?}"
        );
    }
});
