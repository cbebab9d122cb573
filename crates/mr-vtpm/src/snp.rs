//! The AMD SEV-SNP attestation report (AMD SEV-SNP Firmware ABI Specification, table
//! "ATTESTATION_REPORT Structure"; docs/formats.md#sev-snp-report), its signature by the VCEK,
//! the VCEK's binding to the report (chip id, reported TCB) and the VCEK ← ASK ← ARK chain.
//!
//! The report is 1184 bytes, little-endian. The signature covers bytes 0x000-0x29F: ECDSA
//! P-384 with SHA-384, its r and s stored as 72-byte little-endian fields at 0x2A0 and 0x2E8.

#![deny(clippy::indexing_slicing)]

use mr_core::wire::{ParseErrorKind, Reader};
use mr_core::HashAlg;
use mr_tpm::cert::{self, VerifiedChain};
use p384::ecdsa::signature::hazmat::PrehashVerifier as _;

use crate::error::Error;
use crate::hcl::SNP_REPORT_SIZE;

const FORMAT: &str = "snp report";
/// The bytes the report signature covers.
pub const SIGNED_LEN: usize = 0x2A0;
/// signature_algo: ECDSA P-384 with SHA-384.
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;
/// Guest policy bit: debugging allowed.
pub const POLICY_DEBUG: u64 = 1 << 19;
/// Guest policy bit: SMT allowed.
pub const POLICY_SMT: u64 = 1 << 16;
/// Guest policy bit: migration agent allowed.
pub const POLICY_MIGRATE_MA: u64 = 1 << 18;
/// Guest policy bit: single socket required.
pub const POLICY_SINGLE_SOCKET: u64 = 1 << 20;
/// At most this many certificates in an ASK/ARK bundle.
pub const MAX_BUNDLE_CERTS: usize = 32;
/// CPUID family of Turin (Zen 5), whose TCB_VERSION has another layout.
const TURIN_FAMILY: u8 = 0x1A;

/// A TCB_VERSION: security patch levels of the firmware parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcbVersion {
    /// The raw 64-bit value.
    pub raw: u64,
    /// FMC SPL (Turin only).
    pub fmc: Option<u8>,
    /// Boot loader SPL.
    pub bootloader: u8,
    /// PSP OS (TEE) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode SPL.
    pub microcode: u8,
}

impl TcbVersion {
    /// Decode `raw` in the layout of the processor family (Milan/Genoa: boot loader byte 0,
    /// TEE byte 1, SNP byte 6, microcode byte 7; Turin: FMC byte 0, boot loader 1, TEE 2,
    /// SNP 3, microcode 7).
    fn decode(raw: u64, turin: bool) -> TcbVersion {
        let b = raw.to_le_bytes();
        let [b0, b1, b2, b3, _, _, b6, b7] = b;
        if turin {
            TcbVersion {
                raw,
                fmc: Some(b0),
                bootloader: b1,
                tee: b2,
                snp: b3,
                microcode: b7,
            }
        } else {
            TcbVersion {
                raw,
                fmc: None,
                bootloader: b0,
                tee: b1,
                snp: b6,
                microcode: b7,
            }
        }
    }
}

