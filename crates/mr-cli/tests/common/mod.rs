//! Helpers shared by the CLI tests: run the `mr` binary, read its output, find the shared
//! vectors. Each test file uses a subset.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs `mr` with `args` (stdin empty).
pub fn mr(args: &[&str]) -> Output {
    run(args, None)
}

/// Runs `mr` with `args`, feeding `input` on stdin.
pub fn mr_stdin(args: &[&str], input: &[u8]) -> Output {
    run(args, Some(input))
}

fn run(args: &[&str], input: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mr"))
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(data) = input {
        // `mr` may exit before reading everything (malformed input): ignore a broken pipe.
        let _ = child.stdin.take().unwrap().write_all(data);
    }
    child.wait_with_output().unwrap()
}

/// The exit code.
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `$MR_SHARED/vectors`, or `None` (and a note that the test skipped) when MR_SHARED is unset.
pub fn vectors() -> Option<PathBuf> {
    mr_testkit::shared("vectors")
}

/// A path as a command-line argument.
pub fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes `bytes` to `dir/name` and returns the path as an argument.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_owned()
}
