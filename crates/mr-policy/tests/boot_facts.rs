//! The facts of real boot logs (`BootFacts`: Secure Boot state, PK/KEK/db/dbx, EFI applications
//! in PCR 4, kernel command lines) against an independent parse of the same logs: the YAML that
//! tpm2-tools' `tpm2_eventlog` printed for its fixtures (`$MR_SHARED/vectors/tcg2/tpm2-tools`,
//! `<log>.bin.yaml` next to each log; its event decoding is the expected value, never mr's).
//! The semantics are go-attestation's `ParseSecurebootState`: `SecureBoot` = 1 is enabled;
//! `EFI_SIGNATURE_LIST` certificates reported by the SHA-256 of their DER, SHA-256 entries by
//! value. Then the TPM rules built from those expected values pass on each log and fail on the
//! others.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use mr_policy::{AppraisalPolicy, BootFacts, PolicyError, SignatureDb, TpmFacts, Variable};
use serde_json::json;
use sha2::Digest as _;

/// `EFI_CERT_X509_GUID` and `EFI_CERT_SHA256_GUID` (UEFI specification, "Signature Database").
const X509: &str = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072";
const SHA256: &str = "c1c41626-504c-4092-aca9-41f936934328";
/// The Linux EFI stub's tagged event of the load options.
const LOAD_OPTIONS_TAG: u32 = 0x8F3B_22ED;

/// One event as `tpm2_eventlog` printed it (only the fields the facts use).
#[derive(Debug, Default)]
struct YamlEvent {
    pcr: Option<u32>,
    /// `VariableDataLength` of a variable event.
    data_len: Option<usize>,
    kind: String,
    /// (algorithm, digest) in the order printed.
    digests: Vec<(String, Vec<u8>)>,
    /// `UnicodeName` of a variable event.
    name: Option<String>,
    /// `Enabled:` of the `SecureBoot` variable (or its value printed as hex, equal to 1).
    enabled: Option<bool>,
    /// The variable's data was printed as one hex string (older `tpm2_eventlog` versions do not
    /// decode signature lists): its contents have no independent parse here.
    undecoded: bool,
    /// The `SignatureType` of the signature list being read.
    list_type: Option<String>,
    /// (`SignatureType`, `SignatureData`) of each signature of a variable's lists.
    signatures: Vec<(String, Vec<u8>)>,
    /// `String:` of an `EV_IPL` event, as printed (its first line).
    string: Option<String>,
    /// `Event:` printed as one hex string (events tpm2-tools does not decode).
    raw: Option<Vec<u8>>,
}

fn unquote(v: &str) -> &str {
    v.trim().trim_matches('"').trim_matches('\'')
}

/// A YAML double-quoted scalar's escapes (`\0`, `\\`, `\"`, `\n`, `\t`, `\xNN`).
fn unescape(v: &str) -> Vec<u8> {
    let inner = v
        .trim()
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap();
    let mut out = Vec::new();
    let mut bytes = inner.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next().unwrap() {
            b'0' => out.push(0),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'x' => {
                let h = [bytes.next().unwrap(), bytes.next().unwrap()];
                out.push(u8::from_str_radix(std::str::from_utf8(&h).unwrap(), 16).unwrap());
            }
            other => out.push(other),
        }
    }
    out
}

