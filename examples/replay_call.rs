//! Time mr's IMA replay call alone, as `$MR_SHARED/tools/keylime_replay.py` times keylime's
//! `process_measurement_list`: the list is read into memory first (not timed), then
//! `mr::core::log::ima::verify` runs on it as `mr ima replay --expect` calls it (two threads,
//! pinned, the banks of the expected values) and is timed.
//!
//! ```sh
//! cargo run --release --example replay_call -- LIST 10:sha256:HEX [ID:ALG:HEX ...]
//! ```
//! Prints JSON: `entries`, `seconds` (the call alone); exit 0 when the list replays to the
//! expected values, 1 when it does not, 2 on a bad argument or an unreadable list.

use std::process::ExitCode;
use std::time::Instant;

use mr::core::log::ima::{self, ImaInput, ImaOptions, ImaReplayConfig};
use mr::core::{ExpectedRegisters, RegisterValue};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, list, first, more @ ..] = args.as_slice() else {
        eprintln!("usage: replay_call LIST ID:ALG:HEX [ID:ALG:HEX ...]");
        return ExitCode::from(2);
    };
    let values = match std::iter::once(first)
        .chain(more)
        .map(|v| v.parse::<RegisterValue>())
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let banks: Vec<_> = values.iter().map(|v| v.value.alg()).collect();
    let expected = match ExpectedRegisters::from_values(values) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let bytes = match std::fs::read(list) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{list}: {e}");
            return ExitCode::from(2);
        }
    };
    let options = ImaOptions::default()
        .with_replay(ImaReplayConfig::default().with_banks(banks))
        .with_pinned_threads(true);
    let start = Instant::now();
    let result = ima::verify(ImaInput::from_bytes(&bytes), &expected, &options);
    let seconds = start.elapsed().as_secs_f64();
    match result {
        Ok(checked) => {
            println!(
                "{}",
                serde_json::json!({ "entries": checked.report().entries, "seconds": seconds })
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rejected: {e}");
            ExitCode::from(1)
        }
    }
}
