//! TPM quote verification per second, against the raw signature verify measured in the same run.
//!
//! Input: a synthetic TPM2_Quote (TPMS_ATTEST over PCRs 0-7 and 10 in the SHA-256 bank, a 32-byte
//! nonce) signed in software with the two common AK types, each AK given as a TPMT_PUBLIC
//! (restricted signing, fixed scheme), as a verifier receives it.
//!
//! - `raw_verify`: the signature primitive alone on a precomputed SHA-256 digest (RustCrypto
//!   `rsa` 0.9 / `p256` 0.14 with precomputed tables, the crates mr-tpm uses): the floor. (p256
//!   0.13 only signs the synthetic quote.)
//! - `mr_verify_quote`: `mr_tpm::verify_quote`: parse TPMS_ATTEST and TPMT_SIGNATURE, scheme and
//!   restriction checks, hash and verify the signature, magic/type/nonce, pcrDigest over the nine
//!   supplied PCR values, and build `VerifiedRegisters`.
//! - `mr_parse_ak`: parsing the AK's TPMT_PUBLIC into a verifying key (done once per AK).
//!
//! Run: `cargo bench --bench tpm_quote`. Report mr_verify_quote / raw_verify per key type.
#![allow(clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use p256_013::ecdsa::signature::hazmat::PrehashSigner;
use rsa::traits::PublicKeyParts;
use rsa::Pkcs1v15Sign;

use mr::core::{HashAlg, MrId, RegisterValue};
use mr::tpm::attest::TPM_GENERATED_VALUE;
use mr::tpm::{
    verify_quote, AkPublic, Attest, Attested, ClockInfo, PcrBankSelection, PcrSelection, QuoteInfo,
    Signature,
};

const RESTRICTED_SIGNING: u32 = 0x0005_0072;

fn pcr_values() -> Vec<RegisterValue> {
    [0u32, 1, 2, 3, 4, 5, 6, 7, 10]
        .iter()
        .map(|i| RegisterValue {
            id: MrId::Pcr(*i),
            value: HashAlg::Sha256.hash(&i.to_be_bytes()),
        })
        .collect()
}

fn attest_bytes(nonce: &[u8]) -> Vec<u8> {
    let mut concat = Vec::new();
    for v in pcr_values() {
        concat.extend_from_slice(v.value.as_bytes());
    }
    Attest {
        magic: TPM_GENERATED_VALUE,
        qualified_signer: HashAlg::Sha256.hash(b"signer").as_bytes().to_vec(),
        extra_data: nonce.to_vec(),
        clock_info: ClockInfo {
            clock: 1_000_000,
            reset_count: 3,
            restart_count: 0,
            safe: true,
        },
        firmware_version: 0x2023_0001_0000_0000,
        attested: Attested::Quote(QuoteInfo {
            pcr_select: PcrSelection {
                banks: vec![PcrBankSelection::new(
                    HashAlg::Sha256,
                    &[0, 1, 2, 3, 4, 5, 6, 7, 10],
                )],
            },
            pcr_digest: HashAlg::Sha256.hash(&concat).as_bytes().to_vec(),
        }),
    }
    .marshal()
}

fn tpmt_header(key_type: u16) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&key_type.to_be_bytes());
    out.extend_from_slice(&0x000Bu16.to_be_bytes());
    out.extend_from_slice(&RESTRICTED_SIGNING.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0x0010u16.to_be_bytes());
    out
}

fn ecc_tpmt(key: &p256_013::ecdsa::VerifyingKey) -> Vec<u8> {
    let point = key.to_encoded_point(false);
    let mut out = tpmt_header(0x0023);
    for v in [0x0018u16, 0x000B, 0x0003, 0x0010] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for c in [point.x().expect("x"), point.y().expect("y")] {
        out.extend_from_slice(&32u16.to_be_bytes());
        out.extend_from_slice(c);
    }
    out
}

fn rsa_tpmt(key: &rsa::RsaPublicKey) -> Vec<u8> {
    let mut out = tpmt_header(0x0001);
    for v in [0x0014u16, 0x000B, 2048] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&0u32.to_be_bytes());
    let n = key.n().to_bytes_be();
    out.extend_from_slice(&(n.len() as u16).to_be_bytes());
    out.extend_from_slice(&n);
    out
}

fn bench(c: &mut Criterion) {
    let nonce = [0x5a; 32];
    let attest = attest_bytes(&nonce);
    let digest = HashAlg::Sha256.hash(&attest);
    let pcrs = pcr_values();

    // ECDSA P-256.
    let ecc = p256_013::ecdsa::SigningKey::from_slice(&[7; 32]).expect("key");
    let ecc_sig: p256_013::ecdsa::Signature = ecc.sign_prehash(digest.as_bytes()).expect("sign");
    let (r, s) = ecc_sig.split_bytes();
    let ecc_tpmt_sig = Signature::Ecdsa {
        hash: HashAlg::Sha256,
        r: r.to_vec(),
        s: s.to_vec(),
    }
    .marshal();
    let ecc_pub = ecc_tpmt(ecc.verifying_key());
    let ecc_ak = AkPublic::from_tpmt_public(&ecc_pub).expect("ak");
    verify_quote(&attest, &ecc_tpmt_sig, &ecc_ak, &nonce, &pcrs).expect("ECDSA quote verifies");

    // RSA-2048 RSASSA-SHA256.
    let rsa_key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("RSA key");
    let rsa_raw = rsa_key
        .sign(Pkcs1v15Sign::new::<sha2::Sha256>(), digest.as_bytes())
        .expect("sign");
    let rsa_tpmt_sig = Signature::Rsa {
        scheme: mr::tpm::SigScheme::RsaSsa,
        hash: HashAlg::Sha256,
        sig: rsa_raw.clone(),
    }
    .marshal();
    let rsa_pub = rsa_tpmt(&rsa_key.to_public_key());
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
        let sig = p256::ecdsa::Signature::from_slice(&ecc_sig.to_bytes()).expect("signature");
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
