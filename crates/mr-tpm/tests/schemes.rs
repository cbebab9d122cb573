//! Every supported signature scheme verifies a quote: RSASSA with SHA-1/256/384/512, RSAPSS with
//! either salt length a TPM uses, ECDSA on P-256 and P-384 (also with r or s shorter than the
//! field, as TPMs emit them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::HashAlg;
use mr_testkit::tpm::{pcr_values, quote_attest};
use mr_tpm::{verify_quote_signature, AkPublic, Attest, Error, SigScheme, Signature};
use rsa::pkcs8::EncodePublicKey as _;
use rsa::traits::PublicKeyParts;

fn attest() -> Vec<u8> {
    quote_attest(b"nonce", &pcr_values(&[10])).marshal()
}

fn rsa_key() -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap()
}

fn rsa_ak(key: &rsa::RsaPrivateKey) -> AkPublic {
    let der = key.to_public_key().to_public_key_der().unwrap();
    AkPublic::detect(der.as_bytes()).unwrap()
}

#[test]
fn rsassa_verifies_with_every_hash() {
    let key = rsa_key();
    let ak = rsa_ak(&key);
    let a = attest();
    for hash in [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ] {
        let digest = hash.hash(&a);
        let scheme = match hash {
            HashAlg::Sha1 => rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
            HashAlg::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            HashAlg::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            _ => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
        };
        let sig = key.sign(scheme, digest.as_bytes()).unwrap();
        let tpmt = Signature::Rsa {
            scheme: SigScheme::RsaSsa,
            hash,
            sig,
        }
        .marshal();
        let q = verify_quote_signature(&a, &tpmt, &ak, Some(b"nonce")).unwrap();
        assert_eq!(q.hash(), hash);
    }
}

#[test]
fn rsapss_verifies_with_digest_length_and_maximum_salt() {
    let key = rsa_key();
    let ak = rsa_ak(&key);
    let a = attest();
    let digest = HashAlg::Sha256.hash(&a);
    let em_len = (key.n().bits() - 1).div_ceil(8);
    for salt in [32, em_len - 32 - 2] {
        let sig = key
            .sign_with_rng(
                &mut rand_core::OsRng,
                rsa::Pss::new_with_salt::<sha2::Sha256>(salt),
                digest.as_bytes(),
            )
            .unwrap();
        let tpmt = Signature::Rsa {
            scheme: SigScheme::RsaPss,
            hash: HashAlg::Sha256,
            sig: sig.clone(),
        };
        verify_quote_signature(&a, &tpmt.marshal(), &ak, Some(b"nonce")).unwrap();
        // The same bytes as RSASSA do not verify.
        let wrong = Signature::Rsa {
            scheme: SigScheme::RsaSsa,
            hash: HashAlg::Sha256,
            sig,
        };
        assert!(matches!(
            verify_quote_signature(&a, &wrong.marshal(), &ak, Some(b"nonce")),
            Err(Error::BadSignature)
        ));
    }
}

#[test]
fn ecdsa_p384_verifies_and_short_scalars_are_left_padded() {
    use p384::ecdsa::signature::hazmat::PrehashSigner;
    let key = p384::ecdsa::SigningKey::from_slice(&[0x42; 48]).unwrap();
    // A bare SEC1 point is not a key file format: wrap it in a P-384 SubjectPublicKeyInfo.
    let mut spki = hex::decode("3076301006072a8648ce3d020106052b81040022036200").unwrap();
    spki.extend_from_slice(key.verifying_key().to_sec1_point(false).as_bytes());
    let ak = AkPublic::detect(&spki).unwrap();
    assert_eq!(ak.description(), "ECC P-384");
    let mut saw_short = false;
    for i in 0u32..3000 {
        let mut att = Attest::parse(&attest()).unwrap();
        att.extra_data = i.to_be_bytes().to_vec();
        let a = att.marshal();
        for hash in [HashAlg::Sha384, HashAlg::Sha256] {
            let sig: p384::ecdsa::Signature = key.sign_prehash(hash.hash(&a).as_bytes()).unwrap();
            let (r, s) = sig.split_bytes();
            let strip = |b: &[u8]| {
                b.iter()
                    .skip_while(|x| **x == 0)
                    .copied()
                    .collect::<Vec<u8>>()
            };
            let (r, s) = (strip(&r), strip(&s));
            let short = r.len() < 48 || s.len() < 48;
            let tpmt = Signature::Ecdsa { hash, r, s }.marshal();
            verify_quote_signature(&a, &tpmt, &ak, Some(&i.to_be_bytes())).unwrap();
            saw_short |= short;
        }
        if saw_short && i > 10 {
            break;
        }
    }
    assert!(saw_short, "no signature with a leading zero byte in r or s");
}
