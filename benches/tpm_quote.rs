//! TPM quote verification per second, against the raw signature verify of the same crypto
//! provider, measured in the same run.
//!
//! Input: a synthetic TPM2_Quote (TPMS_ATTEST over PCRs 0-7 and 10 in the SHA-256 bank, a 32-byte
//! nonce) signed in software with the two common AK types, each AK given as a TPMT_PUBLIC
//! (restricted signing, fixed scheme), as a verifier receives it.
//!
//! Each group is named after the provider mr-tpm verifies with (`mr_crypto::default_provider()`:
//! `rustcrypto` by default, `ring` with the root feature `ring`):
//! - `raw_verify`: the provider's signature verify alone (SHA-256 of the TPMS_ATTEST and the
//!   signature check, with the AK's already parsed key): the floor.
//! - `mr_verify_quote`: `mr_tpm::verify_quote`: parse TPMS_ATTEST and TPMT_SIGNATURE, scheme and
//!   restriction checks, hash and verify the signature, magic/type/nonce, pcrDigest over the nine
//!   supplied PCR values, and build `VerifiedRegisters`.
//! - `mr_parse_ak`: parsing the AK's TPMT_PUBLIC into a verifying key (done once per AK).
//!
//! Run: `cargo bench --bench tpm_quote [--features ring] -- --warm-up-time 1
//! --measurement-time 3`. Report mr_verify_quote / raw_verify per key type (target ≤ 1.2×).
#![allow(clippy::expect_used, clippy::panic, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mr_crypto::{default_provider, EcdsaEncoding, Hash, Scheme};

use mr::tpm::{verify_quote, AkPublic, Signature};
use mr_testkit::tpm::{rsa_tpmt_public, rsassa_signature, SoftwareQuote, QUOTE_NONCE};

fn bench(c: &mut Criterion) {
    // ECDSA P-256: the fixed software-signed quote.
    let SoftwareQuote {
        key: _,
        attest,
        signature: ecc_tpmt_sig,
        ak_tpmt: ecc_pub,
        ak: ecc_ak,
        pcrs,
    } = SoftwareQuote::new();
    let nonce = QUOTE_NONCE;
    let provider = default_provider();
    let ecc_sig = match Signature::parse(&ecc_tpmt_sig).expect("TPMT_SIGNATURE") {
        Signature::Ecdsa { r, s, .. } => [r, s].concat(),
        other => panic!("not an ECDSA signature: {other:?}"),
    };

    // RSA-2048 RSASSA-SHA256, the same TPMS_ATTEST.
    let rsa_key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("RSA key");
    let rsa_tpmt_sig = rsassa_signature(&rsa_key, &attest);
    let rsa_raw = match Signature::parse(&rsa_tpmt_sig).expect("TPMT_SIGNATURE") {
        Signature::Rsa { sig, .. } => sig,
        other => panic!("not an RSA signature: {other:?}"),
    };
    let rsa_pub = rsa_tpmt_public(&rsa_key.to_public_key());
    let rsa_ak = AkPublic::from_tpmt_public(&rsa_pub).expect("ak");
    verify_quote(&attest, &rsa_tpmt_sig, &rsa_ak, &nonce, &pcrs).expect("RSA quote verifies");

    let mut g = c.benchmark_group(format!("tpm_quote_ecdsa_p256_{}", provider.name()));
    g.throughput(Throughput::Elements(1));
    let ecdsa = Scheme::Ecdsa {
        hash: Hash::Sha256,
        encoding: EcdsaEncoding::Fixed,
    };
    g.bench_function("raw_verify", |b| {
        b.iter(|| {
            provider
                .verify(
                    ecc_ak.public_key(),
                    ecdsa,
                    std::hint::black_box(&attest),
                    &ecc_sig,
                )
                .expect("ok")
        })
    });
    g.bench_function("mr_verify_quote", |b| {
        b.iter(|| {
            verify_quote(
                std::hint::black_box(&attest),
                &ecc_tpmt_sig,
                &ecc_ak,
                &nonce,
                &pcrs,
            )
            .expect("ok")
        })
    });
    g.bench_function("mr_parse_ak", |b| {
        b.iter(|| AkPublic::from_tpmt_public(std::hint::black_box(&ecc_pub)).expect("ok"))
    });
    g.finish();

    let mut g = c.benchmark_group(format!(
        "tpm_quote_rsa2048_rsassa_sha256_{}",
        provider.name()
    ));
    g.throughput(Throughput::Elements(1));
    g.bench_function("raw_verify", |b| {
        b.iter(|| {
            provider
                .verify(
                    rsa_ak.public_key(),
                    Scheme::RsaPkcs1v15(Hash::Sha256),
                    std::hint::black_box(&attest),
                    &rsa_raw,
                )
                .expect("ok")
        })
    });
    g.bench_function("mr_verify_quote", |b| {
        b.iter(|| {
            verify_quote(
                std::hint::black_box(&attest),
                &rsa_tpmt_sig,
                &rsa_ak,
                &nonce,
                &pcrs,
            )
            .expect("ok")
        })
    });
    g.bench_function("mr_parse_ak", |b| {
        b.iter(|| AkPublic::from_tpmt_public(std::hint::black_box(&rsa_pub)).expect("ok"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
