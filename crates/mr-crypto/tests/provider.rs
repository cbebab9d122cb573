//! The provider's contract, whatever the backend: which schemes fit which keys (PSS salt up to
//! the key's largest), a digest of the wrong size is a bad signature, and how hashes, schemes
//! and providers are named in errors and reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_crypto::{
    default_provider, CryptoError, Curve, EcdsaEncoding, Hash, PublicKey, Scheme, RUSTCRYPTO,
};
use p256::ecdsa::signature::hazmat::PrehashSigner as _;

const HASHES: [Hash; 5] = [
    Hash::Sha1,
    Hash::Sha224,
    Hash::Sha256,
    Hash::Sha384,
    Hash::Sha512,
];

/// An RSA key of exactly `bits` bits (every bit set): enough to decide what fits it.
fn rsa_key(bits: usize) -> PublicKey {
    let mut n = vec![0xffu8; bits.div_ceil(8)];
    n[0] >>= (8 - bits % 8) % 8;
    PublicKey::from_rsa_components(&n, 65537).unwrap()
}

fn p256_signer() -> (p256::ecdsa::SigningKey, PublicKey) {
    let mut secret = [0u8; 32];
    secret[31] = 5;
    let sk = p256::ecdsa::SigningKey::from_slice(&secret).unwrap();
    let point = sk.verifying_key().to_sec1_point(false).as_bytes().to_vec();
    (sk, PublicKey::from_ec_point(Curve::P256, &point).unwrap())
}

#[test]
fn hashes_have_their_fips_180_4_sizes_and_digests() {
    use sha2::Digest as _;
    let sizes: Vec<usize> = HASHES.iter().map(|h| h.size()).collect();
    assert_eq!(sizes, [20, 28, 32, 48, 64]);
    let m = b"abc";
    let expected = [
        sha1::Sha1::digest(m).to_vec(),
        sha2::Sha224::digest(m).to_vec(),
        sha2::Sha256::digest(m).to_vec(),
        sha2::Sha384::digest(m).to_vec(),
        sha2::Sha512::digest(m).to_vec(),
    ];
    for (h, e) in HASHES.iter().zip(expected) {
        assert_eq!(h.digest(m), e, "{h}");
    }
    let names: Vec<String> = HASHES.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["SHA-1", "SHA-224", "SHA-256", "SHA-384", "SHA-512"]);
}

#[test]
fn schemes_name_their_hash_and_salt() {
    let pss = Scheme::RsaPss {
        hash: Hash::Sha384,
        salt_len: 48,
    };
    let ecdsa = Scheme::Ecdsa {
        hash: Hash::Sha512,
        encoding: EcdsaEncoding::Der,
    };
    assert_eq!(Scheme::RsaPkcs1v15(Hash::Sha1).hash(), Hash::Sha1);
    assert_eq!(pss.hash(), Hash::Sha384);
    assert_eq!(ecdsa.hash(), Hash::Sha512);
    assert_eq!(
        Scheme::RsaPkcs1v15(Hash::Sha256).to_string(),
        "RSASSA-PKCS1-v1_5/SHA-256"
    );
    assert_eq!(pss.to_string(), "RSASSA-PSS/SHA-384/salt 48");
    assert_eq!(ecdsa.to_string(), "ECDSA/SHA-512");
    assert_eq!(RUSTCRYPTO.name(), "rustcrypto");
    assert!(["rustcrypto", "ring"].contains(&default_provider().name()));
}

#[test]
fn a_pss_salt_fits_up_to_the_keys_largest_and_a_scheme_must_fit_the_key_type() {
    // 2048 bits: emLen 256, the largest SHA-256 salt is 256 - 32 - 2 = 222 (RFC 8017 §9.1.1).
    let rsa = rsa_key(2048);
    let (_, ec) = p256_signer();
    let sig = vec![0x5a; 256];
    for provider in [&RUSTCRYPTO, default_provider()] {
        let verify = |key: &PublicKey, scheme| provider.verify(key, scheme, b"m", &sig);
        let pss = |salt_len| Scheme::RsaPss {
            hash: Hash::Sha256,
            salt_len,
        };
        // Fits: the signature is looked at, and it is wrong.
        for scheme in [pss(0), pss(222), Scheme::RsaPkcs1v15(Hash::Sha256)] {
            assert_eq!(
                verify(&rsa, scheme),
                Err(CryptoError::BadSignature),
                "{scheme}"
            );
        }
        let ecdsa = Scheme::Ecdsa {
            hash: Hash::Sha256,
            encoding: EcdsaEncoding::Fixed,
        };
        assert_eq!(verify(&ec, ecdsa), Err(CryptoError::BadSignature));
        // Does not fit: refused before the signature is looked at.
        for (key, scheme) in [
            (&rsa, pss(223)),
            (&rsa, ecdsa),
            (&ec, pss(0)),
            (&ec, Scheme::RsaPkcs1v15(Hash::Sha256)),
        ] {
            let e = verify(key, scheme).unwrap_err();
            assert!(
                matches!(e, CryptoError::SchemeMismatch { .. }),
                "{scheme} on {key}: {e}"
            );
        }
    }
}

#[test]
fn a_prehashed_signature_verifies_only_over_a_digest_of_the_schemes_size() {
    let (sk, key) = p256_signer();
    let digest = Hash::Sha256.digest(b"message");
    let sig: p256::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
    let scheme = Scheme::Ecdsa {
        hash: Hash::Sha256,
        encoding: EcdsaEncoding::Fixed,
    };
    for provider in [&RUSTCRYPTO, default_provider()] {
        provider
            .verify_prehashed(&key, scheme, &digest, &sig.to_bytes())
            .unwrap();
        provider
            .verify(&key, scheme, b"message", &sig.to_bytes())
            .unwrap();
        // The same signature offered over the digest with a byte more or less.
        for d in [&digest[..31], &[&digest[..], &[0]].concat()[..]] {
            assert_eq!(
                provider.verify_prehashed(&key, scheme, d, &sig.to_bytes()),
                Err(CryptoError::BadSignature)
            );
        }
        assert_eq!(
            provider.verify(&key, scheme, b"messagf", &sig.to_bytes()),
            Err(CryptoError::BadSignature)
        );
    }
}
