//! Parsing of DCAP v4 / v5 TD quotes into a borrowed [`Quote`] (docs/formats.md#td-quote).
//!
//! One cursor ([`Reader`]) reads every field; each length is checked against the bytes left
//! before anything is split off, and nothing is allocated from a length in the input.

use mr_core::error::{ParseError, ParseErrorKind};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::error::QuoteError;
use super::layout::{
    EnclaveReportBody, QuoteHeader, TdReportBody10, TdReportBody15, ATT_KEY_TYPE_ECDSA_P256,
    BODY_TYPE_TD10, BODY_TYPE_TD15, CERT_TYPE_PCK_CHAIN, CERT_TYPE_QE_REPORT, TD10_BODY_LEN,
    TD15_BODY_LEN, TEE_TYPE_TDX,
};

const FORMAT: &str = "td quote";

/// A cursor over a slice that knows its absolute offset in the quote, for error reports.
struct Reader<'a> {
    data: &'a [u8],
    /// Absolute offset of `data[0]` in the quote.
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], base: usize) -> Self {
        Reader { data, base }
    }

    fn truncated(&self, structure: &'static str, needed: usize) -> ParseError {
        ParseError {
            format: FORMAT,
            structure,
            offset: self.base as u64,
            entry: None,
            kind: ParseErrorKind::Truncated {
                needed: needed as u64,
                available: self.data.len() as u64,
            },
        }
    }

    fn take(&mut self, n: usize, structure: &'static str) -> Result<&'a [u8], ParseError> {
        match self.data.split_at_checked(n) {
            Some((head, rest)) => {
                self.data = rest;
                self.base += n;
                Ok(head)
            }
            None => Err(self.truncated(structure, n)),
        }
    }

    fn array<const N: usize>(
        &mut self,
        structure: &'static str,
    ) -> Result<&'a [u8; N], ParseError> {
        match self.data.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.data = rest;
                self.base += N;
                Ok(head)
            }
            None => Err(self.truncated(structure, N)),
        }
    }

    fn u16(&mut self, structure: &'static str) -> Result<u16, ParseError> {
        self.array::<2>(structure).map(|b| u16::from_le_bytes(*b))
    }

    fn u32(&mut self, structure: &'static str) -> Result<u32, ParseError> {
        self.array::<4>(structure).map(|b| u32::from_le_bytes(*b))
    }

    fn view<T: FromBytes + KnownLayout + Immutable + Unaligned>(
        &mut self,
        structure: &'static str,
    ) -> Result<&'a T, ParseError> {
        let bytes = self.take(core::mem::size_of::<T>(), structure)?;
        T::ref_from_bytes(bytes).map_err(|_| self.truncated(structure, core::mem::size_of::<T>()))
    }

    /// A length-prefixed (u16 or u32 already read as `len`) child reader.
    fn sub(&mut self, len: u64, structure: &'static str) -> Result<Reader<'a>, ParseError> {
        let left = self.data.len() as u64;
        if len > left {
            return Err(ParseError {
                format: FORMAT,
                structure,
                offset: self.base as u64,
                entry: None,
                kind: ParseErrorKind::LengthTooLarge { len, max: left },
            });
        }
        let base = self.base;
        // len <= left <= usize::MAX here.
        let bytes = self.take(len as usize, structure)?;
        Ok(Reader::new(bytes, base))
    }

    /// Require that nothing is left.
    fn finish(self, structure: &'static str) -> Result<(), ParseError> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(ParseError {
                format: FORMAT,
                structure,
                offset: self.base as u64,
                entry: None,
                kind: ParseErrorKind::Invalid(format!(
                    "{} unused bytes at the end of {structure}",
                    self.data.len()
                )),
            })
        }
    }
}

/// The TD report body of a quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TdBody<'a> {
    /// TDX 1.0 TD report (v4 quotes, or v5 body type 2).
    Td10(&'a TdReportBody10),
    /// TDX 1.5 TD report (v5 body type 3).
    Td15(&'a TdReportBody15),
}

impl<'a> TdBody<'a> {
    /// The TDX 1.0 fields (present in both bodies).
    pub fn base(&self) -> &'a TdReportBody10 {
        match self {
            TdBody::Td10(b) => b,
            TdBody::Td15(b) => &b.base,
        }
    }
}

