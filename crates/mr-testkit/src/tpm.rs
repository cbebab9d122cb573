//! TPM 2.0 quotes signed in software, as a TPM would sign them (TPM 2.0 Library Part 2:
//! TPMS_ATTEST 10.12.12, TPMT_SIGNATURE 11.3.4, TPMT_PUBLIC 12.2.4).
//!
//! The building blocks ([`quote_attest`], [`ecc_key`], [`ecc_tpmt_public`], [`rsa_tpmt_public`],
//! [`ecdsa_signature`], [`rsassa_signature`]) make any quote a test needs; [`SoftwareQuote`] is
//! the one fixed quote (P-256 key from a fixed scalar, deterministic RFC 6979 signature) that the
//! hostile-input tests, the `tpm_verify` fuzz target and the `tpm_quote` benchmark share.

use mr_core::{HashAlg, MrId, RegisterValue, VerifiedRegisters};
use mr_tpm::TPM_GENERATED_VALUE;
use mr_tpm::{
    tpms_attest_bytes, verify_quote, AkPublic, Attest, Attested, ClockInfo, PcrBankSelection,
    PcrSelection, QuoteInfo, SigScheme, Signature,
};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use rsa::traits::PublicKeyParts;

pub use p256::ecdsa::SigningKey as EcdsaKey;

/// TPMA_OBJECT of an attestation key: fixedTPM | fixedParent | sensitiveDataOrigin |
/// userWithAuth | restricted | sign.
pub const RESTRICTED_SIGNING: u32 = 0x0005_0072;
/// TPM_ALG_ECDSA.
pub const TPM_ALG_ECDSA: u16 = 0x0018;
/// TPM_ALG_RSASSA.
pub const TPM_ALG_RSASSA: u16 = 0x0014;
/// TPM_ALG_SHA256.
pub const TPM_ALG_SHA256: u16 = 0x000B;
/// The PCRs of [`SoftwareQuote`]: 0-7 and 10 (firmware, boot loader, IMA).
pub const QUOTE_PCRS: [u32; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 10];
/// The nonce (extraData) of [`SoftwareQuote`].
pub const QUOTE_NONCE: [u8; 32] = [0x5a; 32];

const TPM_ALG_ECC: u16 = 0x0023;
const TPM_ALG_RSA: u16 = 0x0001;
const TPM_ALG_NULL: u16 = 0x0010;
const TPM_ECC_NIST_P256: u16 = 0x0003;

/// SHA-256 PCR values for `indices`: PCR i holds SHA-256 of i as a big-endian u32.
pub fn pcr_values(indices: &[u32]) -> Vec<RegisterValue> {
    indices
        .iter()
        .map(|i| RegisterValue {
            id: MrId::Pcr(*i),
            value: HashAlg::Sha256.hash(&i.to_be_bytes()),
        })
        .collect()
}

/// A TPM2_Quote's TPMS_ATTEST over `pcrs` (all in the SHA-256 bank, in this order, which must be
/// ascending PCR order for the digest to match) with `nonce` as extraData; fixed signer name,
/// clock and firmware version. Callers edit it (magic, type, …) or `marshal()` it.
pub fn quote_attest(nonce: &[u8], pcrs: &[RegisterValue]) -> Attest {
    let mut concat = Vec::new();
    let mut indices = Vec::new();
    for v in pcrs {
        concat.extend_from_slice(v.value.as_bytes());
        if let MrId::Pcr(i) = v.id {
            indices.push(i);
        }
    }
    Attest {
        magic: TPM_GENERATED_VALUE,
        qualified_signer: HashAlg::Sha256.hash(b"signer").as_bytes().to_vec(),
        extra_data: nonce.to_vec(),
        clock_info: ClockInfo {
            clock: 1_000_000,
            reset_count: 3,
            restart_count: 0,
            safe: true,
        },
        firmware_version: 0x2023_0001_0000_0000,
        attested: Attested::Quote(QuoteInfo {
            pcr_select: PcrSelection {
                banks: vec![PcrBankSelection::new(HashAlg::Sha256, &indices)],
            },
            pcr_digest: HashAlg::Sha256.hash(&concat).as_bytes().to_vec(),
        }),
    }
}

/// A P-256 key whose scalar is 32 bytes of `seed` (deterministic; `seed` 0 is not a key).
pub fn ecc_key(seed: u8) -> EcdsaKey {
    EcdsaKey::from_slice(&[seed; 32]).expect("a scalar of 32 equal non-zero bytes is a key")
}

fn tpmt_header(key_type: u16, attributes: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&key_type.to_be_bytes());
    out.extend_from_slice(&TPM_ALG_SHA256.to_be_bytes()); // nameAlg
    out.extend_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes()); // authPolicy: empty
    out.extend_from_slice(&TPM_ALG_NULL.to_be_bytes()); // symmetric
    out
}

