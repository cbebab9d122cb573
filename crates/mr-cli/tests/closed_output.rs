//! A closed standard output or error (`mr … | true`, `mr … 2>&-`) never changes the verdict:
//! every command still exits 0 (verified), 1 (rejected) or 2 (malformed), never 101 from a
//! panic in `println!`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn example(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/ima")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A pipe whose reading end is already closed: the first write to it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

/// Runs `mr args` with stdout (and, with `close_stderr`, stderr) writing into closed pipes.
fn exit_code(args: &[&str], close_stderr: bool) -> i32 {
    let status = Command::new(env!("CARGO_BIN_EXE_mr"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(if close_stderr {
            closed_pipe()
        } else {
            Stdio::null()
        })
        .status()
        .unwrap();
    status
        .code()
        .unwrap_or_else(|| panic!("mr {args:?} was killed: {status}"))
}

#[test]
fn a_verified_list_exits_0_whatever_happens_to_the_output() {
    let list = example("binary_runtime_measurements");
    let expected = example("expected-pcrs.txt");
    for json in [false, true] {
        let mut args = vec!["ima", "replay", &list, "--expect-file", &expected];
        if json {
            args.push("--json");
        }
        assert_eq!(exit_code(&args, false), 0, "{args:?}");
        assert_eq!(exit_code(&args, true), 0, "{args:?}");
    }
}

#[test]
fn a_rejected_list_exits_1_whatever_happens_to_the_output() {
    let list = example("binary_runtime_measurements");
    let wrong = format!("10:sha256:{}", "ab".repeat(32));
    for json in [false, true] {
        let mut args = vec!["ima", "replay", &list, "--expect", &wrong];
        if json {
            args.push("--json");
        }
        assert_eq!(exit_code(&args, false), 1, "{args:?}");
        assert_eq!(exit_code(&args, true), 1, "{args:?}");
    }
}

#[test]
fn malformed_input_and_usage_errors_exit_2_whatever_happens_to_the_output() {
    let expected = example("expected-pcrs.txt");
    // Not an IMA list.
    assert_eq!(exit_code(&["ima", "replay", &expected], true), 2);
    // Not a command.
    assert_eq!(exit_code(&["no-such-command"], true), 2);
    // --help goes to stdout: a closed stdout does not make it an error.
    assert_eq!(exit_code(&["--help"], true), 0);
}

#[test]
fn a_conversion_whose_output_cannot_be_written_exits_2() {
    // The output *is* the product of `mr cel convert`: losing it is an error, not a panic.
    let list = example("binary_runtime_measurements");
    assert_eq!(
        exit_code(
            &["cel", "convert", &list, "--from", "ima", "--to", "json"],
            false
        ),
        2
    );
}
