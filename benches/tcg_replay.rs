//! TCG / CCEL replay speed against baselines measured in the same run: parsing alone, the bare
//! extend hashing (`H(old || digest)` for every digest the log extends), and that plus hashing
//! the data of every checkable record once per bank (the floor of a replay that checks event
//! data against digests, as `tcg::replay` does).
//!
//! Needs `MR_SHARED` (the shared vectors); without it the benchmark says so and measures nothing.
// `criterion_group!` generates an undocumented public function.
#![allow(clippy::panic, missing_docs)]

use mr_core::ComputeOnly;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mr_core::log::tcg::{self, ccel, TcgReplayConfig};
use mr_core::Digest;

fn vector(rel: &str) -> Option<Vec<u8>> {
    let dir = PathBuf::from(std::env::var_os("MR_SHARED")?).join("vectors");
    std::fs::read(dir.join(rel)).ok()
}

fn bench_log(c: &mut Criterion, name: &str, log: &[u8], cfg: &TcgReplayConfig) {
    let parsed = tcg::parse(log, &cfg.parse).unwrap_or_else(|e| panic!("{name}: {e}"));
    // The extends the replay performs, as (start value, digest) pairs folded per record.
    let digests: Vec<Digest> = parsed
        .events
        .iter()
        .filter(|e| !e.is_no_action())
        .flat_map(|e| e.digests.iter().copied())
        .filter(|d| cfg.banks.is_empty() || cfg.banks.contains(&d.alg()))
        .collect();
    // The event data a replay hashes to check it against the digests (checkable types only).
    let checked: Vec<(mr_core::HashAlg, &[u8])> = parsed
        .events
        .iter()
        .filter(|e| !e.is_no_action() && tcg::is_checkable(e.event_type))
        .flat_map(|e| e.digests.iter().map(move |d| (d.alg(), e.data)))
        .filter(|(alg, _)| cfg.banks.is_empty() || cfg.banks.contains(alg))
        .collect();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(parsed.events.len() as u64));
    g.bench_function("replay", |b| {
        b.iter(|| tcg::replay(black_box(log), cfg, &ComputeOnly).map(|r| r.outcome.entries))
    });
    g.bench_function("baseline_parse_only", |b| {
        b.iter(|| tcg::parse(black_box(log), &cfg.parse).map(|l| l.events.len()))
    });
    g.bench_function("baseline_bare_extends", |b| {
        b.iter(|| {
            black_box(&digests).iter().fold(0u8, |acc, d| {
                acc ^ Digest::zero(d.alg()).extended(d.as_bytes()).as_bytes()[0]
            })
        })
    });
    g.bench_function("baseline_bare_extends_and_data_hashes", |b| {
        b.iter(|| {
            let extends = black_box(&digests).iter().fold(0u8, |acc, d| {
                acc ^ Digest::zero(d.alg()).extended(d.as_bytes()).as_bytes()[0]
            });
            black_box(&checked)
                .iter()
                .fold(extends, |acc, (alg, data)| {
                    acc ^ alg.hash(data).as_bytes()[0]
                })
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let (Some(pc), Some(cc)) = (
        vector("tcg2/go-attestation/sb_cert_eventlog"),
        vector("ccel/go-eventlog/cos-113-intel-tdx.bin"),
    ) else {
        eprintln!("MR_SHARED is not set (or vectors missing): skipping the tcg benchmarks");
        return;
    };
    bench_log(
        c,
        "tcg_pc_client_sb_cert",
        &pc,
        &TcgReplayConfig::pc_client(),
    );
    let table = vector("ccel/go-eventlog/cos-113-intel-tdx.table.bin")
        .and_then(|t| ccel::CcelTable::parse(&t).ok());
    let area = table.as_ref().map_or(&cc[..], |t| t.log_area(&cc));
    bench_log(c, "tcg_ccel_cos113", area, &TcgReplayConfig::ccel());
}

criterion_group!(tcg_replay, benches);
criterion_main!(tcg_replay);
