//! X.509 AK certificates: is a certificate signed by the issuer given? (ECDSA P-256/P-384 with
//! SHA-256/384, RSA PKCS#1 v1.5 with SHA-256/384/512.)
//!
//! [`verify_issued_by`] checks one link: the issuer name and the signature (also RSASSA-PSS,
//! as AMD's SEV-SNP certificates use). [`verify_chain`] walks a leaf up to one of the
//! operator's roots through the intermediates given, with every certificate valid at a given
//! time (RFC 5280 §6.1, without name constraints, policies or revocation, which stay the
//! caller's policy).

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
const RSA_PSS: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const SHA256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const MGF1: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
/// At most this many certificates between a leaf and its root in [`verify_chain`].
pub const MAX_CHAIN_DEPTH: usize = 8;

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
    if oid == RSA_PSS {
        return verify_pss(&c, &key, &tbs, sig);
    }
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

/// RSASSA-PSS (RFC 4055): the hash and salt length from the signature algorithm's parameters,
/// MGF1 with the same hash.
fn verify_pss(
    cert: &x509_cert::Certificate,
    key: &AkPublic,
    tbs: &[u8],
    sig: &[u8],
) -> Result<(), Error> {
    if !matches!(key.public_key().key_type(), KeyType::Rsa { .. }) {
        return Err(Error::CertificateChain(
            "RSASSA-PSS signature by a key that is not RSA".into(),
        ));
    }
    let params = cert
        .signature_algorithm
        .parameters
        .as_ref()
        .ok_or_else(|| Error::InvalidKey("RSASSA-PSS without parameters".into()))?
        .to_der()
        .map_err(|e| Error::InvalidKey(format!("RSASSA-PSS parameters: {e}")))?;
    let params = pkcs1::RsaPssParams::from_der(&params)
        .map_err(|e| Error::InvalidKey(format!("RSASSA-PSS parameters: {e}")))?;
    let salt_len = usize::from(params.salt_len);
    let oid = params.hash.oid;
    let hash = if oid == SHA256 {
        Hash::Sha256
    } else if oid == SHA384 {
        Hash::Sha384
    } else if oid == SHA512 {
        Hash::Sha512
    } else {
        return Err(Error::InvalidKey(format!(
            "unsupported RSASSA-PSS hash {oid}"
        )));
    };
    if params.mask_gen.oid != MGF1 || params.mask_gen.parameters.map(|p| p.oid) != Some(oid) {
        return Err(Error::InvalidKey(
            "RSASSA-PSS with a mask generation other than MGF1 over the message hash".into(),
        ));
    }
    default_provider()
        .verify(
            key.public_key(),
            Scheme::RsaPss { hash, salt_len },
            tbs,
            sig,
        )
        .map_err(|_| {
            Error::CertificateChain("signature does not verify with the issuer's key".into())
        })
}

/// Every certificate of `input`, PEM blocks labelled `CERTIFICATE` (text between them is
/// ignored, as in a CA bundle) or one DER certificate; at most `max` of them.
pub fn certificates_der(input: &[u8], max: usize) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::new();
    let mut rest = input;
    while let Some(block) = mr_crypto::pem::first_block(rest).map_err(invalid_key)? {
        if block.label == "CERTIFICATE" {
            if out.len() == max {
                return Err(Error::InvalidKey(format!(
                    "more than {max} certificates in the bundle"
                )));
            }
            out.push(block.der);
        }
        rest = rest.get(block.span.end..).unwrap_or_default();
    }
    if rest.len() == input.len() {
        // No PEM block at all: one DER certificate.
        return Ok(vec![input.to_vec()]);
    }
    if out.is_empty() {
        return Err(Error::InvalidKey("no CERTIFICATE block in the PEM".into()));
    }
    Ok(out)
}

