#![no_main]
//! Canonical Event Log in every encoding (TLV, JSON, CBOR): detect, decode, replay, and — for
//! whatever decodes — encode in the same encoding and decode again to the same records.

use libfuzzer_sys::fuzz_target;
use mr_core::log::cel::{self, CelReplayConfig, Encoding};

fuzz_target!(|data: &[u8]| {
    let _ = cel::detect(data);
    for enc in [Encoding::Tlv, Encoding::Json, Encoding::Cbor] {
        let Ok(records) = cel::decode(data, enc) else {
            continue;
        };
        let _ = cel::replay_records(&records, &CelReplayConfig::default(), None);
        if let Ok(bytes) = cel::encode(&records, enc) {
            let again = cel::decode(&bytes, enc).expect("mr's own encoding decodes");
            assert_eq!(again, records, "{enc} round trip");
        }
    }
});
