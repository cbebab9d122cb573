#![no_main]
//! Canonical Event Log in every encoding (TLV, JSON, CBOR): detect, decode, replay, and — for
//! whatever decodes — encode in the same encoding and decode again to the same records. The
//! streaming reader in 3-byte chunks gives the records (or the error) of the whole-input one,
//! and the streaming replay gives the replay of the decoded records.

use mr_core::ComputeOnly;
use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use mr_core::log::cel::{self, CelReplayConfig, Encoding};

fuzz_target!(|data: &[u8]| {
    let _ = cel::detect(data);
    for enc in [Encoding::Tlv, Encoding::Json, Encoding::Cbor] {
        let decoded = cel::decode(data, enc);
        let mut chunked = Vec::new();
        let streamed = cel::read_records(BufReader::with_capacity(3, data), enc, |r| {
            chunked.push(r);
            Ok(())
        });
        assert_eq!(
            streamed.is_ok(),
            decoded.is_ok(),
            "{enc}: chunked reading differs"
        );
        let Ok(records) = decoded else {
            continue;
        };
        assert_eq!(chunked, records, "{enc}: chunked reading differs");
        let replayed = cel::replay_records(&records, &CelReplayConfig::default(), &ComputeOnly);
        let streamed = cel::replay(data, enc, &CelReplayConfig::default(), &ComputeOnly);
        assert_eq!(
            streamed.as_ref().ok(),
            replayed.as_ref().ok(),
            "{enc}: streaming replay differs"
        );
        if let Ok(bytes) = cel::encode(&records, enc) {
            let again = cel::decode(&bytes, enc).expect("mr's own encoding decodes");
            assert_eq!(again, records, "{enc} round trip");
        }
    }
});
