//! Quote verification: signature with the AK, magic and type, nonce, and the PCR digest against
//! supplied PCR values (docs/formats.md#tpm-quote).
//!
//! Two steps, named by what they establish: [`verify_quote_signature`] yields a [`SignedQuote`]
//! (the TPM signed this attestation, with this nonce); [`SignedQuote::verify_pcrs`] turns PCR
//! values that hash to the quote's pcrDigest into [`VerifiedRegisters`]. [`verify_quote`] does both.

use mr_core::{
    Digest, ExpectedRegisters, HashAlg, MrId, Provenance, RegisterValue, VerifiedRegisters,
};
use mr_crypto::{default_provider, CryptoError, EcdsaEncoding, Hash, KeyType, Scheme};

use crate::attest::{
    tpms_attest_bytes, Attest, Attested, ClockInfo, QuoteInfo, TPM_GENERATED_VALUE,
};
use crate::error::Error;
use crate::public::AkPublic;
use crate::signature::{SigScheme, Signature};

/// A quote whose signature, magic, type and (if one was given) nonce verified; its PCR values are
/// not yet known.
#[derive(Clone, Debug)]
pub struct SignedQuote {
    attest: Attest,
    quote: QuoteInfo,
    hash: HashAlg,
    ak_id: String,
    nonce_checked: bool,
}

impl SignedQuote {
    /// The signed TPMS_ATTEST.
    pub fn attest(&self) -> &Attest {
        &self.attest
    }

    /// The quoted selection and pcrDigest.
    pub fn quote_info(&self) -> &QuoteInfo {
        &self.quote
    }

    /// Clock, reset and restart counters (compare two quotes by the same AK to see a reboot).
    pub fn clock_info(&self) -> &ClockInfo {
        &self.attest.clock_info
    }

    /// The quote's extraData (the nonce).
    pub fn nonce(&self) -> &[u8] {
        &self.attest.extra_data
    }

    /// True when the nonce was compared with an expected value.
    pub fn nonce_checked(&self) -> bool {
        self.nonce_checked
    }

    /// The hash of the signature scheme (and of pcrDigest).
    pub fn hash(&self) -> HashAlg {
        self.hash
    }

    /// The AK's Name (hex), or its key fingerprint when only a public key was given
    /// (see [`AkPublic::id`]).
    pub fn ak_id(&self) -> &str {
        &self.ak_id
    }

    /// The pcrDigest that `values` give for this quote's selection (banks in list order, PCRs
    /// ascending), hashed with the signing hash.
    pub fn pcr_digest_of(&self, values: &[RegisterValue]) -> Result<Digest, Error> {
        let mut h = self.hash.hasher();
        for (index, alg) in self.quote.pcr_select.pcrs() {
            h.update(find_value(values, index, alg)?.as_bytes());
        }
        Ok(h.finalize())
    }

    /// Check `values` (in any order; values the quote does not select are ignored) against the
    /// quote's pcrDigest and return the selected ones as [`VerifiedRegisters`] with
    /// [`Provenance::TpmQuote`].
    pub fn verify_pcrs(&self, values: &[RegisterValue]) -> Result<VerifiedRegisters, Error> {
        let computed = self.pcr_digest_of(values)?;
        let quoted = &self.quote_info().pcr_digest;
        if computed.as_bytes() != quoted.as_slice() {
            return Err(Error::PcrDigestMismatch {
                quoted: hex::encode(quoted),
                computed: computed.to_hex(),
            });
        }
        let mut selected = ExpectedRegisters::new();
        for (index, alg) in self.quote.pcr_select.pcrs() {
            let value = *find_value(values, index, alg)?;
            selected
                .insert(MrId::Pcr(index), value)
                .map_err(|_| Error::ConflictingPcrValue { index, alg })?;
        }
        // The quote's signature and nonce verified (a `VerifiedQuote` exists only then) and the
        // values hash to its pcrDigest: this is the root verifier.
        Ok(VerifiedRegisters::from_verified_root(
            Provenance::TpmQuote {
                ak_name: self.ak_id.clone(),
            },
            selected,
        ))
    }
}

fn find_value(values: &[RegisterValue], index: u32, alg: HashAlg) -> Result<&Digest, Error> {
    let id = MrId::Pcr(index);
    let mut found: Option<&Digest> = None;
    for v in values.iter().filter(|v| v.id == id && v.value.alg() == alg) {
        match found {
            Some(prev) if *prev != v.value => {
                return Err(Error::ConflictingPcrValue { index, alg });
            }
            _ => found = Some(&v.value),
        }
    }
    found.ok_or(Error::MissingPcrValue { index, alg })
}

