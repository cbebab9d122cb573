//! X.509 AK certificates: is a certificate signed by the issuer given? (ECDSA P-256/P-384 with
//! SHA-256/384, RSA PKCS#1 v1.5 with SHA-256/384/512.)
//!
//! This checks one link: the issuer name and the signature. Validity periods, key usage and
//! revocation are the caller's policy.

use der::{Decode, Encode};
use mr_crypto::{default_provider, EcdsaEncoding, Hash, KeyType, Scheme};

use crate::error::Error;
use crate::public::{invalid_key, AkPublic};

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
    if mr_crypto::pem::starts_with_pem(input) {
        mr_crypto::pem::der_from_der_or_pem(input, "CERTIFICATE").map_err(invalid_key)
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
        Hash::Sha256
    } else if oid == ECDSA_SHA384 || oid == RSA_SHA384 {
        Hash::Sha384
    } else if oid == RSA_SHA512 {
        Hash::Sha512
    } else {
        return Err(Error::InvalidKey(format!(
            "unsupported certificate signature algorithm {oid}"
        )));
    };
    let is_ecdsa = oid == ECDSA_SHA256 || oid == ECDSA_SHA384;
    let scheme = match (key.public_key().key_type(), is_ecdsa) {
        (KeyType::Ec(_), true) => Scheme::Ecdsa {
            hash,
            encoding: EcdsaEncoding::Der,
        },
        (KeyType::Rsa { .. }, false) => Scheme::RsaPkcs1v15(hash),
        _ => {
            return Err(Error::CertificateChain(format!(
                "signature algorithm {oid} does not fit the issuer's {} key",
                key.description()
            )))
        }
    };
    default_provider()
        .verify(key.public_key(), scheme, &tbs, sig)
        .map_err(|_| bad())
}
