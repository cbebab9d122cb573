//! The PCK certificate chain: decode the PEM from the quote and chain the PCK leaf to the
//! configured root at the verification time (ECDSA P-256 with SHA-256, as Intel's PKI uses).
//!
//! The chain's order is not relied on (docs/formats.md#td-quote: not normative): the leaf is the one
//! certificate that issues no other, and each issuer is looked up by name. A self-signed
//! certificate in the chain is never trusted by itself: the walk ends only at a certificate the
//! configured root's key signs. The root certificate the chain embeds (every certificate named
//! like the trust anchor) must be byte-equal to the trust anchor, and the chain must embed it,
//! as Intel's quoting enclave always does: an altered or substituted root is refused even though
//! the walk does not need it.

use mr_crypto::{Curve, EcdsaEncoding, PublicKey};
use sha2::{Digest as _, Sha256};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::Certificate;

use super::error::QuoteError;

/// At most this many certificates in a PCK chain (Intel's has 3).
pub const MAX_CHAIN_CERTS: usize = 8;
/// ecdsa-with-SHA256.
const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
/// What the PCK leaf's common name contains (QVL checks the same).
const PCK_LEAF_CN: &str = "SGX PCK Certificate";

/// A decoded trust anchor: the root certificate and its P-256 key (an uncompressed SEC 1 point
/// on the curve).
#[derive(Clone, Debug)]
pub(crate) struct TrustAnchor {
    cert: Certificate,
    der: Vec<u8>,
    key: Vec<u8>,
    description: String,
}

impl TrustAnchor {
    /// Decode a root certificate (DER) with a P-256 key.
    pub(crate) fn from_der(der: &[u8]) -> Result<TrustAnchor, QuoteError> {
        let cert =
            Certificate::from_der(der).map_err(|e| QuoteError::RootCertificate(e.to_string()))?;
        let key = cert_key(&cert).map_err(QuoteError::RootCertificate)?;
        let fingerprint = Sha256::digest(der);
        let description = format!(
            "{} (sha256 {})",
            cert.tbs_certificate.subject,
            super::hex(&fingerprint[..8])
        );
        Ok(TrustAnchor {
            cert,
            der: der.to_vec(),
            key,
            description,
        })
    }

    /// Subject and fingerprint prefix, for provenance.
    pub(crate) fn description(&self) -> &str {
        &self.description
    }
}

/// The certificate's P-256 key as an uncompressed SEC 1 point (checked to be on the curve).
fn cert_key(cert: &Certificate) -> Result<Vec<u8>, String> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    PublicKey::from_ec_point(Curve::P256, spki.subject_public_key.raw_bytes())
        .ok()
        .and_then(|k| k.ec_point().map(<[u8]>::to_vec))
        .ok_or_else(|| {
            format!(
                "{}: public key is not a P-256 key",
                cert.tbs_certificate.subject
            )
        })
}

fn subject(cert: &Certificate) -> String {
    cert.tbs_certificate.subject.to_string()
}

/// Check that `issuer_key` (SEC 1 point) signed `cert` (ecdsa-with-SHA256).
fn signed_by(cert: &Certificate, issuer_key: &[u8]) -> Result<(), String> {
    if cert.signature_algorithm.oid.to_string() != ECDSA_WITH_SHA256 {
        return Err(format!(
            "{}: unsupported signature algorithm {}",
            subject(cert),
            cert.signature_algorithm.oid
        ));
    }
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|e| format!("{}: cannot re-encode: {e}", subject(cert)))?;
    let sig_bytes = cert
        .signature
        .as_bytes()
        .ok_or_else(|| format!("{}: signature bit string has unused bits", subject(cert)))?;
    super::crypto::verify_p256(issuer_key, &tbs, sig_bytes, EcdsaEncoding::Der)
        .map_err(|_| format!("signature of {} does not verify", subject(cert)))
}

fn check_time(cert: &Certificate, at: u64) -> Result<(), QuoteError> {
    let v = &cert.tbs_certificate.validity;
    let not_before = v.not_before.to_unix_duration().as_secs();
    let not_after = v.not_after.to_unix_duration().as_secs();
    if at < not_before || at > not_after {
        return Err(QuoteError::CertificateNotValidAt {
            subject: subject(cert),
            at,
            not_before,
            not_after,
        });
    }
    Ok(())
}