/// The events of a `tpm2_eventlog` YAML document (the `events:` list, up to `pcrs:`).
fn yaml_events(text: &str) -> Vec<YamlEvent> {
    let mut out: Vec<YamlEvent> = Vec::new();
    for line in text.lines() {
        if line.starts_with("pcrs:") {
            break;
        }
        // Events start at `- EventNum:` (version 2 output) or at `  PCRIndex:` (version 1).
        let starts = line.starts_with("- EventNum:")
            || (line.starts_with("  PCRIndex:") && out.last().is_none_or(|e| e.pcr.is_some()));
        if starts {
            out.push(YamlEvent::default());
        }
        let Some(e) = out.last_mut() else { continue };
        let Some((key, value)) = line.trim_start().split_once(':') else {
            continue;
        };
        let key = key.trim_start_matches("- ");
        match key {
            "PCRIndex" if line.starts_with("  PCRIndex") => {
                e.pcr = Some(value.trim().parse().unwrap());
            }
            "VariableDataLength" => e.data_len = Some(value.trim().parse().unwrap()),
            "EventType" if line.starts_with("  EventType") => e.kind = value.trim().to_owned(),
            "AlgorithmId" => e.digests.push((value.trim().to_owned(), Vec::new())),
            "Digest" if line.starts_with("    Digest") => {
                e.digests.last_mut().unwrap().1 = hex::decode(unquote(value)).unwrap();
            }
            "UnicodeName" => e.name = Some(value.trim().to_owned()),
            "Enabled" => e.enabled = Some(unquote(value) == "Yes"),
            // Older tpm2_eventlog versions print the SecureBoot value as hex.
            "VariableData" if !value.trim().is_empty() => {
                let data = hex::decode(unquote(value)).unwrap();
                if e.name.as_deref() == Some("SecureBoot") {
                    e.enabled = Some(data == [1]);
                } else {
                    e.undecoded = true;
                }
            }
            "SignatureType" => e.list_type = Some(value.trim().to_owned()),
            // Each signature of the current list (EV_EFI_VARIABLE_AUTHORITY events print one
            // SignatureData outside any list: not a database entry).
            "SignatureData" => {
                if let Some(kind) = &e.list_type {
                    let data = hex::decode(value.trim()).unwrap();
                    e.signatures.push((kind.clone(), data));
                }
            }
            "String" => e.string = Some(value.trim().to_owned()),
            "Event" if line.starts_with("  Event:") && !value.trim().is_empty() => {
                e.raw = hex::decode(unquote(value)).ok();
            }
            _ => {}
        }
    }
    out
}