/// A parsed SEV-SNP attestation report (version 2 or later).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnpReport {
    /// Report version.
    pub version: u32,
    /// Guest SVN.
    pub guest_svn: u32,
    /// Guest policy (ABI minor 7:0, ABI major 15:8, SMT 16, migration agent 18, debug 19,
    /// single socket 20, …).
    pub policy: u64,
    /// Family id given at launch.
    pub family_id: [u8; 16],
    /// Image id given at launch.
    pub image_id: [u8; 16],
    /// The VMPL of the request (0: the paravisor).
    pub vmpl: u32,
    /// Signature algorithm (1 = ECDSA P-384 with SHA-384).
    pub signature_algo: u32,
    /// Current TCB.
    pub current_tcb: TcbVersion,
    /// Platform info (SMT enabled bit 0, TSME enabled bit 1, …).
    pub platform_info: u64,
    /// Flags (author key enabled bit 0, mask chip id bit 1, signing key bits 4:2).
    pub flags: u32,
    /// REPORTDATA given by the requester.
    pub report_data: [u8; 64],
    /// The launch measurement.
    pub measurement: [u8; 48],
    /// Host data given at launch.
    pub host_data: [u8; 32],
    /// SHA-384 of the ID key.
    pub id_key_digest: [u8; 48],
    /// SHA-384 of the author key.
    pub author_key_digest: [u8; 48],
    /// Report id.
    pub report_id: [u8; 32],
    /// Report id of the migration agent.
    pub report_id_ma: [u8; 32],
    /// The TCB the VCEK was derived from.
    pub reported_tcb: TcbVersion,
    /// CPUID family (version 3 and later; 0 before).
    pub cpuid_family: u8,
    /// CPUID model (version 3 and later).
    pub cpuid_model: u8,
    /// CPUID stepping (version 3 and later).
    pub cpuid_stepping: u8,
    /// The chip id (zero when masked by the policy).
    pub chip_id: [u8; 64],
    /// Committed TCB.
    pub committed_tcb: TcbVersion,
    /// Firmware version (build, minor, major) the report was made by.
    pub current_version: (u8, u8, u8),
    /// TCB at launch.
    pub launch_tcb: TcbVersion,
    /// r, big-endian (from the 72-byte little-endian field).
    signature_r: [u8; 48],
    /// s, big-endian.
    signature_s: [u8; 48],
}

/// A 72-byte little-endian signature component as 48 big-endian bytes (its upper 24 bytes
/// must be zero).
fn component(r: &mut Reader<'_>, structure: &'static str) -> Result<[u8; 48], Error> {
    let at = r.offset();
    let le = r.array_ref::<72>(structure)?;
    let (low, high) = le.split_at(48);
    if high.iter().any(|b| *b != 0) {
        return Err(r
            .error_at(
                at,
                structure,
                ParseErrorKind::Invalid("more than 48 significant bytes".into()),
            )
            .into());
    }
    let mut out = [0u8; 48];
    for (o, b) in out.iter_mut().zip(low.iter().rev()) {
        *o = *b;
    }
    Ok(out)
}

impl SnpReport {
    /// Parse a 1184-byte report (more or fewer bytes is an error).
    pub fn parse(bytes: &[u8]) -> Result<SnpReport, Error> {
        let mut r = Reader::new(FORMAT, bytes);
        if bytes.len() != SNP_REPORT_SIZE {
            return Err(r
                .error(
                    "attestation report",
                    ParseErrorKind::Invalid(format!(
                        "{} bytes, not {SNP_REPORT_SIZE}",
                        bytes.len()
                    )),
                )
                .into());
        }
        let version = r.u32_le("version")?;
        if version < 2 {
            return Err(r
                .error_at(
                    0,
                    "version",
                    ParseErrorKind::Invalid(format!("version {version} is older than 2")),
                )
                .into());
        }
        let guest_svn = r.u32_le("guest_svn")?;
        let policy = r.u64_le("policy")?;
        let family_id = r.array("family_id")?;
        let image_id = r.array("image_id")?;
        let vmpl = r.u32_le("vmpl")?;
        let signature_algo = r.u32_le("signature_algo")?;
        let current_tcb = r.u64_le("current_tcb")?;
        let platform_info = r.u64_le("platform_info")?;
        let flags = r.u32_le("flags")?;
        r.skip(4, "reserved")?;
        let report_data = r.array("report_data")?;
        let measurement = r.array("measurement")?;
        let host_data = r.array("host_data")?;
        let id_key_digest = r.array("id_key_digest")?;
        let author_key_digest = r.array("author_key_digest")?;
        let report_id = r.array("report_id")?;
        let report_id_ma = r.array("report_id_ma")?;
        let reported_tcb = r.u64_le("reported_tcb")?;
        let (cpuid_family, cpuid_model, cpuid_stepping) = if version >= 3 {
            (
                r.u8("cpuid_fam_id")?,
                r.u8("cpuid_mod_id")?,
                r.u8("cpuid_step")?,
            )
        } else {
            r.skip(3, "reserved")?;
            (0, 0, 0)
        };
        r.skip(21, "reserved")?;
        let chip_id = r.array("chip_id")?;
        let committed_tcb = r.u64_le("committed_tcb")?;
        let current_version = (
            r.u8("current_build")?,
            r.u8("current_minor")?,
            r.u8("current_major")?,
        );
        r.skip(1, "reserved")?;
        r.skip(4, "committed version")?;
        let launch_tcb = r.u64_le("launch_tcb")?;
        r.skip(SIGNED_LEN - 0x1F8, "reserved")?;
        let signature_r = component(&mut r, "signature r")?;
        let signature_s = component(&mut r, "signature s")?;
        let turin = cpuid_family == TURIN_FAMILY;
        let tcb = |raw| TcbVersion::decode(raw, turin);
        Ok(SnpReport {
            version,
            guest_svn,
            policy,
            family_id,
            image_id,
            vmpl,
            signature_algo,
            current_tcb: tcb(current_tcb),
            platform_info,
            flags,
            report_data,
            measurement,
            host_data,
            id_key_digest,
            author_key_digest,
            report_id,
            report_id_ma,
            reported_tcb: tcb(reported_tcb),
            cpuid_family,
            cpuid_model,
            cpuid_stepping,
            chip_id,
            committed_tcb: tcb(committed_tcb),
            current_version,
            launch_tcb: tcb(launch_tcb),
            signature_r,
            signature_s,
        })
    }

