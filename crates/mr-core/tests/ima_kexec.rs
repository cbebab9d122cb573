//! kexec: a list with two boots replays against registers that were not reset; the kexec
//! critical-data records are decoded and a lost `kexec_execute` or a wrong count is reported.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::log::ima::builder::{BuiltEntry, ImaListBuilder};
use mr_core::log::ima::kexec::{self, parse_kexec_buffer, KexecEvent, KexecFinding};
use mr_core::log::ima::{
    self, resume, Anchor, DigestMode, ImaInput, ImaOptions, ImaReaderOptions, ImaReplayConfig,
    ResumeFrom,
};
use mr_core::{ComputeOnly, Digest, ExpectedRegisters, HashAlg, MrId, RegisterValue};

const BANKS: [HashAlg; 2] = [HashAlg::Sha1, HashAlg::Sha256];

struct List {
    b: ImaListBuilder,
    pcr: Vec<Digest>,
}

impl List {
    fn new() -> List {
        List {
            b: ImaListBuilder::binary(),
            pcr: BANKS.iter().map(|a| Digest::zero(*a)).collect(),
        }
    }
    fn fold(&mut self, e: &BuiltEntry) {
        for v in &mut self.pcr {
            *v = v.extended(e.extend_value(v.alg(), DigestMode::PerBank).as_bytes());
        }
    }
    fn boot(&mut self, firmware: &[u8]) {
        let e = self
            .b
            .boot_aggregate("ima-ng", &HashAlg::Sha256.hash(firmware));
        self.fold(&e);
    }
    fn files(&mut self, tag: &str, n: usize) {
        for i in 0..n {
            let p = format!("/usr/lib/{tag}-{i}.so");
            let e = self.b.ima_ng(10, &HashAlg::Sha256.hash(p.as_bytes()), &p);
            self.fold(&e);
        }
    }
    fn kexec(&mut self, event: &str, count: u64) {
        let size = self.b.as_bytes().len();
        let text = format!(
            "kexec_segment_size=1048576;ima_binary_runtime_size={size};ima_runtime_measurements_count={count};"
        );
        let e = self.b.ima_buf(10, HashAlg::Sha256, event, text.as_bytes());
        self.fold(&e);
    }
    fn anchor(&self) -> Anchor<ExpectedRegisters> {
        let values = self.pcr.iter().map(|v| RegisterValue {
            id: MrId::Pcr(10),
            value: *v,
        });
        Anchor::asserted(ExpectedRegisters::from_values(values).unwrap())
    }
}

/// Boot 1 (entries 0..=5 with the kexec records), kexec, boot 2 (PCRs not reset).
fn two_boots(with_execute: bool, execute_count: Option<u64>) -> List {
    let mut l = List::new();
    l.boot(b"firmware pcrs 0-9");
    l.files("first", 3);
    l.kexec("kexec_load", 4);
    l.files("late", 1);
    if with_execute {
        let n = l.b.entries();
        l.kexec("kexec_execute", execute_count.unwrap_or(n + 1));
    }
    // The new kernel restores the list without extending, then measures its own boot_aggregate
    // over PCRs 0-9 as they are now.
    l.boot(b"pcrs 0-9 after kexec");
    l.files("second", 4);
    l
}

#[test]
fn a_two_boot_list_replays_against_registers_that_were_not_reset() {
    let l = two_boots(true, None);
    let anchor = l.anchor();
    let r = ima::replay(
        l.b.as_bytes(),
        &ImaReplayConfig::default(),
        anchor.registers(),
    )
    .unwrap();
    assert_eq!(r.boot_aggregate_count, 2);
    assert_eq!(r.outcome.covered, Some(r.entries));
    assert_eq!(r.boot_aggregates[1].entry, 7);
    // Resetting the register at the second boot_aggregate would not verify.
    let mut reset = List::new();
    reset.boot(b"pcrs 0-9 after kexec");
    reset.files("second", 4);
    assert!(ima::replay(
        l.b.as_bytes(),
        &ImaReplayConfig::default(),
        reset.anchor().registers()
    )
    .is_err());

    let k = kexec::analyse(l.b.as_bytes(), &ImaReaderOptions::default()).unwrap();
    assert_eq!(k.boots, vec![0, 7]);
    assert_eq!(k.records.len(), 2);
    assert_eq!(k.records[0].event, KexecEvent::Load);
    assert_eq!(k.records[0].segment_size, 1_048_576);
    assert_eq!(k.records[1].event, KexecEvent::Execute);
    assert_eq!(k.records[1].measurements_count, 7);
    assert!(!k.possibly_lost_entries(), "{:?}", k.findings);
}