/// Verify that `signature` (TPMT_SIGNATURE) over `attest` (TPMS_ATTEST, or TPM2B_ATTEST) was made
/// by `ak`, that it is a TPM-generated quote, and, when `expected_nonce` is given, that its
/// extraData equals it.
///
/// An empty `expected_nonce` is [`Error::EmptyNonce`] before anything else is looked at.
///
/// Order of checks: parse (malformed → [`Error::Parse`] and friends), key/scheme fit, AK
/// restriction (when the AK is a TPM public area), signature, magic, type, nonce.
pub fn verify_quote_signature(
    attest: &[u8],
    signature: &[u8],
    ak: &AkPublic,
    expected_nonce: Option<&[u8]>,
) -> Result<SignedQuote, Error> {
    if expected_nonce.is_some_and(<[u8]>::is_empty) {
        return Err(Error::EmptyNonce);
    }
    let attest_bytes = tpms_attest_bytes(attest);
    let parsed = Attest::parse(attest_bytes)?;
    let sig = Signature::parse(signature)?;
    ak.check_scheme(sig.scheme(), sig.hash())?;
    if let Some(public) = ak.tpm_public() {
        if !public.is_restricted_signing() {
            return Err(Error::NotRestrictedSigningKey(public.object_attributes));
        }
    }
    verify_signature(ak, attest_bytes, &sig)?;
    if parsed.magic != TPM_GENERATED_VALUE {
        return Err(Error::WrongMagic(parsed.magic));
    }
    if let Some(nonce) = expected_nonce {
        if parsed.extra_data != nonce {
            return Err(Error::WrongNonce {
                expected: hex::encode(nonce),
                quoted: hex::encode(&parsed.extra_data),
            });
        }
    }
    let quote = match &parsed.attested {
        Attested::Quote(q) => q.clone(),
        Attested::Other { attest_type, .. } => return Err(Error::WrongType(*attest_type)),
    };
    Ok(SignedQuote {
        quote,
        attest: parsed,
        hash: sig.hash(),
        ak_id: ak.id().to_owned(),
        nonce_checked: expected_nonce.is_some(),
    })
}

/// Verify a quote completely: signature, magic, type, nonce and the PCR digest against `pcrs`;
/// return the selected PCR values as [`VerifiedRegisters`].
pub fn verify_quote(
    attest: &[u8],
    signature: &[u8],
    ak: &AkPublic,
    nonce: &[u8],
    pcrs: &[RegisterValue],
) -> Result<VerifiedRegisters, Error> {
    verify_quote_signature(attest, signature, ak, Some(nonce))?.verify_pcrs(pcrs)
}

/// The mr-crypto hash of a TPM signature hash (SM3 is not verified).
pub(crate) fn crypto_hash(hash: HashAlg) -> Result<Hash, Error> {
    match hash {
        HashAlg::Sha1 => Ok(Hash::Sha1),
        HashAlg::Sha256 => Ok(Hash::Sha256),
        HashAlg::Sha384 => Ok(Hash::Sha384),
        HashAlg::Sha512 => Ok(Hash::Sha512),
        HashAlg::Sm3_256 => Err(Error::UnsupportedAlgorithm {
            what: "signature hash",
            id: hash.tcg_id(),
        }),
    }
}

/// Verify a raw signature over `message` with `ak` (what quote verification does after parsing),
/// through the default crypto provider.
fn verify_signature(ak: &AkPublic, message: &[u8], sig: &Signature) -> Result<(), Error> {
    ak.check_scheme(sig.scheme(), sig.hash())?;
    let hash = crypto_hash(sig.hash())?;
    let key = ak.public_key();
    let provider = default_provider();
    let outcome = match sig {
        Signature::Rsa {
            scheme: SigScheme::RsaSsa,
            sig,
            ..
        } => provider.verify(key, Scheme::RsaPkcs1v15(hash), message, sig),
        Signature::Rsa {
            scheme: SigScheme::RsaPss,
            sig,
            ..
        } => {
            // The TPM uses a salt as long as the digest when the key allows it, else the largest
            // (TPM 2.0 Part 1, B.7).
            let em_len = match key.key_type() {
                KeyType::Rsa { bits } => bits.saturating_sub(1).div_ceil(8),
                KeyType::Ec(_) => 0,
            };
            let max_salt = em_len.saturating_sub(hash.size() + 2);
            let mut salts = vec![hash.size().min(max_salt)];
            if max_salt != hash.size() {
                salts.push(max_salt);
            }
            salts
                .into_iter()
                .map(|salt_len| {
                    provider.verify(key, Scheme::RsaPss { hash, salt_len }, message, sig)
                })
                .find(Result::is_ok)
                .unwrap_or(Err(CryptoError::BadSignature))
        }
        Signature::Ecdsa { r, s, .. } => {
            let len = match key.key_type() {
                KeyType::Ec(curve) => curve.scalar_len(),
                KeyType::Rsa { .. } => 0,
            };
            let (Some(r), Some(s)) = (scalar(r, len), scalar(s, len)) else {
                return Err(Error::BadSignature);
            };
            let scheme = Scheme::Ecdsa {
                hash,
                encoding: EcdsaEncoding::Fixed,
            };
            provider.verify(key, scheme, message, &[r, s].concat())
        }
        Signature::Rsa { .. } => Err(CryptoError::BadSignature),
    };
    // The scheme fits the key (`check_scheme` above) and no PSS salt is longer than the key
    // allows, so the provider's only answer left is that the signature does not verify.
    outcome.map_err(|_| Error::BadSignature)
}

/// `bytes` left-padded to `len` bytes, or `None` if it does not fit.
fn scalar(bytes: &[u8], len: usize) -> Option<Vec<u8>> {
    let start = bytes.iter().take_while(|b| **b == 0).count();
    let trimmed = bytes.get(start..)?;
    let mut out = vec![0u8; len];
    out.get_mut(len.checked_sub(trimmed.len())?..)?
        .copy_from_slice(trimmed);
    Some(out)
}
