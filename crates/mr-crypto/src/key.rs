//! Public keys: RSA, ECDSA P-256, ECDSA P-384, parsed and checked once, whatever the provider.

use std::fmt;

use der::asn1::ObjectIdentifier;
use der::Decode;
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::traits::PublicKeyParts;
use spki::SubjectPublicKeyInfoRef;

use crate::CryptoError;

/// rsaEncryption (RFC 8017 A.1).
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey (RFC 5480 §2.1.1).
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 (RFC 5480 §2.1.1.1).
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1 (RFC 5480 §2.1.1.1).
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// A NIST curve mr verifies ECDSA signatures on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
}

impl Curve {
    /// The size of a field element (and of r and s) in bytes.
    pub const fn scalar_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }
}

/// What kind of key a [`PublicKey`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA with a modulus of this many bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// ECDSA on this curve.
    Ec(Curve),
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyType::Ec(Curve::P256) => f.write_str("ECC P-256"),
            KeyType::Ec(Curve::P384) => f.write_str("ECC P-384"),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Inner {
    Rsa {
        key: rsa::RsaPublicKey,
        /// Modulus and exponent, big-endian without leading zeros (what ring takes).
        #[cfg_attr(not(feature = "ring"), allow(dead_code))]
        n: Vec<u8>,
        #[cfg_attr(not(feature = "ring"), allow(dead_code))]
        e: Vec<u8>,
    },
    P256 {
        key: p256::ecdsa::VerifyingKey,
        /// The uncompressed SEC 1 point.
        point: Vec<u8>,
    },
    P384 {
        key: p384::ecdsa::VerifyingKey,
        /// The uncompressed SEC 1 point.
        point: Vec<u8>,
    },
}

/// A public key that verifies signatures: RSA (1024 to 4096 bits, odd exponent ≥ 3), or an
/// ECDSA P-256 or P-384 point on its curve.
#[derive(Clone, Debug)]
pub struct PublicKey {
    pub(crate) inner: Inner,
}

fn rsa_key(key: rsa::RsaPublicKey) -> Result<PublicKey, CryptoError> {
    let bits = key.n().bits();
    if bits < 1024 {
        return Err(CryptoError::InvalidKey(format!(
            "RSA modulus of {bits} bits (at least 1024 required)"
        )));
    }
    let e = key.e();
    if e < &rsa::BigUint::from(3u8) || e % 2u8 == rsa::BigUint::from(0u8) {
        return Err(CryptoError::InvalidKey(format!(
            "RSA public exponent {e} (odd and at least 3 required)"
        )));
    }
    let (n, e) = (key.n().to_bytes_be(), e.to_bytes_be());
    Ok(PublicKey {
        inner: Inner::Rsa { key, n, e },
    })
}

