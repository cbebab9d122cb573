//! Attestation-key public areas: TPMT_PUBLIC / TPM2B_PUBLIC (RSA, ECC), SubjectPublicKeyInfo
//! (PEM or DER) and X.509 certificates, and the key's TPM Name (docs/formats.md#tpm-quote).

#![deny(clippy::indexing_slicing)]

use std::fmt;

use der::{Decode, Encode};
use mr_core::HashAlg;
use mr_crypto::{Curve, KeyType, PublicKey};

use crate::attest::MAX_DIGEST_SIZE;
use crate::error::Error;
use crate::signature::{SigScheme, MAX_ECC_SCALAR_SIZE, MAX_RSA_SIGNATURE_SIZE, TPM_ALG_NULL};
use crate::wire::{malformed, put_tpm2b, reader, Tpm2b};
use mr_core::wire::{ParseErrorKind, Reader};

/// `TPM_ALG_RSA`.
pub const TPM_ALG_RSA: u16 = 0x0001;
/// `TPM_ALG_ECC`.
pub const TPM_ALG_ECC: u16 = 0x0023;
/// `TPM_ALG_RSAES` (its scheme details are empty).
const TPM_ALG_RSAES: u16 = 0x0015;
/// `TPM_ALG_ECDAA` (its scheme details carry a count).
const TPM_ALG_ECDAA: u16 = 0x001A;
/// `TPM_ECC_NIST_P256`.
pub const TPM_ECC_NIST_P256: u16 = 0x0003;
/// `TPM_ECC_NIST_P384`.
pub const TPM_ECC_NIST_P384: u16 = 0x0004;

/// objectAttributes `restricted`.
pub const ATTR_RESTRICTED: u32 = 0x0001_0000;
/// objectAttributes `sign`.
pub const ATTR_SIGN: u32 = 0x0004_0000;

/// Largest TPM2B_PUBLIC contents accepted (an RSA-4096 TPMT_PUBLIC is about 600 bytes).
pub const MAX_PUBLIC_SIZE: usize = 1024;
/// Largest key file (PEM, DER, certificate) accepted.
pub const MAX_KEY_FILE_SIZE: usize = 64 * 1024;

/// The algorithm-specific part of a TPMT_PUBLIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicParams {
    /// An RSA key.
    Rsa {
        /// `TPMT_SYM_DEF_OBJECT` algorithm (NULL for signing keys).
        symmetric: u16,
        /// The key's scheme and hash, `None` for TPM_ALG_NULL.
        scheme: Option<(u16, Option<u16>)>,
        /// Key size in bits.
        key_bits: u16,
        /// Public exponent as stored (0 means 65537).
        exponent: u32,
        /// Modulus, big-endian.
        modulus: Vec<u8>,
    },
    /// An ECC key.
    Ecc {
        /// `TPMT_SYM_DEF_OBJECT` algorithm (NULL for signing keys).
        symmetric: u16,
        /// The key's scheme and hash, `None` for TPM_ALG_NULL.
        scheme: Option<(u16, Option<u16>)>,
        /// `TPM_ECC_CURVE`.
        curve: u16,
        /// X coordinate, big-endian.
        x: Vec<u8>,
        /// Y coordinate, big-endian.
        y: Vec<u8>,
    },
}

/// A parsed TPMT_PUBLIC, with its marshalled bytes (what the Name hashes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmPublic {
    /// The Name algorithm.
    pub name_alg: HashAlg,
    /// objectAttributes.
    pub object_attributes: u32,
    /// authPolicy.
    pub auth_policy: Vec<u8>,
    /// Key parameters and the public point or modulus.
    pub params: PublicParams,
    bytes: Vec<u8>,
}

fn sym_def(r: &mut Reader<'_>) -> Result<u16, Error> {
    let alg = r.u16_be("TPMT_SYM_DEF_OBJECT algorithm")?;
    if alg != TPM_ALG_NULL {
        r.u16_be("TPMT_SYM_DEF_OBJECT keyBits")?;
        r.u16_be("TPMT_SYM_DEF_OBJECT mode")?;
    }
    Ok(alg)
}

fn scheme(
    r: &mut Reader<'_>,
    structure: &'static str,
) -> Result<Option<(u16, Option<u16>)>, Error> {
    let alg = r.u16_be(structure)?;
    Ok(match alg {
        TPM_ALG_NULL => None,
        TPM_ALG_RSAES => Some((alg, None)),
        TPM_ALG_ECDAA => {
            let hash = r.u16_be("TPMS_SCHEME_ECDAA hashAlg")?;
            r.u16_be("TPMS_SCHEME_ECDAA count")?;
            Some((alg, Some(hash)))
        }
        _ => Some((alg, Some(r.u16_be("TPMS_SCHEME_HASH hashAlg")?))),
    })
}

