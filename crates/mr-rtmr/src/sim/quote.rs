//! Test quote signing for the simulated TD: a test root CA, PCK chain, QE report and attestation
//! key generated at run time.
//!
//! [`TestQuoteSigner::new`] makes fresh ECDSA P-256 keys and a three-certificate chain
//! (`mr test SGX Root CA` → `mr test SGX PCK Platform CA` → `mr test SGX PCK Certificate`),
//! valid from 2020-01-01 to 2049-12-31, then a QE report signed by the PCK key whose report data
//! binds the attestation key. The QE report carries the identity of Intel's TDX quoting enclave
//! ([`crate::quote::INTEL_TD_QE_MRSIGNER`], [`crate::quote::INTEL_TD_QE_ISVPRODID`], not in
//! debug mode) and the TD is not a debug TD, so its quotes pass [`crate::quote::verify`] with
//! [`TestQuoteSigner::root_der`] as the root and default options, and fail with any other root
//! (Intel's included). [`TestQuoteSigner::with_qe_report`], [`TestQuoteSigner::with_td_attributes`]
//! and [`TestQuoteSigner::with_pck_chain_pem`] make the quotes a hostile attester would send.
//! Nothing here reads the clock.

use std::str::FromStr;
use std::time::Duration;

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, Signature, SigningKey};
use rand_core::OsRng;
use sha2::{Digest as _, Sha256};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::asn1::UtcTime;
use x509_cert::der::pem::LineEnding;
use x509_cert::der::{Encode, EncodePem};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;
use zerocopy::{FromZeros, IntoBytes};

use super::{QuoteProvider, TdMeasurements};
use crate::quote::layout::{
    EnclaveReportBody, QuoteHeader, TdReportBody10, TdReportBody15, ATT_KEY_TYPE_ECDSA_P256,
    BODY_TYPE_TD10, BODY_TYPE_TD15, CERT_TYPE_PCK_CHAIN, CERT_TYPE_QE_REPORT, INTEL_QE_VENDOR_ID,
    TEE_TYPE_TDX,
};
use crate::quote::{QuoteError, INTEL_TD_QE_ISVPRODID, INTEL_TD_QE_MRSIGNER};
use crate::Error;

/// Start of the test PKI's validity: 2020-01-01T00:00:00Z (unix seconds).
pub const TEST_NOT_BEFORE_SECS: u64 = 1_577_836_800;
/// End of the test PKI's validity: 2049-12-31T23:59:59Z (the last UTCTime; unix seconds).
pub const TEST_NOT_AFTER_SECS: u64 = 2_524_607_999;

/// Root CA subject of the test PKI.
pub const TEST_ROOT_SUBJECT: &str = "CN=mr test SGX Root CA,O=mr simulated TD";
const TEST_PLATFORM_SUBJECT: &str = "CN=mr test SGX PCK Platform CA,O=mr simulated TD";
const TEST_PCK_SUBJECT: &str = "CN=mr test SGX PCK Certificate,O=mr simulated TD";

/// Which quote layout the signer produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QuoteFormat {
    /// Version 4, TD 1.0 body.
    #[default]
    V4Td10,
    /// Version 5, body type 2 (TD 1.0).
    V5Td10,
    /// Version 5, body type 3 (TD 1.5).
    V5Td15,
}

/// Signs TD quotes under a test PKI generated at run time (see the module documentation).
#[derive(Clone)]
pub struct TestQuoteSigner {
    root_der: Vec<u8>,
    chain_pem: Vec<u8>,
    pck_key: SigningKey,
    attestation_key: SigningKey,
    attestation_pub: [u8; 64],
    qe_report: EnclaveReportBody,
    qe_report_signature: [u8; 64],
    qe_auth_data: Vec<u8>,
    td_attributes: [u8; 8],
    format: QuoteFormat,
}

impl std::fmt::Debug for TestQuoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestQuoteSigner")
            .field("root", &TEST_ROOT_SUBJECT)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

fn signer_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Quote(QuoteError::TestSigner(format!("{what}: {e}")))
}

fn name(s: &str) -> Result<Name, Error> {
    Name::from_str(s).map_err(|e| signer_err("name", e))
}

fn spki(key: &SigningKey) -> Result<SubjectPublicKeyInfoOwned, Error> {
    SubjectPublicKeyInfoOwned::from_key(*key.verifying_key())
        .map_err(|e| signer_err("public key", e))
}

fn validity(not_before: u64, not_after: u64) -> Result<Validity, Error> {
    let t = |secs| {
        UtcTime::from_unix_duration(Duration::from_secs(secs))
            .map(Time::UtcTime)
            .map_err(|e| signer_err("validity", e))
    };
    Ok(Validity {
        not_before: t(not_before)?,
        not_after: t(not_after)?,
    })
}