fn is_ca(cert: &Certificate) -> bool {
    matches!(
        cert.tbs_certificate.get::<BasicConstraints>(),
        Ok(Some((_, BasicConstraints { ca: true, .. })))
    )
}

/// The chain's root: every certificate named like the anchor must be byte-equal to it, and there
/// must be one.
fn check_embedded_root(certs: &[Certificate], anchor: &TrustAnchor) -> Result<(), QuoteError> {
    let anchor_subject = &anchor.cert.tbs_certificate.subject;
    let mut embedded = certs
        .iter()
        .filter(|c| &c.tbs_certificate.subject == anchor_subject)
        .peekable();
    if embedded.peek().is_none() {
        return Err(QuoteError::ChainUntrusted(format!(
            "the chain does not include its root certificate {anchor_subject}"
        )));
    }
    for cert in embedded {
        let der = cert
            .to_der()
            .map_err(|e| QuoteError::CertChainEncoding(format!("{}: {e}", subject(cert))))?;
        if der != anchor.der {
            return Err(QuoteError::EmbeddedRootMismatch {
                subject: subject(cert),
                embedded: super::hex(&Sha256::digest(&der)),
                anchor: super::hex(&Sha256::digest(&anchor.der)),
            });
        }
    }
    Ok(())
}

/// Decode the PEM chain of a quote (trailing NULs and whitespace allowed, as Intel's QE emits).
pub(crate) fn decode_chain(pem: &[u8]) -> Result<Vec<Certificate>, QuoteError> {
    let end = pem
        .iter()
        .rposition(|b| *b != 0 && !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let pem = &pem[..end];
    let begins = pem.windows(11).filter(|w| *w == b"-----BEGIN ").count();
    if begins == 0 {
        return Err(QuoteError::CertChainEncoding("no PEM certificate".into()));
    }
    if begins > MAX_CHAIN_CERTS {
        return Err(QuoteError::CertChainEncoding(format!(
            "{begins} certificates, at most {MAX_CHAIN_CERTS} allowed"
        )));
    }
    let certs = Certificate::load_pem_chain(pem)
        .map_err(|e| QuoteError::CertChainEncoding(e.to_string()))?;
    if certs.is_empty() {
        return Err(QuoteError::CertChainEncoding("no PEM certificate".into()));
    }
    Ok(certs)
}

/// Verify the PCK chain in `pem` up to `anchor` at `at` (unix seconds); return the leaf's key
/// (SEC 1 point).
pub(crate) fn verify_pck_chain(
    pem: &[u8],
    anchor: &TrustAnchor,
    at: u64,
) -> Result<Vec<u8>, QuoteError> {
    let certs = decode_chain(pem)?;
    let untrusted = QuoteError::ChainUntrusted;
    // The leaf issues no other certificate of the chain.
    let leaves: Vec<usize> = (0..certs.len())
        .filter(|&i| {
            !certs.iter().enumerate().any(|(j, c)| {
                j != i && c.tbs_certificate.issuer == certs[i].tbs_certificate.subject
            })
        })
        .collect();
    let leaf_index = match leaves.as_slice() {
        [one] => *one,
        [] => {
            return Err(untrusted(
                "no leaf certificate (every certificate issues another)".into(),
            ))
        }
        _ => {
            return Err(untrusted(format!(
                "{} candidate leaf certificates",
                leaves.len()
            )))
        }
    };
    let leaf = &certs[leaf_index];
    if !subject(leaf).contains(PCK_LEAF_CN) {
        return Err(untrusted(format!(
            "leaf {:?} is not a PCK certificate (common name lacks {PCK_LEAF_CN:?})",
            subject(leaf)
        )));
    }
    let leaf_key = cert_key(leaf).map_err(untrusted)?;

    let mut current = leaf_index;
    for _ in 0..=certs.len() {
        let cert = &certs[current];
        check_time(cert, at)?;
        if cert.tbs_certificate.issuer == anchor.cert.tbs_certificate.subject
            && signed_by(cert, &anchor.key).is_ok()
        {
            check_time(&anchor.cert, at)?;
            check_embedded_root(&certs, anchor)?;
            return Ok(leaf_key);
        }
        let issuer = certs.iter().enumerate().position(|(j, c)| {
            j != current && c.tbs_certificate.subject == cert.tbs_certificate.issuer
        });
        let Some(issuer) = issuer else {
            return Err(untrusted(format!(
                "{} is not signed by the configured root {} and its issuer {} is not in the chain",
                subject(cert),
                anchor.description,
                cert.tbs_certificate.issuer
            )));
        };
        let issuer_cert = &certs[issuer];
        if !is_ca(issuer_cert) {
            return Err(untrusted(format!(
                "issuer {} is not a CA",
                subject(issuer_cert)
            )));
        }
        let issuer_key = cert_key(issuer_cert).map_err(untrusted)?;
        signed_by(cert, &issuer_key).map_err(untrusted)?;
        current = issuer;
    }
    Err(untrusted("issuer loop in the certificate chain".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::sim::quote::{
        pem_chain, test_certificate, TEST_NOT_AFTER_SECS, TEST_NOT_BEFORE_SECS,
    };
    use p256::ecdsa::SigningKey;
    use rand_core::OsRng;
    use x509_cert::builder::Profile;

    fn ca(subject: &str, issuer: &str, key: &SigningKey, issuer_key: &SigningKey) -> Certificate {
        test_certificate(
            Profile::SubCA {
                issuer: issuer.parse().unwrap(),
                path_len_constraint: None,
            },
            7,
            subject,
            key,
            issuer_key,
            TEST_NOT_BEFORE_SECS,
            TEST_NOT_AFTER_SECS,
        )
        .unwrap()
    }

    fn self_signed() -> Certificate {
        let k = SigningKey::random(&mut OsRng);
        test_certificate(
            Profile::Root,
            1,
            "CN=one",
            &k,
            &k,
            TEST_NOT_BEFORE_SECS,
            TEST_NOT_AFTER_SECS,
        )
        .unwrap()
    }

    #[test]
    fn at_most_max_chain_certs_certificates_are_decoded() {
        let c = self_signed();
        let certs = vec![&c; MAX_CHAIN_CERTS];
        assert_eq!(
            decode_chain(&pem_chain(&certs).unwrap()).unwrap().len(),
            MAX_CHAIN_CERTS
        );
        let certs = vec![&c; MAX_CHAIN_CERTS + 1];
        match decode_chain(&pem_chain(&certs).unwrap()) {
            Err(QuoteError::CertChainEncoding(m)) => assert!(m.contains("at most 8"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn trailing_nuls_and_whitespace_are_trimmed_but_nothing_else() {
        let c = self_signed();
        let mut pem = pem_chain(&[&c]).unwrap();
        pem.extend_from_slice(b" \n\0\0");
        assert_eq!(decode_chain(&pem).unwrap().len(), 1);
        for junk in [&b"x"[..], b"\nx", b"\0x"] {
            let mut bad = pem_chain(&[&c]).unwrap();
            bad.pop();
            bad.extend_from_slice(junk);
            assert!(
                matches!(decode_chain(&bad), Err(QuoteError::CertChainEncoding(_))),
                "{junk:?}"
            );
        }
        assert!(matches!(
            decode_chain(b"\0\0 \n"),
            Err(QuoteError::CertChainEncoding(_))
        ));
    }

    #[test]
    fn a_chain_where_every_certificate_issues_another_has_no_leaf() {
        // A issued by B, B issued by A: a loop with no end.
        let (ka, kb) = (
            SigningKey::random(&mut OsRng),
            SigningKey::random(&mut OsRng),
        );
        let a = ca("CN=A", "CN=B", &ka, &kb);
        let b = ca("CN=B", "CN=A", &kb, &ka);
        let anchor = TrustAnchor::from_der(&self_signed().to_der().unwrap()).unwrap();
        let pem = pem_chain(&[&a, &b]).unwrap();
        match verify_pck_chain(&pem, &anchor, TEST_NOT_BEFORE_SECS + 1) {
            Err(QuoteError::ChainUntrusted(m)) => assert!(m.contains("no leaf certificate"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
