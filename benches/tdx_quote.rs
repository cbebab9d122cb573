//! TD quote verification: without collateral (PCK chain, QE report, quote signature) and with
//! full DCAP collateral (adds dcap-qvl's TCB evaluation), against a baseline measured in the
//! same run: one raw ECDSA P-256 verification of a message the size of a quote's signed bytes.
//!
//! Run: `MR_SHARED=../shared cargo bench --bench tdx_quote`. Without `MR_SHARED`, only the
//! simulated-TD quote and the baseline are measured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use mr_rtmr::quote::{self, Collateral, VerifyOptions};
use mr_rtmr::sim::quote::QuoteFormat;
use mr_testkit::td;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey};

/// Inside tdx_quote_collateral.json's validity window (EXPECTED.json).
const VECTOR_NOW: u64 = 1_752_919_234;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tdx_quote");

    // Baseline: one ECDSA P-256 (SHA-256) verification over 632 bytes (a v4 quote's signed part).
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let msg = vec![0x5au8; 632];
    let sig: Signature = key.sign(&msg);
    let vk = *key.verifying_key();
    g.bench_function("baseline_one_ecdsa_p256_verify", |b| {
        b.iter(|| vk.verify(black_box(&msg), black_box(&sig)).unwrap())
    });

    let m = td::measurements([1; 48], [[2; 48]; 4], &[3; 64]);
    let sim = td::signer().quote_as(&m, QuoteFormat::V4Td10).unwrap();
    let sim_opts = VerifyOptions::at_unix(td::AT).with_root_der(td::signer().root_der());
    g.bench_function("verify_sim_quote_no_collateral", |b| {
        b.iter(|| quote::verify(black_box(&sim), &sim_opts).unwrap())
    });
    g.bench_function("parse_sim_quote", |b| {
        b.iter(|| quote::parse(black_box(&sim)).unwrap().rtmrs()[0][0])
    });

    if let Some(dir) =
        std::env::var_os("MR_SHARED").map(|s| PathBuf::from(s).join("vectors/tdx/dcap-qvl"))
    {
        let q = std::fs::read(dir.join("tdx_quote")).unwrap();
        let json = std::fs::read(dir.join("tdx_quote_collateral.json")).unwrap();
        let plain = VerifyOptions::at_unix(VECTOR_NOW);
        g.bench_function("verify_intel_quote_no_collateral", |b| {
            b.iter(|| quote::verify(black_box(&q), &plain).unwrap())
        });
        let full = VerifyOptions::at_unix(VECTOR_NOW)
            .with_collateral(Collateral::from_json(&json).unwrap());
        g.bench_function("verify_intel_quote_full_collateral", |b| {
            b.iter(|| {
                let v = quote::verify(black_box(&q), &full).unwrap();
                assert!(v.tcb_status().unwrap().is_up_to_date());
            })
        });
    } else {
        eprintln!("MR_SHARED is not set: skipping the Intel quote benchmarks");
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