impl TpmPublic {
    /// Parse a TPMT_PUBLIC (exactly: trailing bytes are an error).
    pub fn parse_tpmt(bytes: &[u8]) -> Result<TpmPublic, Error> {
        if bytes.len() > MAX_PUBLIC_SIZE {
            return Err(malformed(
                "TPMT_PUBLIC",
                0,
                ParseErrorKind::LengthTooLarge {
                    len: bytes.len() as u64,
                    max: MAX_PUBLIC_SIZE as u64,
                },
            ));
        }
        let mut r = reader(bytes);
        let key_type = r.u16_be("TPMT_PUBLIC type")?;
        let name_id = r.u16_be("TPMT_PUBLIC nameAlg")?;
        let name_alg = HashAlg::from_tcg_id(name_id).ok_or(Error::UnsupportedAlgorithm {
            what: "Name",
            id: name_id,
        })?;
        let object_attributes = r.u32_be("TPMT_PUBLIC objectAttributes")?;
        let auth_policy = r
            .tpm2b("TPM2B_DIGEST authPolicy", MAX_DIGEST_SIZE)?
            .to_vec();
        let params = match key_type {
            TPM_ALG_RSA => {
                let symmetric = sym_def(&mut r)?;
                let scheme = scheme(&mut r, "TPMT_RSA_SCHEME scheme")?;
                let key_bits = r.u16_be("TPMS_RSA_PARMS keyBits")?;
                let exponent = r.u32_be("TPMS_RSA_PARMS exponent")?;
                let modulus = r
                    .tpm2b("TPM2B_PUBLIC_KEY_RSA unique", MAX_RSA_SIGNATURE_SIZE)?
                    .to_vec();
                PublicParams::Rsa {
                    symmetric,
                    scheme,
                    key_bits,
                    exponent,
                    modulus,
                }
            }
            TPM_ALG_ECC => {
                let symmetric = sym_def(&mut r)?;
                let scheme = scheme(&mut r, "TPMT_ECC_SCHEME scheme")?;
                let curve = r.u16_be("TPMS_ECC_PARMS curveID")?;
                if r.u16_be("TPMT_KDF_SCHEME scheme")? != TPM_ALG_NULL {
                    r.u16_be("TPMT_KDF_SCHEME hashAlg")?;
                }
                let x = r
                    .tpm2b("TPM2B_ECC_PARAMETER x", MAX_ECC_SCALAR_SIZE)?
                    .to_vec();
                let y = r
                    .tpm2b("TPM2B_ECC_PARAMETER y", MAX_ECC_SCALAR_SIZE)?
                    .to_vec();
                PublicParams::Ecc {
                    symmetric,
                    scheme,
                    curve,
                    x,
                    y,
                }
            }
            other => {
                return Err(Error::UnsupportedAlgorithm {
                    what: "public key type",
                    id: other,
                })
            }
        };
        r.finish("TPMT_PUBLIC")?;
        Ok(TpmPublic {
            name_alg,
            object_attributes,
            auth_policy,
            params,
            bytes: bytes.to_vec(),
        })
    }

    /// Parse a TPM2B_PUBLIC (`u16 size || TPMT_PUBLIC`, exactly).
    pub fn parse_tpm2b(bytes: &[u8]) -> Result<TpmPublic, Error> {
        let mut r = reader(bytes);
        let inner = r.tpm2b("TPM2B_PUBLIC", MAX_PUBLIC_SIZE)?;
        r.finish("TPM2B_PUBLIC")?;
        TpmPublic::parse_tpmt(inner).map_err(|e| match e {
            // The TPMT_PUBLIC starts after the 2-byte size.
            Error::Parse(mut p) => {
                p.offset = p.offset.saturating_add(2);
                Error::Parse(p)
            }
            other => other,
        })
    }

    /// The marshalled TPMT_PUBLIC.
    pub fn tpmt_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The marshalled TPM2B_PUBLIC.
    pub fn tpm2b_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + 2);
        put_tpm2b(&mut out, &self.bytes);
        out
    }

    /// The key's TPM Name: `nameAlg (u16 BE) || H_nameAlg(TPMT_PUBLIC)`.
    pub fn name(&self) -> Vec<u8> {
        let mut out = self.name_alg.tcg_id().to_be_bytes().to_vec();
        out.extend_from_slice(self.name_alg.hash(&self.bytes).as_bytes());
        out
    }

    /// True for a restricted signing key (what an AK must be).
    pub fn is_restricted_signing(&self) -> bool {
        self.object_attributes & (ATTR_RESTRICTED | ATTR_SIGN) == ATTR_RESTRICTED | ATTR_SIGN
    }
}