#[test]
fn a_checkpoint_carries_across_a_kexec() {
    let mut l = List::new();
    l.boot(b"firmware pcrs 0-9");
    l.files("first", 3);
    let cp = resume(
        ImaInput::from_bytes(l.b.as_bytes()),
        ResumeFrom::Boot,
        &l.anchor(),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report()
    .checkpoint;
    l.kexec("kexec_load", 4);
    let n = l.b.entries();
    l.kexec("kexec_execute", n + 1);
    l.boot(b"pcrs 0-9 after kexec");
    l.files("second", 2);
    let list = l.b.as_bytes().to_vec();
    let v = resume(
        ImaInput::from_bytes(&list),
        ResumeFrom::Full(&cp),
        &l.anchor(),
        &ImaOptions::default(),
    )
    .unwrap();
    assert_eq!(v.report.boot_aggregate_count, 1);
    assert_eq!(v.checkpoint.boot_aggregate(), cp.boot_aggregate());
}

#[test]
fn a_dropped_kexec_execute_is_reported_as_possibly_lost_entries() {
    let l = two_boots(false, None);
    // The list itself still replays (nothing that was extended is missing) ...
    let anchor = l.anchor();
    ima::replay(
        l.b.as_bytes(),
        &ImaReplayConfig::default(),
        anchor.registers(),
    )
    .unwrap();
    // ... but the carry-over lost its execute record.
    let k = kexec::analyse(l.b.as_bytes(), &ImaReaderOptions::default()).unwrap();
    assert!(k.possibly_lost_entries());
    assert_eq!(
        k.findings,
        vec![KexecFinding::LoadWithoutExecute {
            load_entry: 4,
            next_boot_entry: 6
        }]
    );
    assert!(k.findings[0]
        .to_string()
        .starts_with("possibly lost entries"));
}

#[test]
fn an_execute_count_that_disagrees_with_the_entries_carried_over_is_reported() {
    let l = two_boots(true, Some(40));
    let k = kexec::analyse(l.b.as_bytes(), &ImaReaderOptions::default()).unwrap();
    assert_eq!(
        k.findings,
        vec![KexecFinding::CountMismatch {
            execute_entry: 6,
            recorded: 40,
            carried: 7
        }]
    );
}

#[test]
fn kexec_buffers_are_parsed_strictly() {
    assert_eq!(
        parse_kexec_buffer(
            b"kexec_segment_size=4096;ima_binary_runtime_size=100;ima_runtime_measurements_count=3;"
        )
        .unwrap(),
        (4096, 100, 3)
    );
    for bad in [
        &b"kexec_segment_size=4096;"[..],
        b"kexec_segment_size=x;ima_binary_runtime_size=1;ima_runtime_measurements_count=1;",
        b"bogus=1;",
        b"\xff\xfe",
        &[b'1'; 300][..],
    ] {
        assert!(parse_kexec_buffer(bad).is_err());
    }
    // A record with a malformed buffer is a parse error naming its entry.
    let mut b = ImaListBuilder::binary();
    b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"x"));
    b.ima_buf(
        10,
        HashAlg::Sha256,
        "kexec_load",
        b"kexec_segment_size=oops",
    );
    let e = kexec::analyse(b.as_bytes(), &ImaReaderOptions::default()).unwrap_err();
    assert!(e.to_string().contains("entry 1"), "{e}");
}

