//! The TPM platform rules that read facts of the verified boot log (Secure Boot, PK/KEK/db/dbx,
//! boot applications, kernel command line), applied through the attestation API: evidence of a
//! TPM quote and a real boot log (`$MR_SHARED/vectors/tcg2/tpm2-tools/event-moklisttrusted.bin`,
//! a RHEL 9 boot with Secure Boot on, GRUB and a kernel command line), a policy with those rules.
//!
//! Every expected value comes from tpm2-tools' own parse of the log, the `tpm2_eventlog` YAML
//! next to it: the quoted PCR values are its `pcrs:` replay (signed by a software AK, so that a
//! quote of exactly those values exists), the rules' values its decoded events. The rules pass
//! with the values compared; each changed rule fails, naming the values.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use mr_attest::{verify, AttestationResult, Evidence, RuleStatus, TpmQuoteEvidence};
use mr_core::{Digest, HashAlg, MrId, RegisterValue};
use mr_policy::AppraisalPolicy;
use mr_testkit::tpm::{
    ecc_key, ecc_tpmt_public, ecdsa_signature, quote_attest, RESTRICTED_SIGNING, TPM_ALG_ECDSA,
    TPM_ALG_SHA256,
};
use serde_json::{json, Value};

const LOG: &str = "vectors/tcg2/tpm2-tools/event-moklisttrusted.bin";
const NONCE: [u8; 32] = [0x6b; 32];

/// What `tpm2_eventlog` printed for the log.
struct Yaml {
    /// The `pcrs:` section's SHA-256 bank.
    pcrs: Vec<RegisterValue>,
    /// `Enabled:` of the first `SecureBoot` variable event.
    secure_boot: bool,
    /// SHA-256 of each certificate (`SignatureData`) of the first `db` variable event.
    db_certs: Vec<String>,
    /// The SHA-256 digest of each `EV_EFI_BOOT_SERVICES_APPLICATION` event of PCR 4.
    boot_applications: Vec<String>,
    /// The `kernel_cmdline: ` strings of `EV_IPL` events (without the prefix and the NUL).
    kernel_cmdlines: Vec<String>,
}

fn unquote(v: &str) -> &str {
    v.trim().trim_matches('"').trim_matches('\'')
}