/// The format an attestation key was given in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AkFormat {
    /// TPM2B_PUBLIC.
    Tpm2bPublic,
    /// TPMT_PUBLIC.
    TpmtPublic,
    /// DER SubjectPublicKeyInfo.
    SpkiDer,
    /// PEM `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS#1).
    Pem,
    /// An X.509 certificate (DER or PEM): the subject's key is used; the chain is not checked here.
    Certificate,
}

impl fmt::Display for AkFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AkFormat::Tpm2bPublic => "TPM2B_PUBLIC",
            AkFormat::TpmtPublic => "TPMT_PUBLIC",
            AkFormat::SpkiDer => "DER SubjectPublicKeyInfo",
            AkFormat::Pem => "PEM public key",
            AkFormat::Certificate => "X.509 certificate",
        })
    }
}

/// An attestation key's public part: the key that verifies quotes, and (when given as a TPM
/// public area) its attributes, scheme and Name.
#[derive(Clone, Debug)]
pub struct AkPublic {
    pub(crate) key: PublicKey,
    tpm: Option<TpmPublic>,
    format: AkFormat,
    id: String,
}

/// An mr-crypto key error as an attestation-key error.
pub(crate) fn invalid_key(e: mr_crypto::CryptoError) -> Error {
    Error::InvalidKey(e.to_string())
}

fn ecc_key(curve: u16, x: &[u8], y: &[u8]) -> Result<PublicKey, Error> {
    let curve = match curve {
        TPM_ECC_NIST_P256 => Curve::P256,
        TPM_ECC_NIST_P384 => Curve::P384,
        other => {
            return Err(Error::UnsupportedAlgorithm {
                what: "ECC curve",
                id: other,
            })
        }
    };
    PublicKey::from_ec_coordinates(curve, x, y).map_err(invalid_key)
}

impl AkPublic {
    /// From a parsed TPM public area (an AK must be a restricted signing RSA or ECC key; the
    /// restriction is checked when a quote is verified).
    pub fn from_tpm_public(public: TpmPublic, format: AkFormat) -> Result<AkPublic, Error> {
        let key = match &public.params {
            PublicParams::Rsa {
                exponent, modulus, ..
            } => {
                // TPM 2.0 Part 2, 12.2.3.5: an exponent of zero means 2^16 + 1.
                let e = if *exponent == 0 { 65537 } else { *exponent };
                PublicKey::from_rsa_components(modulus, e).map_err(invalid_key)?
            }
            PublicParams::Ecc { curve, x, y, .. } => ecc_key(*curve, x, y)?,
        };
        let id = hex::encode(public.name());
        Ok(AkPublic {
            key,
            tpm: Some(public),
            format,
            id,
        })
    }

    /// From a TPM2B_PUBLIC.
    pub fn from_tpm2b_public(bytes: &[u8]) -> Result<AkPublic, Error> {
        AkPublic::from_tpm_public(TpmPublic::parse_tpm2b(bytes)?, AkFormat::Tpm2bPublic)
    }

    /// From a TPMT_PUBLIC.
    pub fn from_tpmt_public(bytes: &[u8]) -> Result<AkPublic, Error> {
        AkPublic::from_tpm_public(TpmPublic::parse_tpmt(bytes)?, AkFormat::TpmtPublic)
    }

    /// From a DER SubjectPublicKeyInfo (RSA, EC P-256, EC P-384).
    pub fn from_spki_der(der_bytes: &[u8]) -> Result<AkPublic, Error> {
        AkPublic::spki(der_bytes, AkFormat::SpkiDer)
    }

    fn spki(der_bytes: &[u8], format: AkFormat) -> Result<AkPublic, Error> {
        let key = PublicKey::from_spki_der(der_bytes).map_err(invalid_key)?;
        let id = format!("spki-sha256:{}", HashAlg::Sha256.hash(der_bytes));
        Ok(AkPublic {
            key,
            tpm: None,
            format,
            id,
        })
    }

