//! IMA signature keys: loading (SubjectPublicKeyInfo, X.509 certificates), key ids and signature
//! verification (`signature_v2_hdr`, and version 3 over an `ima_file_id` as evmctl makes it).
//!
//! Key id ("keyidv2"): the last four bytes of the SHA-1 of the public key bytes (PKCS#1
//! `RSAPublicKey` DER for RSA, the uncompressed X9.62 point for EC), or, for a certificate with a
//! Subject Key Identifier, its last four bytes — as the kernel and evmctl compute it.

use der::{Decode, DecodePem};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::Pkcs1v15Sign;
use sha1::Digest as _;
use spki::SubjectPublicKeyInfoRef;

/// Why a key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a DER SubjectPublicKeyInfo.
    #[error("not a DER SubjectPublicKeyInfo: {0}")]
    Encoding(String),
    /// An algorithm or curve mr does not verify IMA signatures with (RSA, P-256 and P-384 are
    /// supported).
    #[error("unsupported key algorithm {0}")]
    Unsupported(String),
    /// The key's value is invalid (e.g. a point not on the curve).
    #[error("invalid key: {0}")]
    Invalid(String),
}

/// A public key that verifies IMA file signatures.
#[derive(Clone, Debug)]
pub enum ImaKey {
    /// RSA (PKCS#1 v1.5 signatures).
    Rsa(rsa::RsaPublicKey),
    /// ECDSA over NIST P-256 (DER signatures).
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA over NIST P-384 (DER signatures).
    P384(p384::ecdsa::VerifyingKey),
}

const OID_RSA: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_SKID: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.14");

/// Linux `enum hash_algo` values that mr verifies signatures with.
const HASH_ALGO_SHA1: u8 = 2;
const HASH_ALGO_SHA256: u8 = 4;
const HASH_ALGO_SHA384: u8 = 5;
const HASH_ALGO_SHA512: u8 = 6;
const HASH_ALGO_SHA224: u8 = 7;

/// `enum evm_ima_xattr_type`: the signature types IMA logs in `sig`.
const EVM_IMA_XATTR_DIGSIG: u8 = 3;
const EVM_XATTR_PORTABLE_DIGSIG: u8 = 5;
const IMA_VERITY_DIGSIG: u8 = 6;

/// `signature_v2_hdr`: type, version, hash_algo, keyid (BE u32), sig_size (BE u16).
const SIG_HEADER_LEN: usize = 9;

/// The key id of a public key (last four bytes of the SHA-1 of its key bytes, big endian).
pub fn keyid_v2(key: &ImaKey) -> u32 {
    let bytes = match key {
        ImaKey::Rsa(k) => k
            .to_pkcs1_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default(),
        ImaKey::P256(k) => k.to_sec1_point(false).as_bytes().to_vec(),
        ImaKey::P384(k) => k.to_sec1_point(false).as_bytes().to_vec(),
    };
    let digest = sha1::Sha1::digest(&bytes);
    u32::from_be_bytes([digest[16], digest[17], digest[18], digest[19]])
}

impl ImaKey {
    /// The key id computed from the key ([`keyid_v2`]).
    pub fn keyid(&self) -> u32 {
        keyid_v2(self)
    }