    /// True when the guest policy allows debugging.
    pub fn debug_allowed(&self) -> bool {
        self.policy & POLICY_DEBUG != 0
    }

    /// The guest rules every SNP vTPM root applies once the report's signature verified: the
    /// report comes from VMPL 0 (the paravisor, which owns the vTPM), and the guest policy does
    /// not allow debugging unless the caller opted in (`allow_debug`).
    pub fn check_guest(&self, allow_debug: bool) -> Result<(), Error> {
        if self.vmpl != 0 {
            return Err(Error::SnpVmpl(self.vmpl));
        }
        if self.debug_allowed() && !allow_debug {
            return Err(Error::SnpDebug(self.policy));
        }
        Ok(())
    }
}

/// The VCEK's P-384 key, checked against the report's chip id and reported TCB (the VCEK is
/// derived from both: a VCEK of another chip or TCB must not vouch for this report).
fn vcek_key(vcek_der: &[u8], report: &SnpReport) -> Result<p384::ecdsa::VerifyingKey, Error> {
    use der::Decode as _;
    let cert = x509_cert::Certificate::from_der(vcek_der)
        .map_err(|e| Error::Certificate(format!("VCEK: {e}")))?;
    let tbs = &cert.tbs_certificate;
    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(
        tbs.subject_public_key_info.subject_public_key.raw_bytes(),
    )
    .map_err(|_| Error::Certificate("VCEK: the key is not an EC P-384 key".into()))?;
    let ext = |oid: &str| -> Option<&[u8]> {
        tbs.extensions
            .as_ref()?
            .iter()
            .find_map(|e| (e.extn_id.to_string() == oid).then_some(e.extn_value.as_bytes()))
    };
    let spl = |oid: &'static str, name: &str, want: u8| -> Result<(), Error> {
        let value = ext(oid)
            .ok_or_else(|| Error::VcekMismatch(format!("the VCEK has no {name} SPL ({oid})")))?;
        let got =
            u8::from_der(value).map_err(|e| Error::Certificate(format!("VCEK {name} SPL: {e}")))?;
        if got != want {
            return Err(Error::VcekMismatch(format!(
                "{name} SPL is {got} in the VCEK, {want} in the report's reported TCB"
            )));
        }
        Ok(())
    };
    let tcb = &report.reported_tcb;
    spl("1.3.6.1.4.1.3704.1.3.1", "boot loader", tcb.bootloader)?;
    spl("1.3.6.1.4.1.3704.1.3.2", "TEE", tcb.tee)?;
    spl("1.3.6.1.4.1.3704.1.3.3", "SNP", tcb.snp)?;
    spl("1.3.6.1.4.1.3704.1.3.8", "microcode", tcb.microcode)?;
    if let Some(fmc) = tcb.fmc {
        spl("1.3.6.1.4.1.3704.1.3.9", "FMC", fmc)?;
    }
    let hw_id = ext("1.3.6.1.4.1.3704.1.4")
        .ok_or_else(|| Error::VcekMismatch("the VCEK has no hwID (1.3.6.1.4.1.3704.1.4)".into()))?;
    let hw_id = if hw_id.len() == 64 {
        hw_id.to_vec()
    } else {
        der::asn1::OctetString::from_der(hw_id)
            .map_err(|e| Error::Certificate(format!("VCEK hwID: {e}")))?
            .into_bytes()
    };
    if hw_id != report.chip_id {
        return Err(Error::VcekMismatch(format!(
            "chip id {} in the report, hwID {} in the VCEK",
            hex::encode(report.chip_id),
            hex::encode(&hw_id)
        )));
    }
    Ok(key)
}