/// The ECDSA signature data of a quote ("v4" auth data layout, used by v4 and v5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureData<'a> {
    /// ECDSA P-256 signature r||s over SHA-256 of the signed bytes, by the attestation key.
    pub quote_signature: &'a [u8; 64],
    /// The attestation public key, raw X||Y.
    pub attestation_key: &'a [u8; 64],
    /// The QE report (an SGX enclave report body).
    pub qe_report: &'a EnclaveReportBody,
    /// The QE report's raw 384 bytes (what the PCK key signs).
    pub qe_report_bytes: &'a [u8],
    /// ECDSA P-256 signature r||s over SHA-256 of the QE report, by the PCK leaf key.
    pub qe_report_signature: &'a [u8; 64],
    /// QE authentication data (hashed into the QE report data).
    pub qe_auth_data: &'a [u8],
    /// The PCK certificate chain, PEM (certification data type 5), as stored (may end in NULs).
    pub pck_cert_chain: &'a [u8],
}

/// A parsed, unverified TD quote borrowing the input bytes. Nothing in it is trusted until
/// [`super::verify`] accepts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote<'a> {
    header: &'a QuoteHeader,
    body_type: u16,
    body: TdBody<'a>,
    signed: &'a [u8],
    signature: SignatureData<'a>,
    trailing: &'a [u8],
}

impl<'a> Quote<'a> {
    /// The header.
    pub fn header(&self) -> &'a QuoteHeader {
        self.header
    }
    /// Quote version (4 or 5).
    pub fn version(&self) -> u16 {
        self.header.version.get()
    }
    /// Body type: the v5 descriptor's value, or 2 (TD 1.0) for a v4 TD quote.
    pub fn body_type(&self) -> u16 {
        self.body_type
    }
    /// The TD report body.
    pub fn body(&self) -> TdBody<'a> {
        self.body
    }
    /// MRTD.
    pub fn mr_td(&self) -> &'a [u8; 48] {
        &self.body.base().mr_td
    }
    /// RTMR0..RTMR3.
    pub fn rtmrs(&self) -> &'a [[u8; 48]; 4] {
        &self.body.base().rtmr
    }
    /// MRCONFIGID.
    pub fn mr_config_id(&self) -> &'a [u8; 48] {
        &self.body.base().mr_config_id
    }
    /// MROWNER.
    pub fn mr_owner(&self) -> &'a [u8; 48] {
        &self.body.base().mr_owner
    }
    /// MROWNERCONFIG.
    pub fn mr_owner_config(&self) -> &'a [u8; 48] {
        &self.body.base().mr_owner_config
    }
    /// REPORTDATA.
    pub fn report_data(&self) -> &'a [u8; 64] {
        &self.body.base().report_data
    }
    /// TD attributes (bit 0 = DEBUG).
    pub fn td_attributes(&self) -> &'a [u8; 8] {
        &self.body.base().td_attributes
    }
    /// TEE_TCB_SVN.
    pub fn tee_tcb_svn(&self) -> &'a [u8; 16] {
        &self.body.base().tee_tcb_svn
    }
    /// TEE_TCB_SVN2 (TD 1.5 bodies only).
    pub fn tee_tcb_svn2(&self) -> Option<&'a [u8; 16]> {
        match self.body {
            TdBody::Td15(b) => Some(&b.tee_tcb_svn2),
            TdBody::Td10(_) => None,
        }
    }
    /// The bytes the attestation key signs: header, v5 body descriptor (if any) and body.
    pub fn signed_bytes(&self) -> &'a [u8] {
        self.signed
    }
    /// The signature data.
    pub fn signature_data(&self) -> &SignatureData<'a> {
        &self.signature
    }
    /// Bytes after the signature data (tolerated, not covered by any signature).
    pub fn trailing_bytes(&self) -> &'a [u8] {
        self.trailing
    }
    /// Length of the quote without its trailing bytes (header through signature data).
    pub fn quote_bytes_len(&self) -> usize {
        self.signed.len() + 4 + self.sig_data_len()
    }
    fn sig_data_len(&self) -> usize {
        // quote_signature, attestation_key, outer type + size, QE report, its signature,
        // auth data size + data, inner type + size + chain.
        64 + 64
            + 6
            + 384
            + 64
            + 2
            + self.signature.qe_auth_data.len()
            + 6
            + self.signature.pck_cert_chain.len()
    }
}

