//! The two-thread IMA replay (`ima::verify` with `threads` 2, id `replay_parallel`) against the
//! one-thread replay (`threads` 1, id `replay`), same run, same
//! list, in process (no I/O: the list is in memory).
//!
//! Input: a 100 000-entry synthetic list (mr's sample generator: ima-ng, ima-sig, ima-buf and
//! violation entries), binary and ASCII.
//!
//! - `binary_sha1_sha256/{replay,replay_parallel}`: the banks `evmctl ima_measurement --pcrs
//!   sha1,… --pcrs sha256,…` checks, against the expected PCR 10 values.
//! - `ascii_sha256/{replay,replay_parallel}`: the ASCII list with the SHA-256 bank (and the
//!   SHA-1 template-digest column checked), as keylime's `process_measurement_list` replays it.
//!
//! Run: `cargo bench --bench ima_parallel`. Report replay_parallel / replay per group.
#![allow(clippy::expect_used, missing_docs)] // criterion_group! makes an undocumented fn

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mr::core::ExpectedRegisters;

use mr::core::log::ima::sample::write_sample_list;
use mr::core::log::ima::{self, ImaInput, ImaOptions, ImaReplayConfig, ListKind};
use mr::core::HashAlg;

const ENTRIES: u64 = 100_000;

fn bench(c: &mut Criterion) {
    let cases = [
        (
            "binary_sha1_sha256",
            ListKind::Binary,
            &[HashAlg::Sha1, HashAlg::Sha256][..],
        ),
        ("ascii_sha256", ListKind::Ascii, &[HashAlg::Sha256][..]),
    ];
    for (name, kind, banks) in cases {
        let mut list = Vec::new();
        let summary = write_sample_list(&mut list, kind, ENTRIES, banks, 1)
            .expect("writing to a Vec cannot fail");
        let expected =
            ExpectedRegisters::from_values(summary.expected.clone()).expect("consistent values");
        let config = ImaReplayConfig::default().with_banks(banks.to_vec());
        let one_thread = ImaOptions::default()
            .with_replay(config.clone())
            .with_threads(1);
        let two_threads = ImaOptions::default().with_replay(config).with_threads(2);
        let verify = |opts: &ImaOptions| {
            ima::verify(
                ImaInput::from_bytes(std::hint::black_box(&list[..])),
                &expected,
                opts,
            )
        };
        let one = verify(&one_thread).expect("verifies");
        let two = verify(&two_threads).expect("verifies");
        assert_eq!(one, two, "the same report on one and two threads");

        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(ENTRIES));
        g.sample_size(20);
        g.bench_function(BenchmarkId::new("replay", ENTRIES), |b| {
            b.iter(|| verify(&one_thread))
        });
        g.bench_function(BenchmarkId::new("replay_parallel", ENTRIES), |b| {
            b.iter(|| verify(&two_threads))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
