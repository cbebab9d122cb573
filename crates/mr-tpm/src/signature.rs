//! TPMT_SIGNATURE (TPM 2.0 Part 2, 11.3.4; docs/formats.md#tpm-quote).

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::fmt;

use mr_core::HashAlg;

use crate::error::Error;
use crate::wire::{put_tpm2b, reader, Tpm2b};
use mr_core::wire::Reader;

/// `TPM_ALG_RSASSA`.
pub const TPM_ALG_RSASSA: u16 = 0x0014;
/// `TPM_ALG_RSAPSS`.
pub const TPM_ALG_RSAPSS: u16 = 0x0016;
/// `TPM_ALG_ECDSA`.
pub const TPM_ALG_ECDSA: u16 = 0x0018;
/// `TPM_ALG_NULL`.
pub const TPM_ALG_NULL: u16 = 0x0010;

/// Largest RSA signature (`MAX_RSA_KEY_BYTES`, 4096-bit keys).
pub const MAX_RSA_SIGNATURE_SIZE: usize = 512;
/// Largest ECC scalar (`MAX_ECC_KEY_BYTES`, P-521).
pub const MAX_ECC_SCALAR_SIZE: usize = 66;

/// A signature scheme mr-tpm verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigScheme {
    /// RSASSA-PKCS1-v1_5.
    RsaSsa,
    /// RSASSA-PSS.
    RsaPss,
    /// ECDSA.
    Ecdsa,
}

impl SigScheme {
    /// The TCG algorithm id.
    pub const fn tcg_id(self) -> u16 {
        match self {
            SigScheme::RsaSsa => TPM_ALG_RSASSA,
            SigScheme::RsaPss => TPM_ALG_RSAPSS,
            SigScheme::Ecdsa => TPM_ALG_ECDSA,
        }
    }

    /// The scheme with TCG id `id`, if supported.
    pub const fn from_tcg_id(id: u16) -> Option<SigScheme> {
        match id {
            TPM_ALG_RSASSA => Some(SigScheme::RsaSsa),
            TPM_ALG_RSAPSS => Some(SigScheme::RsaPss),
            TPM_ALG_ECDSA => Some(SigScheme::Ecdsa),
            _ => None,
        }
    }
}

impl fmt::Display for SigScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SigScheme::RsaSsa => "RSASSA",
            SigScheme::RsaPss => "RSAPSS",
            SigScheme::Ecdsa => "ECDSA",
        })
    }
}

/// A parsed TPMT_SIGNATURE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signature {
    /// RSASSA or RSAPSS: the modulus-sized signature.
    Rsa {
        /// RSASSA or RSAPSS.
        scheme: SigScheme,
        /// The hash the TPM signed with.
        hash: HashAlg,
        /// The signature bytes.
        sig: Vec<u8>,
    },
    /// ECDSA: r and s as the TPM gave them (possibly shorter than the field size).
    Ecdsa {
        /// The hash the TPM signed with.
        hash: HashAlg,
        /// r, big-endian.
        r: Vec<u8>,
        /// s, big-endian.
        s: Vec<u8>,
    },
}

impl Signature {
    /// Parse a TPMT_SIGNATURE (exactly: trailing bytes are an error).
    pub fn parse(bytes: &[u8]) -> Result<Signature, Error> {
        let mut r = reader(bytes);
        let sig = Signature::read(&mut r)?;
        r.finish("TPMT_SIGNATURE")?;
        Ok(sig)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Signature, Error> {
        let alg = r.u16_be("TPMT_SIGNATURE sigAlg")?;
        let Some(scheme) = SigScheme::from_tcg_id(alg) else {
            return Err(Error::UnsupportedAlgorithm {
                what: "signature scheme",
                id: alg,
            });
        };
        let hash_id = r.u16_be("TPMS_SIGNATURE hash")?;
        let hash = match HashAlg::from_tcg_id(hash_id) {
            Some(h) if h != HashAlg::Sm3_256 => h,
            _ => {
                return Err(Error::UnsupportedAlgorithm {
                    what: "signature hash",
                    id: hash_id,
                })
            }
        };
        Ok(match scheme {
            SigScheme::RsaSsa | SigScheme::RsaPss => Signature::Rsa {
                scheme,
                hash,
                sig: r
                    .tpm2b("TPM2B_PUBLIC_KEY_RSA signature", MAX_RSA_SIGNATURE_SIZE)?
                    .to_vec(),
            },
            SigScheme::Ecdsa => Signature::Ecdsa {
                hash,
                r: r.tpm2b("TPM2B_ECC_PARAMETER signatureR", MAX_ECC_SCALAR_SIZE)?
                    .to_vec(),
                s: r.tpm2b("TPM2B_ECC_PARAMETER signatureS", MAX_ECC_SCALAR_SIZE)?
                    .to_vec(),
            },
        })
    }

    /// The signature scheme.
    pub fn scheme(&self) -> SigScheme {
        match self {
            Signature::Rsa { scheme, .. } => *scheme,
            Signature::Ecdsa { .. } => SigScheme::Ecdsa,
        }
    }

    /// The hash the TPM signed with (also the hash of the quote's pcrDigest).
    pub fn hash(&self) -> HashAlg {
        match self {
            Signature::Rsa { hash, .. } | Signature::Ecdsa { hash, .. } => *hash,
        }
    }

    /// Marshal back to TPMT_SIGNATURE bytes.
    pub fn marshal(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(300);
        out.extend_from_slice(&self.scheme().tcg_id().to_be_bytes());
        out.extend_from_slice(&self.hash().tcg_id().to_be_bytes());
        match self {
            Signature::Rsa { sig, .. } => put_tpm2b(&mut out, sig),
            Signature::Ecdsa { r, s, .. } => {
                put_tpm2b(&mut out, r);
                put_tpm2b(&mut out, s);
            }
        }
        out
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.scheme(), self.hash())
    }
}
