//! IMA replay throughput against its floor, measured in the same run.
//!
//! Input: a 100 000-entry synthetic binary list (mr's own sample generator: ima-ng, ima-sig,
//! ima-buf and violation entries) replayed into PCR 10 in the SHA-1 and SHA-256 banks.
//!
//! - `floor_hash_only`: only the hashing a replay cannot avoid, with the same crates (sha1,
//!   sha2): per entry, SHA-1 and SHA-256 of the template data, then one extend per bank (violations
//!   extend 0xFF without hashing their data). Template data are pre-split in memory, so the floor
//!   has no parsing and no I/O at all.
//! - `mr_replay`: `mr_core::log::ima::replay` on the list bytes: parsing, header-digest check,
//!   per-bank template digests, extends through the replay engine.
//! - `mr_replay_verifying`: the same against the expected PCR values (prefix matching on).
//! - `ascii_parse`: `ImaReader` over the same sample list in ASCII form (SHA-1 column), parse
//!   only: every line split, hex decoded, template data rebuilt and validated.
//! - `ascii_replay_sha256`: `replay` of that ASCII list with `--bank sha256` (SHA-256 bank plus
//!   the SHA-1 check of the template-digest column).
//! - `floor_ascii_sha256`: the hashing that replay cannot avoid, on pre-split template data: per
//!   entry SHA-1 (the column check) and SHA-256 of the template data, then the SHA-256 extend.
//! - `floor_extend_chain_sha256`: the extends alone (SHA-256 of the register and the template
//!   digest, entry after entry): the part no second thread can share, since each extend needs
//!   the one before it.
//!
//! Run: `cargo bench --bench ima_replay`. Report the ratio mr_replay / floor_hash_only.
#![allow(clippy::expect_used, missing_docs)] // criterion_group! makes an undocumented fn

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mr::core::{ComputeOnly, ExpectedRegisters};
use sha1::Digest as _;

use mr::core::log::ima::sample::write_sample_list;
use mr::core::log::ima::{replay, ImaReader, ImaReaderOptions, ImaReplayConfig, ListKind};
use mr::core::HashAlg;

const ENTRIES: u64 = 100_000;

struct FloorInput {
    data: Vec<u8>,
    violation: bool,
}

fn floor(inputs: &[FloorInput]) -> ([u8; 20], [u8; 32]) {
    let mut p1 = [0u8; 20];
    let mut p256 = [0u8; 32];
    for e in inputs {
        let (d1, d256): ([u8; 20], [u8; 32]) = if e.violation {
            ([0xFF; 20], [0xFF; 32])
        } else {
            (
                sha1::Sha1::digest(&e.data).into(),
                sha2::Sha256::digest(&e.data).into(),
            )
        };
        let mut h1 = sha1::Sha1::new();
        h1.update(p1);
        h1.update(d1);
        p1 = h1.finalize().into();
        let mut h256 = sha2::Sha256::new();
        h256.update(p256);
        h256.update(d256);
        p256 = h256.finalize().into();
    }
    (p1, p256)
}

/// The ASCII SHA-256 replay's hashing: the SHA-1 column check (its result compared, so it is
/// not optimised away), the SHA-256 template digest and the extend.
fn floor_ascii_sha256(inputs: &[FloorInput], column: &[[u8; 20]]) -> [u8; 32] {
    let mut p256 = [0u8; 32];
    for (e, listed) in inputs.iter().zip(column) {
        let d256: [u8; 32] = if e.violation {
            [0xFF; 32]
        } else {
            let d1: [u8; 20] = sha1::Sha1::digest(&e.data).into();
            assert_eq!(&d1, listed, "column check");
            sha2::Sha256::digest(&e.data).into()
        };
        let mut h = sha2::Sha256::new();
        h.update(p256);
        h.update(d256);
        p256 = h.finalize().into();
    }
    p256
}

/// The SHA-256 extends alone, from template digests computed beforehand.
fn floor_extend_chain(digests: &[[u8; 32]]) -> [u8; 32] {
    let mut p256 = [0u8; 32];
    for d in digests {
        let mut h = sha2::Sha256::new();
        h.update(p256);
        h.update(d);
        p256 = h.finalize().into();
    }
    p256
}

