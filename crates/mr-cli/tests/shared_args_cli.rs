//! The argument groups shared by several commands (TD quote options, TPM quote files, nonce,
//! expected values, `--json`) are declared once and flattened: each command keeps its flag
//! names, and the groups that need another flag still need it (exit 2 without it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{code, mr, stderr, stdout, write};

/// Every flag of the contract (docs/cli.md) is still in each command's help.
#[test]
fn each_command_keeps_its_flag_names() {
    for (command, flags) in [
        (
            &["quote", "verify", "tpm"][..],
            &["--attest", "--sig", "--ak", "--nonce", "--pcrs", "--json"][..],
        ),
        (
            &["quote", "verify", "tdx"],
            &[
                "--collateral",
                "--root",
                "--at",
                "--nonce",
                "--allow-debug",
                "--json",
            ],
        ),
        (
            &["verify"],
            &[
                "--ima",
                "--tpm-attest",
                "--tpm-sig",
                "--ak",
                "--pcrs",
                "--ima-pcr",
                "--td-quote",
                "--journal",
                "--backing",
                "--root",
                "--collateral",
                "--at",
                "--allow-debug",
                "--nonce",
                "--json",
            ],
        ),
        (
            &["tcg", "replay"],
            &[
                "--ccel",
                "--ccel-table",
                "--td-quote",
                "--root",
                "--at",
                "--nonce",
                "--collateral",
                "--allow-debug",
                "--bank",
                "--expect",
                "--expect-file",
                "--ima",
                "--ima-register",
                "--missing-ebs-workaround",
                "--report-data-mismatch",
                "--json",
            ],
        ),
        (
            &["cel", "replay"],
            &[
                "--from",
                "--bank",
                "--expect",
                "--expect-file",
                "--exact",
                "--json",
            ],
        ),
        (&["agent", "ima"], &["--backing", "--journal", "--json"]),
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let o = mr(&args);
        assert_eq!(code(&o), 0, "{command:?}: {}", stderr(&o));
        let help = stdout(&o);
        for flag in flags {
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "{command:?} lost {flag}:\n{help}"
            );
        }
    }
    // `mr verify` names the TPM quote's files --tpm-attest and --tpm-sig only.
    let help = stdout(&mr(&["verify", "--help"]));
    assert!(!help.contains("--attest "), "{help}");
    assert!(!help.contains("--sig "), "{help}");
}

/// The TD quote's options and (for `mr tcg replay`) the nonce need `--td-quote`; the TPM root
/// conflicts with the TD root; `mr quote verify tpm` needs its three files.
#[test]
fn flattened_groups_keep_their_requirements() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "f", b"x");
    for args in [
        vec!["verify", "--ima", &f, "--root", &f],
        vec!["verify", "--ima", &f, "--at", "2025-07-19T10:00:34Z"],
        vec!["verify", "--ima", &f, "--allow-debug", "--tpm-attest", &f],
        vec!["tcg", "replay", &f, "--collateral", &f],
        vec!["tcg", "replay", &f, "--nonce", "00"],
    ] {
        let o = mr(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("--td-quote"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let o = mr(&[
        "verify",
        "--ima",
        &f,
        "--tpm-attest",
        &f,
        "--td-quote",
        &f,
        "--journal",
        &f,
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    let o = mr(&["quote", "verify", "tpm", "--sig", &f, "--ak", &f]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--attest"), "{}", stderr(&o));
    // A TPM root with a file missing: the usage error names both roots.
    let o = mr(&["verify", "--ima", &f, "--tpm-attest", &f, "--ak", &f]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--tpm-sig"), "{}", stderr(&o));
}