/// TPMT_PUBLIC of `key` (NIST P-256) with `attributes` and signing scheme `scheme` / `hash`
/// (TPM_ALG ids; e.g. [`TPM_ALG_ECDSA`], [`TPM_ALG_SHA256`]), no KDF.
pub fn ecc_tpmt_public(key: &EcdsaKey, attributes: u32, scheme: u16, hash: u16) -> Vec<u8> {
    let point = key.verifying_key().to_encoded_point(false);
    let mut out = tpmt_header(TPM_ALG_ECC, attributes);
    for v in [scheme, hash, TPM_ECC_NIST_P256, TPM_ALG_NULL] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for c in [point.x(), point.y()] {
        let c = c.expect("an uncompressed point has both coordinates");
        out.extend_from_slice(&32u16.to_be_bytes());
        out.extend_from_slice(c);
    }
    out
}

/// TPMT_PUBLIC of RSA `key` as a restricted signing key with RSASSA / SHA-256, exponent
/// 65537 (encoded as 0, the TPM default).
pub fn rsa_tpmt_public(key: &rsa::RsaPublicKey) -> Vec<u8> {
    let mut out = tpmt_header(TPM_ALG_RSA, RESTRICTED_SIGNING);
    let bits = u16::try_from(key.n().bits()).expect("an RSA test key has < 64 Ki bits");
    for v in [TPM_ALG_RSASSA, TPM_ALG_SHA256, bits] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&0u32.to_be_bytes());
    let n = key.n().to_bytes_be();
    let n_len = u16::try_from(n.len()).expect("an RSA test modulus has < 64 KiB");
    out.extend_from_slice(&n_len.to_be_bytes());
    out.extend_from_slice(&n);
    out
}

/// TPMT_SIGNATURE: ECDSA by `key` over `hash` of `message`.
pub fn ecdsa_signature(key: &EcdsaKey, message: &[u8], hash: HashAlg) -> Vec<u8> {
    let sig: p256::ecdsa::Signature = key
        .sign_prehash(hash.hash(message).as_bytes())
        .expect("ECDSA signs any digest of 20 bytes or more");
    let (r, s) = sig.split_bytes();
    Signature::Ecdsa {
        hash,
        r: r.to_vec(),
        s: s.to_vec(),
    }
    .marshal()
}

/// TPMT_SIGNATURE: RSASSA-PKCS1-v1_5 by `key` over SHA-256 of `message`.
pub fn rsassa_signature(key: &rsa::RsaPrivateKey, message: &[u8]) -> Vec<u8> {
    let digest = HashAlg::Sha256.hash(message);
    let sig = key
        .sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), digest.as_bytes())
        .expect("RSA signs a SHA-256 digest");
    Signature::Rsa {
        scheme: SigScheme::RsaSsa,
        hash: HashAlg::Sha256,
        sig,
    }
    .marshal()
}

/// The fixed software-signed quote: TPMS_ATTEST over [`QUOTE_PCRS`] ([`pcr_values`]) with
/// [`QUOTE_NONCE`], signed ECDSA/SHA-256 by [`ecc_key`]`(7)`, whose TPMT_PUBLIC is a restricted
/// signing key. The same bytes every run; [`SoftwareQuote::new`] checks that it verifies.
#[derive(Clone, Debug)]
pub struct SoftwareQuote {
    /// The signing key.
    pub key: EcdsaKey,
    /// TPMS_ATTEST.
    pub attest: Vec<u8>,
    /// TPMT_SIGNATURE over `attest`.
    pub signature: Vec<u8>,
    /// The AK's TPMT_PUBLIC.
    pub ak_tpmt: Vec<u8>,
    /// The AK parsed from `ak_tpmt`.
    pub ak: AkPublic,
    /// The quoted PCR values.
    pub pcrs: Vec<RegisterValue>,
}

impl SoftwareQuote {
    /// Fails the test unless `attest`, which verified to `verified`, is this quote's TPMS_ATTEST
    /// (bare or as a TPM2B) and `verified` holds its PCR values: no other quote may verify
    /// under this AK and nonce.
    #[track_caller]
    pub fn assert_is_this_quote(&self, attest: &[u8], verified: &VerifiedRegisters) {
        assert_eq!(
            tpms_attest_bytes(attest),
            &self.attest[..],
            "a TPMS_ATTEST other than the signed one verified"
        );
        for v in &self.pcrs {
            assert_eq!(
                verified.get(&v.id, v.value.alg()),
                Some(&v.value),
                "verified PCR value differs from the quoted one"
            );
        }
    }

    /// The fixed quote (see the type's documentation).
    pub fn new() -> SoftwareQuote {
        let pcrs = pcr_values(&QUOTE_PCRS);
        let attest = quote_attest(&QUOTE_NONCE, &pcrs).marshal();
        let key = ecc_key(7);
        let signature = ecdsa_signature(&key, &attest, HashAlg::Sha256);
        let ak_tpmt = ecc_tpmt_public(&key, RESTRICTED_SIGNING, TPM_ALG_ECDSA, TPM_ALG_SHA256);
        let ak = AkPublic::from_tpmt_public(&ak_tpmt).expect("the fixed AK parses");
        verify_quote(&attest, &signature, &ak, &QUOTE_NONCE, &pcrs)
            .expect("the fixed quote verifies");
        SoftwareQuote {
            key,
            attest,
            signature,
            ak_tpmt,
            ak,
            pcrs,
        }
    }
}

impl Default for SoftwareQuote {
    fn default() -> Self {
        SoftwareQuote::new()
    }
}