fn bench(c: &mut Criterion) {
    let banks = [HashAlg::Sha1, HashAlg::Sha256];
    let mut list = Vec::new();
    let summary = write_sample_list(&mut list, ListKind::Binary, ENTRIES, &banks, 1)
        .expect("writing to a Vec cannot fail");
    let expected =
        ExpectedRegisters::from_values(summary.expected.clone()).expect("distinct values");

    let mut inputs = Vec::with_capacity(ENTRIES as usize);
    let mut reader = ImaReader::new(&list[..], ImaReaderOptions::default());
    while let Some(e) = reader.next_entry().expect("the sample list parses") {
        inputs.push(FloorInput {
            data: e.template_data().to_vec(),
            violation: e.is_violation(),
        });
    }
    let (p1, p256) = floor(&inputs);
    assert_eq!(
        summary.expected[0].value.as_bytes(),
        &p1[..],
        "floor computes the real PCR"
    );
    assert_eq!(
        summary.expected[1].value.as_bytes(),
        &p256[..],
        "floor computes the real PCR"
    );

    let config = ImaReplayConfig::default().with_banks(banks);
    let mut g = c.benchmark_group("ima_replay");
    g.throughput(Throughput::Elements(ENTRIES));
    g.sample_size(20);
    g.bench_function(BenchmarkId::new("floor_hash_only", ENTRIES), |b| {
        b.iter(|| floor(std::hint::black_box(&inputs)))
    });
    g.bench_function(BenchmarkId::new("mr_replay", ENTRIES), |b| {
        b.iter(|| replay(std::hint::black_box(&list[..]), &config, &ComputeOnly).expect("replays"))
    });
    g.bench_function(BenchmarkId::new("mr_replay_verifying", ENTRIES), |b| {
        b.iter(|| replay(std::hint::black_box(&list[..]), &config, &expected).expect("verifies"))
    });

    let mut ascii = Vec::new();
    let ascii_summary = write_sample_list(&mut ascii, ListKind::Ascii, ENTRIES, &banks, 1)
        .expect("writing to a Vec cannot fail");
    assert_eq!(ascii_summary, summary, "the same entries in both forms");
    let sha256 = ImaReplayConfig::default().with_banks([HashAlg::Sha256]);
    let report = replay(&ascii[..], &sha256, &ComputeOnly).expect("the ascii list replays");
    assert_eq!(report.entries, ENTRIES);
    g.bench_function(BenchmarkId::new("ascii_parse", ENTRIES), |b| {
        b.iter(|| {
            let mut r = ImaReader::new(
                std::hint::black_box(&ascii[..]),
                ImaReaderOptions::default(),
            );
            let mut n = 0u64;
            while let Some(e) = r.next_entry().expect("parses") {
                n += u64::from(e.pcr());
            }
            n
        })
    });
    g.bench_function(BenchmarkId::new("ascii_replay_sha256", ENTRIES), |b| {
        b.iter(|| replay(std::hint::black_box(&ascii[..]), &sha256, &ComputeOnly).expect("replays"))
    });
    let column: Vec<[u8; 20]> = inputs
        .iter()
        .map(|e| {
            if e.violation {
                [0; 20]
            } else {
                sha1::Sha1::digest(&e.data).into()
            }
        })
        .collect();
    let digests: Vec<[u8; 32]> = inputs
        .iter()
        .map(|e| {
            if e.violation {
                [0xFF; 32]
            } else {
                sha2::Sha256::digest(&e.data).into()
            }
        })
        .collect();
    assert_eq!(
        floor_ascii_sha256(&inputs, &column),
        p256,
        "floor computes the real PCR"
    );
    assert_eq!(
        floor_extend_chain(&digests),
        p256,
        "chain computes the real PCR"
    );
    g.bench_function(BenchmarkId::new("floor_ascii_sha256", ENTRIES), |b| {
        b.iter(|| floor_ascii_sha256(std::hint::black_box(&inputs), &column))
    });
    g.bench_function(
        BenchmarkId::new("floor_extend_chain_sha256", ENTRIES),
        |b| b.iter(|| floor_extend_chain(std::hint::black_box(&digests))),
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