/// Verify `report` (the 1184 bytes) with the VCEK `vcek_der`: the VCEK's chip id and TCB match
/// the report and the report's signature verifies. The VCEK's own chain is
/// [`verify_vcek_chain`].
pub fn verify_report_signature(report_bytes: &[u8], vcek_der: &[u8]) -> Result<SnpReport, Error> {
    let report = SnpReport::parse(report_bytes)?;
    if report.signature_algo != SIG_ALGO_ECDSA_P384_SHA384 {
        return Err(Error::SnpReportSignature);
    }
    let key = vcek_key(vcek_der, &report)?;
    let signed = report_bytes
        .get(..SIGNED_LEN)
        .ok_or(Error::SnpReportSignature)?;
    let digest = HashAlg::Sha384.hash(signed);
    let sig = p384::ecdsa::Signature::from_scalars(report.signature_r, report.signature_s)
        .map_err(|_| Error::SnpReportSignature)?;
    key.verify_prehash(digest.as_bytes(), &sig)
        .map_err(|_| Error::SnpReportSignature)?;
    Ok(report)
}

/// Verify that `vcek_der` chains to an ARK of `ask_ark` (the operator's bundle of AMD
/// certificates, PEM or DER, possibly for several processor generations: the ARKs are its
/// self-signed certificates, whose self-signature must verify; the others are intermediates),
/// every certificate valid at `at` (seconds since the Unix epoch).
pub fn verify_vcek_chain(
    vcek_der: &[u8],
    ask_ark: &[Vec<u8>],
    at: u64,
) -> Result<VerifiedChain, Error> {
    use der::Decode as _;
    let mut roots = Vec::new();
    let mut intermediates = Vec::new();
    for c in ask_ark {
        let cert = x509_cert::Certificate::from_der(c)
            .map_err(|e| Error::Certificate(format!("ASK/ARK bundle: {e}")))?;
        if cert.tbs_certificate.subject == cert.tbs_certificate.issuer {
            cert::verify_issued_by(c, c).map_err(|e| {
                Error::VcekChain(format!("ARK {}: {e}", cert.tbs_certificate.subject))
            })?;
            roots.push(c.clone());
        } else {
            intermediates.push(c.clone());
        }
    }
    if roots.is_empty() {
        return Err(Error::Certificate(
            "the ASK/ARK bundle holds no self-signed ARK".into(),
        ));
    }
    cert::verify_chain(vcek_der, &intermediates, &roots, at).map_err(|e| match e {
        mr_tpm::Error::InvalidKey(m) => Error::Certificate(m),
        other => Error::VcekChain(other.to_string()),
    })
}

/// Read an ASK/ARK bundle (PEM with any number of certificates, or one DER certificate).
pub fn read_bundle(input: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    cert::certificates_der(input, MAX_BUNDLE_CERTS).map_err(|e| Error::Certificate(e.to_string()))
}
