//! Time mr's appraisal call alone, as `benches/peers/keylime_appraise.py` times keylime's: the
//! policy is loaded and the list read into memory first (not timed), then `appraise_input` runs
//! as `mr ima appraise` calls it (two threads, pinned) and is timed.
//!
//! usage: `cargo run --release -p mr-policy --example appraise_call -- LIST POLICY.json`
//! Prints JSON: `entries`, `seconds` (the call alone), `allowed`, and `policy_seconds` (loading
//! the policy, which the call does not include); exit 1 when an entry is not allowed, 2 on a
//! malformed list or policy.

use std::process::ExitCode;
use std::time::Instant;

use mr_core::log::ima::ImaInput;
use mr_policy::{appraise_input, AppraiseOptions, ListOptions, RuntimePolicy};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, list, policy] = args.as_slice() else {
        eprintln!("usage: appraise_call LIST POLICY.json");
        return ExitCode::from(2);
    };
    let loading = Instant::now();
    let policy = match RuntimePolicy::from_file(std::path::Path::new(policy), None) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("policy: {e}");
            return ExitCode::from(2);
        }
    };
    let policy_seconds = loading.elapsed().as_secs_f64();
    let bytes = match std::fs::read(list) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{list}: {e}");
            return ExitCode::from(2);
        }
    };
    let options = ListOptions::default().with_pinned_threads(true);
    let start = Instant::now();
    let result = appraise_input(
        ImaInput::from_bytes(&bytes),
        &policy,
        AppraiseOptions::default(),
        &options,
    );
    let seconds = start.elapsed().as_secs_f64();
    match result {
        Ok(a) => {
            println!(
                "{}",
                serde_json::json!({
                    "entries": a.entries,
                    "seconds": seconds,
                    "allowed": a.is_allowed(),
                    "policy_seconds": policy_seconds,
                })
            );
            if a.is_allowed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("list: {e}");
            ExitCode::from(2)
        }
    }
}