/// A test certificate (ECDSA P-256 with SHA-256) for `subject`'s key, signed by `issuer_key`,
/// valid from `not_before` to `not_after` (unix seconds, UTCTime range). With
/// [`Profile::Root`] it is self-signed (pass the same key twice); [`Profile::SubCA`] makes a CA,
/// [`Profile::Leaf`] a certificate that is not a CA. For tests that need a certificate the
/// signer's fixed chain does not have (another validity, an issuer that is not a CA, …).
pub fn test_certificate(
    profile: Profile,
    serial: u8,
    subject: &str,
    subject_key: &SigningKey,
    issuer_key: &SigningKey,
    not_before: u64,
    not_after: u64,
) -> Result<Certificate, Error> {
    let serial = SerialNumber::new(&[serial]).map_err(|e| signer_err("serial", e))?;
    CertificateBuilder::new(
        profile,
        serial,
        validity(not_before, not_after)?,
        name(subject)?,
        spki(subject_key)?,
        issuer_key,
    )
    .map_err(|e| signer_err(subject, e))?
    .build::<DerSignature>()
    .map_err(|e| signer_err(subject, e))
}

fn build(
    profile: Profile,
    serial: u8,
    subject: &str,
    subject_key: &SigningKey,
    issuer_key: &SigningKey,
) -> Result<Certificate, Error> {
    test_certificate(
        profile,
        serial,
        subject,
        subject_key,
        issuer_key,
        TEST_NOT_BEFORE_SECS,
        TEST_NOT_AFTER_SECS,
    )
}

/// PEM of `certs` in the given order, as a quote embeds them (LF line ends, one trailing NUL).
pub fn pem_chain(certs: &[&Certificate]) -> Result<Vec<u8>, Error> {
    let mut chain_pem = Vec::new();
    for cert in certs {
        let pem = cert
            .to_pem(LineEnding::LF)
            .map_err(|e| signer_err("PEM", e))?;
        chain_pem.extend_from_slice(pem.as_bytes());
    }
    chain_pem.push(0);
    Ok(chain_pem)
}

fn raw(sig: &Signature) -> [u8; 64] {
    let mut out = [0u8; 64];
    out.copy_from_slice(&sig.to_bytes());
    out
}

