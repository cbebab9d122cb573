//! The example evidence the repository ships (`examples/`, made by `examples/make_evidence.rs`):
//! a 600-entry IMA list, a swtpm quote over PCR 10, and a simulated TD quote with the journal of
//! `mr_ima`; and [`tamper_file_path`], the one-byte edit the rejection tests make.

use std::path::PathBuf;

use mr_core::RegisterValue;
use mr_rtmr::quote::VerifyOptions;

/// The file at `path`, relative to the repository root.
pub fn read(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The bytes of the hex text file at `path` (relative to the repository root).
pub fn hex_file(path: &str) -> Vec<u8> {
    let text = String::from_utf8(read(path)).expect("a hex file is UTF-8");
    hex::decode(text.trim()).expect("a hex file holds hex")
}

/// The IMA list (binary, 600 entries).
pub fn list() -> Vec<u8> {
    read("examples/ima/binary_runtime_measurements")
}

/// [`list`] with one byte of a file path edited in entry 303 (the first `/usr/bin/file-` past
/// the middle).
pub fn tampered_list() -> Vec<u8> {
    tamper_file_path(&list(), b"/usr/bin/")
        .expect("the example list has /usr/bin/file- paths")
        .0
}

/// The PCR values the TPM quote signed (`examples/evidence/tpm/pcrs.txt`).
pub fn pcrs() -> Vec<RegisterValue> {
    String::from_utf8(read("examples/evidence/tpm/pcrs.txt"))
        .expect("pcrs.txt is UTF-8")
        .lines()
        .map(|l| l.parse().expect("an ID:ALG:HEX line"))
        .collect()
}

/// How the TD quote verifies: at the time it was made (`at.txt`), under the test root
/// (`root-ca.der`), with its nonce (`nonce.hex`).
pub fn td_options() -> VerifyOptions {
    let at: u64 = String::from_utf8(read("examples/evidence/td/at.txt"))
        .expect("at.txt is UTF-8")
        .trim()
        .parse()
        .expect("at.txt holds unix seconds");
    VerifyOptions::at_unix(at)
        .with_root_der(read("examples/evidence/td/root-ca.der"))
        .with_nonce(hex_file("examples/evidence/td/nonce.hex"))
}

/// Edits one byte of a file path in an IMA list: the `f` of the first `DIRfile-` past the
/// middle of the list becomes `F`. Returns the edited list and the byte offset edited, `None`
/// when the second half of the list has no such path.
pub fn tamper_file_path(list: &[u8], dir: &[u8]) -> Option<(Vec<u8>, usize)> {
    let needle = [dir, b"file-"].concat();
    let from = list.len() / 2;
    let at = list
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle.as_slice())?
        + from
        + dir.len();
    let mut out = list.to_vec();
    *out.get_mut(at)? = b'F';
    Some((out, at))
}