    /// From a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<ImaKey, KeyError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::Encoding(e.to_string()))?;
        ImaKey::from_spki(&spki)
    }

    fn from_spki(spki: &SubjectPublicKeyInfoRef<'_>) -> Result<ImaKey, KeyError> {
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::Encoding("public key bit string not octet aligned".into()))?;
        let oid = spki.algorithm.oid;
        if oid == OID_RSA {
            use rsa::pkcs1::DecodeRsaPublicKey;
            let key = rsa::RsaPublicKey::from_pkcs1_der(bits)
                .map_err(|e| KeyError::Invalid(e.to_string()))?;
            return Ok(ImaKey::Rsa(key));
        }
        if oid == OID_EC {
            let curve = spki
                .algorithm
                .parameters_oid()
                .map_err(|e| KeyError::Encoding(format!("EC parameters: {e}")))?;
            let invalid = |e: p256::ecdsa::Error| KeyError::Invalid(e.to_string());
            if curve == OID_P256 {
                return p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(ImaKey::P256)
                    .map_err(invalid);
            }
            if curve == OID_P384 {
                return p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(ImaKey::P384)
                    .map_err(invalid);
            }
            return Err(KeyError::Unsupported(format!("EC curve {curve}")));
        }
        Err(KeyError::Unsupported(oid.to_string()))
    }

    /// Interpret a measured buffer (an `ima-buf` entry of a keyring) as a key: a DER or PEM X.509
    /// certificate (what the kernel measures when a key is added to a keyring), or a DER or PEM
    /// SubjectPublicKeyInfo. `Ok(None)` when the buffer is none of these; `Err` when it is a key
    /// mr cannot use. The key id is the certificate's Subject Key Identifier (last four bytes)
    /// when it has one.
    pub fn from_buffer(buf: &[u8]) -> Result<Option<(ImaKey, Option<u32>)>, KeyError> {
        if let Ok(cert) = x509_cert::Certificate::from_der(buf) {
            return key_of_certificate(&cert).map(Some);
        }
        if let Ok(text) = std::str::from_utf8(buf) {
            if let Ok(cert) = x509_cert::Certificate::from_pem(text) {
                return key_of_certificate(&cert).map(Some);
            }
            if let Ok((label, der)) = der::pem::decode_vec(text.as_bytes()) {
                if label == "PUBLIC KEY" {
                    return ImaKey::from_spki_der(&der).map(|k| Some((k, None)));
                }
            }
        }
        if SubjectPublicKeyInfoRef::from_der(buf).is_ok() {
            return ImaKey::from_spki_der(buf).map(|k| Some((k, None)));
        }
        Ok(None)
    }

    /// Verify `sig` over the prehashed `digest` made with the Linux `hash_algo` `algo`.
    fn verify_prehash(&self, algo: u8, digest: &[u8], sig: &[u8]) -> bool {
        match self {
            ImaKey::Rsa(k) => {
                let scheme = match algo {
                    HASH_ALGO_SHA1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
                    HASH_ALGO_SHA224 => Pkcs1v15Sign::new::<sha2::Sha224>(),
                    HASH_ALGO_SHA256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
                    HASH_ALGO_SHA384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
                    HASH_ALGO_SHA512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
                    _ => return false,
                };
                k.verify(scheme, digest, sig).is_ok()
            }
            ImaKey::P256(k) => {
                use p256::ecdsa::signature::hazmat::PrehashVerifier;
                p256::ecdsa::Signature::from_der(sig)
                    .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok())
            }
            ImaKey::P384(k) => {
                use p384::ecdsa::signature::hazmat::PrehashVerifier;
                p384::ecdsa::Signature::from_der(sig)
                    .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok())
            }
        }
    }
}

fn key_of_certificate(cert: &x509_cert::Certificate) -> Result<(ImaKey, Option<u32>), KeyError> {
    let spki_der = der::Encode::to_der(&cert.tbs_certificate.subject_public_key_info)
        .map_err(|e| KeyError::Encoding(e.to_string()))?;
    let key = ImaKey::from_spki_der(&spki_der)?;
    let skid = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == OID_SKID)
        .and_then(|e| der::asn1::OctetString::from_der(e.extn_value.as_bytes()).ok())
        .and_then(|o| {
            let b = o.as_bytes();
            (b.len() >= 4).then(|| {
                let t = &b[b.len() - 4..];
                u32::from_be_bytes([t[0], t[1], t[2], t[3]])
            })
        });
    Ok((key, skid))
}