impl TestQuoteSigner {
    /// A fresh test PKI, attestation key and QE report; quotes in [`QuoteFormat::V4Td10`].
    pub fn new() -> Result<TestQuoteSigner, Error> {
        let root_key = SigningKey::random(&mut OsRng);
        let platform_key = SigningKey::random(&mut OsRng);
        let pck_key = SigningKey::random(&mut OsRng);
        let attestation_key = SigningKey::random(&mut OsRng);

        let root = build(Profile::Root, 1, TEST_ROOT_SUBJECT, &root_key, &root_key)?;
        let platform = build(
            Profile::SubCA {
                issuer: name(TEST_ROOT_SUBJECT)?,
                path_len_constraint: Some(0),
            },
            2,
            TEST_PLATFORM_SUBJECT,
            &platform_key,
            &root_key,
        )?;
        let pck = build(
            Profile::Leaf {
                issuer: name(TEST_PLATFORM_SUBJECT)?,
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
            3,
            TEST_PCK_SUBJECT,
            &pck_key,
            &platform_key,
        )?;
        let root_der = root.to_der().map_err(|e| signer_err("root", e))?;
        // Intel's order (leaf, intermediate, root) and Intel's trailing NUL.
        let chain_pem = pem_chain(&[&pck, &platform, &root])?;

        let point = attestation_key.verifying_key().to_encoded_point(false);
        let mut attestation_pub = [0u8; 64];
        let coords = point
            .as_bytes()
            .get(1..65)
            .ok_or_else(|| signer_err("key", "short point"))?;
        attestation_pub.copy_from_slice(coords);

        let qe_auth_data: Vec<u8> = (0u8..32).collect();
        let mut qe_report = EnclaveReportBody::new_zeroed();
        qe_report.cpu_svn = [
            0x0b, 0x0b, 0x02, 0x02, 0xff, 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        // INIT | MODE64BIT | PROVISIONKEY, as Intel's TD QE (not DEBUG), and Intel's TD QE
        // identity.
        qe_report.attributes[0] = 0x15;
        qe_report.mr_enclave = [0x5a; 32];
        qe_report.mr_signer = INTEL_TD_QE_MRSIGNER;
        qe_report.isv_prod_id = INTEL_TD_QE_ISVPRODID.into();
        qe_report.isv_svn = 4.into();
        let mut h = Sha256::new();
        h.update(attestation_pub);
        h.update(&qe_auth_data);
        qe_report.report_data[..32].copy_from_slice(&h.finalize());
        let qe_sig: Signature = pck_key.sign(qe_report.as_bytes());

        Ok(TestQuoteSigner {
            root_der,
            chain_pem,
            pck_key,
            attestation_key,
            attestation_pub,
            qe_report,
            qe_report_signature: raw(&qe_sig),
            qe_auth_data,
            td_attributes: [0; 8],
            format: QuoteFormat::V4Td10,
        })
    }

    /// The same signer with its QE report changed by `edit` and signed again by the PCK key
    /// (e.g. another enclave's MRSIGNER or ISVPRODID, or a QE in debug mode: what a platform
    /// owner's own enclave could get signed).
    pub fn with_qe_report(mut self, edit: impl FnOnce(&mut EnclaveReportBody)) -> TestQuoteSigner {
        edit(&mut self.qe_report);
        let qe_sig: Signature = self.pck_key.sign(self.qe_report.as_bytes());
        self.qe_report_signature = raw(&qe_sig);
        self
    }

    /// The same signer putting `attributes` into the TD report (default all zero; bit 0 of the
    /// first byte = DEBUG).
    pub fn with_td_attributes(mut self, attributes: [u8; 8]) -> TestQuoteSigner {
        self.td_attributes = attributes;
        self
    }

    /// The same signer embedding `pem` as the PCK certificate chain (see [`pem_chain`]).
    pub fn with_pck_chain_pem(mut self, pem: Vec<u8>) -> TestQuoteSigner {
        self.chain_pem = pem;
        self
    }

    /// The same signer producing `format`.
    pub fn with_format(mut self, format: QuoteFormat) -> TestQuoteSigner {
        self.format = format;
        self
    }

    /// The test root CA certificate (DER): pass it as [`crate::quote::VerifyOptions::root_der`].
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The PCK chain as embedded in quotes (PEM leaf, intermediate, root, then a NUL).
    pub fn pck_chain_pem(&self) -> &[u8] {
        &self.chain_pem
    }

    /// A quote in `format` whose body carries `m`.
    pub fn quote_as(&self, m: &TdMeasurements, format: QuoteFormat) -> Result<Vec<u8>, Error> {
        let mut header = QuoteHeader::new_zeroed();
        header.version = if format == QuoteFormat::V4Td10 { 4 } else { 5 }.into();
        header.att_key_type = ATT_KEY_TYPE_ECDSA_P256.into();
        header.tee_type = TEE_TYPE_TDX.into();
        header.qe_vendor_id = INTEL_QE_VENDOR_ID;

        let mut body = TdReportBody10::new_zeroed();
        body.tee_tcb_svn = [0x03, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        body.mr_seam = [0x5e; 48];
        body.td_attributes = self.td_attributes;
        body.xfam = [0xe7, 0x02, 0x06, 0, 0, 0, 0, 0];
        body.mr_td = m.mrtd;
        body.mr_config_id = m.mrconfigid;
        body.mr_owner = m.mrowner;
        body.mr_owner_config = m.mrownerconfig;
        body.rtmr = m.rtmr;
        body.report_data = m.report_data;

        let mut quote = Vec::with_capacity(2048 + self.chain_pem.len());
        quote.extend_from_slice(header.as_bytes());
        match format {
            QuoteFormat::V4Td10 => quote.extend_from_slice(body.as_bytes()),
            QuoteFormat::V5Td10 => {
                quote.extend_from_slice(&BODY_TYPE_TD10.to_le_bytes());
                quote.extend_from_slice(&(body.as_bytes().len() as u32).to_le_bytes());
                quote.extend_from_slice(body.as_bytes());
            }
            QuoteFormat::V5Td15 => {
                let mut body15 = TdReportBody15::new_zeroed();
                body15.base = body;
                body15.tee_tcb_svn2 = body.tee_tcb_svn;
                quote.extend_from_slice(&BODY_TYPE_TD15.to_le_bytes());
                quote.extend_from_slice(&(body15.as_bytes().len() as u32).to_le_bytes());
                quote.extend_from_slice(body15.as_bytes());
            }
        }
        let quote_sig: Signature = self.attestation_key.sign(&quote);

        let mut cert_data = Vec::with_capacity(512 + self.chain_pem.len());
        cert_data.extend_from_slice(self.qe_report.as_bytes());
        cert_data.extend_from_slice(&self.qe_report_signature);
        let auth_len =
            u16::try_from(self.qe_auth_data.len()).map_err(|e| signer_err("auth data", e))?;
        cert_data.extend_from_slice(&auth_len.to_le_bytes());
        cert_data.extend_from_slice(&self.qe_auth_data);
        cert_data.extend_from_slice(&CERT_TYPE_PCK_CHAIN.to_le_bytes());
        let pem_len = u32::try_from(self.chain_pem.len()).map_err(|e| signer_err("chain", e))?;
        cert_data.extend_from_slice(&pem_len.to_le_bytes());
        cert_data.extend_from_slice(&self.chain_pem);

        let mut sig_data = Vec::with_capacity(134 + cert_data.len());
        sig_data.extend_from_slice(&raw(&quote_sig));
        sig_data.extend_from_slice(&self.attestation_pub);
        sig_data.extend_from_slice(&CERT_TYPE_QE_REPORT.to_le_bytes());
        let cert_len = u32::try_from(cert_data.len()).map_err(|e| signer_err("cert data", e))?;
        sig_data.extend_from_slice(&cert_len.to_le_bytes());
        sig_data.extend_from_slice(&cert_data);

        let sig_len = u32::try_from(sig_data.len()).map_err(|e| signer_err("signature data", e))?;
        quote.extend_from_slice(&sig_len.to_le_bytes());
        quote.extend_from_slice(&sig_data);
        Ok(quote)
    }
}

impl QuoteProvider for TestQuoteSigner {
    fn quote(&self, m: &TdMeasurements) -> Result<Vec<u8>, Error> {
        self.quote_as(m, self.format)
    }
}
