//! A real TPM (or swtpm) through tss-esapi 7.x: PCRs as [`MeasurementRegister`]s, attestation
//! keys and quotes.
//!
//! Every transient object is flushed: an [`AttestationKey`] flushes its handle when dropped, and
//! commands authorise with the password session (no HMAC sessions to leak). swtpm has no
//! resource manager, so a leaked object would stay loaded until the emulator restarts.

use std::cell::RefCell;
use std::rc::Rc;
use std::str::FromStr;

use mr_core::{Digest, HashAlg, MeasurementRegister, MrId};
use tss_esapi::attributes::ObjectAttributesBuilder;
use tss_esapi::handles::{KeyHandle, ObjectHandle, PcrHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::AuthSession;
use tss_esapi::structures::{
    Data, DigestValues, EccPoint, EccScheme, HashScheme, KeyDerivationFunctionScheme,
    PcrSelectionListBuilder, PcrSlot, Public, PublicBuilder, PublicEccParametersBuilder,
    PublicKeyRsa, PublicRsaParametersBuilder, RsaExponent, RsaScheme, SignatureScheme,
    SymmetricDefinitionObject,
};
use tss_esapi::tcti_ldr::TctiNameConf;
use tss_esapi::traits::Marshall;
use tss_esapi::Context;

use crate::attest::PcrSelection;
use crate::error::Error;

/// A connection to a TPM. Cheap to clone (clones share the connection); not `Send`.
#[derive(Clone)]
pub struct Tpm {
    ctx: Rc<RefCell<Context>>,
}

impl std::fmt::Debug for Tpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tpm")
    }
}

fn hashing(alg: HashAlg) -> HashingAlgorithm {
    match alg {
        HashAlg::Sha1 => HashingAlgorithm::Sha1,
        HashAlg::Sha256 => HashingAlgorithm::Sha256,
        HashAlg::Sha384 => HashingAlgorithm::Sha384,
        HashAlg::Sha512 => HashingAlgorithm::Sha512,
        HashAlg::Sm3_256 => HashingAlgorithm::Sm3_256,
    }
}

fn pcr_slot(index: u32) -> Result<PcrSlot, Error> {
    let bit = 1u32
        .checked_shl(index)
        .ok_or_else(|| Error::Device(format!("no PCR {index}")))?;
    PcrSlot::try_from(bit).map_err(|_| Error::Device(format!("no PCR {index}")))
}

/// The kind of attestation key to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AkKind {
    /// RSA-2048, RSASSA with SHA-256.
    Rsa2048,
    /// ECC NIST P-256, ECDSA with SHA-256.
    EccP256,
}

/// The hierarchy an attestation key is created in (both with empty authorisation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AkHierarchy {
    /// The endorsement hierarchy (clock info in quotes is not obfuscated).
    Endorsement,
    /// The storage (owner) hierarchy (reset/restart counts in quotes are obfuscated per key).
    Owner,
}

/// A restricted signing key loaded in the TPM; its handle is flushed on drop.
pub struct AttestationKey {
    tpm: Tpm,
    handle: KeyHandle,
    kind: AkKind,
    public: Vec<u8>,
}

impl std::fmt::Debug for AttestationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationKey")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl AttestationKey {
    /// The key's TPM2B_PUBLIC (marshalled).
    pub fn public_tpm2b(&self) -> &[u8] {
        &self.public
    }

    /// The kind of key.
    pub fn kind(&self) -> AkKind {
        self.kind
    }
}

impl Drop for AttestationKey {
    fn drop(&mut self) {
        if let Ok(mut ctx) = self.tpm.ctx.try_borrow_mut() {
            // Nothing useful can be done about a failed flush in drop; swtpm restarts clean.
            let _ = ctx.flush_context(ObjectHandle::from(self.handle));
        }
    }
}

/// A quote as the TPM returned it, marshalled: what an attester sends to a verifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// TPMS_ATTEST.
    pub attest: Vec<u8>,
    /// TPMT_SIGNATURE.
    pub signature: Vec<u8>,
    /// The AK's TPM2B_PUBLIC.
    pub ak_public: Vec<u8>,
}