/// The facts, computed from the YAML with go-attestation's semantics (the last event of each
/// variable; certificates by SHA-256 of the DER).
#[derive(Debug, Default)]
struct Expected {
    secure_boot: Option<bool>,
    /// Each variable's contents (`None`: printed undecoded).
    variables: Vec<(&'static str, Option<SignatureDb>)>,
    boot_applications: Vec<Vec<u8>>,
    kernel_cmdlines: Vec<String>,
    /// The digests (algorithm, value) of each load-options event of the Linux EFI stub: its
    /// data is a fixed description, the command line only its digest.
    load_options: Vec<Vec<(String, Vec<u8>)>>,
}

fn expected(events: &[YamlEvent]) -> Expected {
    let mut out = Expected::default();
    for e in events {
        match (e.pcr.unwrap(), e.kind.as_str()) {
            (7, "EV_EFI_VARIABLE_DRIVER_CONFIG") => {
                let name = match e.name.as_deref() {
                    Some("SecureBoot") => {
                        // No data is printed for an empty value: not 1, so not enabled (a
                        // state go-attestation refuses to report at all).
                        out.secure_boot = Some(match (e.enabled, e.data_len) {
                            (Some(enabled), _) => enabled,
                            (None, Some(0)) => false,
                            other => panic!("SecureBoot printed as {other:?}"),
                        });
                        continue;
                    }
                    Some("PK") => "pk",
                    Some("KEK") => "kek",
                    Some("db") => "db",
                    Some("dbx") => "dbx",
                    _ => continue,
                };
                let mut db = SignatureDb::default();
                for (kind, data) in &e.signatures {
                    match kind.as_str() {
                        X509 => db.certs.push(sha2::Sha256::digest(data).into()),
                        SHA256 => db.hashes.push(data.as_slice().try_into().unwrap()),
                        _ => db.other += 1,
                    }
                }
                out.variables.retain(|(n, _)| *n != name);
                out.variables.push((name, (!e.undecoded).then_some(db)));
            }
            (4, "EV_EFI_BOOT_SERVICES_APPLICATION") => {
                let d = e
                    .digests
                    .iter()
                    .find(|(a, _)| a == "sha256")
                    .or(e.digests.first())
                    .unwrap();
                out.boot_applications.push(d.1.clone());
            }
            (8, "EV_IPL") => {
                let s = e.string.as_ref().unwrap();
                // Other GRUB events (grub_cmd: …) may span several YAML lines; command lines
                // are one line here.
                if s.starts_with("\"kernel_cmdline: ") {
                    let s = unescape(s);
                    let cmdline = s.strip_prefix(b"kernel_cmdline: ").unwrap();
                    let cmdline = cmdline.strip_suffix(b"\0").unwrap_or(cmdline);
                    out.kernel_cmdlines
                        .push(String::from_utf8(cmdline.to_vec()).unwrap());
                }
            }
            (9, "EV_EVENT_TAG") => {
                let raw = e.raw.as_ref().unwrap();
                let id = u32::from_le_bytes(raw[..4].try_into().unwrap());
                if id == LOAD_OPTIONS_TAG {
                    out.load_options.push(e.digests.clone());
                }
            }
            _ => {}
        }
    }
    out
}

fn tpm2_tools() -> Option<PathBuf> {
    Some(PathBuf::from(std::env::var_os("MR_SHARED")?).join("vectors/tcg2/tpm2-tools"))
}

/// Every tpm2-tools fixture that has a YAML companion: (name, log, expected facts).
fn fixtures(dir: &Path) -> Vec<(String, Vec<u8>, Expected)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".bin"))
        .filter(|n| dir.join(format!("{n}.yaml")).exists())
        .collect();
    names.sort();
    names
        .into_iter()
        .filter(|n| {
            // Hand-made fixtures the strict parser refuses (see mr-core's tcg_vectors test):
            // two give 2 digests under a 4-algorithm Spec ID header, one is a Spec ID header
            // whose eventSize stops before its vendor data. Facts of a refused log are an
            // error, never partial facts.
            let refused = [
                "event-uefiaction.bin",
                "event-uefivar.bin",
                "specid-vendordata.bin",
            ];
            if !refused.contains(&n.as_str()) {
                return true;
            }
            let log = std::fs::read(dir.join(n)).unwrap();
            let r = BootFacts::from_log(&log, |_| true);
            assert!(matches!(r, Err(PolicyError::BootLog(_))), "{n}: {r:?}");
            false
        })
        .map(|n| {
            let log = std::fs::read(dir.join(&n)).unwrap();
            let yaml = std::fs::read_to_string(dir.join(format!("{n}.yaml"))).unwrap();
            let want = expected(&yaml_events(&yaml));
            (n, log, want)
        })
        .collect()
}

