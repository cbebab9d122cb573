//! IMA signature keys: loading (SubjectPublicKeyInfo, X.509 certificates), key ids and signature
//! verification (`signature_v2_hdr`, and version 3 over an `ima_file_id` as evmctl makes it).
//!
//! Key id ("keyidv2"): the last four bytes of the SHA-1 of the public key bytes (PKCS#1
//! `RSAPublicKey` DER for RSA, the uncompressed X9.62 point for EC), or, for a certificate with a
//! Subject Key Identifier, its last four bytes — as the kernel and evmctl compute it.

use der::Decode;
use mr_crypto::{default_provider, CryptoError, EcdsaEncoding, Hash, KeyType, PublicKey, Scheme};
use sha1::Digest as _;

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

/// A public key that verifies IMA file signatures: RSA (PKCS#1 v1.5 signatures), ECDSA over
/// NIST P-256 or P-384 (DER signatures).
#[derive(Clone, Debug)]
pub struct ImaKey(PublicKey);

impl From<CryptoError> for KeyError {
    fn from(e: CryptoError) -> KeyError {
        match e {
            CryptoError::Pem(m) | CryptoError::KeyEncoding(m) => KeyError::Encoding(m),
            CryptoError::UnsupportedKey(m) => KeyError::Unsupported(m),
            other => KeyError::Invalid(other.to_string()),
        }
    }
}

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
    let bytes = match key.0.ec_point() {
        Some(point) => point.to_vec(),
        None => key.0.rsa_pkcs1_der().unwrap_or_default(),
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
        Ok(ImaKey(PublicKey::from_spki_der(der)?))
    }

    /// The verifying key.
    pub fn public_key(&self) -> &PublicKey {
        &self.0
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
        // A PEM block with nothing but whitespace around it.
        if let Ok(Some(block)) = mr_crypto::pem::first_block(buf) {
            let outside = buf
                .get(..block.span.start)
                .into_iter()
                .chain(buf.get(block.span.end..))
                .flatten();
            if outside.into_iter().all(u8::is_ascii_whitespace) {
                match block.label.as_str() {
                    "CERTIFICATE" => {
                        if let Ok(cert) = x509_cert::Certificate::from_der(&block.der) {
                            return key_of_certificate(&cert).map(Some);
                        }
                    }
                    "PUBLIC KEY" => {
                        return ImaKey::from_spki_der(&block.der).map(|k| Some((k, None)))
                    }
                    _ => {}
                }
            }
        }
        if spki::SubjectPublicKeyInfoRef::from_der(buf).is_ok() {
            return ImaKey::from_spki_der(buf).map(|k| Some((k, None)));
        }
        Ok(None)
    }

    /// The scheme of an IMA signature made with `hash` by this key.
    fn scheme(&self, hash: Hash) -> Scheme {
        match self.0.key_type() {
            KeyType::Rsa { .. } => Scheme::RsaPkcs1v15(hash),
            KeyType::Ec(_) => Scheme::Ecdsa {
                hash,
                encoding: EcdsaEncoding::Der,
            },
        }
    }
}

/// The hash of a Linux `hash_algo` id, for those mr verifies signatures with.
fn signature_hash(algo: u8) -> Option<Hash> {
    Some(match algo {
        HASH_ALGO_SHA1 => Hash::Sha1,
        HASH_ALGO_SHA224 => Hash::Sha224,
        HASH_ALGO_SHA256 => Hash::Sha256,
        HASH_ALGO_SHA384 => Hash::Sha384,
        HASH_ALGO_SHA512 => Hash::Sha512,
        _ => return None,
    })
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
    // Version 2 signs the file digest (a prehashed verification); version 3 signs the
    // `ima_file_id` (hashed by the provider).
    let (signed, prehashed): (Vec<u8>, bool) = match (typ, version) {
        (EVM_IMA_XATTR_DIGSIG | EVM_XATTR_PORTABLE_DIGSIG, 2) => {
            if hash_algo != file_algo {
                return SigCheck::Bad(format!(
                    "signature hash algorithm {hash_algo} is not the file digest's ({algo})"
                ));
            }
            (digest.to_vec(), true)
        }
        (EVM_IMA_XATTR_DIGSIG | IMA_VERITY_DIGSIG, 3) => {
            let mut file_id = Vec::with_capacity(2 + digest.len());
            file_id.push(typ);
            file_id.push(file_algo);
            file_id.extend_from_slice(digest);
            (file_id, false)
        }
        _ => {
            return SigCheck::Bad(format!(
                "unsupported signature type {typ} version {version}"
            ))
        }
    };
    let Some(hash) = signature_hash(hash_algo) else {
        return SigCheck::Bad(format!("unsupported signature hash algorithm {hash_algo}"));
    };
    let Some(key) = find_key(keyid) else {
        return SigCheck::Bad(format!("no key with id {keyid:08x}"));
    };
    let scheme = key.scheme(hash);
    let provider = default_provider();
    let verified = if prehashed {
        provider.verify_prehashed(&key.0, scheme, &signed, body)
    } else {
        provider.verify(&key.0, scheme, &signed, body)
    };
    if verified.is_ok() {
        SigCheck::Good
    } else {
        SigCheck::Bad(format!("signature does not verify with key {keyid:08x}"))
    }
}
