//! TPM quote verification per second, against the raw signature verify measured in the same run.
//!
//! Input: a synthetic TPM2_Quote (TPMS_ATTEST over PCRs 0-7 and 10 in the SHA-256 bank, a 32-byte
//! nonce) signed in software with the two common AK types, each AK given as a TPMT_PUBLIC
//! (restricted signing, fixed scheme), as a verifier receives it.
//!
//! - `raw_verify`: the signature primitive alone on a precomputed SHA-256 digest (RustCrypto
//!   `rsa` 0.9 / `p256` 0.14 with precomputed tables, the crates mr-tpm uses): the floor. (The
//!   quote is signed by `mr_testkit::tpm`.)
//! - `mr_verify_quote`: `mr_tpm::verify_quote`: parse TPMS_ATTEST and TPMT_SIGNATURE, scheme and
//!   restriction checks, hash and verify the signature, magic/type/nonce, pcrDigest over the nine
//!   supplied PCR values, and build `VerifiedRegisters`.
//! - `mr_parse_ak`: parsing the AK's TPMT_PUBLIC into a verifying key (done once per AK).
//!
//! Run: `cargo bench --bench tpm_quote`. Report mr_verify_quote / raw_verify per key type.
#![allow(clippy::expect_used, clippy::panic, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rsa::Pkcs1v15Sign;

use mr::core::HashAlg;
use mr::tpm::{verify_quote, AkPublic, Signature};
use mr_testkit::tpm::{rsa_tpmt_public, rsassa_signature, SoftwareQuote, QUOTE_NONCE};

fn bench(c: &mut Criterion) {
    // ECDSA P-256: the fixed software-signed quote.
    let SoftwareQuote {
        key: ecc,
        attest,
        signature: ecc_tpmt_sig,
        ak_tpmt: ecc_pub,
        ak: ecc_ak,
        pcrs,
    } = SoftwareQuote::new();
    let nonce = QUOTE_NONCE;
    let digest = HashAlg::Sha256.hash(&attest);
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
    let rsa_public = rsa_key.to_public_key();

    let mut g = c.benchmark_group("tpm_quote_ecdsa_p256");
    g.throughput(Throughput::Elements(1));
    {
        // The raw baseline uses the p256 that mr-tpm verifies with (0.14, precomputed tables).
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(
            ecc.verifying_key().to_encoded_point(false).as_bytes(),
        )
        .expect("key");
        let sig = p256::ecdsa::Signature::from_slice(&ecc_sig).expect("signature");
        g.bench_function("raw_verify", |b| {
            b.iter(|| {
                vk.verify_prehash(std::hint::black_box(digest.as_bytes()), &sig)
                    .expect("ok")
            })
        });
    }
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

    let mut g = c.benchmark_group("tpm_quote_rsa2048_rsassa_sha256");
    g.throughput(Throughput::Elements(1));
    g.bench_function("raw_verify", |b| {
        b.iter(|| {
            rsa_public
                .verify(
                    Pkcs1v15Sign::new::<sha2::Sha256>(),
                    std::hint::black_box(digest.as_bytes()),
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