/// The replay's own kexec analysis (made during the one pass, from covered entries) finds what
/// the standalone analysis of the same list finds.
#[test]
fn the_replay_reports_the_kexec_findings_of_the_list() {
    for (l, want) in [
        (
            two_boots(false, None),
            vec![KexecFinding::LoadWithoutExecute {
                load_entry: 4,
                next_boot_entry: 6,
            }],
        ),
        (
            two_boots(true, Some(40)),
            vec![KexecFinding::CountMismatch {
                execute_entry: 6,
                recorded: 40,
                carried: 7,
            }],
        ),
        (two_boots(true, None), vec![]),
    ] {
        let standalone = kexec::analyse(l.b.as_bytes(), &ImaReaderOptions::default()).unwrap();
        assert_eq!(standalone.findings, want);
        for threads in [1, 2] {
            let opts = ImaOptions::default().with_threads(threads);
            let anchor = l.anchor();
            let verified = ima::verify(
                ImaInput::from_bytes(l.b.as_bytes()),
                anchor.registers(),
                &opts,
            )
            .unwrap()
            .into_report();
            assert_eq!(verified.kexec.findings, want, "{threads} threads, verified");
            assert_eq!(verified.kexec.boots, standalone.boots);
            assert_eq!(verified.kexec.records, standalone.records);
            let computed =
                ima::verify(ImaInput::from_bytes(l.b.as_bytes()), &ComputeOnly, &opts).unwrap();
            assert_eq!(computed.kexec, standalone, "{threads} threads, computed");
        }
    }
}

/// A list written to a file, large enough for two threads, with a dropped kexec_execute.
fn long_two_boot_list() -> List {
    let mut l = List::new();
    l.boot(b"firmware pcrs 0-9");
    l.files("first", 3);
    l.kexec("kexec_load", 4);
    l.boot(b"pcrs 0-9 after kexec");
    // About 700 KiB: more than two chunks of the two-thread replay.
    l.files("bulk", 7000);
    l
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("mr-ima-kexec-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The list given as a pipe (read once, as a stream) gets the kexec findings and the
/// never-extended diagnosis the file gets: nothing is computed by reading the list again
/// (issue 14, "every input is read once").
#[test]
fn a_list_from_a_pipe_gets_the_same_kexec_findings_and_never_extended_entry_as_its_file() {
    /// The list through a real pipe, written by another thread.
    fn piped(bytes: Vec<u8>) -> (ImaInput<'static>, std::thread::JoinHandle<()>) {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            // The reader may stop early on a failure: a broken pipe is fine.
            let _ = writer.write_all(&bytes);
        });
        (
            ImaInput::from_reader(std::io::BufReader::new(reader)),
            writer,
        )
    }

    // Kexec findings.
    let l = long_two_boot_list();
    let bytes = l.b.as_bytes().to_vec();
    assert!(bytes.len() > 2 * ima::CHUNK_LEN, "{}", bytes.len());
    let path = temp_file("findings", &bytes);
    let anchor = l.anchor();
    let want = vec![KexecFinding::LoadWithoutExecute {
        load_entry: 4,
        next_boot_entry: 5,
    }];
    let opts = ImaOptions::default();
    let from_file = ima::verify(ImaInput::open(&path).unwrap(), anchor.registers(), &opts)
        .unwrap()
        .into_report();
    let (input, writer) = piped(bytes.clone());
    let from_pipe = ima::verify(input, anchor.registers(), &opts)
        .unwrap()
        .into_report();
    writer.join().unwrap();
    assert_eq!(from_file.kexec.findings, want);
    assert_eq!(from_pipe, from_file);
    std::fs::remove_file(&path).unwrap();

    // A never-extended entry, 50 entries before the end.
    let mut l = long_two_boot_list();
    let saved = l.pcr.clone();
    l.files("lost", 1);
    let lost = l.b.entries() - 1;
    l.pcr = saved;
    l.files("after", 49);
    let bytes = l.b.as_bytes().to_vec();
    let path = temp_file("never-extended", &bytes);
    let anchor = l.anchor();
    let opts = ImaOptions::default().with_never_extended_search(1 << 20);
    let from_file =
        ima::verify(ImaInput::open(&path).unwrap(), anchor.registers(), &opts).unwrap_err();
    let (input, writer) = piped(bytes.clone());
    let from_pipe = ima::verify(input, anchor.registers(), &opts).unwrap_err();
    writer.join().unwrap();
    std::fs::remove_file(&path).unwrap();
    for e in [&from_file, &from_pipe] {
        assert!(
            e.to_string()
                .contains(&format!("entry {lost} was logged but never extended")),
            "{e}"
        );
    }
    assert_eq!(from_file.to_string(), from_pipe.to_string());
    // Without a budget the failure is the plain mismatch.
    let e = ima::verify(
        ImaInput::from_bytes(&bytes),
        anchor.registers(),
        &ImaOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, mr_core::Error::Replay(_)), "{e}");
}

