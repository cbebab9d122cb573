//! TCG PC-Client logs and TDX CCELs from other projects (`$MR_SHARED/vectors`, see
//! PROVENANCE.md there) replay to the register values their sources state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::ComputeOnly;
use std::path::PathBuf;

use mr_core::log::tcg::{
    self, boot_aggregate, ccel, BootAggregateRule, DataCheck, DataCheckPolicy, DigestCount,
    EventData, EventType, Hashed, LogEnd, LogFormat, MissingExitBootServices, ParseOptions,
    TcgReplayConfig, Trailing,
};
use mr_core::{Digest, Error, ExpectedRegisters, HashAlg, MrId, RegisterValue};

fn vectors() -> Option<PathBuf> {
    mr_testkit::shared("vectors")
}

fn read(dir: &std::path::Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json(dir: &std::path::Path, rel: &str) -> serde_json::Value {
    serde_json::from_slice(&read(dir, rel)).unwrap()
}

fn asserted(values: Vec<RegisterValue>) -> ExpectedRegisters {
    ExpectedRegisters::from_values(values).unwrap()
}

/// RTMR n values of one case of `ccel/go-eventlog/EXPECTED_rtmrs.json`.
fn expected_rtmrs(dir: &std::path::Path, case: &str) -> ExpectedRegisters {
    let j = json(dir, "ccel/go-eventlog/EXPECTED_rtmrs.json");
    let rtmrs = j["cases"][case]["rtmr"].as_object().unwrap();
    asserted(
        rtmrs
            .iter()
            .map(|(n, hex)| RegisterValue {
                id: MrId::Rtmr(n.parse().unwrap()),
                value: Digest::from_hex(HashAlg::Sha384, hex.as_str().unwrap()).unwrap(),
            })
            .collect(),
    )
}

#[test]
fn cos_113_ccel_with_its_table_replays_to_the_stated_rtmrs() {
    let Some(dir) = vectors() else { return };
    let area = read(&dir, "ccel/go-eventlog/cos-113-intel-tdx.bin");
    let table = ccel::CcelTable::parse(&read(&dir, "ccel/go-eventlog/cos-113-intel-tdx.table.bin"))
        .unwrap();
    assert_eq!(table.cc_type, ccel::CcType::TDX);
    let expected = expected_rtmrs(&dir, "cos-113-intel-tdx.bin");
    assert_eq!(expected.len(), 3);
    let report = ccel::replay(&area, Some(&table), &TcgReplayConfig::ccel(), &expected).unwrap();
    assert_eq!(report.format, LogFormat::CryptoAgile);
    assert_eq!(report.banks, vec![HashAlg::Sha384]);
    assert!(
        matches!(report.end, LogEnd::Padding { fill: 0xFF, .. }),
        "{:?}",
        report.end
    );
    assert!(report
        .outcome
        .registers
        .iter()
        .all(|r| matches!(r.id, MrId::Rtmr(_))));
    // RTMR 3 is not extended by firmware.
    assert!(report
        .outcome
        .registers
        .iter()
        .all(|r| r.id != MrId::Rtmr(3)));
}

#[test]
fn ccel_padding_is_refused_by_the_strict_pc_client_parser() {
    let Some(dir) = vectors() else { return };
    let area = read(
        &dir,
        "ccel/go-eventlog/cos-113-intel-tdx-dupe-separator.bin",
    );
    let err = tcg::parse(&area, &ParseOptions::default()).unwrap_err();
    let Error::Parse(p) = err else {
        panic!("expected a parse error, got {err}")
    };
    assert_eq!(p.format, "tcg log");
    assert!(p.entry.is_some());
    assert!(tcg::parse(
        &area,
        &ParseOptions::default().with_trailing(Trailing::AllowPadding)
    )
    .is_ok());
}

#[test]
fn dupe_separator_ccels_replay_padded_and_unpadded() {
    let Some(dir) = vectors() else { return };
    for (file, case) in [
        (
            "cos-113-intel-tdx-dupe-separator.bin",
            "cos-113-intel-tdx-dupe-separator.bin",
        ),
        (
            "cos-113-intel-tdx-dupe-separator-unpadded.bin",
            "cos-113-intel-tdx-dupe-separator-unpadded.bin",
        ),
    ] {
        let area = read(&dir, &format!("ccel/go-eventlog/{file}"));
        let expected = expected_rtmrs(&dir, case);
        ccel::replay(&area, None, &TcgReplayConfig::ccel(), &expected)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    // The unpadded log also replays with the strict (no padding) parser.
    let area = read(
        &dir,
        "ccel/go-eventlog/cos-113-intel-tdx-dupe-separator-unpadded.bin",
    );
    let cfg = TcgReplayConfig::ccel().with_parse(ParseOptions::default());
    let expected = expected_rtmrs(&dir, "cos-113-intel-tdx-dupe-separator-unpadded.bin");
    ccel::replay(&area, None, &cfg, &expected).unwrap();
    // The dupe-separator log is not the cos-113 log: its RTMRs differ.
    let other = expected_rtmrs(&dir, "cos-113-intel-tdx.bin");
    let err = ccel::replay(&area, None, &TcgReplayConfig::ccel(), &other).unwrap_err();
    assert!(matches!(err, Error::Replay(_)), "{err}");
}

#[test]
fn ccel_acpi_table_from_a_tdx_guest_parses() {
    let Some(dir) = vectors() else { return };
    let t = ccel::CcelTable::parse(&read(&dir, "ccel/go-eventlog/CCEL.bin")).unwrap();
    assert_eq!(t.log_area_min_len, 65536);
    assert_eq!(t.cc_type, ccel::CcType::TDX);
    assert_eq!(t.length, 56);
}

#[test]
fn other_ccel_logs_parse() {
    let Some(dir) = vectors() else { return };
    for file in ["CCEL_unpadded.data.bin", "event_log.bin"] {
        let area = read(&dir, &format!("ccel/go-eventlog/{file}"));
        let report = ccel::replay(&area, None, &TcgReplayConfig::ccel(), &ComputeOnly)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(report.outcome.entries > 10, "{file}");
    }
}

fn pcr_values(bank: &serde_json::Value, alg: HashAlg) -> Vec<RegisterValue> {
    bank.as_object()
        .unwrap()
        .iter()
        .map(|(n, hex)| RegisterValue {
            id: MrId::Pcr(n.parse().unwrap()),
            value: Digest::from_hex(alg, hex.as_str().unwrap()).unwrap(),
        })
        .collect()
}

fn go_attestation_expected(dir: &std::path::Path, log: &str) -> ExpectedRegisters {
    let j = json(dir, "tcg2/go-attestation/EXPECTED_pcrs.json");
    let mut values = Vec::new();
    for (alg, bank) in j["logs"][log]["pcrs"].as_object().unwrap() {
        values.extend(pcr_values(bank, HashAlg::from_name(alg).unwrap()));
    }
    asserted(values)
}

#[test]
fn go_attestation_secure_boot_log_replays_to_its_stated_pcrs_in_both_banks() {
    let Some(dir) = vectors() else { return };
    let log = read(&dir, "tcg2/go-attestation/sb_cert_eventlog");
    // PCR 10 in the source's PCR set is IMA's, which no firmware log extends.
    let all = go_attestation_expected(&dir, "sb_cert_eventlog");
    let expected = asserted(
        all.iter()
            .filter(|(id, _)| **id != MrId::Pcr(10))
            .map(|(id, v)| RegisterValue {
                id: id.clone(),
                value: *v,
            })
            .collect(),
    );
    assert_eq!(expected.len(), 46);
    let report = tcg::replay(&log, &TcgReplayConfig::pc_client(), &expected).unwrap();
    assert_eq!(report.format, LogFormat::CryptoAgile);
    assert_eq!(
        report.banks,
        vec![HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384]
    );
}

#[test]
fn go_attestation_option_rom_sha1_log_replays_to_pcrs_0_to_7() {
    let Some(dir) = vectors() else { return };
    let log = read(&dir, "tcg2/go-attestation/option_rom_eventlog");
    let expected = go_attestation_expected(&dir, "option_rom_eventlog");
    let report = tcg::replay(&log, &TcgReplayConfig::pc_client(), &expected).unwrap();
    assert_eq!(report.format, LogFormat::Sha1);
}

#[test]
fn go_attestation_ebs_missing_log_mismatches_only_pcr5_without_the_ebs_workaround() {
    let Some(dir) = vectors() else { return };
    let log = read(&dir, "tcg2/go-attestation/ebs_event_missing_eventlog");
    let j = json(&dir, "tcg2/go-attestation/EXPECTED_pcrs.json");
    // A SHA-1 log: only the SHA-1 value can be checked against it.
    let expected = asserted(pcr_values(
        &j["logs"]["ebs_event_missing_eventlog"]["pcrs"]["sha1"],
        HashAlg::Sha1,
    ));
    let err = tcg::replay(&log, &TcgReplayConfig::pc_client(), &expected).unwrap_err();
    let Error::Replay(r) = err else {
        panic!("expected a replay mismatch, got {err}")
    };
    assert_eq!(r.mismatches.len(), 1);
    assert_eq!(r.mismatches[0].register, MrId::Pcr(5));
    // What go-attestation's workaround appends: the two ExitBootServices EV_EFI_ACTION digests.
    let fixed = [
        "Exit Boot Services Invocation",
        "Exit Boot Services Returned with Success",
    ]
    .iter()
    .fold(r.mismatches[0].computed, |v, s| {
        v.extended(HashAlg::Sha1.hash(s.as_bytes()).as_bytes())
    });
    assert_eq!(fixed, r.mismatches[0].expected);

    // The explicit option appends exactly those two events and the log verifies.
    let cfg = TcgReplayConfig::pc_client().with_missing_ebs(MissingExitBootServices::AppendToPcr5);
    let report = tcg::replay(&log, &cfg, &expected).unwrap();
    assert!(report.ebs_appended);
    // A log whose PCR 5 matches as logged gets nothing appended, although it has no EBS
    // events either (it was read before ExitBootServices).
    let sb = read(&dir, "tcg2/go-attestation/sb_cert_eventlog");
    let sb_expected = go_attestation_expected(&dir, "sb_cert_eventlog");
    let sb_expected = asserted(
        sb_expected
            .iter()
            .filter(|(id, _)| **id != MrId::Pcr(10))
            .map(|(id, v)| RegisterValue {
                id: id.clone(),
                value: *v,
            })
            .collect(),
    );
    let report = tcg::replay(&sb, &cfg, &sb_expected).unwrap();
    assert!(!report.ebs_appended);
    // Without verified values the option appends unconditionally.
    assert!(tcg::replay(&log, &cfg, &ComputeOnly).unwrap().ebs_appended);
}

/// Every shared PC-Client log whose checkable records (separators, EFI actions, UEFI
/// variables) are all consistent: the strict default verifies each one, and finds some.
#[test]
fn checkable_event_data_of_every_shared_log_matches_its_digests() {
    let Some(dir) = vectors() else { return };
    for file in [
        "tcg2/go-attestation/sb_cert_eventlog",
        "tcg2/go-attestation/option_rom_eventlog",
        "tcg2/go-attestation/ebs_event_missing_eventlog",
        "tcg2/go-attestation/crypto_agile_eventlog",
        "tcg2/go-attestation/coreos_36_shielded_vm_no_secure_boot_eventlog",
        "tcg2/keylime/binary_bios_measurements",
        "tcg2/keylime/binary_bios_measurements-secureboot",
        "tcg2/libcel/binary_bios_measurements.bin",
        "tcg2/rust-keylime/uefi_log.bin",
        "tcg2/tpm2-tss/binary_measurements_pc_client.bin",
        "tcg2/tpm2-tss/binary_measurements_hcrtm.bin",
        "tcg2/tpm2-tss/binary_measurements_nuc.bin",
        "tcg2/tpm2-tools/event-arch-linux.bin",
        "tcg2/tpm2-tools/event-moklisttrusted.bin",
        "ima/ima-evm-utils/sample-binary_bios_measurements-pcrs-8-9",
    ] {
        let bytes = read(&dir, file);
        let cfg = TcgReplayConfig::pc_client().with_data_check(DataCheckPolicy::Report);
        let report =
            tcg::replay(&bytes, &cfg, &ComputeOnly).unwrap_or_else(|e| panic!("{file}: {e}"));
        let c = &report.data_checks;
        assert_eq!(c.failure_count, 0, "{file}: {:?}", c.failures);
        assert!(c.verified >= 3, "{file}: {c:?}");
        assert!(c.not_checkable >= 1, "{file}: {c:?}");
        // Every common event decodes.
        let log = tcg::parse(&bytes, &ParseOptions::default()).unwrap();
        let uintn = log.spec_id.as_ref().map(|s| s.uintn_size);
        for e in log.events.iter().filter(|e| !e.is_no_action()) {
            e.decode(uintn)
                .unwrap_or_else(|err| panic!("{file} record {}: {err}", e.record));
        }
    }
}

#[test]
fn secure_boot_log_decodes_its_variables_and_old_shims_authority_quirk() {
    let Some(dir) = vectors() else { return };
    let bytes = read(&dir, "tcg2/go-attestation/sb_cert_eventlog");
    let log = tcg::parse(&bytes, &ParseOptions::default()).unwrap();
    let uintn = log.spec_id.as_ref().map(|s| s.uintn_size);
    let names: Vec<String> = log
        .events
        .iter()
        .filter(|e| e.event_type == EventType::EV_EFI_VARIABLE_DRIVER_CONFIG)
        .map(|e| match e.decode(uintn).unwrap() {
            EventData::Variable(v) => v.name,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["SecureBoot", "PK", "KEK", "db", "dbx"]);
    // shim's authority events: one stray byte, digest over the rest (go-attestation #157).
    let shim: Vec<_> = log
        .events
        .iter()
        .filter(|e| e.event_type == EventType::EV_EFI_VARIABLE_AUTHORITY)
        .filter(|e| e.data_check() == DataCheck::Verified(Hashed::AllButLastByte))
        .collect();
    assert_eq!(shim.len(), 2);
    let EventData::Variable(v) = shim[0].decode(uintn).unwrap() else {
        panic!()
    };
    assert_eq!(v.name, "Shim");
    assert_eq!(v.guid_string(), "605dab50-e046-4300-abb6-3dd810dd8b23");
}

#[test]
fn tpm2_tss_hcrtm_log_reaches_the_stated_sha1_pcr0_from_locality_4() {
    let Some(dir) = vectors() else { return };
    let log = read(&dir, "tcg2/tpm2-tss/binary_measurements_hcrtm.bin");
    let j = json(&dir, "tcg2/tpm2-tss/EXPECTED.json");
    let pcr0 = j["binary_measurements_hcrtm.bin"]["expected_sha1_pcr0"]
        .as_str()
        .unwrap();
    let expected = asserted(vec![RegisterValue {
        id: MrId::Pcr(0),
        value: Digest::from_hex(HashAlg::Sha1, pcr0).unwrap(),
    }]);
    let report = tcg::replay(&log, &TcgReplayConfig::pc_client(), &expected).unwrap();
    assert_eq!(report.startup_locality, Some(4));
    assert!(report.banks.contains(&HashAlg::Sm3_256));
    // Without the H-CRTM rule PCR 0 would start at zero and not match.
    let cfg = TcgReplayConfig::pc_client().with_hcrtm(tcg::HcrtmStart::Ignore);
    assert!(matches!(
        tcg::replay(&log, &cfg, &expected),
        Err(Error::Replay(_))
    ));
}

/// The `pcrs:` section of a tpm2-tools `tpm2_eventlog` YAML: `  sha1:` then `    0  : 0x..`.
fn yaml_pcrs(text: &str) -> Vec<RegisterValue> {
    let mut out = Vec::new();
    let mut in_pcrs = false;
    let mut bank = None;
    for line in text.lines() {
        if line.starts_with("pcrs:") {
            in_pcrs = true;
            continue;
        }
        if !in_pcrs {
            continue;
        }
        let t = line.trim();
        if let Some(alg) = t.strip_suffix(':') {
            bank = HashAlg::from_name(alg);
            assert!(bank.is_some(), "unknown bank {alg}");
        } else if let Some((n, v)) = t.split_once(':') {
            let alg = bank.unwrap();
            out.push(RegisterValue {
                id: MrId::Pcr(n.trim().parse().unwrap()),
                value: Digest::from_hex(alg, v.trim().trim_start_matches("0x")).unwrap(),
            });
        }
    }
    out
}

#[test]
fn tpm2_tools_fixtures_replay_to_the_pcrs_of_their_yaml() {
    let Some(dir) = vectors() else { return };
    let mut checked = 0;
    let mut entries = std::fs::read_dir(dir.join("tcg2/tpm2-tools"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<Vec<_>>();
    entries.sort();
    for path in entries {
        if path.extension().is_none_or(|e| e != "bin") {
            continue;
        }
        let log = std::fs::read(&path).unwrap();
        let yaml = std::fs::read_to_string(path.with_extension("bin.yaml")).unwrap();
        let values = yaml_pcrs(&yaml);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if values.is_empty() {
            // specid-vendordata.bin: a Spec ID header only, whose eventSize (37) stops before
            // the 4 vendorInfo bytes it announces; tpm2_eventlog reads past it, mr refuses it.
            assert_eq!(name, "specid-vendordata.bin");
            let Err(Error::Parse(p)) = tcg::parse(&log, &ParseOptions::default()) else {
                panic!("{name} must be refused");
            };
            assert_eq!((p.entry, p.offset), (Some(0), 69));
            continue;
        }
        let expected = asserted(values);
        // Two small hand-made fixtures carry 2 digests under a 4-algorithm Spec ID header: the
        // parser that requires every bank (the kernel's rule) refuses them; the PC-Client
        // replay, which reads such records (DigestCount::SubsetOfSpecId), replays them and
        // names the banks their PCR is incomplete in.
        let replayed = tcg::replay(&log, &TcgReplayConfig::pc_client(), &expected)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if ["event-uefiaction.bin", "event-uefivar.bin"].contains(&name.as_str()) {
            let Err(Error::Parse(p)) = tcg::parse(&log, &ParseOptions::default()) else {
                panic!("{name}: the strict parser must refuse a short digest list");
            };
            assert_eq!(p.entry, Some(1), "{name}");
            let banks: Vec<HashAlg> = replayed.incomplete.iter().map(|p| p.alg).collect();
            assert_eq!(banks, vec![HashAlg::Sha384, HashAlg::Sha512], "{name}");
            assert!(tcg::parse(
                &log,
                &ParseOptions::default().with_digest_count(DigestCount::SubsetOfSpecId)
            )
            .is_ok());
        } else {
            assert!(replayed.incomplete.is_empty(), "{name}");
        }
        checked += 1;
    }
    assert_eq!(checked, 11);
}

#[test]
fn ima_evm_utils_bios_log_matches_the_tpm_pcrs_and_the_boot_aggregate() {
    let Some(dir) = vectors() else { return };
    let log = read(
        &dir,
        "ima/ima-evm-utils/sample-binary_bios_measurements-pcrs-8-9",
    );
    let dump = String::from_utf8(read(&dir, "ima/ima-evm-utils/sample-tpm-2.0-pcrs-8-9")).unwrap();
    let values: Vec<RegisterValue> = dump
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter_map(|(n, v)| Some((n.trim().parse::<u32>().ok()?, v)))
        .filter(|(n, _)| *n <= 9 || *n == 14)
        .map(|(n, v)| RegisterValue {
            id: MrId::Pcr(n),
            value: Digest::from_hex(HashAlg::Sha1, v).unwrap(),
        })
        .collect();
    assert_eq!(values.len(), 11);
    let cfg = TcgReplayConfig::pc_client().with_banks(vec![HashAlg::Sha1]);
    tcg::replay(&log, &cfg, &asserted(values)).unwrap();

    let report = tcg::replay(&log, &TcgReplayConfig::pc_client(), &ComputeOnly).unwrap();
    let ascii = String::from_utf8(read(
        &dir,
        "ima/ima-evm-utils/sample-ascii_runtime_measurements-pcrs-8-9",
    ))
    .unwrap();
    let stated = ascii
        .split_whitespace()
        .find_map(|f| f.strip_prefix("sha256:"))
        .unwrap();
    assert_eq!(
        boot_aggregate(&report.outcome.registers, HashAlg::Sha256).to_hex(),
        stated
    );
    assert_eq!(
        stated,
        "83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e"
    );
}

#[test]
fn legacy_sha1_logs_parse() {
    let Some(dir) = vectors() else { return };
    for file in [
        "tcg2/go-attestation/option_rom_eventlog",
        "tcg2/go-attestation/ebs_event_missing_eventlog",
        "tcg2/go-attestation/short_no_action_eventlog",
        "tcg2/tpm2-tools/event-uefi-sha1-log.bin",
        "tcg2/tpm2-tss/binary_measurements_nuc.bin",
    ] {
        let bytes = read(&dir, file);
        let log =
            tcg::parse(&bytes, &ParseOptions::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(log.format, LogFormat::Sha1, "{file}");
        assert_eq!(log.end, LogEnd::EndOfInput, "{file}");
    }
    let bytes = read(&dir, "tcg2/go-attestation/short_no_action_eventlog");
    let short = tcg::parse(&bytes, &ParseOptions::default()).unwrap();
    assert_eq!(short.startup_locality(), Some(3));
}

#[test]
fn other_crypto_agile_logs_parse_and_replay() {
    let Some(dir) = vectors() else { return };
    for file in [
        "tcg2/go-attestation/crypto_agile_eventlog",
        "tcg2/go-attestation/coreos_36_shielded_vm_no_secure_boot_eventlog",
        "tcg2/keylime/binary_bios_measurements",
        "tcg2/keylime/binary_bios_measurements-secureboot",
        "tcg2/libcel/binary_bios_measurements.bin",
        "tcg2/rust-keylime/uefi_log.bin",
        "tcg2/tpm2-tss/binary_measurements_pc_client.bin",
        "tpmquote/global-trust-authority/boot_binary_bios_measurements",
    ] {
        let report = tcg::replay(
            &read(&dir, file),
            &TcgReplayConfig::pc_client(),
            &ComputeOnly,
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(report.format, LogFormat::CryptoAgile, "{file}");
        assert!(report.outcome.entries > 2, "{file}");
    }
}

#[test]
fn keylime_bogus_log_is_refused() {
    let Some(dir) = vectors() else { return };
    let err = tcg::parse(
        &read(&dir, "tcg2/keylime/binary_bios_measurements-bogus"),
        &ParseOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Parse(_)), "{err}");
}

#[test]
fn global_trust_authority_bios_log_replays_to_its_quoted_sha256_pcrs_0_to_7() {
    let Some(dir) = vectors() else { return };
    let log = read(
        &dir,
        "tpmquote/global-trust-authority/boot_binary_bios_measurements",
    );
    let evidence = json(
        &dir,
        "tpmquote/global-trust-authority/boot_test_evidence.json",
    );
    let pcrs = &evidence["evidence"]["pcrs"];
    assert_eq!(pcrs["hash_alg"], "sha256");
    let values: Vec<RegisterValue> = pcrs["pcr_values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| RegisterValue {
            id: MrId::Pcr(u32::try_from(p["pcr_index"].as_u64().unwrap()).unwrap()),
            value: Digest::from_hex(HashAlg::Sha256, p["pcr_value"].as_str().unwrap()).unwrap(),
        })
        .collect();
    assert_eq!(values.len(), 8);
    tcg::replay(&log, &TcgReplayConfig::pc_client(), &asserted(values)).unwrap();
}

#[test]
fn ima_evm_utils_boot_aggregate_is_verified_against_its_bios_log_and_refused_against_another() {
    let Some(dir) = vectors() else { return };
    let bios = read(
        &dir,
        "ima/ima-evm-utils/sample-binary_bios_measurements-pcrs-8-9",
    );
    let list = read(
        &dir,
        "ima/ima-evm-utils/sample-ascii_runtime_measurements-pcrs-8-9",
    );
    let ima = mr_core::log::ima::replay(&list[..], &Default::default(), &ComputeOnly).unwrap();
    let recorded = ima.boot_aggregates[0].digest;
    assert_eq!(recorded.alg(), HashAlg::Sha256);
    let matched =
        tcg::verify_boot_aggregate(&bios, &TcgReplayConfig::pc_client(), &recorded).unwrap();
    assert_eq!(matched.digest, recorded);
    assert_eq!(matched.rule, BootAggregateRule::Pcrs0To9);

    let other = read(&dir, "tcg2/go-attestation/sb_cert_eventlog");
    let err =
        tcg::verify_boot_aggregate(&other, &TcgReplayConfig::pc_client(), &recorded).unwrap_err();
    let Error::BootAggregate(m) = err else {
        panic!("expected a mismatch, got {err}")
    };
    assert_eq!(m.recorded, recorded);
    assert_eq!(m.candidates.len(), 2);
    assert!(m.candidates.iter().all(|(_, d)| *d != recorded));
    // The SHA-1 aggregate of the same log covers PCR 0-7 only.
    let sha1 = tcg::replay(&bios, &TcgReplayConfig::pc_client(), &ComputeOnly).unwrap();
    let sha1_aggregate = boot_aggregate(&sha1.outcome.registers, HashAlg::Sha1);
    let matched =
        tcg::verify_boot_aggregate(&bios, &TcgReplayConfig::pc_client(), &sha1_aggregate).unwrap();
    assert_eq!(matched.rule, BootAggregateRule::Pcrs0To7);
    // A zero aggregate (no TPM) never matches.
    assert!(matches!(
        tcg::verify_boot_aggregate(
            &bios,
            &TcgReplayConfig::pc_client(),
            &Digest::zero(HashAlg::Sha256)
        ),
        Err(Error::BootAggregate(_))
    ));
}

/// SHA-256 over the SHA-256 PCRs 0-7 of the ima-evm-utils sample BIOS log, computed
/// independently of mr: a 40-line Python replay of the crypto-agile log (skipping EV_NO_ACTION,
/// folding each event's digest per bank), which also reproduces the 0-9 value 83d19723… that the
/// ima-evm-utils test expects.
const SAMPLE_BIOS_SHA256_PCRS_0_7: &str =
    "c9f295303f97f2087d638777d5626eb2418afbfd244c58f7a215af5e4d7f41d3";

/// Linux 5.7 computed the SHA-256 boot_aggregate over PCR 0-7: accepted, with the rule named;
/// one that matches neither rule is refused with both candidate values.
#[test]
fn linux_5_7_boot_aggregate_over_pcrs_0_to_7_is_accepted_and_named() {
    let Some(dir) = vectors() else { return };
    let bios = read(
        &dir,
        "ima/ima-evm-utils/sample-binary_bios_measurements-pcrs-8-9",
    );
    let cfg = TcgReplayConfig::pc_client();
    let old = Digest::from_hex(HashAlg::Sha256, SAMPLE_BIOS_SHA256_PCRS_0_7).unwrap();
    let matched = tcg::verify_boot_aggregate(&bios, &cfg, &old).unwrap();
    assert_eq!(matched.rule, BootAggregateRule::Pcrs0To7);
    assert_eq!(matched.rule.kernels(HashAlg::Sha256), "Linux 5.7");

    let neither = HashAlg::Sha256.hash(b"neither rule");
    let Err(Error::BootAggregate(m)) = tcg::verify_boot_aggregate(&bios, &cfg, &neither) else {
        panic!("an aggregate matching neither rule must be refused")
    };
    let message = m.to_string();
    assert!(message.contains(SAMPLE_BIOS_SHA256_PCRS_0_7), "{message}");
    assert!(
        message.contains("83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e"),
        "{message}"
    );
    assert!(message.contains(&neither.to_hex()), "{message}");
    // SHA-1 has one rule: PCR 0-7 of every kernel; a SHA-1 aggregate over 0-9 is refused.
    let sha1 = tcg::replay(&bios, &cfg, &mr_core::ComputeOnly)
        .unwrap()
        .outcome
        .registers;
    let over_0_9 = tcg::boot_aggregate_by(&sha1, HashAlg::Sha1, BootAggregateRule::Pcrs0To9);
    let Err(Error::BootAggregate(m)) = tcg::verify_boot_aggregate(&bios, &cfg, &over_0_9) else {
        panic!("a SHA-1 aggregate over PCR 0-9 must be refused")
    };
    assert_eq!(m.candidates.len(), 1);
}

use mr_testkit::base64_text as base64;

#[test]
fn libcel_uefi_log_has_the_record_layout_its_test_states() {
    let Some(dir) = vectors() else { return };
    let bin = read(&dir, "tcg2/libcel/binary_bios_measurements.bin");
    assert_eq!(
        base64(&read(&dir, "tcg2/libcel/binary_bios_measurements.b64")),
        bin
    );
    let log = tcg::parse(&bin, &ParseOptions::default()).unwrap();
    // Header record: ends at offset 65, EV_NO_ACTION, 33 data bytes, zero SHA-1 digest.
    let h = &log.events[0];
    assert_eq!((h.event_type, h.data.len()), (EventType::EV_NO_ACTION, 33));
    assert_eq!(log.events[1].offset, 65);
    assert!(h.digests[0].is_zero());
    // Then exactly 54 events; the last is the 3rd in PCR 5, an EV_EFI_ACTION of 40 bytes, SHA-256.
    assert_eq!(log.events.len(), 1 + 54);
    let last = log.events.last().unwrap();
    assert_eq!(
        (last.index, last.event_type, last.data.len()),
        (5, EventType::EV_EFI_ACTION, 40)
    );
    assert_eq!(log.events.iter().filter(|e| e.index == 5).count(), 3);
    assert_eq!(last.digests.len(), 1);
    assert_eq!(last.digests[0].alg(), HashAlg::Sha256);
    assert_eq!(last.data_check(), DataCheck::Verified(Hashed::EventData));
}

#[test]
fn keylime_measured_boot_log_parses_replays_and_checks_in_sha256() {
    let Some(dir) = vectors() else { return };
    let bytes = base64(&read(&dir, "tcg2/keylime/mb_log.b64"));
    let cfg = TcgReplayConfig::pc_client().with_banks(vec![HashAlg::Sha256]);
    let report = tcg::replay(&bytes, &cfg, &ComputeOnly).unwrap();
    assert_eq!(report.format, LogFormat::CryptoAgile);
    assert!(report.data_checks.verified > 0);
    assert!(report
        .outcome
        .registers
        .iter()
        .all(|r| r.value.alg() == HashAlg::Sha256));
}