impl PublicKey {
    /// From a DER SubjectPublicKeyInfo (rsaEncryption, or id-ecPublicKey on P-256 or P-384).
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, CryptoError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| CryptoError::KeyEncoding(format!("SubjectPublicKeyInfo: {e}")))?;
        let bits = spki.subject_public_key.as_bytes().ok_or_else(|| {
            CryptoError::KeyEncoding("public key bit string not octet aligned".into())
        })?;
        let oid = spki.algorithm.oid;
        if oid == OID_RSA {
            return PublicKey::from_pkcs1_der(bits);
        }
        if oid == OID_EC {
            let curve = spki.algorithm.parameters_oid().map_err(|e| {
                CryptoError::KeyEncoding(format!("EC key without a named curve: {e}"))
            })?;
            let curve = if curve == OID_P256 {
                Curve::P256
            } else if curve == OID_P384 {
                Curve::P384
            } else {
                return Err(CryptoError::UnsupportedKey(format!("EC curve {curve}")));
            };
            return PublicKey::from_ec_point(curve, bits);
        }
        Err(CryptoError::UnsupportedKey(format!("key algorithm {oid}")))
    }

    /// From a DER PKCS#1 `RSAPublicKey`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<PublicKey, CryptoError> {
        let key = rsa::RsaPublicKey::from_pkcs1_der(der)
            .map_err(|e| CryptoError::KeyEncoding(format!("RSA key: {e}")))?;
        rsa_key(key)
    }

    /// From an RSA modulus (big-endian) and public exponent.
    pub fn from_rsa_components(modulus: &[u8], exponent: u32) -> Result<PublicKey, CryptoError> {
        let key = rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(modulus),
            rsa::BigUint::from(exponent),
        )
        .map_err(|e| CryptoError::InvalidKey(format!("RSA key: {e}")))?;
        rsa_key(key)
    }

    /// From a SEC 1 encoded point (uncompressed or compressed) on `curve`.
    pub fn from_ec_point(curve: Curve, sec1: &[u8]) -> Result<PublicKey, CryptoError> {
        let bad = |e: p256::ecdsa::Error| CryptoError::InvalidKey(format!("EC point: {e}"));
        Ok(PublicKey {
            inner: match curve {
                Curve::P256 => {
                    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1).map_err(bad)?;
                    let point = key.to_sec1_point(false).as_bytes().to_vec();
                    Inner::P256 { key, point }
                }
                Curve::P384 => {
                    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(sec1).map_err(bad)?;
                    let point = key.to_sec1_point(false).as_bytes().to_vec();
                    Inner::P384 { key, point }
                }
            },
        })
    }

    /// From affine coordinates x and y (big-endian; shorter values are left-padded, as a TPM
    /// may give them).
    pub fn from_ec_coordinates(curve: Curve, x: &[u8], y: &[u8]) -> Result<PublicKey, CryptoError> {
        let len = curve.scalar_len();
        let mut sec1 = Vec::with_capacity(1 + 2 * len);
        sec1.push(4u8);
        for (what, v) in [("x", x), ("y", y)] {
            let padded = left_pad(v, len).ok_or_else(|| {
                CryptoError::InvalidKey(format!("{what} longer than {len} bytes"))
            })?;
            sec1.extend_from_slice(&padded);
        }
        PublicKey::from_ec_point(curve, &sec1)
    }

    /// The key's type and size.
    pub fn key_type(&self) -> KeyType {
        match &self.inner {
            Inner::Rsa { key, .. } => KeyType::Rsa {
                bits: key.n().bits(),
            },
            Inner::P256 { .. } => KeyType::Ec(Curve::P256),
            Inner::P384 { .. } => KeyType::Ec(Curve::P384),
        }
    }

    /// The RSA modulus length in bytes (`None` for an EC key).
    pub fn rsa_modulus_len(&self) -> Option<usize> {
        match &self.inner {
            Inner::Rsa { key, .. } => Some(key.size()),
            _ => None,
        }
    }

    /// The DER PKCS#1 `RSAPublicKey` of an RSA key (`None` for an EC key).
    pub fn rsa_pkcs1_der(&self) -> Option<Vec<u8>> {
        match &self.inner {
            Inner::Rsa { key, .. } => key.to_pkcs1_der().ok().map(|d| d.as_bytes().to_vec()),
            _ => None,
        }
    }

    /// The uncompressed SEC 1 point of an EC key (`None` for an RSA key).
    pub fn ec_point(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::P256 { point, .. } | Inner::P384 { point, .. } => Some(point),
            Inner::Rsa { .. } => None,
        }
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.key_type().fmt(f)
    }
}

/// `bytes` without leading zeros, left-padded to `len`; `None` if it does not fit.
pub(crate) fn left_pad(bytes: &[u8], len: usize) -> Option<Vec<u8>> {
    let start = bytes.iter().take_while(|b| **b == 0).count();
    let trimmed = bytes.get(start..)?;
    let mut out = vec![0u8; len];
    out.get_mut(len.checked_sub(trimmed.len())?..)?
        .copy_from_slice(trimmed);
    Some(out)
}