/// Issue 14 item 1: only entries of a verified register are used. kexec records on a register
/// the verified values do not cover (PCR 11 here) are not analysed: a forged `kexec_load`
/// there makes no finding, and a forged `kexec_execute` does not hide the one of PCR 10.
#[test]
fn a_kexec_record_on_a_register_not_covered_is_not_used() {
    let record = |b: &mut ImaListBuilder, pcr: u32, event: &str, count: u64| {
        let text = format!(
            "kexec_segment_size=1048576;ima_binary_runtime_size=1;ima_runtime_measurements_count={count};"
        );
        b.ima_buf(pcr, HashAlg::Sha256, event, text.as_bytes());
    };
    // Boot 1 with a kexec_load on PCR 11 only, then boot 2.
    let mut l = List::new();
    l.boot(b"firmware pcrs 0-9");
    l.files("first", 3);
    record(&mut l.b, 11, "kexec_load", 4);
    l.boot(b"pcrs 0-9 after kexec");
    l.files("second", 2);
    let anchor = l.anchor();
    for threads in [1, 2] {
        let opts = ImaOptions::default().with_threads(threads);
        let r = ima::verify(
            ImaInput::from_bytes(l.b.as_bytes()),
            anchor.registers(),
            &opts,
        )
        .unwrap()
        .into_report();
        assert!(r.kexec.findings.is_empty(), "{:?}", r.kexec.findings);
        assert!(r.kexec.records.is_empty(), "{:?}", r.kexec.records);
        assert_eq!(r.kexec.boots, vec![0, 5]);
        // Computed without values, every entry counts: the record is seen.
        let all = ima::verify(ImaInput::from_bytes(l.b.as_bytes()), &ComputeOnly, &opts).unwrap();
        assert_eq!(
            all.kexec.findings,
            vec![KexecFinding::LoadWithoutExecute {
                load_entry: 4,
                next_boot_entry: 5
            }]
        );
    }

    // A kexec_load on PCR 10 without execute, "answered" by a kexec_execute on PCR 11.
    let mut l = List::new();
    l.boot(b"firmware pcrs 0-9");
    l.files("first", 3);
    l.kexec("kexec_load", 4);
    record(&mut l.b, 11, "kexec_execute", 6);
    l.boot(b"pcrs 0-9 after kexec");
    let anchor = l.anchor();
    let r = ima::verify(
        ImaInput::from_bytes(l.b.as_bytes()),
        anchor.registers(),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report();
    assert_eq!(
        r.kexec.findings,
        vec![KexecFinding::LoadWithoutExecute {
            load_entry: 4,
            next_boot_entry: 6
        }]
    );
}

/// Findings past the verified prefix (entries the quote does not vouch for yet) are not
/// reported.
#[test]
fn kexec_findings_after_the_verified_prefix_are_not_reported() {
    let mut l = List::new();
    l.boot(b"firmware pcrs 0-9");
    l.files("first", 3);
    let anchor = l.anchor();
    // Appended after the quote: a load without execute and a second boot.
    l.kexec("kexec_load", 4);
    l.boot(b"pcrs 0-9 after kexec");
    let r = ima::verify(
        ImaInput::from_bytes(l.b.as_bytes()),
        anchor.registers(),
        &ImaOptions::default(),
    )
    .unwrap()
    .into_report();
    assert_eq!(r.outcome.covered, Some(4));
    assert!(r.kexec.findings.is_empty(), "{:?}", r.kexec.findings);
    let all = ima::verify(
        ImaInput::from_bytes(l.b.as_bytes()),
        &ComputeOnly,
        &ImaOptions::default(),
    )
    .unwrap();
    assert_eq!(all.kexec.findings.len(), 1);
}