fn restricted_signing_template(kind: AkKind) -> Result<Public, Error> {
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_restricted(true)
        .with_sign_encrypt(true)
        .with_decrypt(false)
        .build()?;
    let builder = PublicBuilder::new()
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes);
    let public = match kind {
        AkKind::Rsa2048 => builder
            .with_public_algorithm(PublicAlgorithm::Rsa)
            .with_rsa_parameters(
                PublicRsaParametersBuilder::new()
                    .with_scheme(RsaScheme::RsaSsa(HashScheme::new(HashingAlgorithm::Sha256)))
                    .with_key_bits(RsaKeyBits::Rsa2048)
                    .with_exponent(RsaExponent::default())
                    .with_is_signing_key(true)
                    .with_is_decryption_key(false)
                    .with_restricted(true)
                    .build()?,
            )
            .with_rsa_unique_identifier(PublicKeyRsa::default())
            .build()?,
        AkKind::EccP256 => builder
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_ecc_parameters(
                PublicEccParametersBuilder::new()
                    .with_symmetric(SymmetricDefinitionObject::Null)
                    .with_ecc_scheme(EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)))
                    .with_curve(EccCurve::NistP256)
                    .with_key_derivation_function_scheme(KeyDerivationFunctionScheme::Null)
                    .with_is_signing_key(true)
                    .with_is_decryption_key(false)
                    .with_restricted(true)
                    .build()?,
            )
            .with_ecc_unique_identifier(EccPoint::default())
            .build()?,
    };
    Ok(public)
}

