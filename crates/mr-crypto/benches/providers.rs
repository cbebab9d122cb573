//! Raw signature verification per provider, same run: ECDSA P-256/SHA-256 (a TPM quote's or a
//! TD quote's signature) and RSA-2048 PKCS#1 v1.5/SHA-256, RustCrypto vs ring.
//!
//! Run: `cargo bench -p mr-crypto --features ring --bench providers -- --warm-up-time 1
//! --measurement-time 3`.
#![allow(clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use mr_crypto::{Curve, EcdsaEncoding, Hash, PublicKey, Scheme, RUSTCRYPTO};
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use rsa::traits::PublicKeyParts as _;

fn bench(c: &mut Criterion) {
    let message = vec![0x5au8; 600];
    let sk = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).expect("key");
    let point = sk.verifying_key().to_sec1_point(false).as_bytes().to_vec();
    let ec = PublicKey::from_ec_point(Curve::P256, &point).expect("point");
    let sig: p256::ecdsa::Signature = sk
        .sign_prehash(&Hash::Sha256.digest(&message))
        .expect("sign");
    let ec_sig = sig.to_bytes().to_vec();
    let ec_scheme = Scheme::Ecdsa {
        hash: Hash::Sha256,
        encoding: EcdsaEncoding::Fixed,
    };
    let rsa_key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("RSA key");
    let rsa_sig = rsa_key
        .sign(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &Hash::Sha256.digest(&message),
        )
        .expect("sign");
    let rsa = PublicKey::from_rsa_components(&rsa_key.n().to_bytes_be(), 65537).expect("key");
    let rsa_scheme = Scheme::RsaPkcs1v15(Hash::Sha256);

    let mut providers = vec![&RUSTCRYPTO];
    #[cfg(feature = "ring")]
    providers.push(&mr_crypto::RING);
    let mut g = c.benchmark_group("verify");
    for p in providers {
        p.verify(&ec, ec_scheme, &message, &ec_sig).expect("valid");
        p.verify(&rsa, rsa_scheme, &message, &rsa_sig)
            .expect("valid");
        g.bench_function(format!("p256_sha256/{}", p.name()), |b| {
            b.iter(|| p.verify(&ec, ec_scheme, &message, &ec_sig))
        });
        g.bench_function(format!("rsa2048_pkcs1_sha256/{}", p.name()), |b| {
            b.iter(|| p.verify(&rsa, rsa_scheme, &message, &rsa_sig))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
