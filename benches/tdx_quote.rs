//! TD quote verification: without collateral (PCK chain, QE report, quote signature) and with
//! full DCAP collateral (adds dcap-qvl's TCB evaluation), with mr-rtmr's verified-signature
//! cache cold (cleared before every verification: a platform seen for the first time) and warm
//! (the platform's chain and collateral already verified once: what a verifier pays per quote),
//! against a baseline measured in the same run: one raw ECDSA P-256 verification, through the
//! same crypto provider, of a message the size of a quote's signed bytes.
//!
//! The group is named after the provider (`mr_crypto::default_provider()`: `rustcrypto` by
//! default, `ring` with the root feature `ring`).
//!
//! Run: `MR_SHARED=../shared cargo bench --bench tdx_quote [--features ring] --
//! --warm-up-time 1 --measurement-time 3`. Without `MR_SHARED`, only the simulated-TD quote and
//! the baseline are measured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use mr_crypto::{default_provider, Curve, EcdsaEncoding, Hash, PublicKey, Scheme};
use mr_rtmr::quote::{self, clear_signature_cache, Collateral, VerifyOptions};
use mr_rtmr::sim::quote::QuoteFormat;
use mr_testkit::td;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

/// Inside tdx_quote_collateral.json's validity window (EXPECTED.json).
const VECTOR_NOW: u64 = 1_752_919_234;

fn bench(c: &mut Criterion) {
    let provider = default_provider();
    let mut g = c.benchmark_group(format!("tdx_quote_{}", provider.name()));

    // Baseline: one ECDSA P-256 (SHA-256) verification over 632 bytes (a v4 quote's signed part)
    // through the provider the quote verifier uses.
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let msg = vec![0x5au8; 632];
    let sig: Signature = key.sign(&msg);
    let public = PublicKey::from_ec_point(
        Curve::P256,
        key.verifying_key().to_sec1_point(false).as_bytes(),
    )
    .unwrap();
    let scheme = Scheme::Ecdsa {
        hash: Hash::Sha256,
        encoding: EcdsaEncoding::Fixed,
    };
    let sig = sig.to_bytes();
    g.bench_function("baseline_one_ecdsa_p256_verify", |b| {
        b.iter(|| {
            provider
                .verify(&public, scheme, black_box(&msg), black_box(&sig))
                .unwrap()
        })
    });

    let m = td::measurements([1; 48], [[2; 48]; 4], &[3; 64]);
    let sim = td::signer().quote_as(&m, QuoteFormat::V4Td10).unwrap();
    let sim_opts = VerifyOptions::at_unix(td::AT).with_root_der(td::signer().root_der());
    g.bench_function("verify_sim_quote_no_collateral_cold", |b| {
        b.iter(|| {
            clear_signature_cache();
            quote::verify(black_box(&sim), &sim_opts).unwrap()
        })
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
        g.bench_function("verify_intel_quote_no_collateral_cold", |b| {
            b.iter(|| {
                clear_signature_cache();
                quote::verify(black_box(&q), &plain).unwrap()
            })
        });
        let full = VerifyOptions::at_unix(VECTOR_NOW)
            .with_collateral(Collateral::from_json(&json).unwrap());
        let verify_full = || {
            let v = quote::verify(black_box(&q), &full).unwrap();
            assert!(v.tcb_status().unwrap().is_up_to_date());
        };
        g.bench_function("verify_intel_quote_full_collateral_cold", |b| {
            b.iter(|| {
                clear_signature_cache();
                verify_full()
            })
        });
        // Warm: every signature of this quote, its chain and collateral verified once before.
        clear_signature_cache();
        verify_full();
        g.bench_function("verify_intel_quote_full_collateral_warm", |b| {
            b.iter(verify_full)
        });
        clear_signature_cache();
    } else {
        eprintln!("MR_SHARED is not set: skipping the Intel quote benchmarks");
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
