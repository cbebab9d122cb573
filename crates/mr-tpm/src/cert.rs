//! X.509 AK certificates: is a certificate signed by the issuer given? (ECDSA P-256/P-384 with
//! SHA-256/384, RSA PKCS#1 v1.5 with SHA-256/384/512.)
//!
//! This checks one link: the issuer name and the signature. Validity periods, key usage and
//! revocation are the caller's policy.

use der::{Decode, Encode};
use mr_core::HashAlg;
use rsa::Pkcs1v15Sign;

use crate::error::Error;
use crate::public::{AkPublic, VerifyKey};

const ECDSA_SHA256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const RSA_SHA256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

/// DER bytes of the first certificate in `input` (PEM or DER).
pub fn certificate_der(input: &[u8]) -> Result<Vec<u8>, Error> {
    let start = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    if input
        .get(start..)
        .is_some_and(|t| t.starts_with(b"-----BEGIN "))
    {
        let (label, der_bytes) = crate::public::first_pem_block(input)?;
        if label != "CERTIFICATE" {
            return Err(Error::InvalidKey(format!(
                "expected a CERTIFICATE, found {label:?}"
            )));
        }
        Ok(der_bytes)
    } else {
        Ok(input.to_vec())
    }
}

/// Check that `cert` (DER) names `issuer` (DER) as its issuer and carries a valid signature by
/// the issuer's key.
pub fn verify_issued_by(cert: &[u8], issuer: &[u8]) -> Result<(), Error> {
    let parse = |what: &str, bytes: &[u8]| {
        x509_cert::Certificate::from_der(bytes)
            .map_err(|e| Error::InvalidKey(format!("{what} certificate: {e}")))
    };
    let c = parse("subject", cert)?;
    let i = parse("issuer", issuer)?;
    if c.tbs_certificate.issuer != i.tbs_certificate.subject {
        return Err(Error::CertificateChain(format!(
            "issued by {}, not by {}",
            c.tbs_certificate.issuer, i.tbs_certificate.subject
        )));
    }
    let key = AkPublic::from_certificate_der(issuer)?;
    let tbs = c
        .tbs_certificate
        .to_der()
        .map_err(|e| Error::InvalidKey(format!("certificate: {e}")))?;
    let sig = c.signature.raw_bytes();
    let oid = c.signature_algorithm.oid;
    let bad = || Error::CertificateChain("signature does not verify with the issuer's key".into());
    let hash = if oid == ECDSA_SHA256 || oid == RSA_SHA256 {
        HashAlg::Sha256
    } else if oid == ECDSA_SHA384 || oid == RSA_SHA384 {
        HashAlg::Sha384
    } else if oid == RSA_SHA512 {
        HashAlg::Sha512
    } else {
        return Err(Error::InvalidKey(format!(
            "unsupported certificate signature algorithm {oid}"
        )));
    };
    let digest = hash.hash(&tbs);
    let is_ecdsa = oid == ECDSA_SHA256 || oid == ECDSA_SHA384;
    match (&key.key, is_ecdsa) {
        (VerifyKey::P256(k), true) => {
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            let s = p256::ecdsa::Signature::from_der(sig).map_err(|_| bad())?;
            k.verify_prehash(digest.as_bytes(), &s).map_err(|_| bad())
        }
        (VerifyKey::P384(k), true) => {
            use p384::ecdsa::signature::hazmat::PrehashVerifier;
            let s = p384::ecdsa::Signature::from_der(sig).map_err(|_| bad())?;
            k.verify_prehash(digest.as_bytes(), &s).map_err(|_| bad())
        }
        (VerifyKey::Rsa(k), false) => {
            let scheme = match hash {
                HashAlg::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
                HashAlg::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
                _ => Pkcs1v15Sign::new::<sha2::Sha256>(),
            };
            k.verify(scheme, digest.as_bytes(), sig).map_err(|_| bad())
        }
        _ => Err(Error::CertificateChain(format!(
            "signature algorithm {oid} does not fit the issuer's {} key",
            key.description()
        ))),
    }
}