impl Tpm {
    /// Connect through a TCTI string: `swtpm:host=127.0.0.1,port=2321`, `device:/dev/tpmrm0`,
    /// `mssim:...` or `tabrmd:...`.
    pub fn open(tcti: &str) -> Result<Tpm, Error> {
        let conf = TctiNameConf::from_str(tcti)
            .map_err(|e| Error::Device(format!("bad TCTI {tcti:?}: {e}")))?;
        let ctx =
            Context::new(conf).map_err(|e| Error::Device(format!("cannot open {tcti}: {e}")))?;
        Ok(Tpm {
            ctx: Rc::new(RefCell::new(ctx)),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Context) -> Result<T, Error>) -> Result<T, Error> {
        let mut ctx = self
            .ctx
            .try_borrow_mut()
            .map_err(|_| Error::Device("TPM context is busy (re-entrant use)".into()))?;
        f(&mut ctx)
    }

    /// PCR `index` in bank `alg` as a measurement register.
    pub fn pcr(&self, index: u32, alg: HashAlg) -> TpmPcr {
        TpmPcr {
            tpm: self.clone(),
            index,
            alg,
        }
    }

    /// Read PCR `index` in bank `alg`.
    pub fn read_pcr(&self, index: u32, alg: HashAlg) -> Result<Digest, Error> {
        let selection = PcrSelectionListBuilder::new()
            .with_selection(hashing(alg), &[pcr_slot(index)?])
            .build()?;
        let (_, _, digests) = self.with(|ctx| Ok(ctx.pcr_read(selection)?))?;
        let value = digests
            .value()
            .first()
            .ok_or_else(|| Error::Device(format!("TPM has no pcr{index} in bank {alg}")))?;
        Digest::new(alg, value.value()).map_err(|e| Error::Device(e.to_string()))
    }

    /// Extend PCR `index` in bank `digest.alg()` with `digest`.
    pub fn extend_pcr(&self, index: u32, digest: &Digest) -> Result<(), Error> {
        let handle =
            PcrHandle::try_from(index).map_err(|_| Error::Device(format!("no PCR {index}")))?;
        let mut values = DigestValues::new();
        values.set(
            hashing(digest.alg()),
            tss_esapi::structures::Digest::try_from(digest.as_bytes().to_vec())?,
        );
        self.with(|ctx| {
            Ok(
                ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
                    ctx.pcr_extend(handle, values)
                })?,
            )
        })
    }

    /// Reset PCR `index` (only 16 and 23 are resettable from locality 0).
    pub fn reset_pcr(&self, index: u32) -> Result<(), Error> {
        let handle =
            PcrHandle::try_from(index).map_err(|_| Error::Device(format!("no PCR {index}")))?;
        self.with(|ctx| {
            Ok(ctx.execute_with_session(Some(AuthSession::Password), |ctx| ctx.pcr_reset(handle))?)
        })
    }

    /// Create a restricted signing key: a primary key in the endorsement hierarchy, so that the
    /// quote's clock info is not obfuscated. Primary keys derive from the hierarchy's seed: the
    /// same kind in the same hierarchy is the same key until the TPM is cleared.
    pub fn create_ak(&self, kind: AkKind) -> Result<AttestationKey, Error> {
        self.create_ak_in(kind, AkHierarchy::Endorsement)
    }

    /// Create a restricted signing primary key in `hierarchy`.
    pub fn create_ak_in(
        &self,
        kind: AkKind,
        hierarchy: AkHierarchy,
    ) -> Result<AttestationKey, Error> {
        let template = restricted_signing_template(kind)?;
        let hierarchy = match hierarchy {
            AkHierarchy::Endorsement => Hierarchy::Endorsement,
            AkHierarchy::Owner => Hierarchy::Owner,
        };
        let created = self.with(|ctx| {
            Ok(
                ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
                    ctx.create_primary(hierarchy, template, None, None, None, None)
                })?,
            )
        })?;
        // Own the handle first, so that it is flushed even if marshalling fails.
        let mut key = AttestationKey {
            tpm: self.clone(),
            handle: created.key_handle,
            kind,
            public: Vec::new(),
        };
        let tpmt = created.out_public.marshall()?;
        let mut public = u16::try_from(tpmt.len())
            .map_err(|_| Error::Device("public area too large".into()))?
            .to_be_bytes()
            .to_vec();
        public.extend_from_slice(&tpmt);
        key.public = public;
        Ok(key)
    }

    /// Quote `selection` with `ak`, binding `nonce` (at most 64 bytes) as extraData.
    pub fn quote(
        &self,
        ak: &AttestationKey,
        nonce: &[u8],
        selection: &PcrSelection,
    ) -> Result<Quote, Error> {
        let mut builder = PcrSelectionListBuilder::new();
        for bank in &selection.banks {
            let slots = bank.pcrs().map(pcr_slot).collect::<Result<Vec<_>, _>>()?;
            builder = builder.with_selection(hashing(bank.alg), &slots);
        }
        let list = builder.build()?;
        let data = Data::try_from(nonce.to_vec())?;
        let (attest, signature) = self.with(|ctx| {
            Ok(
                ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
                    ctx.quote(ak.handle, data, SignatureScheme::Null, list)
                })?,
            )
        })?;
        Ok(Quote {
            attest: attest.marshall()?,
            signature: signature.marshall()?,
            ak_public: ak.public.clone(),
        })
    }
}

/// One PCR in one bank of a [`Tpm`], as a [`MeasurementRegister`].
#[derive(Clone, Debug)]
pub struct TpmPcr {
    tpm: Tpm,
    index: u32,
    alg: HashAlg,
}

impl TpmPcr {
    fn register_error(&self, e: Error) -> mr_core::Error {
        mr_core::Error::Register {
            register: MrId::Pcr(self.index),
            reason: format!("{} bank: {e}", self.alg),
        }
    }
}

impl MeasurementRegister for TpmPcr {
    fn id(&self) -> MrId {
        MrId::Pcr(self.index)
    }

    fn alg(&self) -> HashAlg {
        self.alg
    }

    fn read(&self) -> Result<Digest, mr_core::Error> {
        self.tpm
            .read_pcr(self.index, self.alg)
            .map_err(|e| self.register_error(e))
    }

    fn extend(&self, digest: &Digest) -> Result<(), mr_core::Error> {
        if digest.alg() != self.alg {
            return Err(mr_core::Error::Register {
                register: MrId::Pcr(self.index),
                reason: format!(
                    "cannot extend the {} bank with a {} digest",
                    self.alg,
                    digest.alg()
                ),
            });
        }
        self.tpm
            .extend_pcr(self.index, digest)
            .map_err(|e| self.register_error(e))
    }
}