fn parse_yaml(text: &str) -> Yaml {
    let mut y = Yaml {
        pcrs: Vec::new(),
        secure_boot: false,
        db_certs: Vec::new(),
        boot_applications: Vec::new(),
        kernel_cmdlines: Vec::new(),
    };
    let (events, pcrs) = text.split_once("\npcrs:").unwrap();
    let mut seen_secure_boot = false;
    let mut seen_db = false;
    for event in events.split("\n- EventNum:").skip(1) {
        let field = |name: &str| {
            event
                .lines()
                .find_map(|l| l.trim_start().strip_prefix(name).map(unquote))
        };
        let pcr = field("PCRIndex:").unwrap_or_default();
        let kind = field("EventType:").unwrap_or_default();
        match (pcr, kind, field("UnicodeName:")) {
            ("7", "EV_EFI_VARIABLE_DRIVER_CONFIG", Some("SecureBoot")) if !seen_secure_boot => {
                seen_secure_boot = true;
                y.secure_boot = field("Enabled:") == Some("Yes");
            }
            ("7", "EV_EFI_VARIABLE_DRIVER_CONFIG", Some("db")) if !seen_db => {
                seen_db = true;
                y.db_certs = event
                    .lines()
                    .filter_map(|l| l.trim_start().strip_prefix("SignatureData:"))
                    .map(|hex| hex::encode(sha256(&hex::decode(unquote(hex)).unwrap())))
                    .collect();
            }
            ("4", "EV_EFI_BOOT_SERVICES_APPLICATION", _) => {
                y.boot_applications
                    .push(field("Digest:").unwrap().to_owned());
            }
            ("8", "EV_IPL", _) => {
                if let Some(s) = field("String:") {
                    if let Some(cmdline) = s.strip_prefix("kernel_cmdline: ") {
                        y.kernel_cmdlines
                            .push(cmdline.trim_end_matches("\\0").to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    let sha256_bank = pcrs.split_once("sha256:").unwrap().1;
    for line in sha256_bank.lines() {
        let Some((index, value)) = line.split_once(':') else {
            continue;
        };
        let Ok(index) = index.trim().parse::<u32>() else {
            break;
        };
        y.pcrs.push(RegisterValue {
            id: MrId::Pcr(index),
            value: Digest::from_hex(HashAlg::Sha256, value.trim().trim_start_matches("0x"))
                .unwrap(),
        });
    }
    y
}

fn sha256(data: &[u8]) -> Vec<u8> {
    HashAlg::Sha256.hash(data).as_bytes().to_vec()
}

fn shared() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("MR_SHARED") else {
        eprintln!("MR_SHARED not set: skipped");
        return None;
    };
    Some(PathBuf::from(dir))
}

/// Evidence of a software-signed quote of `pcrs` and the boot log, under `policy`.
fn verify_with(log: &[u8], pcrs: &[RegisterValue], doc: &Value) -> AttestationResult {
    let attest = quote_attest(&NONCE, pcrs).marshal();
    let key = ecc_key(7);
    let quote = TpmQuoteEvidence::new(
        attest.clone(),
        ecdsa_signature(&key, &attest, HashAlg::Sha256),
        ecc_tpmt_public(&key, RESTRICTED_SIGNING, TPM_ALG_ECDSA, TPM_ALG_SHA256),
    )
    .with_nonce(NONCE.to_vec())
    .with_pcrs(pcrs.to_vec())
    .with_boot_log(log.to_vec());
    let policy = AppraisalPolicy::from_json(doc.to_string().as_bytes(), Path::new("."))
        .unwrap_or_else(|e| panic!("{doc}: {e}"));
    verify(Evidence::tpm(quote).with_policy(policy)).unwrap()
}

fn check<'a>(r: &'a AttestationResult, name: &str) -> &'a mr_attest::RuleOutcome {
    r.rule(name)
        .unwrap_or_else(|| panic!("no rule {name} in {:?}", r.rules))
}

#[test]
fn boot_log_rules_pass_on_a_real_log_under_a_quote_and_each_changed_rule_fails() {
    let Some(shared) = shared() else { return };
    let log = std::fs::read(shared.join(LOG)).unwrap();
    let y = parse_yaml(&std::fs::read_to_string(shared.join(format!("{LOG}.yaml"))).unwrap());
    // What tpm2-tools decoded (so that a wrong parse of the YAML cannot make the test vacuous).
    assert!(y.secure_boot);
    assert_eq!(y.db_certs.len(), 2);
    assert_eq!(y.boot_applications.len(), 4);
    assert_eq!(y.boot_applications[2], y.boot_applications[3]);
    assert!(!y.boot_applications[..2].contains(&y.boot_applications[3]));
    assert_eq!(y.kernel_cmdlines.len(), 1);
    assert!(y.pcrs.len() >= 10);

    let rules = json!({
        "secure_boot": true,
        "db": {"required": y.db_certs},
        "dbx": {"forbidden": [hex::encode([0x42u8; 32])]},
        "boot_applications": y.boot_applications,
        "kernel_cmdlines": y.kernel_cmdlines,
    });
    let doc = |rules: &Value| json!({"version": 1, "tpm": rules});
    let r = verify_with(&log, &y.pcrs, &doc(&rules));
    assert!(r.verified, "{:?}", r.failure);
    // The boot log replayed to the quoted PCRs (the facts come from verified PCRs only).
    let boot = r.boot_log.as_ref().unwrap();
    assert!(!boot.against.is_empty());
    assert_eq!(boot.replay.outcome.left_over(), 0);
    for (name, compared) in [
        ("tpm.secure_boot", "SecureBoot enabled".to_owned()),
        // The variables' pass detail counts what was measured (and says the rule held).
        (
            "tpm.db",
            "db holds 2 certificate(s), 0 hash(es), 0 other: every required".to_owned(),
        ),
        ("tpm.dbx", "no forbidden one".to_owned()),
        ("tpm.boot_applications", y.boot_applications[3].clone()),
        ("tpm.kernel_cmdline", "ima_template=ima-ng".to_owned()),
    ] {
        let c = check(&r, name);
        assert_eq!(c.status, RuleStatus::Pass, "{name}: {}", c.detail);
        assert!(c.detail.contains(&compared), "{name}: {}", c.detail);
    }
    let report = r.appraisal.as_ref().unwrap();
    assert_eq!(report.checks.len(), 5);
    assert!(report.checks.iter().all(|c| c.passed));

    // Each rule changed: the evidence is rejected at the appraisal, the rule fails naming the
    // values compared, the others still pass.
    let other = hex::encode([0x17u8; 32]);
    let cases: [(&str, Value, &str); 5] = [
        ("secure_boot", json!(false), "the policy requires disabled"),
        ("db", json!({"required": [other]}), other.as_str()),
        // db holds the certificate a rule forbids.
        (
            "db",
            json!({"required": [y.db_certs[0]], "forbidden": [y.db_certs[1]]}),
            y.db_certs[1].as_str(),
        ),
        // The last application (loaded twice) left out.
        (
            "boot_applications",
            json!(y.boot_applications[..2]),
            y.boot_applications[3].as_str(),
        ),
        (
            "kernel_cmdlines",
            json!(["root=/dev/sda1 ro"]),
            "not in [\"root=/dev/sda1 ro\"]",
        ),
    ];
    for (key, value, shown) in cases {
        let mut changed = rules.clone();
        changed[key] = value;
        let r = verify_with(&log, &y.pcrs, &doc(&changed));
        assert!(!r.verified, "{key}: accepted");
        let failure = r.failure.as_ref().unwrap();
        assert_eq!(failure.step, mr_attest::Step::Appraisal, "{key}");
        let failed: Vec<&mr_attest::RuleOutcome> = r
            .rules
            .iter()
            .filter(|o| o.status == RuleStatus::Fail)
            .collect();
        assert_eq!(failed.len(), 1, "{key}: {failed:?}");
        assert!(
            failed[0].detail.contains(shown),
            "{key}: {}",
            failed[0].detail
        );
        assert!(
            failure.message.contains(failed[0].name),
            "{}",
            failure.message
        );
    }

    // A quote of other PCR values: the log does not replay to them, so no fact is trusted and
    // the evidence is rejected before any rule.
    let mut wrong = y.pcrs.clone();
    wrong[7].value = HashAlg::Sha256.hash(b"another boot");
    let r = verify_with(&log, &wrong, &doc(&rules));
    assert!(!r.verified);
    assert!(r.appraisal.is_none(), "appraised unverified evidence");
}