/// Parse a v4 or v5 TD quote. Trailing bytes after the signature data are tolerated and
/// reported by [`Quote::trailing_bytes`]; everything inside the signature data must be used.
pub fn parse(bytes: &[u8]) -> Result<Quote<'_>, QuoteError> {
    if bytes.is_empty() {
        return Err(QuoteError::Parse(ParseError {
            format: FORMAT,
            structure: "quote",
            offset: 0,
            entry: None,
            kind: ParseErrorKind::Empty,
        }));
    }
    let mut r = Reader::new(bytes, 0);
    let header: &QuoteHeader = r.view("header")?;
    let version = header.version.get();
    if version != 4 && version != 5 {
        return Err(QuoteError::UnsupportedVersion(version));
    }
    if header.att_key_type.get() != ATT_KEY_TYPE_ECDSA_P256 {
        return Err(QuoteError::UnsupportedKeyType(header.att_key_type.get()));
    }
    if header.tee_type.get() != TEE_TYPE_TDX {
        return Err(QuoteError::NotTdx(header.tee_type.get()));
    }
    let (body_type, body) = if version == 4 {
        (BODY_TYPE_TD10, TdBody::Td10(r.view("TD report body")?))
    } else {
        let body_type = r.u16("body descriptor")?;
        let body_size = r.u32("body descriptor")?;
        let expected = match body_type {
            BODY_TYPE_TD10 => TD10_BODY_LEN,
            BODY_TYPE_TD15 => TD15_BODY_LEN,
            other => return Err(QuoteError::UnsupportedBodyType(other)),
        };
        if body_size as usize != expected {
            return Err(QuoteError::BodySize {
                body_type,
                expected: expected as u32,
                got: body_size,
            });
        }
        let body = if body_type == BODY_TYPE_TD10 {
            TdBody::Td10(r.view("TD report body")?)
        } else {
            TdBody::Td15(r.view("TD 1.5 report body")?)
        };
        (body_type, body)
    };
    let signed_len = r.base;
    let signed = &bytes[..signed_len.min(bytes.len())];

    let sig_data_len = r.u32("signature data length")?;
    let mut sig = r.sub(u64::from(sig_data_len), "signature data")?;
    let trailing = r.data;

    let quote_signature = sig.array::<64>("quote signature")?;
    let attestation_key = sig.array::<64>("attestation key")?;
    let outer_type = sig.u16("certification data type")?;
    if outer_type != CERT_TYPE_QE_REPORT {
        return Err(QuoteError::CertificationDataType {
            what: "signature data",
            expected: CERT_TYPE_QE_REPORT,
            got: outer_type,
        });
    }
    let outer_size = sig.u32("certification data size")?;
    let mut cert = sig.sub(u64::from(outer_size), "QE report certification data")?;
    sig.finish("signature data")?;

    let qe_report_bytes = cert.take(core::mem::size_of::<EnclaveReportBody>(), "QE report")?;
    let qe_report = EnclaveReportBody::ref_from_bytes(qe_report_bytes)
        .map_err(|_| cert.truncated("QE report", 384))?;
    let qe_report_signature = cert.array::<64>("QE report signature")?;
    let auth_len = cert.u16("QE auth data size")?;
    let qe_auth_data = cert.sub(u64::from(auth_len), "QE auth data")?.data;
    let inner_type = cert.u16("PCK certification data type")?;
    if inner_type != CERT_TYPE_PCK_CHAIN {
        return Err(QuoteError::CertificationDataType {
            what: "QE report certification data",
            expected: CERT_TYPE_PCK_CHAIN,
            got: inner_type,
        });
    }
    let inner_size = cert.u32("PCK certification data size")?;
    let pck_cert_chain = cert
        .sub(u64::from(inner_size), "PCK certificate chain")?
        .data;
    cert.finish("QE report certification data")?;

    Ok(Quote {
        header,
        body_type,
        body,
        signed,
        signature: SignatureData {
            quote_signature,
            attestation_key,
            qe_report,
            qe_report_bytes,
            qe_report_signature,
            qe_auth_data,
            pck_cert_chain,
        },
        trailing,
    })
}
