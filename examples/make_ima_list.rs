//! Writes a synthetic IMA measurement list made by mr's own list builder, and the PCR 10 values
//! it replays to (`ID:ALG:HEX` lines, the `--expect-file` format of `mr ima replay`).
//!
//! ```sh
//! cargo run --release --example make_ima_list -- --entries 600 --out examples/ima
//! cargo run --release --example make_ima_list -- --entries 1000000 --out /tmp/big --banks sha1,sha256
//! ```
//! This is how `examples/ima/` was made (`tests/example_list.rs` checks that it still is).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use mr::core::log::ima::sample::write_sample_list;
use mr::core::log::ima::ListKind;
use mr::core::HashAlg;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make_ima_list: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut entries = 600u64;
    let mut out = PathBuf::from("examples/ima");
    let mut banks = vec![HashAlg::Sha1, HashAlg::Sha256];
    let mut kind = ListKind::Binary;
    let mut seed = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--entries" => entries = value()?.parse().map_err(|e| format!("--entries: {e}"))?,
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--out" => out = PathBuf::from(value()?),
            "--ascii" => kind = ListKind::Ascii,
            "--banks" => {
                banks = value()?
                    .split(',')
                    .map(|b| b.parse::<HashAlg>().map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    let (list_path, exp_path, summary) = write_example(&out, kind, entries, &banks, seed)?;
    eprintln!(
        "wrote {} ({} entries, {} violations) and {}",
        list_path.display(),
        summary.entries,
        summary.violations,
        exp_path.display()
    );
    Ok(())
}

/// Writes the list and its expected values into `out`.
fn write_example(
    out: &std::path::Path,
    kind: ListKind,
    entries: u64,
    banks: &[HashAlg],
    seed: u64,
) -> Result<(PathBuf, PathBuf, mr::core::log::ima::sample::SampleSummary), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let name = match kind {
        ListKind::Binary => "binary_runtime_measurements",
        ListKind::Ascii => "ascii_runtime_measurements",
    };
    let list_path = out.join(name);
    let file =
        std::fs::File::create(&list_path).map_err(|e| format!("{}: {e}", list_path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let summary =
        write_sample_list(&mut w, kind, entries, banks, seed).map_err(|e| e.to_string())?;
    w.flush().map_err(|e| e.to_string())?;
    let mut text = format!(
        "# PCR 10 after all {} entries of {name}\n# made by: cargo run --example make_ima_list -- --entries {entries} --seed {seed}\n",
        summary.entries
    );
    for v in &summary.expected {
        text.push_str(&format!("{v}\n"));
    }
    let exp_path = out.join("expected-pcrs.txt");
    std::fs::write(&exp_path, text).map_err(|e| format!("{}: {e}", exp_path.display()))?;
    Ok((list_path, exp_path, summary))
}