fn measured<'a>(facts: &'a BootFacts, name: &str) -> &'a SignatureDb {
    match facts.variables.iter().find(|(n, _)| *n == name) {
        Some((_, Variable::Measured(db))) => db,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn boot_facts_equal_tpm2_eventlogs_parse_of_the_tpm2_tools_fixtures() {
    let Some(dir) = tpm2_tools() else {
        eprintln!("MR_SHARED not set: skipped");
        return;
    };
    let all = fixtures(&dir);
    assert!(all.len() >= 9, "{} fixtures", all.len());
    let (mut enabled, mut disabled, mut dbs, mut apps, mut cmdlines) = (0, 0, 0, 0, 0);
    for (name, log, want) in &all {
        let got = match BootFacts::from_log(log, |_| true) {
            Ok(f) => f,
            Err(e) => panic!("{name}: {e}"),
        };
        assert_eq!(got.secure_boot, want.secure_boot, "{name}: SecureBoot");
        let got_names: Vec<&str> = got.variables.iter().map(|(n, _)| *n).collect();
        let want_names: Vec<&str> = want.variables.iter().map(|(n, _)| *n).collect();
        assert_eq!(got_names, want_names, "{name}: variables measured");
        for (var, db) in &want.variables {
            let got_db = measured(&got, var);
            if let Some(db) = db {
                assert_eq!(got_db, db, "{name}: {var}");
                dbs += usize::from(!db.certs.is_empty() || !db.hashes.is_empty());
            }
        }
        assert_eq!(
            got.boot_applications, want.boot_applications,
            "{name}: PCR 4 applications"
        );
        assert_eq!(
            got.kernel_cmdlines, want.kernel_cmdlines,
            "{name}: kernel command lines"
        );
        assert_eq!(got.unverified_cmdlines, 0, "{name}");
        let got_load_options: Vec<Vec<(String, Vec<u8>)>> = got
            .load_options
            .iter()
            .map(|ds| {
                ds.iter()
                    .map(|d| (d.alg().to_string(), d.as_bytes().to_vec()))
                    .collect()
            })
            .collect();
        assert_eq!(
            got_load_options, want.load_options,
            "{name}: EFI stub load options"
        );
        enabled += usize::from(want.secure_boot == Some(true));
        disabled += usize::from(want.secure_boot == Some(false));
        apps += want.boot_applications.len();
        cmdlines += want.kernel_cmdlines.len();
    }
    // The fixtures cover both Secure Boot states, non-empty signature databases, applications
    // and GRUB command lines (so the comparisons above are not all of empty sets).
    assert_eq!((enabled, disabled), (2, 5), "logs with Secure Boot on, off");
    assert!(
        dbs >= 10 && apps >= 10 && cmdlines >= 4,
        "{dbs} {apps} {cmdlines}"
    );
}

/// A TPM policy of the expected facts of one log: its Secure Boot state, its db certificates
/// required, its EFI applications and kernel command lines allowed.
fn policy_of(want: &Expected) -> Option<mr_policy::TpmPolicy> {
    let sb = want.secure_boot?;
    if want.boot_applications.is_empty() {
        return None;
    }
    let mut tpm = json!({
        "secure_boot": sb,
        "boot_applications": want.boot_applications.iter().map(hex::encode).collect::<Vec<_>>(),
    });
    if let Some((_, Some(db))) = want.variables.iter().find(|(n, _)| *n == "db") {
        if !db.certs.is_empty() {
            tpm["db"] = json!({"required": db.certs.iter().map(hex::encode).collect::<Vec<_>>()});
        }
    }
    if !want.kernel_cmdlines.is_empty() {
        tpm["kernel_cmdlines"] = json!(want.kernel_cmdlines);
    }
    let doc = json!({"version": 1, "tpm": tpm});
    AppraisalPolicy::from_json(doc.to_string().as_bytes(), Path::new("."))
        .unwrap()
        .tpm
}

#[test]
fn tpm_rules_from_each_logs_facts_pass_on_it_and_fail_on_the_others() {
    let Some(dir) = tpm2_tools() else {
        eprintln!("MR_SHARED not set: skipped");
        return;
    };
    let all = fixtures(&dir);
    let facts: Vec<TpmFacts> = all
        .iter()
        .map(|(_, log, _)| TpmFacts {
            pcrs: vec![],
            boot: Some(BootFacts::from_log(log, |_| true).unwrap()),
        })
        .collect();
    let mut policies = 0;
    for (i, (name, _, want)) in all.iter().enumerate() {
        let Some(policy) = policy_of(want) else {
            continue;
        };
        policies += 1;
        let own = policy.check(&facts[i]);
        assert!(
            own.len() >= 2 && own.iter().all(|c| c.passed),
            "{name}: {own:?}"
        );
        for (j, (other, _, _)) in all.iter().enumerate().filter(|(j, _)| *j != i) {
            let checks = policy.check(&facts[j]);
            let failed: Vec<&str> = checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| c.name)
                .collect();
            assert!(
                !failed.is_empty(),
                "{name}'s policy accepted {other}: {checks:?}"
            );
        }
        // Without the verified PCRs the facts come from, the boot-log rules cannot pass.
        let log = &all[i].1;
        let unverified = TpmFacts {
            pcrs: vec![],
            boot: Some(BootFacts::from_log(log, |pcr| pcr != 4 && pcr != 7).unwrap()),
        };
        for c in policy.check(&unverified) {
            if matches!(
                c.name,
                "tpm.secure_boot" | "tpm.db" | "tpm.boot_applications"
            ) {
                assert!(!c.passed, "{name}: {c:?}");
            }
        }
    }
    assert!(policies >= 5, "{policies} policies");
}