    /// From a DER X.509 certificate: its subject public key. The certificate's own signature and
    /// chain are not checked here (see [`crate::cert::verify_issued_by`]).
    pub fn from_certificate_der(der_bytes: &[u8]) -> Result<AkPublic, Error> {
        let cert = x509_cert::Certificate::from_der(der_bytes)
            .map_err(|e| Error::InvalidKey(format!("X.509 certificate: {e}")))?;
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| Error::InvalidKey(format!("X.509 certificate key: {e}")))?;
        AkPublic::spki(&spki, AkFormat::Certificate)
    }

    /// From PEM text: `PUBLIC KEY`, `RSA PUBLIC KEY` or `CERTIFICATE` (the first block).
    pub fn from_pem(text: &[u8]) -> Result<AkPublic, Error> {
        let block = mr_crypto::pem::first_block(text)
            .map_err(invalid_key)?
            .ok_or_else(|| Error::InvalidKey("no PEM block".into()))?;
        let (label, der_bytes) = (block.label, block.der);
        match label.as_str() {
            "PUBLIC KEY" => AkPublic::spki(&der_bytes, AkFormat::Pem),
            "RSA PUBLIC KEY" => {
                let key = PublicKey::from_pkcs1_der(&der_bytes).map_err(invalid_key)?;
                let id = format!("pkcs1-sha256:{}", HashAlg::Sha256.hash(&der_bytes));
                Ok(AkPublic {
                    key,
                    tpm: None,
                    format: AkFormat::Pem,
                    id,
                })
            }
            "CERTIFICATE" => AkPublic::from_certificate_der(&der_bytes),
            other => Err(Error::InvalidKey(format!("unexpected PEM label {other:?}"))),
        }
    }

    /// Detect the format (PEM, DER SPKI or certificate, TPM2B_PUBLIC, TPMT_PUBLIC) and parse.
    pub fn detect(bytes: &[u8]) -> Result<AkPublic, Error> {
        if bytes.len() > MAX_KEY_FILE_SIZE {
            return Err(Error::InvalidKey(format!(
                "key file larger than {MAX_KEY_FILE_SIZE} bytes"
            )));
        }
        if mr_crypto::pem::starts_with_pem(bytes) {
            return AkPublic::from_pem(bytes);
        }
        let first = bytes.first_chunk::<2>().map(|b| u16::from_be_bytes(*b));
        match first {
            Some(size) if usize::from(size) + 2 == bytes.len() => {
                AkPublic::from_tpm2b_public(bytes)
            }
            Some(TPM_ALG_RSA | TPM_ALG_ECC) => AkPublic::from_tpmt_public(bytes),
            _ if bytes.first() == Some(&0x30) => match AkPublic::from_spki_der(bytes) {
                Ok(k) => Ok(k),
                Err(spki_err) => AkPublic::from_certificate_der(bytes).map_err(|_| spki_err),
            },
            _ => Err(Error::InvalidKey(
                "not PEM, DER, TPM2B_PUBLIC or TPMT_PUBLIC".to_owned(),
            )),
        }
    }

    /// The TPM public area, when the key was given as one.
    pub fn tpm_public(&self) -> Option<&TpmPublic> {
        self.tpm.as_ref()
    }

    /// The format the key was given in.
    pub fn format(&self) -> AkFormat {
        self.format
    }

    /// The key's TPM Name (hex) when known, else `spki-sha256:<hex>` of its SubjectPublicKeyInfo
    /// (or `pkcs1-sha256:` of a PKCS#1 key): what [`mr_core::Provenance::TpmQuote`] records.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The TPM Name bytes, when the key was given as a TPM public area.
    pub fn name(&self) -> Option<Vec<u8>> {
        self.tpm.as_ref().map(TpmPublic::name)
    }

    /// A short description: `RSA-2048`, `ECC P-256`, `ECC P-384`.
    pub fn description(&self) -> String {
        self.key.key_type().to_string()
    }

    /// The verifying key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// The scheme and hash the key's TPM public area fixes, if any.
    pub fn fixed_scheme(&self) -> Option<(u16, Option<u16>)> {
        match self.tpm.as_ref().map(|t| &t.params) {
            Some(PublicParams::Rsa { scheme, .. } | PublicParams::Ecc { scheme, .. }) => *scheme,
            None => None,
        }
    }

    /// Check that `scheme`/`hash` fit this key (RSA schemes for RSA keys, ECDSA for ECC keys, and
    /// the scheme the TPM public area fixes).
    pub(crate) fn check_scheme(&self, scheme: SigScheme, hash: HashAlg) -> Result<(), Error> {
        let type_fits = matches!(
            (self.key.key_type(), scheme),
            (KeyType::Rsa { .. }, SigScheme::RsaSsa | SigScheme::RsaPss)
                | (KeyType::Ec(_), SigScheme::Ecdsa)
        );
        let fixed_fits = match self.fixed_scheme() {
            None => true,
            Some((s, h)) => s == scheme.tcg_id() && h.is_none_or(|h| h == hash.tcg_id()),
        };
        if type_fits && fixed_fits {
            return Ok(());
        }
        let key = match self.fixed_scheme() {
            Some((s, h)) => format!(
                "{}, scheme {}/{}",
                self.description(),
                SigScheme::from_tcg_id(s).map_or_else(|| format!("0x{s:04x}"), |s| s.to_string()),
                h.map_or_else(String::new, |h| HashAlg::from_tcg_id(h)
                    .map_or_else(|| format!("0x{h:04x}"), |h| h.to_string()))
            ),
            None => self.description(),
        };
        Err(Error::KeySchemeMismatch {
            signature: format!("{scheme}/{hash}"),
            key,
        })
    }
}