/// Check that `cert` (DER) is valid at `at` (seconds since the Unix epoch).
pub fn check_validity(cert: &[u8], at: u64) -> Result<(), Error> {
    let c = x509_cert::Certificate::from_der(cert)
        .map_err(|e| Error::InvalidKey(format!("certificate: {e}")))?;
    let v = &c.tbs_certificate.validity;
    let not_before = v.not_before.to_unix_duration().as_secs();
    let not_after = v.not_after.to_unix_duration().as_secs();
    if at < not_before || at > not_after {
        return Err(Error::CertificateChain(format!(
            "{} is valid from {} to {}, not at the verification time ({at} s after the epoch)",
            c.tbs_certificate.subject, v.not_before, v.not_after
        )));
    }
    Ok(())
}

/// True when `cert` says it is a CA (basicConstraints cA).
fn is_ca(cert: &x509_cert::Certificate) -> bool {
    use x509_cert::ext::pkix::BasicConstraints;
    matches!(cert.tbs_certificate.get::<BasicConstraints>(), Ok(Some((_, bc))) if bc.ca)
}

/// A chain that verified: the certificates from the leaf up to the root, DER, leaf first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedChain {
    /// Leaf, intermediates, root.
    pub certificates: Vec<Vec<u8>>,
    /// Index of the root in the `roots` given.
    pub root_index: usize,
}

impl VerifiedChain {
    /// The root's subject and the first 8 bytes of its SHA-256, for provenance.
    pub fn root_description(&self) -> String {
        let root = self
            .certificates
            .last()
            .map(Vec::as_slice)
            .unwrap_or_default();
        describe(root)
    }
}

/// A certificate's subject and the first 8 bytes of its SHA-256 (`CN=… (sha256 0123…)`).
pub fn describe(cert: &[u8]) -> String {
    let fp = mr_core::HashAlg::Sha256.hash(cert).to_hex();
    let subject = x509_cert::Certificate::from_der(cert)
        .map(|c| c.tbs_certificate.subject.to_string())
        .unwrap_or_else(|_| "undecodable certificate".into());
    format!("{subject} (sha256 {})", fp.get(..16).unwrap_or_default())
}

/// Verify that `leaf` (DER) chains to one of `roots` (DER; the operator's trust anchors) through
/// `intermediates` (DER, any order, each a CA), every certificate of the path valid at `at`
/// (seconds since the Unix epoch), at most [`MAX_CHAIN_DEPTH`] links.
///
/// A root is trusted as given (its own signature is not what makes it a root); a self-signed
/// certificate among the intermediates never ends the walk.
pub fn verify_chain(
    leaf: &[u8],
    intermediates: &[Vec<u8>],
    roots: &[Vec<u8>],
    at: u64,
) -> Result<VerifiedChain, Error> {
    if roots.is_empty() {
        return Err(Error::CertificateChain("no root certificate given".into()));
    }
    check_validity(leaf, at)?;
    let mut path = vec![leaf.to_vec()];
    let mut current = leaf.to_vec();
    let mut used = vec![false; intermediates.len()];
    let mut last_error = None;
    for _ in 0..MAX_CHAIN_DEPTH {
        for (i, root) in roots.iter().enumerate() {
            match verify_issued_by(&current, root) {
                Ok(()) => {
                    check_validity(root, at)?;
                    path.push(root.clone());
                    return Ok(VerifiedChain {
                        certificates: path,
                        root_index: i,
                    });
                }
                Err(e @ Error::InvalidKey(_)) => return Err(e),
                Err(e) => last_error = Some(e),
            }
        }
        let next = intermediates.iter().enumerate().find(|(i, c)| {
            !used.get(*i).copied().unwrap_or(true)
                && verify_issued_by(&current, c).is_ok()
                && x509_cert::Certificate::from_der(c).is_ok_and(|c| is_ca(&c))
        });
        let Some((i, issuer)) = next else {
            break;
        };
        check_validity(issuer, at)?;
        if let Some(u) = used.get_mut(i) {
            *u = true;
        }
        path.push(issuer.clone());
        current = issuer.clone();
    }
    Err(Error::CertificateChain(format!(
        "{} does not chain to a root given{}",
        describe(leaf),
        last_error.map(|e| format!(" ({e})")).unwrap_or_default()
    )))
}