/// The Linux `hash_algo` id of a digest algorithm name as IMA logs it, for those mr verifies.
fn hash_algo_id(name: &str) -> Option<u8> {
    match name {
        "sha1" => Some(HASH_ALGO_SHA1),
        "sha224" => Some(HASH_ALGO_SHA224),
        "sha256" => Some(HASH_ALGO_SHA256),
        "sha384" => Some(HASH_ALGO_SHA384),
        "sha512" => Some(HASH_ALGO_SHA512),
        _ => None,
    }
}

fn hash_with(algo: u8, data: &[u8]) -> Option<Vec<u8>> {
    Some(match algo {
        HASH_ALGO_SHA1 => sha1::Sha1::digest(data).to_vec(),
        HASH_ALGO_SHA224 => sha2::Sha224::digest(data).to_vec(),
        HASH_ALGO_SHA256 => sha2::Sha256::digest(data).to_vec(),
        HASH_ALGO_SHA384 => sha2::Sha384::digest(data).to_vec(),
        HASH_ALGO_SHA512 => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

/// Outcome of checking an IMA signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SigCheck {
    /// Verified with the key of this id.
    Good,
    /// Why it did not verify (for the report).
    Bad(String),
}

/// Check an IMA `sig` field (`signature_v2_hdr` followed by the signature) against the file
/// digest `digest` logged with algorithm name `algo`, looking the key up with `find_key`.
///
/// Version 2 signs the file digest itself; version 3 (fs-verity, and evmctl `--v3`) signs the
/// digest, made with the signature's hash algorithm, of `struct ima_file_id { u8 hash_type; u8
/// hash_algorithm; u8 hash[digest size]; }` (Linux `include/uapi/linux/ima.h`,
/// `calc_file_id_hash`).
pub(crate) fn check_signature<'k>(
    sig: &[u8],
    algo: &str,
    digest: &[u8],
    find_key: impl Fn(u32) -> Option<&'k ImaKey>,
) -> SigCheck {
    let Some(header) = sig.get(..SIG_HEADER_LEN) else {
        return SigCheck::Bad("signature header too short".into());
    };
    let (typ, version, hash_algo) = (header[0], header[1], header[2]);
    let keyid = u32::from_be_bytes([header[3], header[4], header[5], header[6]]);
    let sig_size = usize::from(u16::from_be_bytes([header[7], header[8]]));
    let body = &sig[SIG_HEADER_LEN..];
    if body.len() != sig_size {
        return SigCheck::Bad("malformed signature (size field does not match)".into());
    }
    let Some(file_algo) = hash_algo_id(algo) else {
        return SigCheck::Bad(format!("unsupported digest algorithm {algo}"));
    };
    let signed: Vec<u8> = match (typ, version) {
        (EVM_IMA_XATTR_DIGSIG | EVM_XATTR_PORTABLE_DIGSIG, 2) => {
            if hash_algo != file_algo {
                return SigCheck::Bad(format!(
                    "signature hash algorithm {hash_algo} is not the file digest's ({algo})"
                ));
            }
            digest.to_vec()
        }
        (EVM_IMA_XATTR_DIGSIG | IMA_VERITY_DIGSIG, 3) => {
            let mut file_id = Vec::with_capacity(2 + digest.len());
            file_id.push(typ);
            file_id.push(file_algo);
            file_id.extend_from_slice(digest);
            match hash_with(hash_algo, &file_id) {
                Some(d) => d,
                None => {
                    return SigCheck::Bad(format!(
                        "unsupported signature hash algorithm {hash_algo}"
                    ))
                }
            }
        }
        _ => {
            return SigCheck::Bad(format!(
                "unsupported signature type {typ} version {version}"
            ))
        }
    };
    let Some(key) = find_key(keyid) else {
        return SigCheck::Bad(format!("no key with id {keyid:08x}"));
    };
    if key.verify_prehash(hash_algo, &signed, body) {
        SigCheck::Good
    } else {
        SigCheck::Bad(format!("signature does not verify with key {keyid:08x}"))
    }
}
