//! Parsing of DCAP v4 / v5 TD quotes into a borrowed [`Quote`] (docs/formats.md#td-quote).
//!
//! One cursor ([`Reader`]) reads every field; each length is checked against the bytes left
//! before anything is split off, and nothing is allocated from a length in the input.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use mr_core::wire::{ParseError, ParseErrorKind, Reader};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::error::QuoteError;
use super::layout::{
    EnclaveReportBody, QuoteHeader, TdReportBody10, TdReportBody15, ATT_KEY_TYPE_ECDSA_P256,
    BODY_TYPE_TD10, BODY_TYPE_TD15, CERT_TYPE_PCK_CHAIN, CERT_TYPE_QE_REPORT, TD10_BODY_LEN,
    TD15_BODY_LEN, TEE_TYPE_TDX,
};

const FORMAT: &str = "td quote";

/// The next `size_of::<T>()` bytes of `r` viewed as a `T` (a fixed-layout quote structure).
fn view<'a, T: FromBytes + KnownLayout + Immutable + Unaligned>(
    r: &mut Reader<'a>,
    structure: &'static str,
) -> Result<&'a T, ParseError> {
    let at = r.offset();
    let bytes = r.take(core::mem::size_of::<T>(), structure)?;
    T::ref_from_bytes(bytes).map_err(|_| {
        r.error_at(
            at,
            structure,
            ParseErrorKind::Invalid(format!("{structure} does not have its fixed layout")),
        )
    })
}

/// A child reader over the next `len` bytes, `len` read from the quote: a length beyond the
/// bytes left is [`ParseErrorKind::LengthTooLarge`] (the bytes left are its limit).
fn sub<'a>(
    r: &mut Reader<'a>,
    len: u64,
    structure: &'static str,
) -> Result<Reader<'a>, ParseError> {
    let left = r.remaining() as u64;
    if len > left {
        return Err(r.error(structure, ParseErrorKind::LengthTooLarge { len, max: left }));
    }
    // len <= left, which is a usize.
    r.sub(usize::try_from(len).unwrap_or(usize::MAX), structure)
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
    /// Bytes from the header through the signature data.
    quote_len: usize,
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
        self.quote_len
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
    let mut r = Reader::new(FORMAT, bytes);
    let header: &QuoteHeader = view(&mut r, "header")?;
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
        (
            BODY_TYPE_TD10,
            TdBody::Td10(view(&mut r, "TD report body")?),
        )
    } else {
        let body_type = r.u16_le("body descriptor")?;
        let body_size = r.u32_le("body descriptor")?;
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
            TdBody::Td10(view(&mut r, "TD report body")?)
        } else {
            TdBody::Td15(view(&mut r, "TD 1.5 report body")?)
        };
        (body_type, body)
    };
    let signed = bytes.get(..r.position()).unwrap_or(bytes);

    let sig_data_len = r.u32_le("signature data length")?;
    let mut sig = sub(&mut r, u64::from(sig_data_len), "signature data")?;
    let trailing = r.rest();
    let quote_len = r.position();

    let quote_signature = sig.array_ref::<64>("quote signature")?;
    let attestation_key = sig.array_ref::<64>("attestation key")?;
    let outer_type = sig.u16_le("certification data type")?;
    if outer_type != CERT_TYPE_QE_REPORT {
        return Err(QuoteError::CertificationDataType {
            what: "signature data",
            expected: CERT_TYPE_QE_REPORT,
            got: outer_type,
        });
    }
    let outer_size = sig.u32_le("certification data size")?;
    let mut cert = sub(
        &mut sig,
        u64::from(outer_size),
        "QE report certification data",
    )?;
    sig.finish("signature data")?;

    let qe_report_bytes = cert.rest();
    let qe_report: &EnclaveReportBody = view(&mut cert, "QE report")?;
    let qe_report_bytes = qe_report_bytes
        .get(..core::mem::size_of::<EnclaveReportBody>())
        .unwrap_or(qe_report_bytes);
    let qe_report_signature = cert.array_ref::<64>("QE report signature")?;
    let auth_len = cert.u16_le("QE auth data size")?;
    let qe_auth_data = sub(&mut cert, u64::from(auth_len), "QE auth data")?.rest();
    let inner_type = cert.u16_le("PCK certification data type")?;
    if inner_type != CERT_TYPE_PCK_CHAIN {
        return Err(QuoteError::CertificationDataType {
            what: "QE report certification data",
            expected: CERT_TYPE_PCK_CHAIN,
            got: inner_type,
        });
    }
    let inner_size = cert.u32_le("PCK certification data size")?;
    let pck_cert_chain = sub(&mut cert, u64::from(inner_size), "PCK certificate chain")?.rest();
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
        quote_len,
    })
}
