//! Helpers shared by the subcommands: input files, register values, output, exit codes.

use std::path::Path;
use std::process::ExitCode;

use mr_attest::shards::{register_values, MAX_REGISTER_FILE};
use mr_attest::FileError;
use mr_core::{Error, ErrorClass, ExpectedRegisters, RegisterValue};

/// How a command ended, mapped to an exit code by [`exit`].
#[derive(Debug)]
pub enum Failure {
    /// Evidence rejected (exit 1). The message says which register, entry and why.
    Rejected(String),
    /// Malformed input or usage error (exit 2).
    Malformed(String),
}

impl Failure {
    /// A failure of class `class` (rejected: exit 1; malformed or device: exit 2).
    pub fn classed(class: ErrorClass, message: String) -> Failure {
        match class {
            ErrorClass::Rejected => Failure::Rejected(message),
            ErrorClass::Malformed | ErrorClass::Device => Failure::Malformed(message),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::classed(e.class(), e.to_string())
    }
}

/// Result of a command: `Ok` prints nothing more and exits 0.
pub type CmdResult = Result<(), Failure>;

/// The libraries' plain words for the verifier's inputs, and the flags `mr` names them by
/// (docs/cli.md): the text `mr` prints names its flags.
const FLAG_WORDS: [(&str, &str); 13] = [
    ("(matches the expected nonce)", "(matches --nonce)"),
    ("no expected nonce given", "no --nonce given"),
    (
        "DEBUG TD accepted as the verifier allows",
        "DEBUG TD accepted by --allow-debug",
    ),
    (
        "not evaluated (no collateral)",
        "not evaluated (no --collateral)",
    ),
    ("(matches the quoted PCR values)", "(matches --pcrs)"),
    ("no quoted PCR values given", "no --pcrs given"),
    (
        "give the quoted PCR values",
        "give the quoted values with --pcrs",
    ),
    (
        "(a key is created when the first checkpoint is saved)",
        "(a key is created by the first --save-checkpoint)",
    ),
    (
        "checkpoint key (give its key file)",
        "checkpoint key (pass --checkpoint-key)",
    ),
    (
        "unless debug TDs are allowed",
        "unless debug TDs are allowed (--allow-debug)",
    ),
    ("give a runtime policy or", "give --runtime-policy or"),
    ("violations are rejected", "--reject-violations is set"),
    ("the boot log checks the", "--boot-log checks the"),
];

/// `text` with the libraries' words for inputs replaced by `mr`'s flags ([`FLAG_WORDS`]).
fn flag_words(text: &str) -> String {
    FLAG_WORDS
        .iter()
        .fold(text.to_owned(), |t, (plain, flag)| t.replace(plain, flag))
}

/// Print the failure (if any) and return the exit code.
pub fn exit(result: CmdResult) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Rejected(msg)) => {
            errln!("mr: rejected: {}", flag_words(&msg));
            ExitCode::from(1)
        }
        Err(Failure::Malformed(msg)) => {
            errln!("mr: error: {}", flag_words(&msg));
            ExitCode::from(2)
        }
    }
}

/// Open `path` for reading (`-` is stdin), buffered.
pub fn open_input(path: &Path) -> Result<Box<dyn std::io::BufRead>, Failure> {
    if path == Path::new("-") {
        Ok(Box::new(std::io::BufReader::with_capacity(
            1 << 16,
            std::io::stdin(),
        )))
    } else {
        let f = std::fs::File::open(path)
            .map_err(|e| Failure::Malformed(format!("cannot open {}: {e}", path.display())))?;
        Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, f)))
    }
}

/// The IMA list named on the command line (`-` is stdin), opened once; the library reads it
/// once ([`mr_core::log::ima::verify`]).
pub fn ima_input(path: &Path) -> Result<mr_core::ImaInput<'static>, Failure> {
    if path == Path::new("-") {
        return Ok(mr_core::ImaInput::from_reader(
            std::io::BufReader::with_capacity(1 << 16, std::io::stdin()),
        ));
    }
    mr_core::ImaInput::open(path).map_err(|e| Failure::Malformed(e.to_string()))
}

/// Read all of `path` (`-` is stdin), refusing files larger than `max` bytes.
pub fn read_input(path: &Path, max: u64) -> Result<Vec<u8>, Failure> {
    mr_attest::shards::read_bounded(open_input(path)?, path, max).map_err(file_failure)
}

/// The values of `--expect` and of `--expect-file` files (`ID:ALG:HEX`, read with
/// [`mr_core::register::parse_register_lines`]) as asserted values, `None` when none was given.
pub fn expected_values(
    expect: &[String],
    files: &[std::path::PathBuf],
) -> Result<Option<ExpectedRegisters>, Failure> {
    let mut values: Vec<RegisterValue> = Vec::new();
    for e in expect {
        values.push(
            e.parse()
                .map_err(|e: Error| Failure::Malformed(e.to_string()))?,
        );
    }
    for f in files {
        values.extend(register_file(f)?);
    }
    if values.is_empty() {
        return Ok(None);
    }
    Ok(Some(ExpectedRegisters::from_values(values)?))
}

/// The register values of the file `path` (`ID:ALG:HEX` lines, [`mr_attest::shards::register_values`]).
fn register_file(path: &Path) -> Result<Vec<RegisterValue>, Failure> {
    register_values(&read_input(path, MAX_REGISTER_FILE)?, path).map_err(file_failure)
}

/// A file of evidence that cannot be used, with its class.
pub fn file_failure(e: FileError) -> Failure {
    Failure::classed(e.class(), e.to_string())
}

pub use mr_attest::error::rejection_details as rejection_json;

/// Print lines of text (a result's [`mr_attest::render`] form) on stdout.
pub fn print_lines(lines: &[String]) {
    for line in lines {
        outln!("{}", flag_words(line));
    }
}

/// Print a JSON value on stdout (messages in it name `mr`'s flags, [`FLAG_WORDS`]).
pub fn print_json(value: &serde_json::Value) {
    outln!("{}", flag_words(&format!("{value:#}")));
}

/// With `--json` (`json`), print [`rejection_json`] of `e`, if it has one, before the command
/// fails with `e`.
pub fn print_rejection_json(e: &Error, json: bool) {
    if json {
        if let Some(v) = rejection_json(e) {
            print_json(&v);
        }
    }
}
