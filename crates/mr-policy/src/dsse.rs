//! DSSE envelopes of runtime policies (keylime `keylime/dsse`, after the DSSE specification,
//! github.com/secure-systems-lab/dsse `protocol.md`): `{"payload": base64, "payloadType": str,
//! "signatures": [{"keyid"?: str, "sig": base64}]}`, each signature over
//! `PAE(payloadType, payload) = "DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload` (LEN in
//! ASCII decimal). keylime signs with ECDSA P-256 / SHA-256 (its `ecdsa` and `x509` backends).
//!
//! mr verifies an envelope with the key the operator gives ([`DsseKey`]): ECDSA P-256 with
//! SHA-256 or P-384 with SHA-384 (DER or fixed-size `r || s` signatures), RSA PKCS#1 v1.5 with
//! SHA-256. At least one signature must verify with that key; the payload is then read as the
//! policy. An envelope given without a key is refused (see `docs/appraisal.md`).

use base64::Engine;
use serde::Deserialize;

use crate::error::PolicyError;
use crate::keys::ImaKey;

/// Largest key file accepted.
const MAX_KEY_FILE_LEN: u64 = 1 << 20;

/// Most signatures looked at in one envelope.
const MAX_SIGNATURES: usize = 64;

/// The public key a runtime policy's DSSE envelope must be signed with.
#[derive(Clone, Debug)]
pub struct DsseKey(ImaKey);

impl DsseKey {
    /// A key from a PEM or DER SubjectPublicKeyInfo or X.509 certificate (RSA, P-256, P-384).
    pub fn from_bytes(bytes: &[u8]) -> Result<DsseKey, PolicyError> {
        match ImaKey::from_buffer(bytes) {
            Ok(Some((key, _))) => Ok(DsseKey(key)),
            Ok(None) => Err(PolicyError::Envelope(
                "the key is not a PEM or DER public key or X.509 certificate".into(),
            )),
            Err(e) => Err(PolicyError::Envelope(format!("the key: {e}"))),
        }
    }

    /// Read a key file (see [`DsseKey::from_bytes`]).
    pub fn from_file(path: &std::path::Path) -> Result<DsseKey, PolicyError> {
        DsseKey::from_bytes(&crate::read_bounded(
            path,
            "runtime policy key",
            MAX_KEY_FILE_LEN,
        )?)
    }

    /// True when `sig` is this key's signature of `message` (through the crypto provider:
    /// ECDSA DER or fixed-size, RSA PKCS#1 v1.5 with SHA-256).
    fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        use mr_crypto::{Curve, EcdsaEncoding, Hash, KeyType, Scheme};
        let key = self.0.public_key();
        let provider = mr_crypto::default_provider();
        match key.key_type() {
            KeyType::Ec(curve) => {
                let hash = match curve {
                    Curve::P256 => Hash::Sha256,
                    Curve::P384 => Hash::Sha384,
                };
                [EcdsaEncoding::Der, EcdsaEncoding::Fixed]
                    .into_iter()
                    .any(|encoding| {
                        provider
                            .verify(key, Scheme::Ecdsa { hash, encoding }, message, sig)
                            .is_ok()
                    })
            }
            KeyType::Rsa { .. } => provider
                .verify(key, Scheme::RsaPkcs1v15(Hash::Sha256), message, sig)
                .is_ok(),
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<Signature>,
}

#[derive(Deserialize)]
struct Signature {
    sig: String,
}

/// DSSE's pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(
        format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            payload.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

fn base64_decode(what: &str, text: &str) -> Result<Vec<u8>, PolicyError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .map_err(|e| PolicyError::Envelope(format!("{what} is not base64: {e}")))
}

/// The payload of the envelope `bytes` once a signature verified with `key`.
pub(crate) fn verified_payload(bytes: &[u8], key: &DsseKey) -> Result<Vec<u8>, PolicyError> {
    let env: Envelope = serde_json::from_slice(bytes)
        .map_err(|e| PolicyError::Envelope(format!("not a DSSE envelope: {e}")))?;
    let payload = base64_decode("payload", &env.payload)?;
    let message = pae(&env.payload_type, &payload);
    if env.signatures.is_empty() {
        return Err(PolicyError::Envelope(
            "the envelope has no signature".into(),
        ));
    }
    for s in env.signatures.iter().take(MAX_SIGNATURES) {
        let Ok(sig) = base64_decode("sig", &s.sig) else {
            continue;
        };
        if key.verifies(&message, &sig) {
            return Ok(payload);
        }
    }
    Err(PolicyError::Envelope(format!(
        "no signature of the envelope ({} given) verifies with the runtime policy key",
        env.signatures.len()
    )))
}
