//! The layered `mr_ima` register against the direct TPM path, on the same 100k-entry IMA list.
//!
//! - `direct_tpm_pcr10_sha384`: the baseline. IMA replay verifying against PCR 10's SHA-384
//!   bank (the values a TPM quote vouches for; the quote check itself, ~0.3 ms, is left out).
//! - `td_root_derive_mr_ima_then_replay`: derive `mr_ima` from the 100k-record journal against
//!   RTMR3 (each record line hashed and folded into RTMR3, each extend record into mr_ima), then
//!   the same IMA replay against `mr_ima` (SHA-384). The TD quote check is left out as well.
//!   Target: at most 1.3x the baseline.
//! - `agent`: entries per second the guest agent puts into `mr_ima` over a simulated TD's RTMR3
//!   (through the tsm-mr file seam; records appended and fsynced, in batches, before they are
//!   extended), with the same extends written straight into RTMR3 (no journal) as its baseline.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mr::core::ExpectedRegisters;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mr::core::log::ima::sample::write_sample_list;
use mr::core::log::ima::{self, ImaReplayConfig, ListKind};
use mr::core::{Digest, HashAlg, MeasurementRegister, MrId, Provenance, VerifiedRegisters};
use mr::rtmr::rtmr::TdxRtmr;
use mr::rtmr::sim::SimTd;
use mr::virtual_registers::agent::ImaAgent;
use mr::virtual_registers::record::Record;
use mr::virtual_registers::verify::{derive, derive_and_use, DeriveOptions};
use mr::virtual_registers::{VirtualRegister, MR_IMA};
use mr_testkit::journal::mr_ima_digests;

const ENTRIES: u64 = 100_000;
const AGENT_ENTRIES: u64 = 1_000;

fn layered_vs_direct(c: &mut Criterion) {
    let mut list = Vec::new();
    write_sample_list(&mut list, ListKind::Binary, ENTRIES, &[HashAlg::Sha1], 1).unwrap();

    // PCR 10's SHA-384 bank and mr_ima: the same fold of SHA-384 template digests from zero.
    let digests = mr_ima_digests(&list);
    let mut ima_value = Digest::zero(HashAlg::Sha384);
    let mut journal = String::new();
    let mut rtmr3 = Digest::zero(HashAlg::Sha384);
    for d in &digests {
        ima_value = ima_value.extended(d.as_bytes());
        let line = Record::Extend {
            name: MR_IMA.to_owned(),
            digest: *d,
        }
        .to_string();
        rtmr3 = rtmr3.extended(HashAlg::Sha384.hash(line.as_bytes()).as_bytes());
        journal.push_str(&line);
        journal.push('\n');
    }
    let mut pcr10 = ExpectedRegisters::new();
    pcr10.insert(MrId::Pcr(10), ima_value).unwrap();
    // As the TD quote verifier gives RTMR3 (the benchmark measures what follows it).
    let mut rtmr3_value = ExpectedRegisters::new();
    rtmr3_value.insert(MrId::Rtmr(3), rtmr3).unwrap();
    let quoted_rtmr3 = VerifiedRegisters::from_verified_root(
        Provenance::TdQuote {
            root: "benchmark".into(),
        },
        rtmr3_value,
    );
    let mr_ima = MrId::Virtual(MR_IMA.to_owned());

    let mut g = c.benchmark_group("virtual_ima_100k");
    g.sample_size(20);
    g.throughput(Throughput::Elements(ENTRIES));
    g.bench_function("direct_tpm_pcr10_sha384", |b| {
        b.iter(|| {
            let cfg = ImaReplayConfig::default().with_banks([HashAlg::Sha384]);
            let r = ima::replay(list.as_slice(), &cfg, &pcr10).unwrap();
            assert_eq!(r.outcome.covered, Some(ENTRIES));
        })
    });
    // The breakdown: the journal derivation alone (hash of every record line, folded into RTMR3,
    // and every extend record folded into mr_ima).
    g.bench_function("td_root_derive_only", |b| {
        b.iter(|| {
            let derived = derive(
                journal.as_bytes(),
                &MrId::Rtmr(3),
                &quoted_rtmr3,
                &DeriveOptions::default(),
            )
            .unwrap();
            assert_eq!(derived.covered, ENTRIES);
        })
    });
    g.bench_function("td_root_derive_mr_ima_then_replay", |b| {
        b.iter(|| {
            let derived = derive(
                journal.as_bytes(),
                &MrId::Rtmr(3),
                &quoted_rtmr3,
                &DeriveOptions::default(),
            )
            .unwrap();
            let values = derived.registers.select(|id, _| *id == mr_ima);
            let cfg = ImaReplayConfig::default()
                .with_banks([HashAlg::Sha384])
                .with_target(mr_ima.clone());
            let r = ima::replay(list.as_slice(), &cfg, &values).unwrap();
            assert_eq!(r.outcome.covered, Some(ENTRIES));
        })
    });
    // The same result with the derivation and the IMA replay overlapped on two threads (the
    // replay runs on the values the journal claims; kept only if derive verifies them).
    g.bench_function("td_root_derive_and_replay_overlapped", |b| {
        b.iter(|| {
            let (derived, r) = derive_and_use(
                journal.as_bytes(),
                &MrId::Rtmr(3),
                &quoted_rtmr3,
                &DeriveOptions::default(),
                |v: &VerifiedRegisters| {
                    let values = v.select(|id, _| *id == mr_ima);
                    let cfg = ImaReplayConfig::default()
                        .with_banks([HashAlg::Sha384])
                        .with_target(mr_ima.clone());
                    ima::replay(list.as_slice(), &cfg, &values)
                },
            )
            .unwrap();
            assert_eq!(derived.covered, ENTRIES);
            assert_eq!(r.unwrap().outcome.covered, Some(ENTRIES));
        })
    });
    g.finish();
}

fn agent_throughput(c: &mut Criterion) {
    let mut list = Vec::new();
    write_sample_list(
        &mut list,
        ListKind::Binary,
        AGENT_ENTRIES,
        &[HashAlg::Sha1],
        2,
    )
    .unwrap();
    let digests = mr_ima_digests(&list);
    let list = Arc::new(list);

    let mut g = c.benchmark_group("agent_1k_entries_into_simulated_rtmr3");
    g.sample_size(10);
    g.throughput(Throughput::Elements(AGENT_ENTRIES));
    g.bench_function("rtmr3_extends_without_journal", |b| {
        b.iter_batched(
            SimTd::new,
            |td| {
                let rtmr3 = TdxRtmr::new(td.fs(), 3).unwrap();
                for d in &digests {
                    rtmr3.extend(d).unwrap();
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("agent_mr_ima_journal_fsync_then_extend", |b| {
        b.iter_batched(
            || (SimTd::new(), tempfile::tempdir().unwrap()),
            |(td, dir)| {
                let rtmr3 = TdxRtmr::new(td.fs(), 3).unwrap();
                let reg = VirtualRegister::open(MR_IMA, rtmr3, dir.path().join("j")).unwrap();
                let mut agent = ImaAgent::new(reg);
                let p = agent.sync(list.as_slice()).unwrap();
                assert_eq!(p.new_entries, AGENT_ENTRIES);
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, layered_vs_direct, agent_throughput);
criterion_main!(benches);
